"""Callback signatures (lineworks-api.md §3.2): base64(HMAC-SHA256(bot secret, raw body))."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Constant-time check of ``signature`` against the raw body. An empty secret verifies
    nothing (an unconfigured bot accepts no callbacks)."""
    if not secret or not signature:
        return False
    expected = sign(secret, body).encode("ascii")
    try:
        given = signature.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given)
