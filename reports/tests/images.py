"""Images the photo tests send: a phone photo with EXIF (orientation, GPS) and a
decompression bomb, made here so no binary fixture is checked in."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

ORIENTATION, MAKE, GPS_IFD = 0x0112, 0x010F, 0x8825
# 箭田小学校 (34.6371, 133.6921) in degrees, minutes, seconds.
YATA_GPS = {1: "N", 2: (34.0, 38.0, 13.56), 3: "E", 4: (133.0, 41.0, 31.56)}


def phone_jpeg(width: int = 4000, height: int = 3000, *, quality: int = 85) -> bytes:
    """A photo as a phone sends it: sensor noise over a gradient (so it weighs what a real
    12 MP photo weighs, ~4 MB at 4000×3000), stored landscape with EXIF orientation 6 (the
    phone was held upright) and the GPS position of the shelter."""
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 30).convert("RGB")
    image = Image.blend(base, noise, 0.5)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[MAKE] = "Apple"
    exif[GPS_IFD] = YATA_GPS
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(side: int = 30_000) -> bytes:
    """A valid ``side``×``side`` black PNG (1 bit grey): ~110 kB on the wire for 30000×30000,
    2.7 GB of RGB once decoded."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + the row's bits
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(compressor.compress(row * (side % 1000)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )
