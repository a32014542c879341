"""``python manage.py lineworks_directory_sync [--apply] [--json]``.

Without ``--apply`` a dry run: prints who would be added, changed and who has left, and
changes nothing. With ``--apply`` the differences are written (audited, one transaction).
Exits non-zero when LINE WORKS cannot be read or the plan cannot be applied.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from lineworks.directory import directory_sync_run, reason_label
from lineworks.models import DirectorySyncStatus


class Command(BaseCommand):
    help = "Sync agencies' members from the LINE WORKS Directory API (dry run by default)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--apply", action="store_true", help="write the differences")
        parser.add_argument("--json", action="store_true", help="print the plan as JSON")
        parser.add_argument(
            "--max-wait",
            type=float,
            default=None,
            help="seconds to wait in all for LINE WORKS rate limits (default 65)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run = directory_sync_run(
            trigger="command", apply=options["apply"], max_wait=options["max_wait"]
        )
        if run.status != DirectorySyncStatus.OK:
            raise CommandError(run.error)
        summary = run.summary
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
            return
        write = self.stdout.write
        for source in summary["sources"]:
            if source["ok"]:
                write(
                    _("%(a)s（%(s)s）: %(n)d名")
                    % {"a": source["agency_name"], "s": source["source"], "n": source["people"]}
                )
            else:
                write(self.style.WARNING(f"{source['agency_name']}: {source['error']}"))
        for item in summary["additions"]:
            write(
                _("+ 追加 %(n)s（%(a)s）%(id)s → %(u)s")
                % {
                    "n": item["name"],
                    "a": item["agency"],
                    "id": item["lineworks_user_id"],
                    "u": item["username"],
                }
            )
        for item in summary["changes"]:
            fields = ", ".join(f"{k}: {v[0]} → {v[1]}" for k, v in item["fields"].items())
            write(
                _("~ 変更 %(n)s（%(u)s）%(f)s")
                % {"n": item["name"], "u": item["username"], "f": fields}
            )
        for item in summary["departures"]:
            action = _("削除") if item["action"] == "delete" else _("無効化")
            write(
                _("- 離任 %(n)s（%(a)s）%(r)s: %(act)s")
                % {
                    "n": item["name"],
                    "a": item["agency"],
                    "r": reason_label(item["reason"]),
                    "act": action,
                }
            )
        for item in summary["conflicts"]:
            write(
                self.style.WARNING(
                    _("! 複数の機関のグループにいます: %(n)s（%(a)s）")
                    % {"n": item["name"], "a": ", ".join(item["agencies"])}
                )
            )
        counts = _("追加 %(a)d・変更 %(c)d・離任 %(d)d・変更なし %(u)d") % {
            "a": len(summary["additions"]),
            "c": len(summary["changes"]),
            "d": len(summary["departures"]),
            "u": summary["unchanged"],
        }
        if run.applied:
            write(self.style.SUCCESS(_("反映しました: %(c)s") % {"c": counts}))
        else:
            write(_("ドライラン（変更していません）: %(c)s") % {"c": counts})
