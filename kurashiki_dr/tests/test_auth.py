from __future__ import annotations

import io

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.authtoken.models import Token

from conftest import PASSWORD, login

pytestmark = pytest.mark.django_db


PROXY = "10.0.0.5"  # the TLS proxy: every request reaches the portal from this address
CLIENT_1 = "203.0.113.10"  # a phone on the mobile network
CLIENT_2 = "198.51.100.20"  # HQ's office line
BEHIND_PROXY = override_settings(TRUSTED_PROXY_COUNT=1)


def attempt(client: Client, username: str, password: str, *, via: str | None, url: str = ""):
    """A login through the proxy (``via`` is the X-Forwarded-For it sends) or, with
    ``via=None``, from a client that reaches the portal directly."""
    headers = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": via} if via else {}
    return client.post(
        url or reverse("login"), {"username": username, "password": password}, **headers
    )


def fail_ten_times(username: str, *, via: str | None, url: str = "") -> None:
    for n in range(1, settings.AXES_FAILURE_LIMIT + 1):
        response = attempt(Client(), username, "wrong-password", via=via, url=url)
        # The form again with its error; the tenth failure already answers with the lock.
        assert response.status_code == (429 if n == settings.AXES_FAILURE_LIMIT else 200)


@BEHIND_PROXY
def test_ten_wrong_passwords_lock_that_user_from_that_client_only(reporter_a, reporter_b):
    assert settings.AXES_FAILURE_LIMIT == 10
    fail_ten_times("reporter-a", via=CLIENT_1)

    locked = Client()
    response = attempt(locked, "reporter-a", PASSWORD, via=CLIENT_1)
    assert response.status_code == 429
    page = response.content.decode()
    assert "ログインを一時停止しています" in page
    assert "15分後にもう一度お試しください" in page
    assert "_auth_user_id" not in locked.session

    # Another account from the same phone, and the same account from another place, are not
    # affected: one person mistyping cannot lock HQ out.
    other_user = Client()
    assert attempt(other_user, "reporter-b", PASSWORD, via=CLIENT_1).status_code == 302
    assert other_user.session["_auth_user_id"] == str(reporter_b.pk)
    other_place = Client()
    assert attempt(other_place, "reporter-a", PASSWORD, via=CLIENT_2).status_code == 302
    assert other_place.session["_auth_user_id"] == str(reporter_a.pk)


@BEHIND_PROXY
def test_the_counter_is_kept_in_the_database_for_every_worker(reporter_a):
    fail_ten_times("reporter-a", via=CLIENT_1)
    attempt_row = AccessAttempt.objects.get()
    assert (attempt_row.username, attempt_row.ip_address) == ("reporter-a", CLIENT_1)
    assert attempt_row.failures_since_start == 10
    assert "wrong-password" not in attempt_row.post_data  # never the password


@BEHIND_PROXY
def test_addresses_the_client_writes_before_the_proxy_entry_are_not_trusted(reporter_a):
    fail_ten_times("reporter-a", via=CLIENT_1)
    spoofed = attempt(Client(), "reporter-a", PASSWORD, via=f"192.0.2.99, {CLIENT_1}")
    assert spoofed.status_code == 429


@override_settings(TRUSTED_PROXY_COUNT=2, CLIENT_IP_META_KEY="HTTP_X_REAL_CHAIN")
def test_two_proxies_and_another_header_name(reporter_a):
    def fail(chain: str) -> None:
        Client().post(
            reverse("login"),
            {"username": "reporter-a", "password": "wrong-password"},
            REMOTE_ADDR=PROXY,
            HTTP_X_REAL_CHAIN=chain,
            HTTP_X_FORWARDED_FOR="192.0.2.1",  # not the configured header: ignored
        )

    fail(f"192.0.2.99, {CLIENT_1}, 10.0.0.9")  # client-written, client, CDN edge
    fail(CLIENT_1)  # too short for two proxies: not through them, so the peer address
    fail("not-an-address, 10.0.0.9")  # garbage where the client should be: the peer
    addresses = set(AccessAttempt.objects.values_list("ip_address", flat=True))
    assert addresses == {CLIENT_1, PROXY}
    assert AccessAttempt.objects.get(ip_address=PROXY).failures_since_start == 2


