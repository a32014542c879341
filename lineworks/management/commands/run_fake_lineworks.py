"""``python manage.py run_fake_lineworks --port N`` (design.md §7, contract).

Serves the fake LINE WORKS (token, messages, attachments, channels, control endpoints) with
the portal's LINEWORKS_* settings: the same client id/secret, service account, bot id and bot
secret; the public key is derived from LINEWORKS_PRIVATE_KEY unless --public-key is given.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lineworks.fake.keys import public_key_pem
from lineworks.fake.server import FakeConfig, FakeLineWorks
from lineworks.fake.tenant import demo_tenant


class Command(BaseCommand):
    help = "Run the fake LINE WORKS server (tests and the demo)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--callback-url",
            default="http://127.0.0.1:8000/lineworks/callback",
            help="where 'play a member' posts signed callbacks",
        )
        parser.add_argument("--public-key", help="PEM file of the service account's public key")
        parser.add_argument("--rate-limit", type=int, default=240, help="calls per minute per API")
        parser.add_argument("--token-lifetime", type=int, default=86400, help="seconds")
        parser.add_argument(
            "--directory", help="JSON file of the tenant's directory: {users, groups}"
        )
        parser.add_argument(
            "--demo-directory",
            action="store_true",
            help="serve the demo tenant (groups of the demo agencies) from the Directory API",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        missing = [
            name
            for name in (
                "LINEWORKS_CLIENT_ID",
                "LINEWORKS_CLIENT_SECRET",
                "LINEWORKS_SERVICE_ACCOUNT",
                "LINEWORKS_BOT_ID",
                "LINEWORKS_BOT_SECRET",
            )
            if not getattr(settings, name)
        ]
        if missing:
            raise CommandError(f"set {', '.join(missing)} (the fake uses the portal's settings)")
        if options["public_key"]:
            public_key = Path(options["public_key"]).read_text(encoding="ascii")
        elif settings.LINEWORKS_PRIVATE_KEY:
            public_key = public_key_pem(settings.LINEWORKS_PRIVATE_KEY)
        else:
            raise CommandError("give --public-key or set LINEWORKS_PRIVATE_KEY(_FILE)")
        config = FakeConfig(
            client_id=settings.LINEWORKS_CLIENT_ID,
            client_secret=settings.LINEWORKS_CLIENT_SECRET,
            service_account=settings.LINEWORKS_SERVICE_ACCOUNT,
            public_key=public_key,
            bot_id=str(settings.LINEWORKS_BOT_ID),
            bot_secret=settings.LINEWORKS_BOT_SECRET,
            callback_url=options["callback_url"],
            rate_limit=options["rate_limit"],
            token_lifetime=options["token_lifetime"],
        )
        fake = FakeLineWorks(config, host=options["host"], port=options["port"])
        if options["directory"]:
            try:
                data = json.loads(Path(options["directory"]).read_text(encoding="utf-8"))
                fake.set_directory(users=data["users"], groups=data["groups"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CommandError(f"cannot load the directory file: {exc}") from None
        elif options["demo_directory"]:
            fake.set_directory(**demo_tenant())

        def stop(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(
            f"fake LINE WORKS on {fake.url} (API {fake.api_base_url}, callbacks to "
            f"{config.callback_url})"
        )
        self.stdout.flush()
        try:
            fake.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            fake._server.server_close()
