"""Fixtures for the LINE WORKS tests: a fake LINE WORKS server on a free port, the portal's
LINEWORKS_* settings pointing at it, and a helper that plays a member through the webhook.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from lineworks.fake.keys import generate_private_key_pem, public_key_pem
from lineworks.fake.server import FakeConfig, FakeLineWorks
from lineworks.models import InboundEvent, OutboundMessage

BOT_ID = "2000001"
BOT_SECRET = "bot-secret-for-tests-0123456789"
CLIENT_ID = "kdr-client-id"
CLIENT_SECRET = "kdr-client-secret"
SERVICE_ACCOUNT = "kdr.serviceaccount@kurashiki-test"


@pytest.fixture(scope="session")
def lw_private_key() -> str:
    return generate_private_key_pem()


@pytest.fixture(scope="session")
def lw_other_private_key() -> str:
    return generate_private_key_pem()


def fake_config(private_key: str, **overrides: Any) -> FakeConfig:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "service_account": SERVICE_ACCOUNT,
        "public_key": public_key_pem(private_key),
        "bot_id": BOT_ID,
        "bot_secret": BOT_SECRET,
    }
    values.update(overrides)
    return FakeConfig(**values)


def lineworks_env(fake: FakeLineWorks, private_key: str) -> dict[str, str]:
    return {
        "LINEWORKS_CLIENT_ID": CLIENT_ID,
        "LINEWORKS_CLIENT_SECRET": CLIENT_SECRET,
        "LINEWORKS_SERVICE_ACCOUNT": SERVICE_ACCOUNT,
        "LINEWORKS_PRIVATE_KEY": private_key,
        "LINEWORKS_BOT_ID": BOT_ID,
        "LINEWORKS_BOT_SECRET": BOT_SECRET,
        "LINEWORKS_API_BASE_URL": fake.api_base_url,
        "LINEWORKS_AUTH_URL": fake.auth_url,
        "LINEWORKS_HQ_CHANNEL_ID": "ch-hq",
    }


@pytest.fixture
def fake(settings: Any, lw_private_key: str) -> Iterator[FakeLineWorks]:
    """A running fake LINE WORKS, and the portal configured to talk to it."""
    server = FakeLineWorks(fake_config(lw_private_key)).start()
    for name, value in lineworks_env(server, lw_private_key).items():
        setattr(settings, name, value)
    settings.LINEWORKS_READ_TIMEOUT = 3
    cache.clear()  # no token or rate-limit state from an earlier test
    yield server
    server.stop()
    cache.clear()


@dataclass
class Talk:
    """Plays members of LINE WORKS talk rooms through the portal's webhook (test client),
    running on-commit work as a committed request would."""

    fake: FakeLineWorks
    client: Client
    capture: Any

    def post(self, body: bytes, headers: dict[str, str]) -> Any:
        with self.capture(execute=True):
            return self.client.post(
                "/lineworks/callback",
                data=body,
                content_type=headers.get("Content-Type", "application/json"),
                headers={k: v for k, v in headers.items() if k != "Content-Type"},
            )

    def event(self, event: dict[str, Any]) -> Any:
        body, headers = self.fake.signed(event)
        return self.post(body, headers)

    def say(
        self, user_id: str, channel_id: str, text: str, *, postback: str = ""
    ) -> dict[str, Any]:
        """Send a text as ``user_id`` in ``channel_id`` ("" for the 1:1 talk); return the
        bot's replies to that room or user that arrived meanwhile."""
        body: dict[str, Any] = {"type": "text", "text": text}
        if postback:
            body["postback"] = postback
        return self.send(user_id, channel_id, body)

    def send(self, user_id: str, channel_id: str, body: dict[str, Any]) -> dict[str, Any]:
        since = self.fake.state.seq
        event = self.fake.member_event(user_id=user_id, channel_id=channel_id, content=body)
        response = self.event(event)
        assert response.status_code == 200, response.status_code
        return {
            "response": response,
            "replies": self.fake.messages(
                channel_id=channel_id, user_id="" if channel_id else user_id, since=since
            ),
        }

    def press(self, reply: dict[str, Any], label: str, user_id: str, channel_id: str) -> dict:
        """Press the message-action button ``label`` of a button template reply."""
        action = next(a for a in reply["content"]["actions"] if a["label"] == label)
        return self.say(user_id, channel_id, action["text"], postback=action["postback"])


@pytest.fixture
def talk(fake: FakeLineWorks, django_capture_on_commit_callbacks: Any) -> Talk:
    return Talk(fake=fake, client=Client(), capture=django_capture_on_commit_callbacks)


def reply_texts(replies: list[dict[str, Any]]) -> list[str]:
    texts = []
    for message in replies:
        body = message["content"]
        texts.append(body.get("text") or body.get("contentText") or "")
    return texts


def inbound_count() -> int:
    return InboundEvent.objects.count()


def outbound_count() -> int:
    return OutboundMessage.objects.count()


def dumps(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()