def test_without_a_proxy_forwarding_headers_are_ignored(reporter_a):
    for n in range(1, settings.AXES_FAILURE_LIMIT + 1):
        # A client talking to the portal directly cannot dodge the lock with a fresh header.
        response = Client().post(
            reverse("login"),
            {"username": "reporter-a", "password": "wrong-password"},
            REMOTE_ADDR=CLIENT_1,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
        assert response.status_code == (429 if n == settings.AXES_FAILURE_LIMIT else 200)
    response = Client().post(
        reverse("login"),
        {"username": "reporter-a", "password": PASSWORD},
        REMOTE_ADDR=CLIENT_1,
        HTTP_X_FORWARDED_FOR="192.0.2.200",
    )
    assert response.status_code == 429
    assert AccessAttempt.objects.get().ip_address == CLIENT_1


@BEHIND_PROXY
def test_the_admin_login_is_throttled_too(db):
    User.objects.create_superuser("kanri", password=PASSWORD)
    url = reverse("admin:login")
    fail_ten_times("kanri", via=CLIENT_1, url=url)
    client = Client()
    response = attempt(client, "kanri", PASSWORD, via=CLIENT_1, url=url)
    assert response.status_code == 429
    assert "ログインを一時停止しています" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The same administrator from another address still gets in.
    assert attempt(Client(), "kanri", PASSWORD, via=CLIENT_2, url=url).status_code == 302


@BEHIND_PROXY
def test_a_successful_login_clears_the_failures(reporter_a):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(Client(), "reporter-a", "wrong-password", via=CLIENT_1)
    assert attempt(Client(), "reporter-a", PASSWORD, via=CLIENT_1).status_code == 302
    assert attempt(Client(), "reporter-a", "wrong-password", via=CLIENT_1).status_code == 200
    assert attempt(Client(), "reporter-a", PASSWORD, via=CLIENT_1).status_code == 302


@BEHIND_PROXY
def test_reset_username_command_unlocks_the_account(reporter_a):
    fail_ten_times("reporter-a", via=CLIENT_1)
    assert attempt(Client(), "reporter-a", PASSWORD, via=CLIENT_1).status_code == 429
    call_command("axes_reset_username", "reporter-a", stdout=io.StringIO())
    assert attempt(Client(), "reporter-a", PASSWORD, via=CLIENT_1).status_code == 302


@BEHIND_PROXY
def test_a_superuser_unlocks_from_the_admin(reporter_a):
    fail_ten_times("reporter-a", via=CLIENT_1)
    admin = login(User.objects.create_superuser("kanri", password=PASSWORD))
    changelist = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200
    assert "reporter-a" in changelist.content.decode()
    row = AccessAttempt.objects.get()
    response = admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert attempt(Client(), "reporter-a", PASSWORD, via=CLIENT_1).status_code == 302


@BEHIND_PROXY
def test_the_lockout_page_in_english(reporter_a):
    fail_ten_times("reporter-a", via=CLIENT_1)
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = attempt(client, "reporter-a", PASSWORD, via=CLIENT_1)
    assert response.status_code == 429
    assert "Try again in 15 minutes" in response.content.decode()


@BEHIND_PROXY
def test_api_tokens_are_not_affected_by_a_login_lockout(reporter_a):
    fail_ten_times("reporter-a", via=CLIENT_1)
    token = Token.objects.create(user=reporter_a)
    response = Client().get(
        "/api/v1/reports/",
        HTTP_AUTHORIZATION=f"Token {token.key}",
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=CLIENT_1,
    )
    assert response.status_code == 200


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
