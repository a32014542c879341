"""The one LINE WORKS API client (lineworks-api.md §1, §2, §4, §5, §6).

* Auth: a service-account JWT (RS256; iss = client id, sub = service account, exp - iat =
  3600 s) exchanged for an access token, cached in the Django cache (Redis when configured)
  and renewed before it expires and once on 401 / 403 ``UNAUTHORIZED``.
* Every HTTP call has a timeout, follows no redirect by itself, is logged and recorded in
  ``ApiCall`` with its endpoint template, status and duration. Tokens, secrets and message
  bodies never appear in logs or records.
* Errors raise ``LineWorksError``; ``.permanent`` says whether trying again can help
  (429, 5xx, network errors and auth errors are transient; other 4xx are permanent).
* ``rateLimit-*`` headers are honoured: when LINE WORKS says the minute's budget is spent, the
  client refuses calls to that operation until the window resets (a transient error with
  ``retry_after``), instead of collecting 429s.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import jwt
import requests
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from lineworks.conf import LineWorksSettings, lineworks_settings

logger = logging.getLogger(__name__)

JWT_LIFETIME = 3600  # the documented maximum exp - iat
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_REDIRECTS = 5
# Hosts allowed to receive the bearer token on a redirected download or an upload URL.
_TRUSTED_SUFFIXES = (".worksmobile.com", ".worksapis.com")


class LineWorksError(Exception):
    """A failed LINE WORKS call. ``permanent`` errors will fail again if retried."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        code: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        prefix = f"HTTP {self.status} " if self.status else ""
        code = f"{self.code}: " if self.code else ""
        return f"{prefix}{code}{self.args[0]}"


def is_permanent(status: int, code: str) -> bool:
    """Whether an API error response can succeed on a later try."""
    if status == 429 or status >= 500 or status == 408:
        return False
    if status == 401 or (status == 403 and code == "UNAUTHORIZED"):
        return False  # credentials may be fixed or rotated; auth problems are retried
    return True


# The token and the remembered rate limits live in the shared cache (Redis). It is an
# optimisation: when the cache is unreachable (Redis restarting), a send still goes out, with a
# freshly issued token, instead of failing the message.
def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception as exc:
        logger.warning("lineworks: cache unavailable (%s)", type(exc).__name__)
        return None


def _cache_set(key: str, value: Any, *, timeout: int) -> None:
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as exc:
        logger.warning("lineworks: cache unavailable (%s)", type(exc).__name__)


def _cache_delete(key: str) -> None:
    try:
        cache.delete(key)
    except Exception as exc:
        logger.warning("lineworks: cache unavailable (%s)", type(exc).__name__)


@dataclass(frozen=True)
class Download:
    data: bytes
    content_type: str
    file_name: str


def _error_body(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    code = str(body.get("code") or body.get("error") or "")[:60]
    description = str(body.get("description") or body.get("error_description") or "")[:200]
    return code, description


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)  # requests' headers are case-insensitive
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


