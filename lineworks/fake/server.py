"""A fake LINE WORKS (auth + Bot API 2.0) for tests and the demo, per lineworks-api.md §8.

One ThreadingHTTPServer serves, on one port:

* ``POST /oauth2/v2.0/token``: the JWT bearer grant (RS256 checked against the configured
  public key; iss, sub, iat/exp ≤ 3600 s; grant_type plain or percent-encoded once more) and
  ``grant_type=refresh_token``; answers like §1.4 (``expires_in`` as a string).
* ``/v1.0/bots/{botId}/...``: user and channel messages (201, content validated: unknown keys,
  limits), attachments (upload URL + multipart upload; download by 302 to a storage URL),
  channels (create 201 + join/joined callbacks, get, members with cursor paging, delete 204 +
  leave callback). Bearer tokens are checked (401 ``UNAUTHORIZED`` + ``www-authenticate``);
  per-operation per-minute limits with ``rateLimit-*`` headers and 429.
* ``/_fake/...``: control endpoints for tests and the demo page: the record of everything
  received, fault injection (next N calls fail with a status; added latency), token expiry,
  registering a file a member sends, and "play a member" (a correctly signed callback POSTed
  to the portal, one attempt, no retry, like LINE WORKS).

Standard library only (plus PyJWT for the RS256 check). Not for production.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import json
import re
import secrets
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from lineworks.fake.validation import Invalid, validate_content
from lineworks.signature import sign

GRANT_JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CONTROL_PREFIX = "/_fake"


@dataclass
class FakeConfig:
    client_id: str
    client_secret: str
    service_account: str
    public_key: str  # PEM
    bot_id: str
    bot_secret: str
    callback_url: str = ""
    domain_id: int = 40029600
    rate_limit: int = 240  # per API operation per minute (Standard plan)
    channel_create_limit: int = 10
    token_lifetime: int = 86400
    max_body: int = 1024 * 1024
    # 401 as documented, or 403 + code UNAUTHORIZED as the official samples expect.
    auth_error_status: int = 401


@dataclass
class Fault:
    status: int
    remaining: int | None  # None: until `until`
    until: float | None
    code: str
    match: str  # substring of "METHOD /path"; "" = any API call (not token, not control)
    latency: float = 0.0

    def active(self, now: float) -> bool:
        if self.remaining is not None:
            return self.remaining > 0
        return self.until is not None and now < self.until


@dataclass
class State:
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch)
    refresh_tokens: set[str] = field(default_factory=set)
    record: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    latency: float = 0.0
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, str] = field(default_factory=dict)  # one-time upload key -> fileId
    windows: dict[tuple[str, int], int] = field(default_factory=dict)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    token_scopes: dict[str, set[str]] = field(default_factory=dict)
    # The tenant's directory (§9.2): users in order of creation, groups with their members.
    users: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)


ERROR_CODES = {
    400: "INVALID_PARAMETER",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def now_iso() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sample_png(
    width: int = 96, height: int = 64, rgb: tuple[int, int, int] = (200, 60, 40)
) -> bytes:
    """A small valid PNG (a coloured card with a stripe), for a member's "photo"."""
    rows = []
    for y in range(height):
        colour = (255, 255, 255) if height // 3 <= y < height // 3 + 6 else rgb
        rows.append(b"\x00" + bytes(colour) * width)
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


