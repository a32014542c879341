from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import chain


def _anchor(value: str) -> tuple[int, str]:
    found = chain.parse_anchor_text(value)
    if len(found) != 1:
        raise ValueError(value)
    return found[0]


class Command(BaseCommand):
    help = (
        "Verify the hash-chained audit log, the published heads and every audited record "
        "(exit 0 when intact), or with --bundle an evidence bundle without the database."
    )
    # --bundle must work on a machine without the portal's database.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bundle", metavar="FILE", help="verify an evidence bundle (zip)")
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            type=_anchor,
            metavar="N:HASH",
            help="a head published outside the portal (the last line of the anchor message "
            "in HQ's LINE WORKS talk); repeatable",
        )
        parser.add_argument(
            "--anchors-file",
            metavar="FILE",
            help="a text file with published heads, e.g. the HQ talk's messages pasted in",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            metavar="N",
            help="processes walking segments of a long chain (default 2; 1 = one walk)",
        )
        parser.add_argument(
            "--no-record",
            action="store_true",
            help="do not keep the outcome for the auditors' status page",
        )

    def handle(self, *args, **options) -> None:
        external = list(options["anchor"])
        if options["anchors_file"]:
            text = Path(options["anchors_file"]).read_text(encoding="utf-8")
            external.extend(chain.parse_anchor_text(text))
        if options["bundle"]:
            self._bundle(options["bundle"], external)
            return
        self._database(external, record=not options["no_record"], workers=options["workers"])

    def _database(
        self, external: list[tuple[int, str]], *, record: bool, workers: int | None
    ) -> None:
        from audit.models import AnchorTrigger
        from audit.services import chain_verify, verify_chain

        started = time.monotonic()
        if record:
            run = chain_verify(
                trigger=AnchorTrigger.COMMAND, external_anchors=external, workers=workers
            )
            ok, events, head, anchors = run.ok, run.events, run.head_hash, run.anchors_checked
            problem, records = run.problem, run.records_checked
        else:
            result = verify_chain(external_anchors=external, workers=workers)
            ok, events, head = result.ok, result.events, result.head
            anchors, records = result.anchors_checked, result.records_checked
            problem = str(result.problem) if result.problem else ""
        elapsed = time.monotonic() - started
        if not ok:
            raise CommandError(f"audit chain BROKEN at {problem}")
        self.stdout.write(
            f"audit chain OK: {events} events, head {head}, {anchors} published heads matched, "
            f"{records} audited records matched, {elapsed:.2f}s"
        )

    def _bundle(self, path: str, external: list[tuple[int, str]]) -> None:
        from audit.bundle_check import verify_bundle

        if not Path(path).is_file():
            raise CommandError(f"no such file: {path}")
        report = verify_bundle(path, external_anchors=external)
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"problem: {problem}")
            raise CommandError(
                f"bundle BROKEN: {len(report.problems)} problem(s), first: {report.problems[0]}"
            )
        self.stdout.write(
            f"bundle OK: {report.events} events #{report.first_event}..#{report.last_event}, "
            f"head {report.head}, {report.anchors_checked} published heads matched, "
            f"{report.revisions} revisions, {report.photos} photos, {report.sources} sources"
        )
