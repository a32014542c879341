"""Photos sent through LINE WORKS pass the same checks as the web form and the API: a
decompression bomb gets a Japanese reply and opens no report; a phone photo is stored as sent
and shown without its EXIF."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from conftest import login
from lineworks.tests.conftest import reply_texts
from reports.models import Photo, Report
from reports.tests.images import bomb_png, phone_jpeg

pytestmark = pytest.mark.django_db
A_USER, A_ROOM = "lw-a-1", "ch-mabi-shelter"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def test_decompression_bomb_from_lineworks_is_refused_with_a_reply(talk, reporter_a):
    file_id = talk.fake.add_file(bomb_png(), file_name="IMG_0420.png", content_type="image/png")
    result = talk.send(A_USER, A_ROOM, {"type": "image", "fileId": file_id})
    texts = reply_texts(result["replies"])
    assert texts and texts[0].startswith("画像の画素数が大きすぎます（上限 4,000万画素）。")
    assert not Report.objects.exists()  # no empty （写真） report opened for it
    assert not Photo.objects.exists()


def test_phone_photo_from_lineworks_keeps_its_original_and_shows_without_exif(talk, reporter_a):
    data = phone_jpeg(2400, 1800)
    file_id = talk.fake.add_file(data, file_name="IMG_0421.jpg", content_type="image/jpeg")
    result = talk.send(A_USER, A_ROOM, {"type": "image", "fileId": file_id})
    assert "受け付けました" in reply_texts(result["replies"])[0]
    photo = Photo.objects.get()
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    with default_storage.open(photo.image.name, "rb") as handle:
        assert handle.read() == data
    thumb = login(reporter_a).get(f"/reports/photos/{photo.pk}/thumb/")
    image = Image.open(io.BytesIO(b"".join(thumb.streaming_content)))
    assert image.size == (240, 320)  # turned upright
    assert len(image.getexif()) == 0