class FakeLineWorks:
    """The fake server. ``start()`` binds (port 0 = a free port) and serves in a thread."""

    def __init__(self, config: FakeConfig, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.state = State()
        self.lock = threading.RLock()
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/oauth2/v2.0/token"

    def start(self) -> FakeLineWorks:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-lineworks",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        with self.lock:
            old = self.state
            self.state = State(channels=old.channels, users=old.users, groups=old.groups)

    def set_directory(self, *, users: list[dict[str, Any]], groups: list[dict[str, Any]]) -> None:
        """Load the tenant's directory. A user is a User object of §9.2 (``userId``,
        ``email``, ``userName``, ``isDeleted``, ``isSuspended``, ``organizations``...); one
        marked ``"external": true`` belongs to another tenant: like LINE WORKS, the fake
        never lists it, in /users nor among a group's members. A group is ``{"groupId",
        "groupName", "members": [{"id", "type"}]}``."""
        with self.lock:
            self.state.users = [dict(u) for u in users]
            self.state.groups = [
                {**g, "members": [dict(m) for m in g.get("members", [])]} for g in groups
            ]

    # --- control (also reachable over HTTP under /_fake) ---

    def add_fault(
        self,
        status: int,
        *,
        count: int | None = 1,
        seconds: float | None = None,
        code: str = "",
        match: str = "",
        latency_ms: int = 0,
    ) -> None:
        """Fail the next ``count`` matching API calls (or all of them for ``seconds``)."""
        with self.lock:
            self.state.faults.append(
                Fault(
                    status=status,
                    remaining=None if seconds else count,
                    until=time.time() + seconds if seconds else None,
                    code=code or ERROR_CODES.get(status, "ERROR"),
                    match=match,
                    latency=latency_ms / 1000,
                )
            )

    def clear_faults(self) -> None:
        with self.lock:
            self.state.faults.clear()
            self.state.latency = 0.0

    def set_latency(self, ms: int) -> None:
        with self.lock:
            self.state.latency = ms / 1000

    def expire_tokens(self) -> None:
        with self.lock:
            for token in self.state.tokens:
                self.state.tokens[token] = 0.0

    def add_file(self, data: bytes, *, file_name: str, content_type: str) -> str:
        file_id = f"jp1.{int(time.time() * 1000)}{secrets.randbelow(10**6):06d}.{len(data)}.0.0"
        with self.lock:
            self.state.files[file_id] = {
                "name": file_name,
                "content_type": content_type,
                "data": data,
            }
        return file_id

    def add_channel(
        self, channel_id: str, *, title: str = "", members: list[str] | None = None
    ) -> None:
        with self.lock:
            self.state.channels[channel_id] = {
                "title": title or channel_id,
                "members": list(members or []),
                "type": "MULTI_USERS",
                "bot_in": True,
            }

    def messages(
        self, *, channel_id: str = "", user_id: str = "", since: int = 0
    ) -> list[dict[str, Any]]:
        """Messages the fake accepted (201), oldest first."""
        with self.lock:
            return [
                m
                for m in self.state.messages
                if m["seq"] > since
                and (not channel_id or m.get("channelId") == channel_id)
                and (not user_id or m.get("userId") == user_id)
            ]

    def record(self, *, since: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.state.record if r["seq"] > since]

    def calls(self, match: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.state.record if match in f"{r['method']} {r['path']}"]

    # --- callbacks: "play a member" ---

    def member_event(
        self,
        *,
        user_id: str,
        channel_id: str = "",
        content: dict[str, Any] | None = None,
        kind: str = "message",
        data: str = "",
        members: list[str] | None = None,
    ) -> dict[str, Any]:
        """An event shaped as in §3.4/§3.5 (no channelId in 1:1 messages)."""
        source: dict[str, Any] = {}
        if user_id and kind not in ("join", "leave", "joined", "left"):
            source["userId"] = user_id
        if channel_id:
            source["channelId"] = channel_id
        source["domainId"] = self.config.domain_id
        event: dict[str, Any] = {"type": kind, "source": source, "issuedTime": now_iso()}
        if kind == "message":
            event["content"] = content or {}
        elif kind == "postback":
            event["data"] = data
        elif kind in ("joined", "left"):
            event["members"] = list(members or [])
        return event

    def signed(self, event: dict[str, Any], *, secret: str | None = None) -> tuple[bytes, dict]:
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-WORKS-BotId": str(self.config.bot_id),
            "X-WORKS-Signature": sign(secret or self.config.bot_secret, body),
        }
        return body, headers

    def send_callback(self, event: dict[str, Any], *, url: str = "") -> int:
        """POST the event to the portal, once (LINE WORKS does not retry). Returns the HTTP
        status, or 0 when the portal could not be reached."""
        target = url or self.config.callback_url
        body, headers = self.signed(event)
        entry = {"seq": self.next_seq(), "at": now_iso(), "event": event, "status": 0}
        if not target:
            entry["status"] = -1
        else:
            if not target.startswith(("http://", "https://")):
                raise ValueError("the callback URL must be http(s)")
            request = urllib.request.Request(  # noqa: S310 (scheme checked above)
                target, data=body, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    entry["status"] = response.status
            except urllib.error.HTTPError as exc:
                entry["status"] = exc.code
            except (urllib.error.URLError, OSError):
                entry["status"] = 0
        with self.lock:
            self.state.callbacks.append(entry)
        return int(entry["status"])

    def send_callback_later(self, events: list[dict[str, Any]], delay: float = 0.05) -> None:
        def run() -> None:
            time.sleep(delay)
            for event in events:
                self.send_callback(event)

        threading.Thread(target=run, daemon=True).start()

    # --- internals used by the handler ---

    def next_seq(self) -> int:
        with self.lock:
            self.state.seq += 1
            return self.state.seq


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeLineWorks


class _Reply(Exception):
    def __init__(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.raw = raw


def _error(status: int, description: str, code: str = "") -> _Reply:
    return _Reply(
        status, {"code": code or ERROR_CODES.get(status, "ERROR"), "description": description}
    )


_API = re.compile(r"^/v1\.0/bots/(?P<bot>[^/]+)(?P<rest>/.*)$")
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/users/(?P<user>[^/]+)/messages$"), "user_message"),
    ("POST", re.compile(r"^/channels/(?P<channel>[^/]+)/messages$"), "channel_message"),
    ("POST", re.compile(r"^/attachments$"), "attachment_create"),
    ("GET", re.compile(r"^/attachments/(?P<file>[^/]+)$"), "attachment_get"),
    ("POST", re.compile(r"^/channels$"), "channel_create"),
    ("GET", re.compile(r"^/channels/(?P<channel>[^/]+)$"), "channel_get"),
    ("GET", re.compile(r"^/channels/(?P<channel>[^/]+)/members$"), "channel_members"),
    ("DELETE", re.compile(r"^/channels/(?P<channel>[^/]+)$"), "channel_delete"),
]


# Directory API (§9.2): read-only, cursor paging, scopes directory(.read) / user(.read) /
# group(.read).
_DIRECTORY: list[tuple[str, re.Pattern[str], str, set[str]]] = [
    ("GET", re.compile(r"^/v1\.0/users$"), "user_list", {"user", "user.read"}),
    ("GET", re.compile(r"^/v1\.0/users/(?P<user>[^/]+)$"), "user_get", {"user", "user.read"}),
    ("GET", re.compile(r"^/v1\.0/groups$"), "group_list", {"group", "group.read"}),
    (
        "GET",
        re.compile(r"^/v1\.0/groups/(?P<group>[^/]+)/members$"),
        "group_members",
        {"group", "group.read"},
    ),
]
_DIRECTORY_SCOPES = {"directory", "directory.read"}
_CURSOR_MARK = b"\xfb\xef\xbe"  # encodes as "++++"


def _page(items: list[Any], query: dict[str, list[str]]) -> tuple[list[Any], str]:
    """One page of ``items`` for ``count`` (1–100, default 100) and an opaque ``cursor``."""
    try:
        count = int((query.get("count") or ["100"])[0])
    except ValueError:
        raise _error(400, "count is invalid") from None
    if not 1 <= count <= 100:
        raise _error(400, "count must be 1 to 100", "OUT_OF_RANGE")
    cursor = (query.get("cursor") or [""])[0]
    try:
        raw = base64.b64decode(cursor.encode(), validate=True) if cursor else _CURSOR_MARK + b"0"
        if not raw.startswith(_CURSOR_MARK):
            raise ValueError("not a cursor")
        offset = int(raw[len(_CURSOR_MARK) :].decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _error(400, "cursor is invalid") from None
    following = offset + count
    # Cursors carry "+" and "=" as real ones do: a client must URL-encode them (§9.2).
    next_cursor = (
        base64.b64encode(_CURSOR_MARK + str(following).encode()).decode()
        if following < len(items)
        else ""
    )
    return items[offset:following], next_cursor


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "FakeLineWorks/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # quiet; everything is in the record

    @property
    def fake(self) -> FakeLineWorks:
        return self.server.fake

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    # --- plumbing ---

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.fake.config.max_body:
            raise _error(413, "Request entity too large", "LIMIT_EXCEEDED")
        return self.rfile.read(length) if length else b""

    def _json(self, body: bytes) -> Any:
        try:
            return json.loads(body or b"null")
        except ValueError:
            raise _error(400, "Request body cannot be parsed.") from None

    def _send(self, reply: _Reply) -> None:
        if reply.raw is not None:
            payload = reply.raw
        elif reply.body is None:
            payload = b""
        else:
            payload = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        if reply.body is not None and reply.raw is None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        entry: dict[str, Any] = {
            "seq": self.fake.next_seq(),
            "at": now_iso(),
            "method": method,
            "path": path,
            "auth": bool(self.headers.get("Authorization")),
        }
        try:
            body = self._body()
            if path.startswith(CONTROL_PREFIX + "/"):
                reply = self._control(method, path[len(CONTROL_PREFIX) :], query, body)
                entry["control"] = True
            elif path == "/oauth2/v2.0/token" and method == "POST":
                reply = self._token(body, entry)
            elif path.startswith("/_storage/"):
                reply = self._storage(method, path, body, entry)
            else:
                reply = self._api(method, path, query, body, entry)
        except _Reply as exc:
            reply = exc
        except Exception as exc:  # a bug in the fake must still answer
            reply = _error(500, f"fake server error: {type(exc).__name__}")
        entry["status"] = reply.status
        if not entry.get("control"):
            with self.fake.lock:
                self.fake.state.record.append(entry)
        self._send(reply)

    # --- token endpoint (§1) ---

    def _token(self, body: bytes, entry: dict[str, Any]) -> _Reply:
        entry["op"] = "token"
        self._maybe_fault("POST /oauth2/v2.0/token", token=True)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        entry["form_keys"] = sorted(form)
        config = self.fake.config
        grant = form.get("grant_type", "")
        if grant not in (GRANT_JWT, "refresh_token") and unquote(grant) in (GRANT_JWT,):
            grant = unquote(grant)  # the official Python sample double-encodes it (§1.3)
        if form.get("client_id") != config.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), config.client_secret
        ):
            raise _Reply(
                401,
                {"error": "invalid_client", "error_description": "client authentication failed"},
            )
        if grant == "refresh_token":
            if form.get("refresh_token") not in self.fake.state.refresh_tokens:
                raise _Reply(
                    400, {"error": "invalid_grant", "error_description": "unknown refresh token"}
                )
            return self._issue(form.get("scope") or "bot", refresh=False)
        if grant != GRANT_JWT:
            raise _Reply(400, {"error": "unsupported_grant_type", "error_description": grant[:100]})
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("alg") != "RS256":
                raise jwt.InvalidAlgorithmError("alg must be RS256")
            claims = jwt.decode(
                assertion,
                config.public_key,
                algorithms=["RS256"],
                options={"require": ["iss", "sub", "iat", "exp"], "verify_aud": False},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            raise _Reply(
                400, {"error": "invalid_grant", "error_description": f"invalid assertion: {exc}"}
            ) from None
        if claims.get("iss") != config.client_id:
            raise _Reply(
                400, {"error": "invalid_grant", "error_description": "iss does not match client_id"}
            )
        if claims.get("sub") != config.service_account:
            raise _Reply(
                400,
                {"error": "invalid_grant", "error_description": "sub is not the service account"},
            )
        iat, exp = claims.get("iat"), claims.get("exp")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
            raise _Reply(
                400,
                {"error": "invalid_grant", "error_description": "iat/exp must be numeric seconds"},
            )
        if exp - iat > 3600 or exp <= iat:
            raise _Reply(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "exp - iat must be 1..3600 seconds",
                },
            )
        scope = form.get("scope", "")
        if not scope:
            raise _Reply(400, {"error": "invalid_scope", "error_description": "scope is required"})
        return self._issue(scope, refresh=True)

    def _issue(self, scope: str, *, refresh: bool) -> _Reply:
        token = "kr1AAAA" + secrets.token_urlsafe(24)
        refresh_token = "kr1AAAA" + secrets.token_urlsafe(24)
        lifetime = self.fake.config.token_lifetime
        with self.fake.lock:
            self.fake.state.tokens[token] = time.time() + lifetime
            self.fake.state.token_scopes[token] = set(scope.split())
            if refresh:
                self.fake.state.refresh_tokens.add(refresh_token)
        body = {
            "access_token": token,
            "scope": scope,
            "token_type": "Bearer",
            "expires_in": str(lifetime),
        }
        if refresh:
            body["refresh_token"] = refresh_token
        return _Reply(200, body)

    # --- auth, faults, limits ---

    def _check_auth(self) -> str:
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.fake.lock:
            expiry = self.fake.state.tokens.get(token)
        if not token or expiry is None or expiry < time.time():
            status = self.fake.config.auth_error_status
            raise _Reply(
                status,
                {"code": "UNAUTHORIZED", "description": "Authentication failed."},
                headers={"www-authenticate": 'Bearer error="invalid_token"'},
            )
        return token

    def _maybe_fault(self, operation: str, *, token: bool = False) -> None:
        now = time.time()
        with self.fake.lock:
            delay = self.fake.state.latency
            chosen = None
            for fault in self.fake.state.faults:
                if not fault.active(now):
                    continue
                if fault.match:
                    if fault.match not in operation:
                        continue
                elif token:
                    continue  # unqualified faults hit the API, not the token endpoint
                chosen = fault
                if fault.remaining is not None:
                    fault.remaining -= 1
                break
            self.fake.state.faults = [f for f in self.fake.state.faults if f.active(now)]
        if chosen is not None:
            delay += chosen.latency
        if delay:
            time.sleep(delay)
        if chosen is not None and chosen.status:
            raise _error(chosen.status, "injected fault", chosen.code)

    def _limit(self, operation: str, limit: int) -> dict[str, str]:
        now = time.time()
        window = int(now // 60)
        reset = str(max(1, 60 - int(now % 60)))
        with self.fake.lock:
            used = self.fake.state.windows.get((operation, window), 0) + 1
            self.fake.state.windows[(operation, window)] = used
        headers = {
            "rateLimit-limit": str(limit),
            "rateLimit-remaining": str(max(0, limit - used)),
            "rateLimit-reset": reset,
            "rateLimit-used": str(min(used, limit)),
        }
        if used > limit:
            raise _Reply(
                429,
                {"code": "TOO_MANY_REQUESTS", "description": "API rate limit exceeded"},
                headers=headers,
            )
        return headers

    # --- API (§2, §4, §5) ---

    def _api(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, entry: dict
    ) -> _Reply:
        for route_method, pattern, name, scopes in _DIRECTORY:
            found = pattern.match(path)
            if found and route_method == method:
                return self._directory(name, scopes, found, query, entry)
        match = _API.match(path)
        if not match:
            raise _error(404, "No such API", "NOT_FOUND")
        rest = match["rest"]
        route = next(
            (
                (name, found)
                for route_method, pattern, name in _ROUTES
                if route_method == method and (found := pattern.match(rest))
            ),
            None,
        )
        if route is None:
            raise _error(404, "No such API", "NOT_FOUND")
        name, found = route
        operation = f"{method} {name}"
        entry["op"] = name
        self._check_auth()
        if match["bot"] != str(self.fake.config.bot_id):
            raise _error(404, "Bot not found", "BOT_NOT_FOUND")
        limit = (
            self.fake.config.channel_create_limit
            if name == "channel_create"
            else self.fake.config.rate_limit
        )
        headers = {} if name == "attachment_get" else self._limit(operation, limit)
        try:
            self._maybe_fault(f"{method} {path}")
        except _Reply as fault:
            fault.headers = {**headers, **fault.headers}
            raise
        params = {k: unquote(v) for k, v in found.groupdict().items()}
        reply = getattr(self, f"_api_{name}")(params, query, body, entry)
        reply.headers = {**headers, **reply.headers}
        return reply

    def _directory(
        self,
        name: str,
        scopes: set[str],
        found: re.Match[str],
        query: dict[str, list[str]],
        entry: dict,
    ) -> _Reply:
        entry["op"] = name
        token = self._check_auth()
        with self.fake.lock:
            granted = self.fake.state.token_scopes.get(token, set())
        if not granted & (scopes | _DIRECTORY_SCOPES):
            raise _error(403, "The access token has no directory scope", "FORBIDDEN")
        headers = self._limit(f"GET {name}", self.fake.config.rate_limit)
        try:
            self._maybe_fault(f"GET {self.path.split('?')[0]}")
        except _Reply as fault:
            fault.headers = {**headers, **fault.headers}
            raise
        with self.fake.lock:
            users = [u for u in self.fake.state.users if not u.get("external")]
            groups = list(self.fake.state.groups)
        visible = {u["userId"] for u in users}
        emails = {u.get("email"): u["userId"] for u in users if u.get("email")}

        def public(user: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in user.items() if k != "external"}

        if name == "user_list":
            page, cursor = _page([public(u) for u in users], query)
            body: dict[str, Any] = {"users": page, "responseMetaData": {"nextCursor": cursor}}
        elif name == "user_get":
            wanted = unquote(found["user"])
            wanted = emails.get(wanted, wanted)
            user = next((u for u in users if u["userId"] == wanted), None)
            if user is None:
                raise _error(404, "User not found", "NOT_FOUND")
            body = public(user)
        elif name == "group_list":
            listed = [{k: v for k, v in g.items() if k != "members"} for g in groups]
            page, cursor = _page(listed, query)
            body = {"groups": page, "responseMetaData": {"nextCursor": cursor}}
        else:
            group = next((g for g in groups if g["groupId"] == unquote(found["group"])), None)
            if group is None:
                raise _error(404, "Group not found", "NOT_FOUND")
            # External members (users of another tenant) are not returned (§9.2).
            members = [m for m in group["members"] if m.get("type") != "USER" or m["id"] in visible]
            page, cursor = _page(members, query)
            body = {"members": page, "responseMetaData": {"nextCursor": cursor}}
        return _Reply(200, body, headers=headers)

    def _message(self, destination: dict[str, str], body: bytes, entry: dict) -> _Reply:
        payload = self._json(body)
        if not isinstance(payload, dict) or set(payload) != {"content"}:
            raise _error(400, 'Request body must be {"content": {...}}')
        content = payload["content"]
        entry["json"] = payload
        with self.fake.lock:
            files = set(self.fake.state.files)
        try:
            validate_content(content, files=files)
        except Invalid as exc:
            raise _error(400, str(exc)) from None
        channel_id = destination.get("channelId")
        if channel_id:
            with self.fake.lock:
                channel = self.fake.state.channels.get(channel_id)
            if channel is not None and not channel["bot_in"]:
                raise _error(403, "The bot is not a member of the channel", "ACCESS_DENIED")
        with self.fake.lock:
            self.fake.state.messages.append(
                {"seq": entry["seq"], "at": entry["at"], **destination, "content": content}
            )
        return _Reply(201)

    def _api_user_message(self, params: dict, query: dict, body: bytes, entry: dict) -> _Reply:
        return self._message({"userId": params["user"]}, body, entry)

    def _api_channel_message(self, params: dict, query: dict, body: bytes, entry: dict) -> _Reply:
        return self._message({"channelId": params["channel"]}, body, entry)

    def _api_attachment_create(self, params: dict, query: dict, body: bytes, entry: dict) -> _Reply:
        payload = self._json(body)
        if not isinstance(payload, dict) or set(payload) != {"fileName"}:
            raise _error(400, "Request body cannot be parsed.")
        name = payload["fileName"]
        if not isinstance(name, str) or not name or len(name) > 255:
            raise _error(400, "fileName is invalid")
        file_id = self.fake.add_file(b"", file_name=name, content_type="")
        key = secrets.token_urlsafe(16)
        with self.fake.lock:
            self.fake.state.files[file_id]["pending"] = True
            self.fake.state.uploads[key] = file_id
        return _Reply(
            200, {"fileId": file_id, "uploadUrl": f"{self.fake.url}/_storage/upload/{key}"}
        )

    def _api_attachment_get(self, params: dict, query: dict, body: bytes, entry: dict) -> _Reply:
        with self.fake.lock:
            item = self.fake.state.files.get(params["file"])
        if item is None or item.get("pending"):
            raise _error(404, "File not found", "NOT_FOUND")
        key = secrets.token_urlsafe(12)
        return _Reply(
            302,
            None,
            headers={
                "Location": f"{self.fake.url}/_storage/files/{quote_id(params['file'])}?k={key}"
            },
        )

    def _api_channel_create(self, params: dict, query: dict, body: bytes, entry: dict) -> _Reply:
        payload = self._json(body)
        if not isinstance(payload, dict) or set(payload) - {"members", "title"}:
            raise _error(400, "Request body cannot be parsed.")
        members = payload.get("members")
        if (
            not isinstance(members, list)
            or not 1 <= len(members) <= 100
            or len(set(members)) != len(members)
            or not all(isinstance(m, str) and m for m in members)
        ):
            raise _error(400, "members must hold 1 to 100 unique user ids")
        title = payload.get("title", "")
        if not isinstance(title, str) or len(title) > 1000:
            raise _error(400, "title is invalid")
        channel_id = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
        self.fake.add_channel(channel_id, title=title, members=members)
        self.fake.send_callback_later(
            [
                self.fake.member_event(user_id="", channel_id=channel_id, kind="join"),
                self.fake.member_event(
                    user_id="", channel_id=channel_id, kind="joined", members=members
                ),
            ]
        )
        return _Reply(201, {"channelId": channel_id, "title": title})

    def _channel(self, channel_id: str) -> dict[str, Any]:
        with self.fake.lock:
            channel = self.fake.state.channels.get(channel_id)
        if channel is None:
            raise _error(404, "Channel not found", "NOT_FOUND")
        if not channel["bot_in"]:
            raise _error(403, "The bot is not a member of the channel", "ACCESS_DENIED")
        return channel

    def _api_channel_get(self, params: dict, query: dict, body: bytes, entry: dict) -> _Reply:
        channel = self._channel(params["channel"])
        return _Reply(
            200,
            {
                "domainId": self.fake.config.domain_id,
                "channelId": params["channel"],
                "title": channel["title"],
                "channelType": {"type": channel["type"]},
            },
        )

    def _api_channel_members(self, params: dict, query: dict, body: bytes, entry: dict) -> _Reply:
        channel = self._channel(params["channel"])
        try:
            count = int((query.get("count") or ["50"])[0])
        except ValueError:
            raise _error(400, "count is invalid") from None
        if not 1 <= count <= 100:
            raise _error(400, "count must be 1 to 100", "OUT_OF_RANGE")
        cursor = (query.get("cursor") or [""])[0]
        try:
            offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        except (ValueError, binascii.Error):
            raise _error(400, "cursor is invalid") from None
        members = channel["members"]
        page = members[offset : offset + count]
        following = offset + count
        next_cursor = (
            base64.urlsafe_b64encode(str(following).encode()).decode()
            if following < len(members)
            else ""
        )
        return _Reply(200, {"members": page, "responseMetaData": {"nextCursor": next_cursor}})

    def _api_channel_delete(self, params: dict, query: dict, body: bytes, entry: dict) -> _Reply:
        channel = self._channel(params["channel"])
        with self.fake.lock:
            channel["bot_in"] = False
        self.fake.send_callback_later(
            [self.fake.member_event(user_id="", channel_id=params["channel"], kind="leave")]
        )
        return _Reply(204)

    # --- storage host (uploads and the 302 target) ---

    def _storage(self, method: str, path: str, body: bytes, entry: dict) -> _Reply:
        entry["op"] = "storage"
        self._check_auth()  # the bearer token must come along on the second hop (§4)
        self._maybe_fault(f"{method} {path}")
        if method == "POST" and path.startswith("/_storage/upload/"):
            key = path.rsplit("/", 1)[1]
            with self.fake.lock:
                file_id = self.fake.state.uploads.pop(key, None)  # one use only
            if file_id is None:
                raise _error(404, "Upload URL is invalid or used", "NOT_FOUND")
            data, content_type = _multipart_file(self.headers.get("Content-Type", ""), body)
            with self.fake.lock:
                item = self.fake.state.files[file_id]
                item.update(data=data, content_type=content_type, pending=False)
            return _Reply(200, {"fileId": file_id, "fileName": item["name"], "fileSize": len(data)})
        if method == "GET" and path.startswith("/_storage/files/"):
            file_id = unquote(path.rsplit("/", 1)[1])
            with self.fake.lock:
                item = self.fake.state.files.get(file_id)
            if item is None or item.get("pending"):
                raise _error(404, "File not found", "NOT_FOUND")
            return _Reply(
                200,
                None,
                raw=item["data"],
                headers={
                    "Content-Type": item["content_type"] or "application/octet-stream",
                    "Content-Disposition": f'attachment; filename="{quote_id(item["name"])}"',
                },
            )
        raise _error(404, "Not found", "NOT_FOUND")

    # --- control endpoints ---

    def _control(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> _Reply:
        fake = self.fake
        since = int((query.get("since") or ["0"])[0] or 0)
        if method == "GET" and path == "/health":
            return _Reply(200, {"ok": True})
        if method == "GET" and path == "/record":
            entries = fake.record(since=since)
            return _Reply(200, {"entries": entries, "last": fake.state.seq})
        if method == "GET" and path == "/messages":
            messages = fake.messages(
                channel_id=(query.get("channelId") or [""])[0],
                user_id=(query.get("userId") or [""])[0],
                since=since,
            )
            return _Reply(200, {"messages": messages, "last": fake.state.seq})
        if method == "GET" and path == "/callbacks":
            with fake.lock:
                return _Reply(200, {"callbacks": list(fake.state.callbacks)})
        payload = self._json(body) if body else {}
        if not isinstance(payload, dict):
            raise _error(400, "an object is required")
        if method == "POST" and path == "/faults":
            fake.add_fault(
                int(payload.get("status", 500)),
                count=payload.get("count", 1) if not payload.get("seconds") else None,
                seconds=payload.get("seconds"),
                code=str(payload.get("code") or ""),
                match=str(payload.get("match") or ""),
                latency_ms=int(payload.get("latency_ms") or 0),
            )
            return _Reply(200, {"faults": len(fake.state.faults)})
        if method == "DELETE" and path == "/faults":
            fake.clear_faults()
            return _Reply(200, {"faults": 0})
        if method == "POST" and path == "/latency":
            fake.set_latency(int(payload.get("ms") or 0))
            return _Reply(200, {"ok": True})
        if method == "POST" and path == "/tokens/expire":
            fake.expire_tokens()
            return _Reply(200, {"ok": True})
        if method == "POST" and path == "/config":
            for key in (
                "rate_limit",
                "channel_create_limit",
                "token_lifetime",
                "auth_error_status",
            ):
                if key in payload:
                    setattr(fake.config, key, int(payload[key]))
            if "callback_url" in payload:
                fake.config.callback_url = str(payload["callback_url"])
            return _Reply(200, {"ok": True})
        if method == "POST" and path == "/files":
            data = (
                base64.b64decode(payload.get("data") or "") if payload.get("data") else sample_png()
            )
            file_id = fake.add_file(
                data,
                file_name=str(payload.get("fileName") or "photo.png"),
                content_type=str(payload.get("contentType") or "image/png"),
            )
            return _Reply(200, {"fileId": file_id})
        if method == "POST" and path == "/channels":
            channel_id = str(payload.get("channelId") or secrets.token_hex(8))
            fake.add_channel(
                channel_id, title=str(payload.get("title") or ""), members=payload.get("members")
            )
            return _Reply(200, {"channelId": channel_id})
        if method == "POST" and path == "/directory":
            fake.set_directory(users=payload.get("users") or [], groups=payload.get("groups") or [])
            return _Reply(200, {"users": len(fake.state.users), "groups": len(fake.state.groups)})
        if method == "POST" and path == "/play":
            return self._play(payload)
        if method == "POST" and path == "/reset":
            fake.reset()
            return _Reply(200, {"ok": True})
        raise _error(404, "No such control endpoint", "NOT_FOUND")

    def _play(self, payload: dict[str, Any]) -> _Reply:
        """Play a member: build the event (or take ``event`` as is), sign it, POST it."""
        fake = self.fake
        event = payload.get("event")
        if not isinstance(event, dict):
            kind = str(payload.get("type") or "message")
            content = payload.get("content")
            if (
                kind == "message"
                and isinstance(content, dict)
                and content.get("type")
                in (
                    "image",
                    "file",
                )
                and not content.get("fileId")
            ):
                data = base64.b64decode(content.get("data") or "") or sample_png()
                content = {
                    "type": content["type"],
                    "fileId": fake.add_file(
                        data,
                        file_name=str(content.get("fileName") or "photo.png"),
                        content_type=str(content.get("contentType") or "image/png"),
                    ),
                }
            event = fake.member_event(
                user_id=str(payload.get("userId") or ""),
                channel_id=str(payload.get("channelId") or ""),
                content=content if isinstance(content, dict) else None,
                kind=kind,
                data=str(payload.get("data") or ""),
                members=payload.get("members"),
            )
        status = fake.send_callback(event, url=str(payload.get("callbackUrl") or ""))
        return _Reply(200, {"status": status, "event": event})


def quote_id(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _multipart_file(content_type: str, body: bytes) -> tuple[bytes, str]:
    """The uploaded file of a multipart body; part name ``Filedata`` in any case (§4.2)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise _error(400, "multipart/form-data is required")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition", "")
        name = part.get_param("name", header="content-disposition") or ""
        if "form-data" in disposition and str(name).lower() == "filedata":
            data = part.get_payload(decode=True) or b""
            return data, part.get_content_type()
    raise _error(400, "Filedata part is missing", "MISSING_PARAMETER")
