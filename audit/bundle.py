"""Evidence bundles: everything about an incident or a time window, in one zip that can be
verified without the portal's database (``verify_audit_chain --bundle FILE``).

Layout (see README.md inside every bundle, and ``audit.bundle_check`` for the checks):

    README.md              how to verify (Japanese, English)
    manifest.json          scope, chain segment, counts, SHA-256 and size of every file
    reports.jsonl          the reports with all revisions and photo records
    revisions.csv          the same revisions as a spreadsheet (UTF-8 with BOM)
    sources/*.json         raw inbound messages behind revisions (e.g. LINE WORKS)
    photos/*               the photo files
    audit/events.jsonl     the audit chain from the first event about the scope up to the
                           first published head after the last one (or the head now);
                           events outside the scope carry only their payload digest
    audit/anchors.json     the published heads (anchors) stored by the portal

The chain segment is what makes the bundle evidence: every revision and photo in it must
equal the snapshot its audit event holds, every event's hash must follow from its content and
the previous hash, and the segment must end in (or pass through) a head that was published
to HQ's LINE WORKS talk at the time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.core.files.storage import default_storage
from django.db.models import Max, Min, Q
from django.utils import timezone

from audit import chain
from audit.exports import ReportFilter, iter_report_id_pages, report_documents, stream_csv
from audit.models import AuditEvent, ChainAnchor
from audit.registry import content_problem, has_resolver, resolve_source
from audit.services import iter_chain
from audit.zipstream import ZipStream
from reports.models import Photo

FORMAT = "kdr-evidence-bundle/1"
_CHUNK = 256 * 1024
_SAFE = re.compile(r"[^0-9A-Za-z._-]+")


def _safe_name(ref: str) -> str:
    return _SAFE.sub("_", ref).strip("_")[:120] or "source"


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str).encode("utf-8")


def _jsonl(value: Any) -> bytes:
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
    ).encode()


class _Scope:
    """The objects the bundle is about, as audit-event keys (object_type, object_id)."""

    def __init__(self) -> None:
        self.keys: dict[str, set[str]] = {
            "reports.report": set(),
            "reports.reportrevision": set(),
            "reports.photo": set(),
            "reports.incident": set(),
        }

    def add(self, label: str, pk: Any) -> None:
        self.keys[label].add(str(pk))

    def contains(self, event: dict[str, Any]) -> bool:
        ids = self.keys.get(event["object_type"])
        return ids is not None and event["object_id"] in ids

    def q(self) -> Q:
        query = Q(pk__in=[])
        for label, ids in self.keys.items():
            if ids:
                query |= Q(object_type=label, object_id__in=sorted(ids))
        return query


def _segment(scope: _Scope) -> tuple[int, int, ChainAnchor | None] | None:
    """First and last event of the chain segment, and the anchor that covers it (if any)."""
    # Views and exports of the scope (audit.*) are after the fact; they need no proof here and
    # would push the segment past the last published head.
    bounds = (
        AuditEvent.objects.filter(scope.q())
        .exclude(action__startswith="audit.")
        .aggregate(first=Min("id"), last=Max("id"))
    )
    if bounds["first"] is None:
        return None
    anchor = (
        ChainAnchor.objects.filter(head_id__gte=bounds["last"]).order_by("head_id", "id").first()
    )
    if anchor is not None and AuditEvent.objects.filter(pk=anchor.head_id).exists():
        return bounds["first"], anchor.head_id, anchor
    head = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return bounds["first"], head, None


def _event_line(event: dict[str, Any], in_scope: bool) -> bytes:
    line = {
        "id": event["id"],
        "occurred_at": chain.iso(event["occurred_at"])
        if isinstance(event["occurred_at"], datetime)
        else event["occurred_at"],
        "actor_id": event["actor_id"],
        "actor_label": event["actor_label"],
        "action": event["action"],
        "object_type": event["object_type"],
        "object_id": event["object_id"],
        "channel": event["channel"],
        "payload_digest": event["payload_digest"],
        "prev_hash": event["prev_hash"],
        "hash": event["hash"],
    }
    if in_scope:
        line["payload"] = event["payload"]
    return _jsonl(line)


def photo_file_problems(flt: ReportFilter) -> list[tuple[int, str]]:
    """(photo id, problem) for every photo in scope whose original file is missing or no
    longer has the SHA-256 recorded when it was stored. A bundle is not made while there is
    any: it would carry less evidence than its records claim."""
    problems = []
    for ids in iter_report_id_pages(flt, page_size=500):
        for photo in Photo.objects.filter(report_id__in=ids).order_by("id"):
            problem = content_problem(photo)
            if problem is not None:
                problems.append((photo.pk, problem))
    return problems


def stream_bundle(
    flt: ReportFilter, *, user: Any, readme: str, moment: datetime | None = None
) -> Iterator[bytes]:
    """The zip, chunk by chunk. The caller has recorded the export's audit event and checked
    ``photo_file_problems`` (a photo file that disappears meanwhile is listed as missing,
    which makes the bundle fail verification)."""
    moment = moment or timezone.now()
    archive = ZipStream(timezone.localtime(moment))
    scope = _Scope()
    if flt.incident is not None:
        scope.add("reports.incident", flt.incident.pk)
    counts = {"reports": 0, "revisions": 0, "photos": 0, "sources": 0, "events": 0}
    photos: list[dict[str, Any]] = []
    refs: dict[str, None] = {}
    missing: list[str] = []

    yield from archive.member("README.md", [readme.encode("utf-8")])

    def documents() -> Iterator[bytes]:
        for ids in iter_report_id_pages(flt, page_size=500):
            page = report_documents(ids)
            for doc in page:
                scope.add("reports.report", doc["id"])
                counts["reports"] += 1
                for rev in doc["revisions"]:
                    scope.add("reports.reportrevision", rev["id"])
                    counts["revisions"] += 1
                    if rev.get("source_ref"):
                        refs[rev["source_ref"]] = None
                for photo in doc["photos"]:
                    scope.add("reports.photo", photo["id"])
                    photos.append(photo)
            yield b"".join(_jsonl(d) for d in page)

    yield from archive.member("reports.jsonl", documents())
    yield from archive.member("revisions.csv", stream_csv(flt))

    for ref in refs:
        if not has_resolver(ref):
            continue  # not a raw message the portal keeps (e.g. an import's own reference)
        source = resolve_source(ref)
        if source is None:
            missing.append(ref)
            continue
        document = {
            "ref": source.ref,
            "label": source.label,
            "received_at": source.received_at.isoformat() if source.received_at else None,
            "content_type": source.content_type,
            "summary": dict(source.summary),
            "sha256": source.sha256,
            "body": source.body,
        }
        counts["sources"] += 1
        yield from archive.member(f"sources/{_safe_name(ref)}.json", [_json_bytes(document)])

    for photo in photos:
        name = photo["name"]
        arcname = f"photos/{photo['id']}-{name.rsplit('/', 1)[-1]}"
        try:
            handle = default_storage.open(name, "rb")
        except (FileNotFoundError, OSError):
            missing.append(name)
            continue
        with handle:
            yield from archive.member(
                arcname, iter(lambda h=handle: h.read(_CHUNK), b""), compress=False
            )
        photo["bundle_file"] = arcname
        counts["photos"] += 1

    segment = _segment(scope)
    chain_info: dict[str, Any] = {"first_event": None, "last_event": None}
    if segment is not None:
        first, last, anchor = segment
        start = AuditEvent.objects.filter(pk=first).values_list("prev_hash", flat=True).first()
        end = AuditEvent.objects.filter(pk=last).values_list("hash", flat=True).first()
        chain_info = {
            "first_event": first,
            "last_event": last,
            "start_prev_hash": start,
            "end_hash": end,
            "covered_by_anchor": (
                {"head_id": anchor.head_id, "head_hash": anchor.head_hash} if anchor else None
            ),
        }

        def events() -> Iterator[bytes]:
            buffer: list[bytes] = []
            for event in iter_chain(after_id=first - 1):
                if event["id"] > last:
                    break
                counts["events"] += 1
                buffer.append(_event_line(event, scope.contains(event)))
                if len(buffer) >= 2000:
                    yield b"".join(buffer)
                    buffer = []
            if buffer:
                yield b"".join(buffer)

        yield from archive.member("audit/events.jsonl", events())
    anchors = [
        {
            "head_id": a.head_id,
            "head_hash": a.head_hash,
            "created_at": a.created_at.isoformat(),
            "text": a.text,
        }
        for a in ChainAnchor.objects.order_by("head_id", "id")
    ]
    yield from archive.member("audit/anchors.json", [_json_bytes(anchors)])

    manifest = {
        "format": FORMAT,
        "generated_at": moment.isoformat(),
        "generated_by": user.get_username() if user is not None else None,
        "scope": flt.describe(),
        "counts": counts,
        "chain": chain_info,
        "photos": [
            {"id": p["id"], "file": p.get("bundle_file"), "sha256": p["sha256"]} for p in photos
        ],
        "missing": missing,
        "files": archive.files,
    }
    yield from archive.member("manifest.json", [_json_bytes(manifest)])
    yield archive.close()
