"""The reporting web UI, through HTTP: who may open and post what, and what the pages do."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from agencies.models import Agency, Facility
from audit.models import AuditEvent
from conftest import PASSWORD, login
from reports import services
from reports.models import Photo, Report, ReportChannel, ReportRevision, ReportStatus

pytestmark = pytest.mark.django_db
TOKYO = ZoneInfo("Asia/Tokyo")
WRITE_BUTTONS = ("訂正する", "取消する", 'action="/reports/')


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def yata(agency_a) -> Facility:
    return Facility.objects.get(code="yata-es")


@pytest.fixture
def report_a(reporter_a, agency_a, yata) -> Report:
    report = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 120, "households": 45},
        text="15時現在の避難者数 120名（45世帯）",
        facility=yata,
        channel=ReportChannel.WEB,
    )
    services.report_add_photo(report=report, data=png_bytes(), filename="gym.png", user=reporter_a)
    return report


def evacuees_post(agency: Agency, facility: Facility | None, **extra: str) -> dict[str, str]:
    data = {
        "agency": str(agency.pk),
        "category": "evacuees",
        "facility": str(facility.pk) if facility else "",
        "evacuees__count": "120",
        "evacuees__households": "45",
        "observed_at": "2024-07-06T15:00",
        "text": "15時現在の避難者数 120名（45世帯）",
    }
    data.update(extra)
    return data


def assert_to_login(response, path: str) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert path in response["Location"] or path.replace("/", "%2F") in response["Location"]


# --- Permission matrix ----------------------------------------------------------------------

GET_MATRIX = {
    # page: {who: expected status}; 302 targets are checked separately
    "new": {"hq": 200, "reporter_a": 200, "reporter_b": 200, "auditor": 403, "stranger": 403},
    "mine": {"hq": 302, "reporter_a": 200, "reporter_b": 200, "auditor": 302, "stranger": 403},
    "list": {"hq": 200, "reporter_a": 302, "reporter_b": 302, "auditor": 200, "stranger": 403},
    "detail": {"hq": 200, "reporter_a": 200, "reporter_b": 404, "auditor": 200, "stranger": 404},
    "correct": {"hq": 200, "reporter_a": 200, "reporter_b": 404, "auditor": 403, "stranger": 404},
    "withdraw": {"hq": 200, "reporter_a": 200, "reporter_b": 404, "auditor": 403, "stranger": 404},
    "photo": {"hq": 200, "reporter_a": 200, "reporter_b": 404, "auditor": 200, "stranger": 404},
}


def page_url(page: str, report: Report) -> str:
    if page in ("new", "mine", "list"):
        return reverse(f"reports:{page}")
    if page == "photo":
        return reverse("reports:photo", args=[report.photos.get().pk])
    return reverse(f"reports:{page}", args=[report.pk])


@pytest.mark.parametrize("page", sorted(GET_MATRIX))
@pytest.mark.parametrize("who", ["hq", "reporter_a", "reporter_b", "auditor", "stranger"])
def test_get_permission_matrix(cast, report_a, page, who):
    url = page_url(page, report_a)
    response = login(cast[who]).get(url)
    assert response.status_code == GET_MATRIX[page][who], (page, who)


@pytest.mark.parametrize("page", sorted(GET_MATRIX))
def test_anonymous_is_sent_to_login(report_a, page):
    url = page_url(page, report_a)
    assert_to_login(login(None).get(url), url)


def test_mine_and_list_redirect_to_the_right_list(cast):
    assert login(cast["hq"]).get(reverse("reports:mine"))["Location"] == reverse("reports:list")
    assert login(cast["auditor"]).get(reverse("reports:mine"))["Location"] == reverse(
        "reports:list"
    )
    assert login(cast["reporter_a"]).get(reverse("reports:list"))["Location"] == reverse(
        "reports:mine"
    )


@pytest.mark.parametrize("who", ["auditor", "stranger", "anonymous"])
def test_only_reporters_and_hq_may_post_a_report(cast, agency_a, yata, who):
    url = reverse("reports:new")
    response = login(cast[who]).post(url, evacuees_post(agency_a, yata))
    if who == "anonymous":
        assert_to_login(response, url)
    else:
        assert response.status_code == 403
    assert not Report.objects.exists()


def test_reporter_b_cannot_create_a_report_for_agency_a(reporter_b, agency_a, yata):
    response = login(reporter_b).post(reverse("reports:new"), evacuees_post(agency_a, yata))
    assert response.status_code == 403
    assert not Report.objects.exists()


@pytest.mark.parametrize(
    ("who", "expected"),
    [("reporter_b", 404), ("stranger", 404), ("auditor", 403), ("anonymous", 302)],
)
def test_others_cannot_correct_or_withdraw_agency_a_report(cast, report_a, yata, who, expected):
    client = login(cast[who])
    correct = client.post(
        reverse("reports:correct", args=[report_a.pk]),
        evacuees_post(report_a.agency, yata, evacuees__count="999", reason="改ざん"),
    )
    withdraw = client.post(
        reverse("reports:withdraw", args=[report_a.pk]), {"reason": "不要になったため"}
    )
    assert correct.status_code == expected
    assert withdraw.status_code == expected
    report_a.refresh_from_db()
    assert report_a.revisions.count() == 1
    assert report_a.status == ReportStatus.NEW


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("hq", 302),
        ("reporter_a", 403),
        ("reporter_b", 404),
        ("auditor", 403),
        ("stranger", 404),
        ("anonymous", 302),
    ],
)
def test_only_hq_acknowledges(cast, report_a, who, expected):
    url = reverse("reports:acknowledge", args=[report_a.pk])
    response = login(cast[who]).post(url)
    assert response.status_code == expected
    report_a.refresh_from_db()
    if who == "hq":
        assert report_a.status == ReportStatus.ACKNOWLEDGED
        assert report_a.acknowledged_by == cast["hq"]
    else:
        assert report_a.status == ReportStatus.NEW
    if who == "anonymous":
        assert_to_login(response, url)


def test_acknowledge_refuses_get(hq_user, report_a):
    response = login(hq_user).get(reverse("reports:acknowledge", args=[report_a.pk]))
    assert response.status_code == 405


def test_auditor_sees_the_report_but_no_write_buttons(auditor, report_a):
    html = login(auditor).get(reverse("reports:detail", args=[report_a.pk])).content.decode()
    assert report_a.number in html
    for marker in WRITE_BUTTONS:
        assert marker not in html
    assert ">確認<" not in html
    assert reverse("reports:new") not in html


def test_detail_buttons_follow_the_role(hq_user, reporter_a, report_a):
    detail = reverse("reports:detail", args=[report_a.pk])
    own = login(reporter_a).get(detail).content.decode()
    assert reverse("reports:correct", args=[report_a.pk]) in own
    assert reverse("reports:withdraw", args=[report_a.pk]) in own
    assert reverse("reports:acknowledge", args=[report_a.pk]) not in own
    hq = login(hq_user).get(detail).content.decode()
    assert reverse("reports:acknowledge", args=[report_a.pk]) in hq
    assert reverse("reports:correct", args=[report_a.pk]) in hq


# --- Login, logout, language ----------------------------------------------------------------


def test_login_page_is_japanese_and_logs_in(reporter_a):
    client = login(None)
    page = client.get(reverse("login")).content.decode()
    assert "ログイン" in page
    assert 'name="language"' in page and reverse("set_language") in page
    response = client.post(
        reverse("login"), {"username": "reporter-a", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("reports:mine")
    assert "自機関の報告" in response.content.decode()


def test_wrong_password_shows_a_japanese_error(reporter_a):
    response = login(None).post(reverse("login"), {"username": "reporter-a", "password": "x"})
    assert response.status_code == 200
    assert "正しいユーザー名とパスワードを入力してください" in response.content.decode()


def test_logout_is_a_post(reporter_a):
    client = login(reporter_a)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert_to_login(client.get(reverse("reports:mine")), reverse("reports:mine"))


def test_language_switch_to_english(reporter_a):
    client = login(reporter_a)
    client.post(reverse("set_language"), {"language": "en", "next": reverse("reports:new")})
    html = client.get(reverse("reports:new")).content.decode()
    assert '<html lang="en">' in html
    assert "New report" in html
    assert "Evacuees" in html


# --- Creating, correcting, withdrawing ------------------------------------------------------


def test_reporter_creates_a_report_through_the_form(reporter_a, agency_a, yata):
    response = login(reporter_a).post(
        reverse("reports:new"), evacuees_post(agency_a, yata), follow=True
    )
    report = Report.objects.get()
    assert response.redirect_chain[-1][0] == reverse("reports:detail", args=[report.pk])
    html = response.content.decode()
    assert f"受付番号: {report.number}" in html
    assert report.number.startswith("R-")
    revision = report.revisions.get()
    assert revision.number == 1
    assert revision.fields == {"facility": "箭田小学校", "count": 120, "households": 45}
    assert revision.facility == yata
    assert revision.channel == ReportChannel.WEB
    assert revision.author == reporter_a
    assert revision.observed_at == datetime(2024, 7, 6, 15, 0, tzinfo=TOKYO)
    assert (revision.lat, revision.lng) == (yata.lat, yata.lng)
    assert report.agency == agency_a
    assert "箭田小学校 120名（45世帯）" in html


def test_the_form_offers_own_facilities_first_and_defaults_to_now(reporter_a, hospital_agency):
    html = login(reporter_a).get(reverse("reports:new")).content.decode()
    assert html.index('optgroup label="自機関の施設"') < html.index("まび記念病院")
    assert html.index("箭田小学校") < html.index("まび記念病院")
    assert 'type="datetime-local" name="observed_at"' in html
    assert 'name="agency"' in html and 'type="hidden" name="agency"' in html
    # every category group is on the page; outage has at least five area rows
    for code in ("evacuees", "outage", "road_closure", "water_level", "fire", "dispatch"):
        assert f'data-category="{code}"' in html
    assert "outage__areas_4_area" in html and "outage__areas_4_hh" in html
    assert 'id="paste-box" data-parse-url="/api/v1/parse/"' in html
    assert 'id="report-map"' in html


def test_hq_chooses_the_agency_and_reports_an_outage(hq_user, agency_b):
    data = {
        "agency": str(agency_b.pk),
        "category": "outage",
        "outage__areas_0_area": "真備地区",
        "outage__areas_0_hh": "1200",
        "outage__areas_2_area": "玉島地区",
        "outage__areas_2_hh": "340",
        "outage__restoration": "未定",
        "evacuees__count": "not read: another category",
        "observed_at": "2024-07-06T14:30",
        "lat": "34.635",
        "lng": "133.696",
    }
    response = login(hq_user).post(reverse("reports:new"), data)
    assert response.status_code == 302, response.content.decode()
    report = Report.objects.get()
    assert report.agency == agency_b
    assert report.author == hq_user
    assert report.current_revision.fields == {
        "areas": [
            {"area": "真備地区", "households": 1200},
            {"area": "玉島地区", "households": 340},
        ],
        "total_households": 1540,
        "restoration": "未定",
    }
    assert (report.current_revision.lat, report.current_revision.lng) == (34.635, 133.696)
    html = login(hq_user).get(reverse("reports:list")).content.decode()
    assert "真備地区 1,200世帯、玉島地区 340世帯 計1,540世帯 復旧見込み: 未定" in html


def test_category_errors_name_the_field(reporter_a, agency_a, yata):
    response = login(reporter_a).post(
        reverse("reports:new"), evacuees_post(agency_a, yata, evacuees__count="-5")
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "入力内容を確認してください。" in html
    assert "避難者数（人）</a>: 0以上の数を入力してください。" in html
    assert not Report.objects.exists()


def test_missing_required_field_is_named(reporter_a, agency_a):
    response = login(reporter_a).post(
        reverse("reports:new"), evacuees_post(agency_a, None, evacuees__count="")
    )
    html = response.content.decode()
    assert "施設名</a>: この項目は必須です。" in html
    assert "避難者数（人）</a>: この項目は必須です。" in html
    assert not Report.objects.exists()


def test_outage_row_without_an_area_name_is_refused(reporter_a, agency_a):
    data = {
        "agency": str(agency_a.pk),
        "category": "outage",
        "outage__areas_1_hh": "30",
        "observed_at": "2024-07-06T14:30",
    }
    html = login(reporter_a).post(reverse("reports:new"), data).content.decode()
    assert "地区名 2</a>: 地区名を入力してください。" in html
    assert not Report.objects.exists()


def test_future_observed_at_is_refused_in_japanese(reporter_a, agency_a, yata):
    data = evacuees_post(agency_a, yata, observed_at="2099-01-01T00:00")
    html = login(reporter_a).post(reverse("reports:new"), data).content.decode()
    assert "発生・確認日時</a>: 未来の日時は指定できません。" in html


def test_photo_upload_stores_a_real_png_and_serves_it_safely(reporter_a, auditor, agency_a, yata):
    data = evacuees_post(agency_a, yata)
    data["photos"] = [SimpleUploadedFile("taiikukan.png", png_bytes(), "image/png")]
    response = login(reporter_a).post(reverse("reports:new"), data)
    assert response.status_code == 302
    photo = Photo.objects.get()
    assert photo.content_type == "image/png"
    assert photo.revision == photo.report.current_revision
    for user in (reporter_a, auditor):
        served = login(user).get(reverse("reports:photo", args=[photo.pk]))
        assert served.status_code == 200
        assert served["Content-Type"] == "image/png"
        assert served["X-Content-Type-Options"] == "nosniff"
        assert b"".join(served.streaming_content) == png_bytes()
    detail = login(reporter_a).get(reverse("reports:detail", args=[photo.report_id]))
    assert reverse("reports:photo", args=[photo.pk]) in detail.content.decode()


def test_text_file_renamed_jpg_is_rejected_and_nothing_is_saved(
    reporter_a, agency_a, yata, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    data = evacuees_post(agency_a, yata)
    data["photos"] = [
        SimpleUploadedFile("ok.png", png_bytes(), "image/png"),
        SimpleUploadedFile("memo.jpg", "避難所の様子".encode(), "image/jpeg"),
    ]
    response = login(reporter_a).post(reverse("reports:new"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "写真「memo.jpg」: JPEG・PNG・GIF・WebP・HEIC の画像を送ってください。" in html
    assert not Report.objects.exists()
    assert not Photo.objects.exists()
    # the valid photo's file went with the rollback
    assert [p for p in Path(tmp_path).rglob("*") if p.is_file()] == []


def test_correction_through_the_form_keeps_revision_one(reporter_a, report_a, yata):
    url = reverse("reports:correct", args=[report_a.pk])
    form_page = login(reporter_a).get(url).content.decode()
    assert 'value="120"' in form_page  # the current values are pre-filled
    data = evacuees_post(report_a.agency, yata, evacuees__count="135", reason="集計誤りのため")
    response = login(reporter_a).post(url, data, follow=True)
    assert "第2版" in response.content.decode()
    revisions = list(ReportRevision.objects.filter(report=report_a).order_by("number"))
    assert [r.number for r in revisions] == [1, 2]
    assert revisions[0].fields["count"] == 120
    assert revisions[0].reason == ""
    assert revisions[1].fields["count"] == 135
    assert revisions[1].reason == "集計誤りのため"
    assert revisions[1].kind == "correction"
    html = response.content.decode()
    assert "訂正理由" in html and "集計誤りのため" in html
    assert "箭田小学校 135名（45世帯）" in html


def test_correction_form_keeps_every_outage_area(reporter_b, agency_b):
    areas = [{"area": f"第{i}地区", "households": 10 + i} for i in range(1, 13)]
    report = submit(reporter_b, agency_b, "outage", {"areas": areas})
    url = reverse("reports:correct", args=[report.pk])
    html = login(reporter_b).get(url).content.decode()
    assert 'name="outage__areas_11_area" value="第12地区"' in html
    data = {"category": "outage", "reason": "12番目の世帯数を訂正"}
    for i, item in enumerate(areas):
        data[f"outage__areas_{i}_area"] = item["area"]
        data[f"outage__areas_{i}_hh"] = str(item["households"])
    data["outage__areas_11_hh"] = "40"
    assert login(reporter_b).post(url, data).status_code == 302
    fields = report.revisions.get(number=2).fields
    assert len(fields["areas"]) == 12
    assert fields["areas"][11] == {"area": "第12地区", "households": 40}


def test_correction_requires_a_reason(reporter_a, report_a, yata):
    url = reverse("reports:correct", args=[report_a.pk])
    data = evacuees_post(report_a.agency, yata, evacuees__count="135", reason="  ")
    response = login(reporter_a).post(url, data)
    assert response.status_code == 200
    assert "訂正理由</a>: 訂正理由を入力してください。" in response.content.decode()
    assert report_a.revisions.count() == 1


def test_withdrawal_requires_a_reason_and_keeps_history(reporter_a, report_a):
    url = reverse("reports:withdraw", args=[report_a.pk])
    client = login(reporter_a)
    empty = client.post(url, {"reason": ""})
    assert "取消理由を入力してください。" in empty.content.decode()
    assert report_a.revisions.count() == 1
    response = client.post(url, {"reason": "重複報告のため"}, follow=True)
    report_a.refresh_from_db()
    assert report_a.status == ReportStatus.WITHDRAWN
    assert [r.kind for r in report_a.revisions.order_by("number")] == ["original", "withdrawal"]
    html = response.content.decode()
    assert "取消理由" in html and "重複報告のため" in html
    assert reverse("reports:correct", args=[report_a.pk]) not in html
    # a withdrawn report can be neither corrected nor withdrawn again
    again = client.get(reverse("reports:correct", args=[report_a.pk]))
    assert again.status_code == 302
    assert report_a.revisions.count() == 2


def test_hq_acknowledges_from_the_detail_page(hq_user, report_a):
    client = login(hq_user)
    response = client.post(reverse("reports:acknowledge", args=[report_a.pk]), follow=True)
    assert f"{report_a.number} を確認済みにしました。" in response.content.decode()
    assert AuditEvent.objects.filter(action="report.acknowledge").count() == 1


# --- Lists ----------------------------------------------------------------------------------


def submit(user, agency, category, fields, text="", **kwargs):
    return services.report_submit(
        agency=agency, author=user, category=category, fields=fields, text=text, **kwargs
    )


def test_mine_shows_only_my_agency_newest_first(reporter_a, reporter_b, agency_a, agency_b):
    older = submit(
        reporter_a,
        agency_a,
        "evacuees",
        {"facility": "箭田小学校", "count": 80},
        observed_at=datetime(2024, 7, 6, 9, 5, tzinfo=TOKYO),
    )
    newer = submit(reporter_a, agency_a, "evacuees", {"facility": "箭田小学校", "count": 120})
    other = submit(reporter_b, agency_b, "outage", {"areas": [{"area": "玉島", "households": 3}]})
    html = login(reporter_a).get(reverse("reports:mine")).content.decode()
    assert other.number not in html
    assert html.index(newer.number) < html.index(older.number)
    assert "2024/07/06 09:05" in html
    assert "避難者数" in html and "新規" in html and "第1版" in html and "Web" in html


def test_mine_is_paginated(reporter_a, agency_a):
    for count in range(35):
        submit(reporter_a, agency_a, "evacuees", {"facility": "箭田小学校", "count": count})
    client = login(reporter_a)
    first = client.get(reverse("reports:mine")).content.decode()
    assert "1 / 2 ページ（35件）" in first
    second = client.get(reverse("reports:mine") + "?page=2").content.decode()
    assert second.count('class="number"') == 5


def test_hq_list_filters(hq_user, reporter_a, reporter_b, agency_a, agency_b):
    shelter = submit(
        reporter_a, agency_a, "evacuees", {"facility": "箭田小学校", "count": 35}, "避難者数 35名"
    )
    outage = submit(
        reporter_b,
        agency_b,
        "outage",
        {"areas": [{"area": "玉島地区", "households": 340}]},
        "停電情報 玉島地区：340世帯 復旧見込みは未定",
        observed_at=datetime(2024, 7, 6, 14, 30, tzinfo=TOKYO),
    )
    incident = services.incident_open(user=hq_user, title="真備地区 浸水")
    services.report_link_incident(report=shelter, incident=incident, user=hq_user)
    client = login(hq_user)

    def numbers(**params):
        html = client.get(reverse("reports:list"), params).content.decode()
        return {r.number for r in (shelter, outage) if r.number in html}

    assert numbers() == {shelter.number, outage.number}
    assert numbers(category="outage") == {outage.number}
    assert numbers(agency=agency_a.pk) == {shelter.number}
    assert numbers(incident=incident.pk) == {shelter.number}
    assert numbers(channel="api") == set()
    assert numbers(status="new") == {shelter.number, outage.number}
    assert numbers(until="2024-07-06T15:00") == {outage.number}
    assert numbers(since="2024-07-06T15:00") == {shelter.number}
    assert numbers(q="復旧見込み") == {outage.number}
    assert numbers(q=shelter.number) == {shelter.number}


def test_list_query_count_does_not_grow_with_reports(
    hq_user, reporter_a, agency_a, django_assert_max_num_queries
):
    for count in range(25):
        report = submit(
            reporter_a, agency_a, "evacuees", {"facility": "箭田小学校", "count": count}
        )
    services.report_correct(report=report, author=reporter_a, reason="訂正", fields=None)
    client = login(hq_user)
    client.get(reverse("reports:list"))  # warm the session
    with django_assert_max_num_queries(12):
        response = client.get(reverse("reports:list"), {"category": "evacuees"})
    assert response.content.decode().count('class="number"') == 25


def test_auditor_reads_the_list(auditor, report_a):
    html = login(auditor).get(reverse("reports:list")).content.decode()
    assert report_a.number in html
    assert "真備地区避難所運営班" in html


# --- Admin ----------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db):
    return login(User.objects.create_superuser("kanri", password=PASSWORD))


def test_admin_reports_and_audit_are_read_only(admin_client, report_a):
    report_url = reverse("admin:reports_report_change", args=[report_a.pk])
    assert admin_client.get(reverse("admin:reports_report_changelist")).status_code == 200
    page = admin_client.get(report_url)
    assert page.status_code == 200
    assert "箭田小学校" in page.content.decode()
    assert admin_client.get(reverse("admin:reports_report_add")).status_code == 403
    assert admin_client.post(report_url, {"status": "closed"}).status_code == 403
    delete = reverse("admin:reports_report_delete", args=[report_a.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    event = AuditEvent.objects.first()
    assert admin_client.get(reverse("admin:audit_auditevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_admin_directory_is_japanese_and_audited(admin_client, agency_a, reporter_a):
    page = admin_client.get(reverse("admin:agencies_agency_change", args=[agency_a.pk]))
    html = page.content.decode()
    assert "名称" in html and "メンバー" in html and "真備 花子" in html
    before = AuditEvent.objects.count()
    response = admin_client.post(
        reverse("admin:agencies_district_add"),
        {"code": "funao", "name": "船穂", "lat": "34.60", "lng": "133.70", "boundary": "null"},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() == before + 1
    assert event.action == "directory.add"
    assert event.object_type == "agencies.district"


def test_non_staff_cannot_open_admin(reporter_a):
    response = login(reporter_a).get(reverse("admin:index"))
    assert response.status_code == 302
