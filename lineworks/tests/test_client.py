"""The LINE WORKS client against the fake server: auth and renewal, error classification,
rate limits, attachments (302 download, two-step upload), channels, call records."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs

import jwt
import pytest
from django.core.cache import cache

from lineworks import content
from lineworks.client import LineWorksClient, LineWorksError, is_permanent
from lineworks.fake.keys import public_key_pem
from lineworks.fake.server import sample_png
from lineworks.models import ApiCall
from lineworks.tests.conftest import CLIENT_ID, SERVICE_ACCOUNT

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(fake):
    return LineWorksClient()


def _token_calls(fake):
    return fake.calls("POST /oauth2/v2.0/token")


def test_jwt_assertion_is_rs256_with_the_documented_claims(client, lw_private_key):
    assertion = client._assertion()
    header = jwt.get_unverified_header(assertion)
    assert header == {"alg": "RS256", "typ": "JWT"}
    claims = jwt.decode(assertion, public_key_pem(lw_private_key), algorithms=["RS256"])
    assert claims["iss"] == CLIENT_ID
    assert claims["sub"] == SERVICE_ACCOUNT
    assert isinstance(claims["iat"], int) and claims["exp"] - claims["iat"] == 3600
    assert "." in assertion and "=" not in assertion  # base64url without padding


def test_token_is_issued_once_and_cached(client, fake):
    client.send_text("一通目", channel_id="ch-1")
    client.send_text("二通目", channel_id="ch-1")
    LineWorksClient().send_text("別の接続から", channel_id="ch-1")  # shared through the cache
    assert len(_token_calls(fake)) == 1
    assert [m["content"]["text"] for m in fake.messages()] == ["一通目", "二通目", "別の接続から"]


def test_token_is_renewed_before_it_expires(client, fake):
    fake.config.token_lifetime = 3600
    client.send_text("a", channel_id="ch-1")
    cached = cache.get(client._token_key)
    # Renewal is planned a tenth of the lifetime (at most 10 minutes) before expiry.
    assert 3600 - 400 < cached["expires_at"] - time.time() <= 3600 - 360
    cache.set(client._token_key, {**cached, "expires_at": time.time() - 1})
    client.send_text("b", channel_id="ch-1")
    assert len(_token_calls(fake)) == 2


def test_expired_token_is_renewed_once_and_the_call_retried(client, fake):
    client.send_text("a", channel_id="ch-1")
    fake.expire_tokens()  # the API now answers 401 UNAUTHORIZED
    client.send_text("b", channel_id="ch-1")
    statuses = [c["status"] for c in fake.calls("/channels/ch-1/messages")]
    assert statuses == [201, 401, 201]
    assert len(_token_calls(fake)) == 2
    assert len(fake.messages()) == 2


def test_403_unauthorized_as_in_the_official_samples_also_renews(client, fake):
    fake.config.auth_error_status = 403
    client.send_text("a", channel_id="ch-1")
    fake.expire_tokens()
    client.send_text("b", channel_id="ch-1")
    assert [c["status"] for c in fake.calls("/messages")] == [201, 403, 201]


def test_token_endpoint_rejects_a_key_it_does_not_know(fake, settings, lw_other_private_key):
    settings.LINEWORKS_PRIVATE_KEY = lw_other_private_key
    with pytest.raises(LineWorksError) as error:
        LineWorksClient().send_text("a", channel_id="ch-1")
    assert error.value.status == 400 and not error.value.permanent
    assert fake.messages() == []


def test_token_request_form_is_as_documented(client, fake):
    seen = {}

    def spy(method, url, **kwargs):
        if url == fake.auth_url:
            seen.update(kwargs["data"])
        return original(method, url, **kwargs)

    original = client.session.request
    client.session.request = spy
    client.access_token()
    assert seen["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert seen["client_id"] == CLIENT_ID and seen["client_secret"]
    assert seen["scope"] and seen["assertion"].count(".") == 2


def test_fake_accepts_the_double_encoded_grant_type_of_the_python_sample(client, fake):
    import requests

    form = (
        f"assertion={client._assertion()}&grant_type=urn%253Aietf%253Aparams%253Aoauth"
        f"%253Agrant-type%253Ajwt-bearer&client_id={CLIENT_ID}"
        f"&client_secret={fake.config.client_secret}&scope=bot"
    )
    assert parse_qs(form)["grant_type"][0].startswith("urn%3A")
    response = requests.post(
        fake.auth_url,
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["expires_in"] == "86400"  # a string, as in §1.4


@pytest.mark.parametrize(
    "status, code, permanent",
    [
        (400, "INVALID_PARAMETER", True),
        (403, "FORBIDDEN", True),
        (403, "ACCESS_DENIED", True),
        (404, "NOT_FOUND", True),
        (409, "CONFLICT", True),
        (429, "TOO_MANY_REQUESTS", False),
        (500, "INTERNAL_SERVER_ERROR", False),
        (503, "SERVICE_UNAVAILABLE", False),
    ],
)
def test_errors_are_classified_permanent_or_transient(client, fake, status, code, permanent):
    fake.add_fault(status, code=code, match="/messages")
    with pytest.raises(LineWorksError) as error:
        client.send_text("a", channel_id="ch-1")
    assert error.value.status == status
    assert error.value.code == code
    assert error.value.permanent is permanent
    assert is_permanent(status, code) is permanent


def test_timeout_is_transient(client, fake, settings):
    settings.LINEWORKS_READ_TIMEOUT = 0.2
    slow = LineWorksClient()
    slow.access_token()
    fake.set_latency(600)
    with pytest.raises(LineWorksError) as error:
        slow.send_text("a", channel_id="ch-1")
    assert error.value.code == "TIMEOUT" and not error.value.permanent


def test_unreachable_server_is_transient(settings, fake):
    settings.LINEWORKS_AUTH_URL = "http://127.0.0.1:9/oauth2/v2.0/token"
    with pytest.raises(LineWorksError) as error:
        LineWorksClient().send_text("a", channel_id="ch-1")
    assert error.value.code == "NETWORK" and not error.value.permanent


def test_rate_limit_headers_stop_calls_until_the_window_resets(client, fake):
    fake.config.rate_limit = 2
    client.send_text("1", channel_id="ch-1")
    client.send_text("2", channel_id="ch-1")  # rateLimit-remaining: 0
    with pytest.raises(LineWorksError) as error:
        client.send_text("3", channel_id="ch-1")
    assert error.value.code == "RATE_LIMITED_LOCALLY"
    assert not error.value.permanent and 0 < error.value.retry_after <= 60
    assert len(fake.calls("/messages")) == 2  # the third call never left the portal
    client.send_text("別の宛先の種類は別の枠", user_id="lw-a-1")


def test_429_carries_the_reset_time(client, fake):
    fake.config.rate_limit = 1
    client.send_text("1", user_id="u1")
    cache.clear()  # forget what the headers said: the server's 429 must be understood too
    with pytest.raises(LineWorksError) as error:
        client.send_text("2", user_id="u1")
    assert error.value.status == 429 and 0 < error.value.retry_after <= 60


def test_download_follows_the_302_by_hand_with_the_token(client, fake):
    data = sample_png(20, 10)
    file_id = fake.add_file(data, file_name="被害状況.png", content_type="image/png")
    download = client.download_attachment(file_id)
    assert download.data == data
    assert download.content_type == "image/png"
    first, second = fake.calls("attachments")[0], fake.calls("/_storage/files/")[0]
    assert first["status"] == 302
    assert second["status"] == 200 and second["auth"]


def test_download_size_limit(client, fake):
    file_id = fake.add_file(b"x" * 5000, file_name="big.jpg", content_type="image/jpeg")
    with pytest.raises(LineWorksError) as error:
        client.download_attachment(file_id, max_bytes=1000)
    assert error.value.code == "TOO_LARGE" and error.value.permanent


def test_token_is_only_sent_to_line_works_hosts(client):
    assert client._trusted(client.config.api_base_url + "/x")
    assert client._trusted("https://storage.worksmobile.com/k/emsg/r/jp1/file.png")
    assert client._trusted("https://apis-storage.worksmobile.com/x")
    assert not client._trusted("https://evil.example.com/worksmobile.com")
    assert not client._trusted("http://storage.worksmobile.com/x")  # not over plain HTTP
    assert not client._trusted("https://worksmobile.com.evil.example/x")


def test_image_is_sent_by_file_id_after_a_two_step_upload(client, fake):
    file_id = client.send_image(
        data=sample_png(), file_name="map.png", content_type="image/png", channel_id="ch-hq"
    )
    [message] = fake.messages(channel_id="ch-hq")
    assert message["content"] == {"type": "image", "fileId": file_id}
    assert fake.state.files[file_id]["data"] == sample_png()
    upload = fake.calls("/_storage/upload/")[0]
    assert upload["status"] == 200 and upload["auth"]


def test_button_template_and_link_are_accepted(client, fake):
    buttons = content.button_template(
        "安否を報告してください",
        [
            content.message_action("無事", postback="SAFE"),
            content.uri_action("避難所マップ", "https://example.jp/map"),
        ],
    )
    client.send_message(buttons, channel_id="ch-1")
    client.send_message(
        content.link("詳細はポータルで", "R-000001", "https://portal.example.jp/reports/1/"),
        user_id="u1",
    )
    assert [m["content"]["type"] for m in fake.messages()] == ["button_template", "link"]


def test_channels_create_get_members_paging_and_leave(client, fake):
    members = [f"user-{i}" for i in range(5)]
    created = client.create_channel(members=members, title="真備地区 連絡")
    channel_id = created["channelId"]
    assert client.get_channel(channel_id)["title"] == "真備地区 連絡"
    assert client.channel_members(channel_id, page_size=2) == members
    assert len(fake.calls(f"/channels/{channel_id}/members")) == 3  # 2 + 2 + 1
    client.leave_channel(channel_id)
    with pytest.raises(LineWorksError) as error:
        client.send_text("もう届かない", channel_id=channel_id)
    assert error.value.code == "ACCESS_DENIED" and error.value.permanent


def test_every_call_is_recorded_without_ids_or_secrets(client, fake, caplog):
    caplog.set_level(logging.INFO, logger="lineworks.client")
    client.send_text("記録", channel_id="ch-secret-room")
    token = cache.get(client._token_key)["access_token"]
    endpoints = list(ApiCall.objects.order_by("id").values_list("method", "endpoint", "status"))
    assert endpoints == [
        ("POST", "/oauth2/v2.0/token", 200),
        ("POST", "/bots/{botId}/channels/{channelId}/messages", 201),
    ]
    assert all(call.duration_ms >= 0 for call in ApiCall.objects.all())
    for secret in (token, fake.config.client_secret, "ch-secret-room", "記録"):
        assert secret not in caplog.text
