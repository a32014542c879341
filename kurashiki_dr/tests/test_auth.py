from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from conftest import PASSWORD, login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@override_settings(LOGIN_MAX_FAILURES=3)
def test_login_is_throttled_after_repeated_failures(reporter_a):
    client = Client()
    url = reverse("login")
    for _ in range(3):
        response = client.post(url, {"username": "reporter-a", "password": "wrong"})
        assert response.status_code == 200
    response = client.post(url, {"username": "reporter-a", "password": PASSWORD})
    assert response.status_code == 429
    assert "ログインの失敗が続いたため" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_with_the_right_password_lands_on_the_role_page(reporter_a, hq_user):
    client = Client()
    response = client.post(reverse("login"), {"username": "reporter-a", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 302  # home → role page
    assert client.get(reverse("home"))["Location"] == reverse("reports:mine")
    assert login(hq_user).get(reverse("home"))["Location"] == reverse("dashboard:index")


def test_anonymous_is_sent_to_login():
    response = Client().get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_healthz_answers():
    assert Client().get("/healthz").json() == {"status": "ok"}
