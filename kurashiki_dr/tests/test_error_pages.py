from __future__ import annotations

import pytest

from conftest import login
from reports import services

pytestmark = pytest.mark.django_db


def test_other_agencys_report_is_a_japanese_not_found(reporter_a, reporter_b, agency_a):
    report = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 42},
    )
    response = login(reporter_b).get(f"/reports/{report.pk}/")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.content.decode()


def test_forbidden_page_is_japanese(reporter_a):
    response = login(reporter_a).get("/dashboard/")
    assert response.status_code == 403
    assert "権限がありません" in response.content.decode()
