"""A zip archive written as a stream of byte chunks (for StreamingHttpResponse).

zipfile writes to any object with ``write``; without ``tell``/``seek`` it switches to data
descriptors, so nothing is ever rewound and each chunk can be sent as soon as it exists.
Every member's SHA-256 and size are kept for the manifest.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime


class _Sink:
    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks = []
        return out


class ZipStream:
    def __init__(self, moment: datetime) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_DEFLATED)
        self._date_time = moment.timetuple()[:6]
        self.files: dict[str, dict[str, int | str]] = {}

    def member(
        self, name: str, chunks: Iterable[bytes], *, compress: bool = True
    ) -> Iterator[bytes]:
        """Write one member from ``chunks``, yielding archive bytes as they are produced."""
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        digest = hashlib.sha256()
        size = 0
        with self._zip.open(info, "w", force_zip64=True) as out:
            for chunk in chunks:
                if not chunk:
                    continue
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
                data = self._sink.drain()
                if data:
                    yield data
        self.files[name] = {"sha256": digest.hexdigest(), "size": size}
        data = self._sink.drain()
        if data:
            yield data

    def close(self) -> bytes:
        self._zip.close()
        return self._sink.drain()
