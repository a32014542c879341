"""Photo bytes: the check an upload passes before it is stored, and the derivatives pages show.

The original file is the evidence: it is stored byte for byte as it arrived (its SHA-256 is in
the audit chain) and is only ever offered as a download. What pages show are derivatives made
from it once: a display copy (long side ``PHOTO_DISPLAY_PX``, 1600 px) and a thumbnail
(``PHOTO_THUMB_PX``, 320 px), JPEG, turned upright by the EXIF orientation and written without
any EXIF, so a page never carries the GPS position or the phone's serial number and a report
page with one phone photo weighs tens of kilobytes instead of megabytes.

Derivatives are made in the write path (``report_add_photo``), before its transaction, so the
CPU work holds no lock and the first HQ operator to open the report does not wait for it;
they are written beside the original in the same transaction. They are not evidence: they
live under ``derived/`` (not ``photos/``), have no database row and no digest, and can be made
again from the original at any time (``manage.py photo_derivatives``, or on first view of a
photo that has none, such as one stored before derivatives existed).
"""

from __future__ import annotations

import io
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from reports.models import PREVIEWABLE_PHOTO_TYPES

logger = logging.getLogger(__name__)

DISPLAY = "display"
THUMB = "thumb"
KINDS = (DISPLAY, THUMB)
_QUALITY = {DISPLAY: 82, THUMB: 75}


def _sizes() -> dict[str, int]:
    return {DISPLAY: settings.PHOTO_DISPLAY_PX, THUMB: settings.PHOTO_THUMB_PX}


def _pixel_limit() -> str:
    """The limit as people say it: 4,000万画素 in Japanese, 40 megapixels in English."""
    limit = settings.PHOTO_MAX_PIXELS
    if (get_language() or "ja").startswith("ja"):
        return f"{limit // 10_000:,}万画素"
    return f"{limit / 1_000_000:g} megapixels"


def _too_many_pixels() -> ValidationError:
    return ValidationError(
        {
            "photo": _(
                "画像の画素数が大きすぎます（上限 %(limit)s）。"
                "縮小するか、スマートフォンで撮影した写真をそのまま送ってください。"
            )
            % {"limit": _pixel_limit()}
        }
    )


def _unreadable() -> ValidationError:
    return ValidationError(
        {"photo": _("画像を読み取れませんでした。壊れていない写真を送ってください。")}
    )


