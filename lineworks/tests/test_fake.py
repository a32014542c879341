"""The fake LINE WORKS server itself: what it accepts and refuses, its control endpoints, and
the `run_fake_lineworks` command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
import requests

from lineworks.fake.validation import Invalid, validate_content
from lineworks.signature import verify
from lineworks.tests.conftest import BOT_ID, BOT_SECRET, CLIENT_ID, CLIENT_SECRET, SERVICE_ACCOUNT

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "text", "text": "x", "color": "red"},  # undocumented key
        {"type": "text", "text": "あ" * 2001},
        {"type": "text"},
        {"type": "unknown"},
        {"type": "button_template", "contentText": "x", "actions": []},
        {
            "type": "button_template",
            "contentText": "x",
            "actions": [{"type": "message", "label": "a"}] * 11,
        },
        {  # postback actions are not allowed in button templates (§2.4)
            "type": "button_template",
            "contentText": "x",
            "actions": [{"type": "postback", "label": "a", "data": "d"}],
        },
        {
            "type": "button_template",
            "contentText": "x",
            "actions": [
                {"type": "message", "label": "二十文字を超えるとても長いボタンのラベルです"}
            ],
        },
        {"type": "link", "contentText": "x", "linkText": "y"},
        {"type": "image", "fileId": "never-uploaded"},
        {"type": "image", "originalContentUrl": "http://insecure.example/a.png"},
        {"type": "location", "title": "t", "address": "a", "latitude": "34.5", "longitude": 1},
    ],
)
def test_content_validation_rejects(body):
    with pytest.raises(Invalid):
        validate_content(body, files=set())


def test_content_validation_accepts_documented_messages():
    for body in [
        {
            "type": "text",
            "text": "避難所を開設しました",
            "i18nTexts": [{"language": "en_US", "text": "Shelter opened"}],
        },
        {"type": "sticker", "packageId": "1", "stickerId": "2"},
        {"type": "image", "fileId": "f1"},
        {
            "type": "location",
            "title": "第一避難所",
            "address": "倉敷市",
            "latitude": 34.585,
            "longitude": 133.772,
        },
        {"type": "link", "contentText": "a", "linkText": "b", "link": "https://example.jp"},
        {
            "type": "button_template",
            "contentText": "安否を報告してください",
            "actions": [
                {"type": "message", "label": "無事", "postback": "SAFE"},
                {"type": "uri", "label": "避難所マップ", "uri": "https://example.jp/map"},
            ],
        },
        {
            "type": "text",
            "text": "現在地を送ってください",
            "quickReply": {
                "items": [
                    {"action": {"type": "location", "label": "位置情報を送る"}},
                    {
                        "action": {
                            "type": "postback",
                            "label": "不要",
                            "data": "loc=skip",
                            "displayText": "不要",
                        }
                    },
                ]
            },
        },
    ]:
        validate_content(body, files={"f1"})


@pytest.fixture
def capture_server():
    """A stand-in portal that records the callbacks the fake posts."""
    received: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/lineworks/callback", received
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_play_a_member_posts_a_correctly_signed_callback(fake, capture_server):
    url, received = capture_server
    fake.config.callback_url = url
    response = requests.post(
        f"{fake.url}/_fake/play",
        json={"userId": "lw-a-1", "content": {"type": "text", "text": "避難者数 35名"}},
        timeout=5,
    )
    assert response.json()["status"] == 200
    [(headers, body)] = received
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    assert headers["X-WORKS-BotId"] == BOT_ID
    assert verify(BOT_SECRET, body, headers["X-WORKS-Signature"])
    event = json.loads(body)
    assert event["type"] == "message" and event["content"]["text"] == "避難者数 35名"
    assert "channelId" not in event["source"]  # a 1:1 message has no channelId (§3.4)
    assert event["issuedTime"].endswith("Z")


@pytest.mark.django_db
def test_play_a_member_sending_a_photo_registers_the_file(fake, capture_server):
    url, received = capture_server
    fake.config.callback_url = url
    requests.post(
        f"{fake.url}/_fake/play",
        json={"userId": "u", "channelId": "c", "content": {"type": "image"}},
        timeout=5,
    )
    event = json.loads(received[0][1])
    assert event["content"]["fileId"] in fake.state.files


@pytest.mark.django_db
def test_control_endpoints_inject_faults_and_show_the_record(fake):
    from lineworks.client import LineWorksClient, LineWorksError

    requests.post(f"{fake.url}/_fake/faults", json={"status": 503, "count": 1}, timeout=5)
    client = LineWorksClient()
    with pytest.raises(LineWorksError):
        client.send_text("a", channel_id="c1")
    client.send_text("b", channel_id="c1")
    record = requests.get(f"{fake.url}/_fake/record", timeout=5).json()["entries"]
    assert [e["status"] for e in record if "messages" in e["path"]] == [503, 201]
    messages = requests.get(f"{fake.url}/_fake/messages?channelId=c1", timeout=5).json()
    assert [m["content"]["text"] for m in messages["messages"]] == ["b"]


@pytest.mark.django_db
def test_api_refuses_missing_or_unknown_tokens(fake):
    url = f"{fake.api_base_url}/bots/{BOT_ID}/channels/c1/messages"
    body = {"content": {"type": "text", "text": "x"}}
    for headers in ({}, {"Authorization": "Bearer made-up"}):
        response = requests.post(url, json=body, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json() == {"code": "UNAUTHORIZED", "description": "Authentication failed."}
        assert "invalid_token" in response.headers["www-authenticate"]


def _token(fake, claims, key, **form):
    data = {
        "assertion": jwt.encode(claims, key, algorithm="RS256"),
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "bot",
        **form,
    }
    return requests.post(fake.auth_url, data=data, timeout=5)


@pytest.mark.django_db
def test_token_endpoint_checks_the_assertion(fake, lw_private_key, lw_other_private_key):
    now = int(time.time())
    good = {"iss": CLIENT_ID, "sub": SERVICE_ACCOUNT, "iat": now, "exp": now + 3600}
    assert _token(fake, good, lw_private_key).status_code == 200
    assert _token(fake, good, lw_other_private_key).status_code == 400
    assert _token(fake, {**good, "exp": now + 3601}, lw_private_key).status_code == 400
    assert _token(fake, {**good, "iss": "someone"}, lw_private_key).status_code == 400
    assert _token(fake, {**good, "sub": "me"}, lw_private_key).status_code == 400
    assert (
        _token(fake, {**good, "iat": now - 7200, "exp": now - 3600}, lw_private_key).status_code
        == 400
    )
    assert _token(fake, good, lw_private_key, client_secret="wrong").status_code == 401
    # Unknown claims such as aud are ignored.
    assert _token(fake, {**good, "aud": fake.auth_url}, lw_private_key).status_code == 200


@pytest.mark.django_db
def test_refresh_token_grant(fake, lw_private_key):
    now = int(time.time())
    claims = {"iss": CLIENT_ID, "sub": SERVICE_ACCOUNT, "iat": now, "exp": now + 3600}
    refresh = _token(fake, claims, lw_private_key).json()["refresh_token"]
    response = requests.post(
        fake.auth_url,
        data={
            "refresh_token": refresh,
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=5,
    )
    assert response.status_code == 200 and response.json()["access_token"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_fake_lineworks_command_serves_on_the_given_port(lw_private_key, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kurashiki_dr.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "LINEWORKS_CLIENT_ID": CLIENT_ID,
        "LINEWORKS_CLIENT_SECRET": CLIENT_SECRET,
        "LINEWORKS_SERVICE_ACCOUNT": SERVICE_ACCOUNT,
        "LINEWORKS_PRIVATE_KEY": lw_private_key,
        "LINEWORKS_BOT_ID": BOT_ID,
        "LINEWORKS_BOT_SECRET": BOT_SECRET,
    }
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_fake_lineworks", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/_fake/health", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.json() == {"ok": True}
        now = int(time.time())
        token = requests.post(
            f"http://127.0.0.1:{port}/oauth2/v2.0/token",
            data={
                "assertion": jwt.encode(
                    {"iss": CLIENT_ID, "sub": SERVICE_ACCOUNT, "iat": now, "exp": now + 3600},
                    lw_private_key,
                    algorithm="RS256",
                ),
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": "bot",
            },
            timeout=5,
        )
        assert token.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
