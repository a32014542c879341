"""The LINE WORKS settings (design.md §7), read once per use from django.conf.settings.

Optional knobs that are not part of the contract are read with ``getattr`` defaults, so a
deployment may set them in settings without the app requiring them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineWorksSettings:
    client_id: str
    client_secret: str
    service_account: str
    private_key: str
    bot_id: str
    bot_secret: str
    api_base_url: str
    auth_url: str
    hq_channel_id: str
    scope: str
    connect_timeout: float
    read_timeout: float
    download_max_bytes: int
    bot_secret_previous: str = ""
    bot_secret_previous_until: str = ""

    @property
    def can_send(self) -> bool:
        return bool(
            self.client_id
            and self.client_secret
            and self.service_account
            and self.private_key
            and self.bot_id
        )

    @property
    def can_receive(self) -> bool:
        return bool(self.bot_id and self.bot_secret)

    def previous_secret_accepted(self, now: datetime | None = None) -> bool:
        """Whether a callback signed with the previous bot secret is still accepted (the
        overlap of a rotation). An unreadable end time accepts nothing: fail closed."""
        if not self.bot_secret_previous:
            return False
        if not self.bot_secret_previous_until:
            return True
        until = parse_datetime(self.bot_secret_previous_until)
        if until is None:
            logger.error("LINEWORKS_BOT_SECRET_PREVIOUS_UNTIL is not an ISO 8601 time")
            return False
        if timezone.is_naive(until):
            until = timezone.make_aware(until)
        return (now or timezone.now()) < until


def lineworks_settings() -> LineWorksSettings:
    return LineWorksSettings(
        client_id=settings.LINEWORKS_CLIENT_ID,
        client_secret=settings.LINEWORKS_CLIENT_SECRET,
        service_account=settings.LINEWORKS_SERVICE_ACCOUNT,
        private_key=settings.LINEWORKS_PRIVATE_KEY,
        bot_id=str(settings.LINEWORKS_BOT_ID or ""),
        bot_secret=settings.LINEWORKS_BOT_SECRET,
        api_base_url=settings.LINEWORKS_API_BASE_URL.rstrip("/"),
        auth_url=settings.LINEWORKS_AUTH_URL,
        hq_channel_id=settings.LINEWORKS_HQ_CHANNEL_ID,
        scope=getattr(settings, "LINEWORKS_SCOPE", "bot.message bot.read"),
        connect_timeout=float(getattr(settings, "LINEWORKS_CONNECT_TIMEOUT", 5)),
        read_timeout=float(getattr(settings, "LINEWORKS_READ_TIMEOUT", 20)),
        download_max_bytes=int(getattr(settings, "PHOTO_MAX_BYTES", 10 * 1024 * 1024)),
        bot_secret_previous=getattr(settings, "LINEWORKS_BOT_SECRET_PREVIOUS", ""),
        bot_secret_previous_until=getattr(settings, "LINEWORKS_BOT_SECRET_PREVIOUS_UNTIL", ""),
    )


# Largest callback body accepted. Real events are a few hundred bytes (a text is ≤ 2,000
# characters); anything far larger is not LINE WORKS.
CALLBACK_MAX_BYTES = int(getattr(settings, "LINEWORKS_CALLBACK_MAX_BYTES", 64 * 1024))


def fake_control_url() -> str | None:
    """Base URL of the fake LINE WORKS server's control endpoints (demo page), or None.

    ``LINEWORKS_FAKE_URL`` wins; otherwise the API base URL is used when it points at this
    machine (the fake serves the API and its control endpoints on one port).
    """
    explicit = getattr(settings, "LINEWORKS_FAKE_URL", "")
    if explicit:
        return explicit.rstrip("/")
    parts = urlsplit(settings.LINEWORKS_API_BASE_URL)
    if parts.hostname in {"127.0.0.1", "localhost", "::1"}:
        return f"{parts.scheme}://{parts.netloc}"
    return None
