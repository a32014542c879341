"""``POST /lineworks/callback`` (design.md §7, contract).

CSRF does not apply: no session or cookie authenticates this request; the bot secret does.
The order of checks is fixed so that an unauthenticated caller can neither store nor
trigger anything, and learns nothing but 403:

1. size (413 above CALLBACK_MAX_BYTES, before reading more than that);
2. ``X-WORKS-Signature`` = base64(HMAC-SHA256(bot secret, raw body)), constant-time (during
   a rotation's overlap the previous secret is accepted too), and
   ``X-WORKS-BotId`` = our bot (403, logged, nothing stored);
3. the body is a JSON object with a ``type`` (400 otherwise; a document nested deeper than
   ``safejson.MAX_DEPTH`` is stored, marked ``ignored`` / ``invalid:json_too_deep`` and
   answered 400 — it is never processed);
4. store the raw body as an InboundEvent (a duplicate body is a no-op) and answer 200;
   processing is enqueued after commit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kurashiki_dr import safejson
from lineworks.conf import CALLBACK_MAX_BYTES, lineworks_settings
from lineworks.services import inbound_store
from lineworks.signature import verify

logger = logging.getLogger(__name__)

_KEPT_HEADERS = ("Content-Type", "X-WORKS-BotId", "X-WORKS-Signature", "User-Agent")


def _client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it exceeds the limit (checked before reading it all)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if declared > CALLBACK_MAX_BYTES:
        return None
    body = request.read(CALLBACK_MAX_BYTES + 1)
    return None if len(body) > CALLBACK_MAX_BYTES else body


@csrf_exempt  # authenticated by the HMAC signature, not by a session (see module docstring)
@require_POST
def callback(request: HttpRequest) -> HttpResponse:
    body = _read_body(request)
    if body is None:
        logger.warning(
            "lineworks callback rejected: body too large from %s", _client_address(request)
        )
        return HttpResponse(status=413)
    config = lineworks_settings()
    signature = request.headers.get("X-WORKS-Signature")
    bot_id = request.headers.get("X-WORKS-BotId", "")
    if not config.can_receive:
        logger.error("lineworks callback rejected: LINEWORKS_BOT_ID / BOT_SECRET not configured")
        return HttpResponse(status=403)
    if not verify(config.bot_secret, body, signature) and not (
        config.previous_secret_accepted() and verify(config.bot_secret_previous, body, signature)
    ):
        logger.warning(
            "lineworks callback rejected: bad signature (%d bytes) from %s",
            len(body),
            _client_address(request),
        )
        return HttpResponse(status=403)
    if not hmac.compare_digest(bot_id.strip().encode(), config.bot_id.encode()):
        logger.warning(
            "lineworks callback rejected: unexpected bot id %r from %s",
            bot_id[:40],
            _client_address(request),
        )
        return HttpResponse(status=403)
    try:
        event = safejson.loads(body)
    except safejson.TooDeep:
        # Signed, so it came from LINE WORKS (or whoever holds the secret): keep the raw body
        # for HQ and the auditors, marked, and process nothing.
        logger.warning("lineworks callback rejected: JSON nested too deep (%d bytes)", len(body))
        _store_rejected(request, body, "invalid:json_too_deep")
        return HttpResponse(status=400)
    except (ValueError, UnicodeDecodeError):
        logger.warning("lineworks callback rejected: malformed JSON (%d bytes)", len(body))
        return HttpResponse(status=400)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        logger.warning("lineworks callback rejected: not an event object")
        return HttpResponse(status=400)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return HttpResponse(status=400)
    stored, created = inbound_store(
        body=body,
        digest=hashlib.sha256(body).hexdigest(),
        event=event,
        headers=_kept_headers(request),
    )
    if not created:
        logger.info("lineworks callback: duplicate body ignored")
    return HttpResponse(status=200)


def _kept_headers(request: HttpRequest) -> dict[str, str]:
    return {name: request.headers[name][:200] for name in _KEPT_HEADERS if name in request.headers}


def _store_rejected(request: HttpRequest, body: bytes, outcome: str) -> None:
    """Store a verified body that will not be processed (when it is text at all)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return
    inbound_store(
        body=body,
        digest=hashlib.sha256(body).hexdigest(),
        event={},
        headers=_kept_headers(request),
        rejected=outcome,
    )
