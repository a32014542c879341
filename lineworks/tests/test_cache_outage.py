"""Redis (the cache) unreachable while a message is sent: the send still goes out.

The token and the remembered rate limits live in the cache; a worker that was delivering when
Redis restarted must not mark the message failed for that.
"""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from lineworks import client as client_module
from lineworks.client import LineWorksClient
from lineworks.models import OutboundMessage, OutboundStatus
from lineworks.services import outbound_deliver

pytestmark = pytest.mark.django_db


class _DownCache:
    def get(self, *args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    set = delete = get


def test_a_message_is_delivered_while_the_cache_is_down(fake, monkeypatch):
    monkeypatch.setattr(client_module, "cache", _DownCache())
    message = OutboundMessage.objects.create(
        kind="reply",
        to_channel_id="ch-mabi",
        contents=[{"type": "text", "text": "受け付けました。受付番号 R-000042"}],
        created_at="2024-07-06T20:00:00+09:00",
        next_attempt_at="2024-07-06T20:00:00+09:00",
    )

    assert outbound_deliver(message.pk, client=LineWorksClient()) == "sent"

    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT
    assert [m["content"]["text"] for m in fake.messages(channel_id="ch-mabi")] == [
        "受け付けました。受付番号 R-000042"
    ]
