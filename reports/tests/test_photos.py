"""Photos through HTTP: decompression bombs are refused on every channel, the original stays
the evidence byte for byte, and pages show small derivatives without EXIF."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from PIL import Image

from audit.models import AuditEvent
from conftest import login
from reports import services
from reports.models import Photo, Report, ReportChannel
from reports.photos import DISPLAY, THUMB, derivative_name
from reports.tests.images import GPS_IFD, ORIENTATION, bomb_png, phone_jpeg
from reports.tests.test_views import evacuees_post

pytestmark = pytest.mark.django_db

BOMB_MESSAGE = "画像の画素数が大きすぎます（上限 4,000万画素）。"


@pytest.fixture(scope="module")
def phone_photo() -> bytes:
    return phone_jpeg()  # 4000×3000, ~4.3 MB, EXIF orientation 6 and GPS


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return bomb_png()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


@pytest.fixture
def report_a(reporter_a, agency_a) -> Report:
    return services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 120, "households": 45},
        text="15時現在の避難者数 120名（45世帯）",
        channel=ReportChannel.WEB,
    )


def files_on_disk() -> list[Path]:
    return [p for p in Path(default_storage.location).rglob("*") if p.is_file()]


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def post_report_with(client, agency, photo: bytes, name: str):
    from agencies.models import Facility

    data = evacuees_post(agency, Facility.objects.get(code="yata-es"))
    data["photos"] = [SimpleUploadedFile(name, photo, "image/jpeg")]
    return client.post(reverse("reports:new"), data)


# --- Decompression bombs --------------------------------------------------------------------


def test_web_form_refuses_a_decompression_bomb_and_stores_nothing(reporter_a, agency_a, bomb):
    response = post_report_with(login(reporter_a), agency_a, bomb, "kouzui.png")
    assert response.status_code == 200
    assert f"写真「kouzui.png」: {BOMB_MESSAGE}" in response.content.decode()
    assert not Report.objects.exists()
    assert not Photo.objects.exists()
    assert files_on_disk() == []


def test_api_refuses_a_decompression_bomb_in_the_one_error_shape(reporter_a, report_a, bomb):
    url = f"/api/v1/reports/{report_a.pk}/photos/"
    response = login(reporter_a).post(url, {"photo": SimpleUploadedFile("kouzui.png", bomb)})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"]["photo"][0].startswith(BOMB_MESSAGE)
    assert not Photo.objects.exists()
    assert files_on_disk() == []


def test_the_refusal_in_english(reporter_a, report_a, bomb, settings):
    client = login(reporter_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = f"/api/v1/reports/{report_a.pk}/photos/"
    response = client.post(url, {"photo": SimpleUploadedFile("kouzui.png", bomb)})
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["photo"][0]
    assert message.startswith("The image has too many pixels (at most 40 megapixels).")
    translation.deactivate()


def test_api_adds_a_photo_with_links_to_original_and_derivatives(
    reporter_a, reporter_b, auditor, report_a, phone_photo
):
    url = f"/api/v1/reports/{report_a.pk}/photos/"
    upload = SimpleUploadedFile("IMG_2041.JPG", phone_photo, "image/jpeg")
    response = login(reporter_a).post(url, {"photo": upload})
    assert response.status_code == 201
    photo = Photo.objects.get()
    answer = response.json()
    assert answer["sha256"] == hashlib.sha256(phone_photo).hexdigest() == photo.sha256
    assert answer["size"] == len(phone_photo)
    assert answer["url"].endswith(reverse("reports:photo", args=[photo.pk]))
    assert answer["thumbnail_url"].endswith(reverse("reports:photo_thumb", args=[photo.pk]))
    assert photo.channel == "api"
    # The report's photo links (the evidence) are unchanged.
    detail = login(reporter_a).get(f"/api/v1/reports/{report_a.pk}/").json()
    assert detail["photos"] == [answer["url"]]
    # Only a writer of the report's agency adds photos.
    other = SimpleUploadedFile("x.jpg", phone_photo, "image/jpeg")
    assert login(reporter_b).post(url, {"photo": other}).status_code == 404
    other = SimpleUploadedFile("x.jpg", phone_photo, "image/jpeg")
    assert login(auditor).post(url, {"photo": other}).status_code == 403
    assert Photo.objects.count() == 1


def test_api_photo_without_a_file_is_a_field_error(reporter_a, report_a):
    response = login(reporter_a).post(f"/api/v1/reports/{report_a.pk}/photos/", {})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["photo"]


def test_a_photo_at_the_pixel_limit_is_accepted_and_one_above_is_not(
    reporter_a, report_a, settings
):
    settings.PHOTO_MAX_PIXELS = 2_000_000
    url = f"/api/v1/reports/{report_a.pk}/photos/"
    for (width, height), status in (((2000, 1000), 201), ((2001, 1000), 400)):
        out = io.BytesIO()
        Image.new("RGB", (width, height), (90, 110, 130)).save(out, "PNG")
        upload = SimpleUploadedFile("scan.png", out.getvalue(), "image/png")
        assert login(reporter_a).post(url, {"photo": upload}).status_code == status
    assert Photo.objects.count() == 1


# --- The original is evidence; pages show derivatives ---------------------------------------


def test_original_is_kept_byte_for_byte_and_pages_show_small_copies_without_exif(
    reporter_a, agency_a, phone_photo
):
    client = login(reporter_a)
    response = post_report_with(client, agency_a, phone_photo, "IMG_2041.JPG")
    assert response.status_code == 302
    photo = Photo.objects.get()

    # The original: stored and served exactly as sent, GPS included, its digest audited.
    stored = Path(default_storage.path(photo.image.name)).read_bytes()
    assert stored == phone_photo
    event = AuditEvent.objects.get(action="report.photo")
    assert event.payload["record"]["sha256"] == hashlib.sha256(phone_photo).hexdigest()
    original = client.get(reverse("reports:photo", args=[photo.pk]))
    assert original.status_code == 200
    assert body(original) == phone_photo
    assert original["Content-Disposition"].startswith("attachment;")
    call_command("verify_audit_chain", stdout=io.StringIO())  # exits 0: chain intact

    # What pages show: upright (EXIF orientation 6 applied), resized, JPEG, no EXIF at all.
    for kind, name, long_side in ((DISPLAY, "photo_display", 1600), (THUMB, "photo_thumb", 320)):
        served = client.get(reverse(f"reports:{name}", args=[photo.pk]))
        assert served.status_code == 200
        assert served["Content-Type"] == "image/jpeg"
        data = body(served)
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG"
        assert image.size == (long_side * 3 // 4, long_side)  # portrait, as it was taken
        exif = image.getexif()
        assert ORIENTATION not in exif and GPS_IFD not in exif and len(exif) == 0
        assert b"Exif" not in data and b"Apple" not in data
        assert Path(default_storage.path(derivative_name(photo.image.name, kind))).is_file()


def test_detail_page_with_a_phone_photo_weighs_kilobytes_not_megabytes(
    reporter_a, agency_a, phone_photo
):
    client = login(reporter_a)
    post_report_with(client, agency_a, phone_photo, "IMG_2041.JPG")
    photo = Photo.objects.get()
    page = client.get(reverse("reports:detail", args=[photo.report_id]))
    html = page.content.decode()
    images = re.findall(r'<img src="([^"]+)"', html)
    assert images == [reverse("reports:photo_thumb", args=[photo.pk])]
    weight = len(page.content) + sum(len(body(client.get(src))) for src in images)
    assert len(phone_photo) > 4_000_000
    assert weight < 100_000, weight
    # The display copy the thumbnail opens, and the download of the original.
    assert f'href="{reverse("reports:photo_display", args=[photo.pk])}"' in html
    assert f'href="{reverse("reports:photo", args=[photo.pk])}" download>原本をダウンロード' in html
    display = body(client.get(reverse("reports:photo_display", args=[photo.pk])))
    assert len(display) < 500_000


def test_derivatives_are_checked_like_the_original(cast, report_a):
    png = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 90, 160)).save(png, "PNG")
    photo = services.report_add_photo(
        report=report_a, data=png.getvalue(), filename="suii.png", user=cast["reporter_a"]
    )
    for name in ("photo", "photo_display", "photo_thumb"):
        url = reverse(f"reports:{name}", args=[photo.pk])
        for role, expected in {
            "hq": 200,
            "reporter_a": 200,
            "auditor": 200,
            "reporter_b": 404,
            "stranger": 404,
            "anonymous": 302,
        }.items():
            assert login(cast[role]).get(url).status_code == expected, (name, role)


def test_heic_is_kept_without_a_preview_and_offered_for_download(reporter_a, report_a):
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    photo = services.report_add_photo(
        report=report_a, data=heic, filename="IMG_0001.HEIC", user=reporter_a
    )
    client = login(reporter_a)
    html = client.get(reverse("reports:detail", args=[report_a.pk])).content.decode()
    assert "この形式はプレビューできません" in html
    assert "原本をダウンロード" in html
    thumb = client.get(reverse("reports:photo_thumb", args=[photo.pk]))
    assert thumb.status_code == 404
    assert body(client.get(reverse("reports:photo", args=[photo.pk]))) == heic


# --- Photos stored before derivatives existed ------------------------------------------------


def _drop_derivatives(photo: Photo) -> None:
    for kind in (DISPLAY, THUMB):
        default_storage.delete(derivative_name(photo.image.name, kind))


def test_backfill_command_makes_missing_derivatives_and_leaves_originals(reporter_a, report_a):
    png = io.BytesIO()
    Image.new("RGB", (2400, 1800), (200, 60, 40)).save(png, "PNG")
    photo = services.report_add_photo(
        report=report_a, data=png.getvalue(), filename="dote.png", user=reporter_a
    )
    _drop_derivatives(photo)
    original = Path(default_storage.path(photo.image.name))
    before = (original.read_bytes(), original.stat().st_mtime_ns)

    out = io.StringIO()
    call_command("photo_derivatives", stdout=out)
    assert "作成 1 件" in out.getvalue()
    assert all(
        default_storage.exists(derivative_name(photo.image.name, k)) for k in (DISPLAY, THUMB)
    )
    assert (original.read_bytes(), original.stat().st_mtime_ns) == before
    assert hashlib.sha256(before[0]).hexdigest() == photo.sha256

    out = io.StringIO()
    call_command("photo_derivatives", stdout=out)  # idempotent
    assert "作成 0 件、作成済み・対象外 1 件" in out.getvalue()


def test_a_photo_without_derivatives_gets_them_on_first_view(reporter_a, report_a):
    png = io.BytesIO()
    Image.new("RGB", (800, 600), (10, 120, 60)).save(png, "PNG")
    photo = services.report_add_photo(
        report=report_a, data=png.getvalue(), filename="kasen.png", user=reporter_a
    )
    _drop_derivatives(photo)
    response = login(reporter_a).get(reverse("reports:photo_thumb", args=[photo.pk]))
    assert response.status_code == 200
    assert Image.open(io.BytesIO(body(response))).size == (320, 240)
    assert default_storage.exists(derivative_name(photo.image.name, THUMB))