class LineWorksClient:
    def __init__(
        self, config: LineWorksSettings | None = None, *, session: requests.Session | None = None
    ) -> None:
        self.config = config or lineworks_settings()
        self.session = session or requests.Session()
        key = "|".join(
            (
                self.config.client_id,
                self.config.service_account,
                self.config.auth_url,
                self.config.scope,
            )
        )
        self._token_key = "lineworks:token:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        api = urlsplit(self.config.api_base_url)
        self._api_origin = (api.scheme, api.netloc)

    # --- token ----------------------------------------------------------------------------

    def _assertion(self) -> str:
        now = int(time.time())
        return jwt.encode(
            {
                "iss": self.config.client_id,
                "sub": self.config.service_account,
                "iat": now,
                "exp": now + JWT_LIFETIME,
            },
            self.config.private_key,
            algorithm="RS256",
            headers={"typ": "JWT"},
        )

    def access_token(self, *, renew: bool = False) -> str:
        """A valid access token: from the cache, or freshly issued when missing, near expiry
        or ``renew`` is asked (after the API refused the cached one)."""
        if not renew:
            cached = _cache_get(self._token_key)
            if cached and cached.get("expires_at", 0) > time.time():
                return cached["access_token"]
        if not self.config.can_send:
            raise LineWorksError(
                "LINE WORKS の認証設定がありません。", permanent=False, code="NOT_CONFIGURED"
            )
        try:
            assertion = self._assertion()
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise LineWorksError(
                f"秘密鍵を読み込めません ({type(exc).__name__})",
                permanent=False,
                code="BAD_PRIVATE_KEY",
            ) from None
        form = {
            "assertion": assertion,
            "grant_type": GRANT_TYPE,
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "scope": self.config.scope,
        }
        response = self._http("POST", self.config.auth_url, "/oauth2/v2.0/token", data=form)
        if response.status_code != 200:
            code, description = _error_body(response)
            raise LineWorksError(
                description or "アクセストークンを取得できません。",
                permanent=False,
                status=response.status_code,
                code=code or "TOKEN_REQUEST_FAILED",
            )
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = int(str(body.get("expires_in", 3600)))  # string or number (§1.4)
        except (ValueError, KeyError, TypeError):
            raise LineWorksError(
                "トークン応答の形式が不正です。", permanent=False, code="BAD_TOKEN_RESPONSE"
            ) from None
        # Renew ahead of expiry: a tenth of the lifetime, at most ten minutes.
        margin = min(600, max(1, expires_in // 10))
        lifetime = max(1, expires_in - margin)
        _cache_set(
            self._token_key,
            {"access_token": token, "expires_at": time.time() + lifetime},
            timeout=lifetime,
        )
        return token

    def _forget_token(self, token: str) -> None:
        cached = _cache_get(self._token_key)
        if cached and cached.get("access_token") == token:
            _cache_delete(self._token_key)

    # --- transport ------------------------------------------------------------------------

    def _http(self, method: str, url: str, endpoint: str, **kwargs: Any) -> requests.Response:
        """One HTTP request with a timeout and no automatic redirect; recorded and logged."""
        kwargs.setdefault("timeout", (self.config.connect_timeout, self.config.read_timeout))
        kwargs.setdefault("allow_redirects", False)
        started = time.monotonic()
        status: int | None = None
        error = ""
        try:
            response = self.session.request(method, url, **kwargs)
            status = response.status_code
            return response
        except requests.Timeout:
            error = "timeout"
            raise LineWorksError(
                "LINE WORKS が時間内に応答しませんでした。", permanent=False, code="TIMEOUT"
            ) from None
        except requests.RequestException as exc:
            error = type(exc).__name__
            raise LineWorksError(
                f"LINE WORKS に接続できません ({type(exc).__name__})",
                permanent=False,
                code="NETWORK",
            ) from None
        finally:
            duration_ms = int((time.monotonic() - started) * 1000)
            logger.info(
                "lineworks %s %s -> %s in %d ms%s",  # endpoint template: no ids, no token
                method,
                endpoint,
                status if status is not None else "-",
                duration_ms,
                f" ({error})" if error else "",
            )
            self._record(method, endpoint, status, duration_ms, error)

    @staticmethod
    def _record(method: str, endpoint: str, status: int | None, ms: int, error: str) -> None:
        from lineworks.models import ApiCall

        inside_transaction = connection.in_atomic_block
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql" and not inside_transaction:
                    # A diagnostic record: no need to wait for the WAL flush (losing the last
                    # few rows in a database crash is acceptable; the log has them too).
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL synchronous_commit TO OFF")
                ApiCall.objects.create(
                    at=timezone.now(),
                    method=method,
                    endpoint=endpoint[:200],
                    status=status,
                    duration_ms=ms,
                    error=error[:200],
                )
        except DatabaseError:
            logger.warning("lineworks: could not record the API call %s %s", method, endpoint)

    def _rate_key(self, operation: str) -> str:
        return "lineworks:ratelimit:" + hashlib.sha256(operation.encode()).hexdigest()[:16]

    def _check_rate_limit(self, operation: str) -> None:
        until = _cache_get(self._rate_key(operation))
        if until and until > time.time():
            raise LineWorksError(
                "LINE WORKS の呼び出し上限に達しています。",
                permanent=False,
                status=429,
                code="RATE_LIMITED_LOCALLY",
                retry_after=until - time.time(),
            )

    def _note_rate_limit(self, operation: str, response: requests.Response) -> float | None:
        """Remember a spent budget until ``rateLimit-reset``; return the wait, if any."""
        remaining = _int_header(response, "rateLimit-remaining")
        reset = _int_header(response, "rateLimit-reset")
        retry_after = _int_header(response, "Retry-After")
        wait = None
        if response.status_code == 429:
            wait = float(retry_after or reset or 60)
        elif remaining is not None and remaining <= 0 and reset:
            wait = float(reset)
        if wait:
            wait = min(wait, 120.0)
            _cache_set(self._rate_key(operation), time.time() + wait, timeout=int(wait) + 1)
        return wait

    def _url(self, template: str, params: dict[str, str]) -> str:
        path = template.format(**{k: quote(str(v), safe="") for k, v in params.items()})
        return f"{self.config.api_base_url}{path}"

    def call(
        self,
        method: str,
        template: str,
        params: dict[str, str] | None = None,
        *,
        expected: tuple[int, ...] = (200,),
        json: Any = None,
        query: dict[str, Any] | None = None,
    ) -> requests.Response:
        """Call ``{api_base_url}{template}`` with the bearer token; raise LineWorksError on an
        unexpected status. Renews the token once when the API refuses it."""
        params = {"botId": self.config.bot_id, **(params or {})}
        operation = f"{method} {template}"
        self._check_rate_limit(operation)
        url = self._url(template, params)
        token = self.access_token()
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token}"}
            response = self._http(method, url, template, headers=headers, json=json, params=query)
            code, description = ("", "")
            if response.status_code not in expected:
                code, description = _error_body(response)
            auth_refused = response.status_code == 401 or (
                response.status_code == 403 and code == "UNAUTHORIZED"
            )
            if auth_refused and attempt == 1:
                self._forget_token(token)
                token = self.access_token(renew=True)
                continue
            retry_after = self._note_rate_limit(operation, response)
            if response.status_code in expected:
                return response
            raise LineWorksError(
                description or response.reason or "LINE WORKS がエラーを返しました。",
                permanent=is_permanent(response.status_code, code),
                status=response.status_code,
                code=code,
                retry_after=retry_after,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _trusted(self, url: str) -> bool:
        """Whether ``url`` may receive the bearer token (LINE WORKS hosts or the API's own)."""
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) == self._api_origin:
            return True
        host = parts.hostname or ""
        return parts.scheme == "https" and host.endswith(_TRUSTED_SUFFIXES)

    # --- messages ---------------------------------------------------------------------------

    def send_message(
        self, content: dict[str, Any], *, user_id: str = "", channel_id: str = ""
    ) -> None:
        """Send one content object to a user (1:1) or a talk room. 201 means accepted."""
        if bool(user_id) == bool(channel_id):
            raise ValueError("give exactly one of user_id, channel_id")
        if channel_id:
            self.call(
                "POST",
                "/bots/{botId}/channels/{channelId}/messages",
                {"channelId": channel_id},
                expected=(201,),
                json={"content": content},
            )
        else:
            self.call(
                "POST",
                "/bots/{botId}/users/{userId}/messages",
                {"userId": user_id},
                expected=(201,),
                json={"content": content},
            )

    def send_text(self, body: str, *, user_id: str = "", channel_id: str = "") -> None:
        from lineworks import content

        self.send_message(content.text(body), user_id=user_id, channel_id=channel_id)

    def upload_attachment(self, *, file_name: str, data: bytes, content_type: str) -> str:
        """Two-step upload (§4.2): ask for an upload URL, then POST the file to it. Returns
        the fileId to use in an image/file message (valid 24 h)."""
        response = self.call(
            "POST", "/bots/{botId}/attachments", expected=(200, 201), json={"fileName": file_name}
        )
        try:
            body = response.json()
            file_id, upload_url = str(body["fileId"]), str(body["uploadUrl"])
        except (ValueError, KeyError, TypeError):
            raise LineWorksError(
                "添付ファイルの登録応答が不正です。", permanent=False, code="BAD_RESPONSE"
            ) from None
        if not self._trusted(upload_url):
            raise LineWorksError(
                "信頼できないアップロード先です。", permanent=True, code="UNTRUSTED_HOST"
            )
        headers = {"Authorization": f"Bearer {self.access_token()}"}
        uploaded = self._http(
            "POST",
            upload_url,
            "{uploadUrl}",
            headers=headers,
            files={"Filedata": (file_name, data, content_type)},
        )
        if uploaded.status_code not in (200, 201):
            code, description = _error_body(uploaded)
            raise LineWorksError(
                description or "アップロードに失敗しました。",
                permanent=is_permanent(uploaded.status_code, code),
                status=uploaded.status_code,
                code=code,
            )
        return file_id

    def send_image(
        self,
        *,
        data: bytes,
        file_name: str,
        content_type: str,
        user_id: str = "",
        channel_id: str = "",
    ) -> str:
        from lineworks import content

        file_id = self.upload_attachment(file_name=file_name, data=data, content_type=content_type)
        self.send_message(content.image(file_id), user_id=user_id, channel_id=channel_id)
        return file_id

    def download_attachment(self, file_id: str, *, max_bytes: int | None = None) -> Download:
        """Fetch a file a user sent (§4.1): the API answers 302 with the real location, which
        is followed by hand (the bearer token only goes to LINE WORKS hosts)."""
        limit = max_bytes or self.config.download_max_bytes
        response = self.call(
            "GET",
            "/bots/{botId}/attachments/{fileId}",
            {"fileId": file_id},
            expected=(200, 301, 302, 303, 307, 308),
        )
        url = response.url or self._url("/bots/{botId}/attachments/{fileId}", {"fileId": file_id})
        hops = 0
        while response.is_redirect or response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("Location")
            if not location:
                raise LineWorksError(
                    "ダウンロード先が示されていません。", permanent=False, code="NO_LOCATION"
                )
            hops += 1
            if hops > MAX_REDIRECTS:
                raise LineWorksError(
                    "リダイレクトが多すぎます。", permanent=True, code="TOO_MANY_REDIRECTS"
                )
            response.close()
            url = urljoin(url, location)
            if urlsplit(url).scheme not in ("http", "https"):
                raise LineWorksError("不正なダウンロード先です。", permanent=True, code="BAD_URL")
            headers = (
                {"Authorization": f"Bearer {self.access_token()}"} if self._trusted(url) else {}
            )
            response = self._http("GET", url, "{attachmentLocation}", headers=headers, stream=True)
        if response.status_code != 200:
            code, description = _error_body(response)
            raise LineWorksError(
                description or "ファイルを取得できません。",
                permanent=is_permanent(response.status_code, code),
                status=response.status_code,
                code=code,
            )
        declared = _int_header(response, "Content-Length")
        if declared is not None and declared > limit:
            response.close()
            raise LineWorksError("ファイルが大きすぎます。", permanent=True, code="TOO_LARGE")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise LineWorksError(
                        "ファイルが大きすぎます。", permanent=True, code="TOO_LARGE"
                    )
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise LineWorksError(
                f"ダウンロードが中断しました ({type(exc).__name__})",
                permanent=False,
                code="NETWORK",
            ) from None
        finally:
            response.close()
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        file_name = _file_name(response.headers.get("Content-Disposition", ""), file_id)
        return Download(b"".join(chunks), content_type.split(";")[0].strip(), file_name)

    # --- channels ---------------------------------------------------------------------------

    def create_channel(self, *, members: list[str], title: str) -> dict[str, Any]:
        response = self.call(
            "POST",
            "/bots/{botId}/channels",
            expected=(201,),
            json={"members": members, "title": title},
        )
        return response.json()

    def get_channel(self, channel_id: str) -> dict[str, Any]:
        return self.call(
            "GET", "/bots/{botId}/channels/{channelId}", {"channelId": channel_id}
        ).json()

    def channel_members(self, channel_id: str, *, page_size: int = 100) -> list[str]:
        """All member ids of a room, following ``responseMetaData.nextCursor``."""
        members: list[str] = []
        cursor = ""
        for _page in range(1000):
            query: dict[str, Any] = {"count": page_size}
            if cursor:
                query["cursor"] = cursor
            body = self.call(
                "GET",
                "/bots/{botId}/channels/{channelId}/members",
                {"channelId": channel_id},
                query=query,
            ).json()
            members.extend(str(m) for m in body.get("members", []))
            cursor = (body.get("responseMetaData") or {}).get("nextCursor") or ""
            if not cursor:
                break
        return members

    def leave_channel(self, channel_id: str) -> None:
        self.call(
            "DELETE",
            "/bots/{botId}/channels/{channelId}",
            {"channelId": channel_id},
            expected=(204,),
        )

    # --- directory (§9.2) -------------------------------------------------------------------

    def paged(
        self, template: str, key: str, params: dict[str, str] | None = None, *, page_size: int = 100
    ) -> list[dict[str, Any]]:
        """Every item of a cursor-paged list (``count`` / ``cursor``, following
        ``responseMetaData.nextCursor`` until it is empty). The cursor is URL-encoded by
        ``requests`` (it holds "+", "/" and "=")."""
        items: list[dict[str, Any]] = []
        cursor = ""
        for _page in range(10_000):
            query: dict[str, Any] = {"count": page_size}
            if cursor:
                query["cursor"] = cursor
            try:
                body = self.call("GET", template, params, query=query).json()
                page = body.get(key) or []
                cursor = (body.get("responseMetaData") or {}).get("nextCursor") or ""
            except (ValueError, AttributeError):
                raise LineWorksError(
                    "ディレクトリの応答の形式が不正です。", permanent=False, code="BAD_RESPONSE"
                ) from None
            if not isinstance(page, list):
                raise LineWorksError(
                    "ディレクトリの応答の形式が不正です。", permanent=False, code="BAD_RESPONSE"
                )
            items.extend(item for item in page if isinstance(item, dict))
            if not cursor:
                break
        return items

    def list_users(self) -> list[dict[str, Any]]:
        return self.paged("/users", "users")

    def list_groups(self) -> list[dict[str, Any]]:
        return self.paged("/groups", "groups")

    def group_members(self, group_id: str) -> list[dict[str, Any]]:
        return self.paged("/groups/{groupId}/members", "members", {"groupId": group_id})


def _file_name(disposition: str, fallback: str) -> str:
    for part in disposition.split(";"):
        part = part.strip()
        if part.lower().startswith("filename="):
            name = part[9:].strip().strip('"')
            if name:
                return name[-100:]
    return fallback[-60:]


_clients: dict[LineWorksSettings, LineWorksClient] = {}


def get_directory_client() -> LineWorksClient:
    """A client whose token carries the directory scope (``LINEWORKS_DIRECTORY_SCOPE``,
    default ``directory.read``). A token of its own, so the bot keeps working when the app
    has not been granted the directory scope."""
    config = lineworks_settings()
    scope = getattr(settings, "LINEWORKS_DIRECTORY_SCOPE", "") or "directory.read"
    return LineWorksClient(replace(config, scope=scope))


def get_client() -> LineWorksClient:
    """A client for the current settings (one per configuration, keeping its connections)."""
    config = lineworks_settings()
    client = _clients.get(config)
    if client is None:
        if len(_clients) > 8:
            _clients.clear()
        client = _clients[config] = LineWorksClient(config)
    return client
