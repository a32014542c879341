"""Verify an evidence bundle without the portal's database (standard library + audit.chain).

Checks, in order:
1. manifest.json lists every file with its SHA-256 and size, and nothing else is in the zip;
2. audit/events.jsonl is an unbroken chain from the manifest's start hash: each event's
   payload (where included) matches its digest and each hash follows from the content;
3. every published head (the bundle's anchors and any given with ``--anchor``) that falls
   inside the segment matches it;
4. every revision and photo record in reports.jsonl equals the snapshot its audit event
   holds, and every photo file is there and has the SHA-256 its record states;
5. every raw source message has the SHA-256 it states.
Editing any file and recomputing the manifest still fails at 2-4; rewriting the events too
fails at 3 against the heads published in LINE WORKS.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from audit import chain

FORMAT = "kdr-evidence-bundle/1"
_CHUNK = 1024 * 1024
_RECORD_TYPES = {"reports.reportrevision": "revision", "reports.photo": "photo"}


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    events: int = 0
    first_event: int | None = None
    last_event: int | None = None
    head: str = ""
    anchors_checked: int = 0
    revisions: int = 0
    photos: int = 0
    sources: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _sha256_member(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with archive.open(name) as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _lines(archive: zipfile.ZipFile, name: str) -> Iterator[dict[str, Any]]:
    with archive.open(name) as handle:
        for raw in handle:
            if raw.strip():
                yield json.loads(raw)


def verify_bundle(
    source: str | Path | IO[bytes], *, external_anchors: Iterable[tuple[int, str]] = ()
) -> BundleReport:
    report = BundleReport()
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        report.problems.append(f"not a readable zip file: {exc}")
        return report
    with archive:
        _verify(archive, report, list(external_anchors))
    return report


def _verify(
    archive: zipfile.ZipFile, report: BundleReport, external: list[tuple[int, str]]
) -> None:
    names = set(archive.namelist())
    if "manifest.json" not in names:
        report.problems.append("manifest.json is missing")
        return
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except ValueError:
        report.problems.append("manifest.json is not valid JSON")
        return
    if manifest.get("format") != FORMAT:
        report.problems.append(f"unknown bundle format {manifest.get('format')!r}")
        return

    # 1. Files against the manifest.
    files: dict[str, dict[str, Any]] = manifest.get("files", {})
    for name in sorted(names - set(files) - {"manifest.json"}):
        report.problems.append(f"{name}: not listed in the manifest (added to the bundle)")
    for name, meta in sorted(files.items()):
        if name not in names:
            report.problems.append(f"{name}: listed in the manifest but missing")
            continue
        digest, size = _sha256_member(archive, name)
        if digest != meta.get("sha256") or size != meta.get("size"):
            report.problems.append(f"{name}: content differs from the manifest (altered)")

    # 2 and 3. The chain segment and the published heads.
    chain_info = manifest.get("chain") or {}
    records: dict[tuple[str, str], Any] = {}
    if chain_info.get("first_event") is None:
        report.notes.append("the bundle has no audit events (nothing in scope)")
    elif "audit/events.jsonl" not in names:
        report.problems.append("audit/events.jsonl is missing")
        return
    else:
        anchors: list[tuple[int, str]] = []
        if "audit/anchors.json" in names:
            anchors = [
                (int(a["head_id"]), a["head_hash"])
                for a in json.loads(archive.read("audit/anchors.json"))
            ]
        first, last = int(chain_info["first_event"]), int(chain_info["last_event"])
        checkpoints: dict[int, str] = {}
        for head_id, head_hash in [*anchors, *external]:
            if first <= head_id <= last:
                known = checkpoints.setdefault(head_id, head_hash)
                if known != head_hash:
                    report.problems.append(
                        f"event #{head_id}: two different hashes were published for it"
                    )
            elif head_id > last and (head_id, head_hash) in external:
                report.notes.append(
                    f"published head #{head_id} is after this bundle's segment; not checked"
                )

        def events() -> Iterator[dict[str, Any]]:
            for event in _lines(archive, "audit/events.jsonl"):
                payload = event.get("payload")
                if isinstance(payload, dict) and "record" in payload:
                    kind = _RECORD_TYPES.get(event["object_type"])
                    if kind:
                        records[(kind, str(event["object_id"]))] = (event["id"], payload["record"])
                yield event

        try:
            walked = chain.walk(
                events(),
                start_prev_hash=chain_info.get("start_prev_hash") or chain.GENESIS,
                checkpoints=checkpoints,
                require_payload=False,
            )
        except (KeyError, TypeError, ValueError) as exc:
            report.problems.append(f"audit/events.jsonl is malformed: {exc!r}")
            return
        report.events = walked.count
        report.first_event, report.last_event = walked.first_id, walked.last_id
        report.head = walked.head
        report.anchors_checked = walked.checkpoints_checked
        if walked.problem is not None:
            report.problems.append(f"audit chain BROKEN at {walked.problem}")
        if walked.first_id != first or walked.last_id != last:
            report.problems.append(
                f"audit chain segment is #{walked.first_id}..#{walked.last_id}, the manifest "
                f"says #{first}..#{last} (events removed or added)"
            )
        if walked.problem is None and chain_info.get("end_hash") not in (None, walked.head):
            report.problems.append("the chain's last hash differs from the manifest")
        if walked.checkpoints_checked == 0:
            report.notes.append(
                "no published head falls inside this bundle's chain segment: compare the "
                f"last hash #{walked.last_id}:{walked.head} with the heads in HQ's talk"
            )

    # 4. Records against the events.
    photo_files = {str(p["id"]): p for p in manifest.get("photos", [])}
    if "reports.jsonl" in names:
        for document in _lines(archive, "reports.jsonl"):
            for rev in document.get("revisions", []):
                report.revisions += 1
                _check_record(report, records, "revision", rev)
            for photo in document.get("photos", []):
                report.photos += 1
                _check_record(report, records, "photo", photo)
                _check_photo_file(report, archive, names, photo, photo_files)

    # 5. Raw messages.
    for name in sorted(n for n in names if n.startswith("sources/")):
        report.sources += 1
        try:
            doc = json.loads(archive.read(name))
            body_hash = hashlib.sha256(doc["body"].encode("utf-8")).hexdigest()
        except (ValueError, KeyError, AttributeError):
            report.problems.append(f"{name}: malformed source document")
            continue
        if body_hash != doc.get("sha256"):
            report.problems.append(f"{name}: the message body differs from its SHA-256")
    for ref in manifest.get("missing", []):
        report.notes.append(f"not in the bundle (not found when it was made): {ref}")


def _check_record(
    report: BundleReport,
    records: dict[tuple[str, str], Any],
    kind: str,
    item: dict[str, Any],
) -> None:
    found = records.get((kind, str(item.get("id"))))
    if found is None:
        report.problems.append(f"{kind} {item.get('id')}: no audit event vouches for it")
        return
    event_id, record = found
    if not isinstance(record, dict) or not set(record) <= set(item):
        report.problems.append(f"{kind} {item.get('id')}: fields are missing (event #{event_id})")
        return
    if not chain.same_json({k: item[k] for k in record}, record):
        report.problems.append(
            f"{kind} {item.get('id')}: differs from the audited content (event #{event_id})"
        )


def _check_photo_file(
    report: BundleReport,
    archive: zipfile.ZipFile,
    names: set[str],
    photo: dict[str, Any],
    photo_files: dict[str, dict[str, Any]],
) -> None:
    entry = photo_files.get(str(photo.get("id")))
    if entry is None or not entry.get("file"):
        # The original file is evidence: a bundle without it proves less than it claims.
        report.problems.append(
            f"photo {photo.get('id')}: the file is not in the bundle (it was missing when "
            "the bundle was made)"
        )
        return
    if entry["file"] not in names:
        report.problems.append(f"photo {photo.get('id')}: file {entry['file']} is missing")
        return
    digest, _size = _sha256_member(archive, entry["file"])
    if digest != photo.get("sha256"):
        report.problems.append(f"photo {photo.get('id')}: the file differs from its SHA-256")