def _open(data: bytes) -> Image.Image:
    """Open (header only) and check the pixel count before anything is decoded."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        # Over twice Image.MAX_IMAGE_PIXELS (set to PHOTO_MAX_PIXELS in ReportsConfig.ready):
        # Pillow refuses to open it at all.
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise _unreadable() from None
    width, height = image.size
    if width * height > settings.PHOTO_MAX_PIXELS:
        image.close()
        raise _too_many_pixels()
    return image


def photo_check(data: bytes, content_type: str) -> None:
    """The cheap part of ``photo_render``: reads the header only, refuses too many pixels or
    an image that is not one. For a caller that must not act on a bad photo at all (the bot,
    before it opens a new report for it)."""
    if content_type in PREVIEWABLE_PHOTO_TYPES:
        _open(data).close()


@dataclass(frozen=True)
class Rendered:
    """The derivatives of one photo, in memory (kind → JPEG bytes); empty for a format the
    portal keeps but does not decode (HEIC)."""

    files: dict[str, bytes]


def photo_render(data: bytes, content_type: str) -> Rendered:
    """Check the image and make its derivatives. Raises ValidationError (key ``photo``, in
    Japanese) for an image with too many pixels or one that is not an image at all.

    An image whose header is sound but whose data does not decode (a photo cut short on a bad
    mobile connection) is still kept: the original is evidence even without a preview, so
    it gets no derivatives (empty ``files``) rather than being refused.

    Safe to call twice; touches no storage and no database.
    """
    if content_type not in PREVIEWABLE_PHOTO_TYPES:
        return Rendered(files={})
    sizes = _sizes()
    image = _open(data)
    try:
        # A JPEG can be decoded straight at 1/2, 1/4 or 1/8 scale: ask for the smallest
        # scale still at least as large as the display copy (no visible loss, far less work).
        width, height = image.size
        scale = min(1.0, sizes[DISPLAY] / max(width, height))
        image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        upright = ImageOps.exif_transpose(image)
        upright.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        logger.warning("photo data does not decode (%s): kept without a preview", exc)
        return Rendered(files={})
    finally:
        image.close()
    icc = upright.info.get("icc_profile")
    rgb = _flatten(upright)
    rgb.info = {}  # nothing of the original's metadata (EXIF, XMP, comments) is carried over
    files: dict[str, bytes] = {}
    current = rgb
    for kind in (DISPLAY, THUMB):  # largest first: the thumbnail is made from the display copy
        current = current.copy()
        current.thumbnail((sizes[kind], sizes[kind]), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        options: dict[str, Any] = {"quality": _QUALITY[kind], "optimize": True}
        if kind == DISPLAY:
            options["progressive"] = True
        if icc:
            options["icc_profile"] = icc  # colour only; no EXIF, no GPS, no XMP
        current.save(out, format="JPEG", **options)
        files[kind] = out.getvalue()
    return Rendered(files=files)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for JPEG: transparency on white (a PNG screenshot), the first frame of a GIF."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


# --- Storage -------------------------------------------------------------------------------


def derivative_name(original_name: str, kind: str) -> str:
    """``photos/12/ab….jpg`` → ``derived/photos/12/ab…-1600.jpg`` (the size is in the name, so
    a new size setting makes new files instead of serving stale ones)."""
    stem = original_name.rsplit(".", 1)[0]
    return f"derived/{stem}-{_sizes()[kind]}.jpg"


def _write(storage: Storage, name: str, data: bytes) -> None:
    """Write ``name`` whole or not at all: a reader never sees half a file, and two workers
    making the same derivative at once both end with the same complete file."""
    try:
        path = Path(storage.path(name))
    except NotImplementedError:  # a storage without local paths
        if storage.exists(name):
            storage.delete(name)
        storage.save(name, ContentFile(data))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    temporary.write_bytes(data)
    if settings.FILE_UPLOAD_PERMISSIONS is not None:
        os.chmod(temporary, settings.FILE_UPLOAD_PERMISSIONS)
    os.replace(temporary, path)


def derivatives_store(storage: Storage, original_name: str, rendered: Rendered) -> None:
    for kind, data in rendered.files.items():
        _write(storage, derivative_name(original_name, kind), data)


def derivatives_discard(storage: Storage, original_name: str) -> None:
    """Remove the derivatives of a photo whose row was rolled back. Safe to call twice."""
    for kind in KINDS:
        name = derivative_name(original_name, kind)
        if storage.exists(name):
            storage.delete(name)


def derivative_open(photo: Any, kind: str) -> Any:
    """An open file of the ``kind`` derivative of ``photo``, made from the original first if it
    is missing. None when there is no preview (HEIC, an original that cannot be read)."""
    if kind not in KINDS or not photo.has_preview:
        return None
    storage = photo.image.storage
    name = derivative_name(photo.image.name, kind)
    try:
        return storage.open(name, "rb")
    except FileNotFoundError:
        pass
    # A photo whose data does not decode is not tried again on every view (for a day).
    failed_key = f"photo-no-preview:{photo.pk}:{photo.sha256[:16]}"
    if _cache_get(failed_key):
        return None
    if photo_derivatives_make(photo) is None:
        _cache_set(failed_key)
        return None
    try:
        return storage.open(name, "rb")
    except FileNotFoundError:
        return None


def _cache_get(key: str) -> bool:
    try:
        return bool(cache.get(key))
    except Exception:  # noqa: BLE001 (Redis down: just try again; a photo must still show)
        return False


def _cache_set(key: str) -> None:
    try:
        cache.set(key, True, 24 * 3600)
    except Exception:  # noqa: BLE001, S110 (Redis down: the next view tries again)
        pass


def photo_derivatives_make(photo: Any, *, force: bool = False) -> bool | None:
    """Make the missing derivatives of a stored photo from its original (``force``: all of
    them). True when files were written, False when all were there, None when the original is
    missing or cannot be decoded (logged). Never changes the original."""
    if not photo.has_preview:
        return False
    storage = photo.image.storage
    if not force and all(storage.exists(derivative_name(photo.image.name, kind)) for kind in KINDS):
        return False
    try:
        with storage.open(photo.image.name, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, OSError):
        logger.warning("photo %s: original file %s is missing", photo.pk, photo.image.name)
        return None
    try:
        rendered = photo_render(data, photo.content_type)
    except ValidationError:
        logger.warning("photo %s: no preview can be made from %s", photo.pk, photo.image.name)
        return None
    if not rendered.files:
        return None
    derivatives_store(storage, photo.image.name, rendered)
    return True
