"""``python manage.py lineworks_demo_keys [DIR]``: create (once) a demo key pair and bot secret
for the fake LINE WORKS, and print the LINEWORKS_* environment for `make run` as shell
``export`` lines. Values already set in the environment win. Demo use only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from kurashiki_dr.local_env import demo_lineworks
from lineworks.fake.keys import generate_bot_secret, generate_private_key_pem


class Command(BaseCommand):
    help = "Create demo LINE WORKS credentials for the fake server and print them as exports."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("directory", nargs="?", help="default: $KDR_VAR_DIR/lineworks-demo")
        parser.add_argument("--fake-url", default="http://127.0.0.1:8765")
        parser.add_argument("--hq-channel", default="demo-ch-hq")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"] or settings.VAR_DIR / "lineworks-demo")
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        key_file = directory / "private.pem"
        secret_file = directory / "bot-secret"
        client_secret_file = directory / "client-secret"
        if not key_file.exists():
            key_file.write_text(generate_private_key_pem(), encoding="ascii")
            key_file.chmod(0o600)
        for path in (secret_file, client_secret_file):
            if not path.exists():
                path.write_text(generate_bot_secret(), encoding="ascii")
                path.chmod(0o600)
        values = demo_lineworks(directory, options["fake_url"], options["hq_channel"])
        for name, value in values.items():
            self.stdout.write(f'export {name}="${{{name}:-{_dq(value)}}}"')


def _dq(value: str) -> str:
    """Escape for the inside of a double-quoted shell word."""
    for char in ("\\", '"', "$", "`"):
        value = value.replace(char, "\\" + char)
    return value
