"""The `.env` of a developer's checkout.

``make run`` writes it once (``python -m kurashiki_dr.local_env [PATH]``): DEBUG on, demo
mode and a secret key generated for this checkout. ``kurashiki_dr/settings_local.py``, the
settings ``manage.py`` uses unless DJANGO_SETTINGS_MODULE says otherwise, reads it; variables
already in the environment win. A deployment never reads it: it selects the production
settings (``DJANGO_SETTINGS_MODULE=kurashiki_dr.settings``) and brings its own environment
(see ``.env.example``). ``KDR_ENV_FILE`` names another file than ``.env`` at the top of the
checkout.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

TEMPLATE = """\
# Local development settings of this checkout, written once by `make run` and read by
# manage.py (kurashiki_dr/settings_local.py); variables set in the environment win.
# Not for production: a deployment sets DJANGO_SETTINGS_MODULE=kurashiki_dr.settings and
# its own environment (see .env.example). Never commit this file.
DJANGO_DEBUG=1
KDR_DEMO_MODE=1
DJANGO_SECRET_KEY={secret_key}
"""


def env_file() -> Path:
    return Path(os.environ.get("KDR_ENV_FILE") or BASE_DIR / ".env")


def load(path: Path | None = None) -> bool:
    """Read ``path`` (default: :func:`env_file`) into os.environ without overriding what is
    already set. False when there is no such file."""
    from dotenv import load_dotenv

    path = path or env_file()
    if not path.is_file():
        return False
    return load_dotenv(path, override=False, encoding="utf-8")


def demo_lineworks(
    directory: Path, fake_url: str = "http://127.0.0.1:8765", hq_channel: str = "demo-ch-hq"
) -> dict[str, str]:
    """The LINEWORKS_* settings of the demo: the key pair and secrets that
    ``manage.py lineworks_demo_keys`` keeps in ``directory``, the fake server at ``fake_url``."""
    fake = fake_url.rstrip("/")
    return {
        "LINEWORKS_CLIENT_ID": "demo-client-id",
        "LINEWORKS_CLIENT_SECRET_FILE": str((directory / "client-secret").resolve()),
        "LINEWORKS_SERVICE_ACCOUNT": "demo.serviceaccount@kurashiki-demo",
        "LINEWORKS_PRIVATE_KEY_FILE": str((directory / "private.pem").resolve()),
        "LINEWORKS_BOT_ID": "2000001",
        "LINEWORKS_BOT_SECRET_FILE": str((directory / "bot-secret").resolve()),
        "LINEWORKS_API_BASE_URL": f"{fake}/v1.0",
        "LINEWORKS_AUTH_URL": f"{fake}/oauth2/v2.0/token",
        "LINEWORKS_HQ_CHANNEL_ID": hq_channel,
    }


def use_demo_lineworks() -> None:
    """Default the LINEWORKS_* settings to the demo's once `make run` has made its keys, so
    manage.py (run_fake_lineworks, the bot) works as under `make run`. Nothing when any
    LINEWORKS_* variable is set or the keys are not there."""
    if any(name.startswith("LINEWORKS_") for name in os.environ):
        return
    var_dir = Path(os.environ.get("KDR_VAR_DIR") or BASE_DIR / "var")
    directory = var_dir / "lineworks-demo"
    files = ("private.pem", "bot-secret", "client-secret")
    if all((directory / name).is_file() for name in files):
        os.environ.update(demo_lineworks(directory))


def write(path: Path | None = None) -> bool:
    """Write the local `.env` unless it exists (it is never overwritten: it may hold the
    developer's own changes). True when written."""
    path = path or env_file()
    content = TEMPLATE.format(secret_key=secrets.token_urlsafe(50))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return True


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else env_file()
    if write(path):
        print(f"{path}: written (DEBUG on, demo mode, a new secret key)")
    else:
        print(f"{path}: exists, left as it is")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
