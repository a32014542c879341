"""Settings for the Kurashiki disaster-information portal, read from the environment.

Defaults make `make run` work on a laptop (SQLite, tasks in-process, fake LINE WORKS).
With DJANGO_DEBUG off (production) the portal refuses to start without a secret key,
allowed hosts and PostgreSQL. See `.env.example` for every variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from kurashiki_dr.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("KDR_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
DEMO_MODE = env_bool("KDR_DEMO_MODE", DEBUG)

SECRET_KEY = env_secret("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-make-run"  # noqa: S105 (debug only)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "kurashiki_dr.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "leaflet",
    "agencies",
    "audit",
    "reports",
    "notices",
    "lineworks",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login refused by the axes backend into the lockout page.
    "axes.middleware.AxesMiddleware",
]
if DEBUG:
    # runserver serves static files itself; WhiteNoise serves the collected ones in production.
    MIDDLEWARE.remove("whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "kurashiki_dr.urls"
WSGI_APPLICATION = "kurashiki_dr.wsgi.application"
ASGI_APPLICATION = "kurashiki_dr.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "agencies.context_processors.roles_context",
                "reports.context_processors.review_queue",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'kurashiki.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
if "postgresql" in DATABASES["default"]["ENGINE"]:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})
elif not DEBUG and not env_bool("KDR_ALLOW_SQLITE", False):
    raise ImproperlyConfigured("Production (DJANGO_DEBUG off) requires PostgreSQL in DATABASE_URL")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE: a transaction takes the write lock at BEGIN, so two processes (the dev server
    # and the LINE WORKS sweep of `make run`) wait for each other instead of failing at once
    # with "database is locked" when a read transaction turns into a write.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery -----------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without Redis the portal runs its tasks in-process (make run). With Redis, a real worker.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# max_retries 0: publishing fails at once when Redis is down (the webhook answers in ms and the
# sweep enqueues the stored row later) instead of retrying for ~6 s per request.
# ack_emulation off: with kombu's emulated acks (an "unacked" hash in Redis) a worker that
# loses Redis either exits (closing the broken connection twice restores the unacked
# messages through a detached transport: AttributeError 'hostname') or, when its acks failed
# during the outage, keeps those prefetch slots forever and never consumes again. Acks are
# then local to the worker; a message a dead worker held is not redelivered by Redis, and
# need not be: the rows in PostgreSQL are the record and the beat sweep re-enqueues them
# (lineworks/README.md, faults/README.md).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "ack_emulation": False,
    "socket_connect_timeout": 2,
    "max_retries": 0,
}
CELERY_TIMEZONE = "Asia/Tokyo"
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
# Audit chain: publish the head to HQ's talk (anchoring) and verify the whole chain.
CELERY_BEAT_SCHEDULE["audit-chain-anchor"] = {
    "task": "audit.tasks.chain_anchor_publish_task",
    "schedule": 60.0 * env_int("KDR_AUDIT_ANCHOR_MINUTES", 60, minimum=1),
}
CELERY_BEAT_SCHEDULE["audit-chain-verify"] = {
    "task": "audit.tasks.chain_verify_task",
    "schedule": 3600.0 * env_int("KDR_AUDIT_VERIFY_HOURS", 6, minimum=1),
}
# An auditor's or HQ's "publish now": at most once per this many seconds per user (each one
# is a LINE WORKS message in HQ's talk).
AUDIT_ANCHOR_MANUAL_INTERVAL = env_int("KDR_AUDIT_ANCHOR_MANUAL_SECONDS", 300, minimum=0)

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in throttling (django-axes, kurashiki_dr/auth.py): failures are counted in the database
# (one store for every gunicorn worker) per username + client address, for the portal's login
# and the admin's alike. Unlock: `manage.py axes_reset_username NAME` or the admin (アクセス試行).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("KDR_LOGIN_MAX_FAILURES", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("KDR_LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=60))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "kurashiki_dr.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "kurashiki_dr.auth.client_ip"
# The TLS proxies in front of the portal. 0: the portal is reached directly and the client is
# REMOTE_ADDR (forwarding headers are ignored, since anyone can send them). N: the client is
# the N-th address from the right of KDR_CLIENT_IP_HEADER, which those proxies append to.
TRUSTED_PROXY_COUNT = env_int("KDR_TRUSTED_PROXIES", 0, minimum=0)
CLIENT_IP_HEADER = env_str("KDR_CLIENT_IP_HEADER", "X-Forwarded-For").strip()
if not CLIENT_IP_HEADER or not all(c.isalnum() or c == "-" for c in CLIENT_IP_HEADER):
    raise ImproperlyConfigured(
        f"KDR_CLIENT_IP_HEADER={CLIENT_IP_HEADER!r} is not an HTTP header name"
    )
CLIENT_IP_META_KEY = "HTTP_" + CLIENT_IP_HEADER.upper().replace("-", "_")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- i18n: Japanese first, English second -------------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("日本語")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("KDR_MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
PHOTO_MAX_BYTES = env_int("KDR_PHOTO_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# A report read from free text (LINE WORKS) with the parser's confidence below this is filed
# but marked 要確認 for HQ (reports/review.py). On the parser's test corpus every reading at
# 0.7 or above was right and most mistakes scored below 0.6.
REPORT_REVIEW_CONFIDENCE = env_float("KDR_REVIEW_CONFIDENCE", 0.6, minimum=0.0, maximum=1.0)
# A photo is refused above this many pixels, before it is decoded (a 30000×30000 PNG of a few
# kilobytes would need 2.7 GB of memory). 40 MP is above any phone camera's default.
PHOTO_MAX_PIXELS = env_int("KDR_PHOTO_MAX_PIXELS", 40_000_000, minimum=1_000_000)
# Long side of what pages show (reports/photos.py): the display copy and the thumbnail.
PHOTO_DISPLAY_PX = env_int("KDR_PHOTO_DISPLAY_PX", 1600, minimum=320)
PHOTO_THUMB_PX = env_int("KDR_PHOTO_THUMB_PX", 320, minimum=64)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_AGE = 60 * 60 * 12
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = False
# HSTS preload is a commitment for the whole city domain; it is the domain owner's decision.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults, with a JSON parser that bounds nesting (a deep body is a 400, not a 500).
    "DEFAULT_PARSER_CLASSES": [
        "kurashiki_dr.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "kurashiki_dr.api.exception_handler",
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "倉敷市 災害情報ポータル API",
    "DESCRIPTION": "Reports, incidents, situation and notices of the Kurashiki City "
    "disaster-response headquarters.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # No validator badge: it would load an image from validator.swagger.io (docs work offline).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {
        "ReportStatusEnum": "reports.models.ReportStatus",
        "IncidentStatusEnum": "reports.models.IncidentStatus",
        "NoticeKindEnum": "notices.models.NoticeKind",
        "DeliveryStatusEnum": "notices.models.DeliveryStatus",
    },
}

# --- Map ----------------------------------------------------------------------------------
# Tiles are optional: with KDR_MAP_TILES_URL empty the map still shows markers and district
# outlines on a plain background (no internet at HQ must not mean no map).
MAP_TILES_URL = env_str("KDR_MAP_TILES_URL", "")
MAP_TILES_ATTRIBUTION = env_str("KDR_MAP_TILES_ATTRIBUTION", "")
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (34.585, 133.772),
    "DEFAULT_ZOOM": 11,
    "MIN_ZOOM": 8,
    "MAX_ZOOM": 18,
    "TILES": [(_("地図"), MAP_TILES_URL, {"attribution": MAP_TILES_ATTRIBUTION})]
    if MAP_TILES_URL
    else [],
    "RESET_VIEW": False,
    "NO_GLOBALS": False,
}

# --- Content-Security-Policy and Permissions-Policy (begin) ------------------------------
# On in every mode, `make run` included, so a page that breaks under the policy breaks on the
# developer's screen first. Every script is a file under static/ (no inline script, no
# eval); styles are files too. Map tiles are the one outside source. Exceptions per view:
# the DRF browsable API may use inline styles (kurashiki_dr.security), and so may the API
# docs page (kurashiki_dr.urls).
from csp.constants import NONE, SELF  # noqa: E402

from kurashiki_dr.security import tile_sources  # noqa: E402

INSTALLED_APPS += ["csp"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "kurashiki_dr.security.ContentSecurityPolicyMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "kurashiki_dr.security.PermissionsPolicyMiddleware",
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # data: for Leaflet's and the admin's inline SVG/PNG icons.
        "img-src": [SELF, "data:", *tile_sources(MAP_TILES_URL)],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Geolocation: the report form's 「現在地」 button. The clipboard: the auditor's copy-a-hash.
# The photo input opens the phone's picker (no `capture`), which needs no camera permission.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "geolocation": ["self"],
    "clipboard-write": ["self"],
    **{
        feature: []
        for feature in (
            "accelerometer",
            "autoplay",
            "camera",
            "display-capture",
            "encrypted-media",
            "fullscreen",
            "gyroscope",
            "hid",
            "idle-detection",
            "magnetometer",
            "microphone",
            "midi",
            "payment",
            "picture-in-picture",
            "publickey-credentials-get",
            "screen-wake-lock",
            "serial",
            "usb",
            "xr-spatial-tracking",
        )
    },
}
# --- Content-Security-Policy and Permissions-Policy (end) --------------------------------

# --- Domain -------------------------------------------------------------------------------
DEMO_PASSWORD = env_secret("DEMO_PASSWORD", "kurashiki-demo")
SILENCE_DEFAULT_INTERVAL = timedelta(hours=env_int("KDR_SILENCE_HOURS", 3, minimum=1))

# --- LINE WORKS (design.md §7) ------------------------------------------------------------
LINEWORKS_CLIENT_ID = env_str("LINEWORKS_CLIENT_ID")
LINEWORKS_CLIENT_SECRET = env_secret("LINEWORKS_CLIENT_SECRET")
LINEWORKS_SERVICE_ACCOUNT = env_str("LINEWORKS_SERVICE_ACCOUNT")
LINEWORKS_PRIVATE_KEY = env_secret("LINEWORKS_PRIVATE_KEY")
LINEWORKS_BOT_ID = env_str("LINEWORKS_BOT_ID")
LINEWORKS_BOT_SECRET = env_secret("LINEWORKS_BOT_SECRET")
LINEWORKS_API_BASE_URL = env_str("LINEWORKS_API_BASE_URL", "https://www.worksapis.com/v1.0")
LINEWORKS_AUTH_URL = env_str("LINEWORKS_AUTH_URL", "https://auth.worksmobile.com/oauth2/v2.0/token")
LINEWORKS_HQ_CHANNEL_ID = env_str("LINEWORKS_HQ_CHANNEL_ID")
# Rotating the bot secret: the previous one is still accepted on callbacks until the
# given time (ISO 8601; empty: for as long as it is set), then only the new one.
LINEWORKS_BOT_SECRET_PREVIOUS = env_secret("LINEWORKS_BOT_SECRET_PREVIOUS")
LINEWORKS_BOT_SECRET_PREVIOUS_UNTIL = env_str("LINEWORKS_BOT_SECRET_PREVIOUS_UNTIL")
# Directory sync (lineworks/directory.py): the scope of its own token, and whether the
# nightly run applies the differences (off: it reports them to HQ, who applies).
LINEWORKS_DIRECTORY_SCOPE = env_str("LINEWORKS_DIRECTORY_SCOPE", "directory.read")
LINEWORKS_DIRECTORY_SYNC_APPLY = env_bool("LINEWORKS_DIRECTORY_SYNC_APPLY", False)

# --- E-mail (notices to agencies the bot cannot reach) ------------------------------------
# Unset EMAIL_HOST: no e-mail is sent (notices stay on the web). In development the console
# backend prints messages instead.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.dummy.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "bousai-portal@localhost")
NOTICE_EMAIL_ENABLED = env_bool(
    "KDR_NOTICE_EMAIL", bool(EMAIL_HOST) or bool(env_str("EMAIL_BACKEND"))
)

# --- Logging: never log secrets; structured enough for grep -------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("KDR_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Failures and lockouts are WARNINGs (username and address masked); INFO is chatter.
        "axes": {"level": "WARNING"},
    },
}
