"""python manage.py seed_demo [--once]: the Kurashiki demo directory and a day of a flood.

Idempotent: the directory is imported (updated, never duplicated) and the day's reports are
written only when no demo report exists. ``--once`` does nothing when the demo is already
there (``make run`` calls it on every start). Refuses to run outside demo mode: the demo
users share a published password.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lineworks.demo_seed import demo_rooms_seed
from reports.demo import demo_already_seeded, demo_logins, demo_seed


class Command(BaseCommand):
    help = "Seed the Kurashiki demo: directory, demo users and the last day's reports."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="do nothing if the demo was already seeded"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError(
                "デモモードではありません。デモ利用者は公開されたパスワードを使うため、"
                "KDR_DEMO_MODE=1（または DJANGO_DEBUG=1）のときだけ投入できます。"
            )
        if options["once"] and demo_already_seeded():
            self.stdout.write("デモデータは投入済みです（--once のため何もしません）。")
            self._print_logins(demo_logins())
            return
        result = demo_seed()
        rooms = demo_rooms_seed()
        counts = result.directory.counts
        self.stdout.write(
            "名簿: "
            + " / ".join(
                f"{section} 新規 {c.created}・更新 {c.updated}" for section, c in counts.items()
            )
        )
        if result.skipped_reports:
            self.stdout.write("デモの報告は投入済みのため、追加していません。")
        else:
            self.stdout.write(
                f"報告 {result.reports_created}件（訂正 {result.corrections}件・"
                f"取消 {result.withdrawals}件・要確認 {result.queued}件）、"
                f"インシデント {result.incidents}件を投入しました。"
            )
        if rooms:
            self.stdout.write(f"トークルーム {rooms}件（ボット参加の記録）を投入しました。")
        self.stdout.write(self.style.SUCCESS("デモデータの準備ができました。"))
        self._print_logins(result.logins)

    def _print_logins(self, logins: list[tuple[str, str, str]]) -> None:
        password = settings.DEMO_PASSWORD
        self.stdout.write("")
        self.stdout.write(f"デモ用ログイン（パスワードはすべて {password}）:")
        width = max((len(u) for u, _r, _a in logins), default=10)
        for username, role, agency in logins:
            self.stdout.write(f"  {username:<{width}}  {role}  {agency}".rstrip())
