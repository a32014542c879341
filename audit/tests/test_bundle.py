"""Evidence bundles: built over HTTP, verified offline by ``verify_audit_chain --bundle``,
and every kind of tampering with the file is found."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audit import chain
from audit.bundle_check import verify_bundle
from audit.models import AuditEvent
from audit.services import chain_anchor_publish
from conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(hq_user, corrected_report, outage_report, photo, inbound_resolver):
    from reports.services import incident_open, report_link_incident

    incident = incident_open(user=hq_user, title="真備地区 浸水")
    report_link_incident(report=corrected_report, incident=incident, user=hq_user)
    return incident


def download(client, **params) -> bytes:
    response = client.get(reverse("audit:export_bundle"), params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    return b"".join(response.streaming_content)


def members(data: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {name: archive.read(name) for name in archive.namelist()}


def rezip(files: dict[str, bytes], *, fix_manifest: bool = False) -> bytes:
    if fix_manifest:
        manifest = json.loads(files["manifest.json"])
        manifest["files"] = {
            name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
            for name, content in files.items()
            if name != "manifest.json"
        }
        files = {**files, "manifest.json": json.dumps(manifest).encode()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def verify_file(tmp_path, data: bytes, *args: str) -> str:
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    out = StringIO()
    call_command("verify_audit_chain", "--bundle", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines() if line]


def dump_jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


@pytest.fixture
def bundle(auditor, incident):
    chain_anchor_publish(trigger="schedule")
    return download(login(auditor), incident=incident.pk)


def test_incident_bundle_contents(bundle, incident, corrected_report, outage_report, photo):
    files = members(bundle)
    assert {"README.md", "manifest.json", "reports.jsonl", "revisions.csv"} <= set(files)
    assert "audit/events.jsonl" in files and "audit/anchors.json" in files
    readme = files["README.md"].decode()
    assert "検証の方法" in readme and "How to verify" in readme
    reports = jsonl(files["reports.jsonl"])
    assert [r["id"] for r in reports] == [corrected_report.pk]  # only the incident's report
    assert [r["fields"]["count"] for r in reports[0]["revisions"]] == [120, 135]
    [source] = [n for n in files if n.startswith("sources/")]
    assert "15時現在の避難者数 120名" in json.loads(files[source])["body"]
    [photo_file] = [n for n in files if n.startswith("photos/")]
    assert hashlib.sha256(files[photo_file]).hexdigest() == photo.sha256
    manifest = json.loads(files["manifest.json"])
    assert manifest["scope"] == {"incident": incident.pk}
    assert manifest["counts"]["revisions"] == 2 and manifest["counts"]["photos"] == 1
    assert manifest["chain"]["covered_by_anchor"] is not None
    events = jsonl(files["audit/events.jsonl"])
    assert events[0]["id"] == manifest["chain"]["first_event"]
    # Events about the outage report (outside the scope) carry only their digest.
    outside = [
        e
        for e in events
        if e["object_type"] == "reports.reportrevision"
        and e["object_id"] == str(outage_report.current_revision_id)
    ]
    assert outside and "payload" not in outside[0]


def test_bundle_export_is_an_audit_event(auditor, incident):
    download(login(auditor), incident=incident.pk)
    event = AuditEvent.objects.filter(action="audit.export").order_by("-id").first()
    assert (event.object_type, event.object_id) == ("reports.incident", str(incident.pk))
    assert event.payload == {"format": "bundle", "filters": {"incident": incident.pk}}


def test_bundle_needs_incident_or_window(auditor, incident):
    response = login(auditor).get(reverse("audit:export_bundle"))
    assert response.status_code == 400
    assert "インシデントを選ぶか" in response.content.decode()


def test_intact_bundle_verifies_without_database(bundle, tmp_path, django_db_blocker):
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle)
    with django_db_blocker.block():
        report = verify_bundle(path)
        out = StringIO()
        call_command("verify_audit_chain", "--bundle", str(path), stdout=out)
    assert report.ok, report.problems
    assert report.anchors_checked == 1 and report.revisions == 2 and report.photos == 1
    assert "bundle OK" in out.getvalue()


def test_window_bundle_verifies(auditor, corrected_report, outage_report, tmp_path):
    from django.utils import timezone

    since = timezone.localtime(corrected_report.recorded_at) - timezone.timedelta(minutes=1)
    until = timezone.localtime() + timezone.timedelta(minutes=1)
    data = download(
        login(auditor),
        since=since.strftime("%Y-%m-%dT%H:%M"),
        until=until.strftime("%Y-%m-%dT%H:%M"),
    )
    out = verify_file(tmp_path, data)
    assert "bundle OK" in out and "3 revisions" in out
    assert "no published head falls inside" in out  # nothing published yet: said honestly


def test_edited_revision_fails(bundle, tmp_path):
    files = members(bundle)
    reports = jsonl(files["reports.jsonl"])
    reports[0]["revisions"][0]["fields"]["count"] = 12
    files["reports.jsonl"] = dump_jsonl(reports)
    with pytest.raises(CommandError, match="reports.jsonl: content differs from the manifest"):
        verify_file(tmp_path, rezip(files))
    # Recomputing the manifest does not help: the revision no longer matches its event.
    report = verify_bundle(io.BytesIO(rezip(files, fix_manifest=True)))
    assert not report.ok
    assert any("differs from the audited content" in p for p in report.problems)


def test_removed_event_fails(bundle):
    files = members(bundle)
    events = jsonl(files["audit/events.jsonl"])
    del events[1]
    files["audit/events.jsonl"] = dump_jsonl(events)
    report = verify_bundle(io.BytesIO(rezip(files, fix_manifest=True)))
    assert any("audit chain BROKEN" in p and "prev_hash" in p for p in report.problems)


def test_replaced_photo_fails(bundle):
    files = members(bundle)
    [name] = [n for n in files if n.startswith("photos/")]
    files[name] = files[name][:-1] + b"\x00"
    report = verify_bundle(io.BytesIO(rezip(files, fix_manifest=True)))
    assert any("the file differs from its SHA-256" in p for p in report.problems)


def test_edited_raw_message_fails(bundle):
    files = members(bundle)
    [name] = [n for n in files if n.startswith("sources/")]
    doc = json.loads(files[name])
    doc["body"] = doc["body"].replace("120名", "12名")
    files[name] = json.dumps(doc, ensure_ascii=False).encode()
    report = verify_bundle(io.BytesIO(rezip(files)))
    assert any(name in p for p in report.problems)


def test_added_file_fails(bundle):
    files = {**members(bundle), "photos/extra.jpg": b"\xff\xd8\xff"}
    report = verify_bundle(io.BytesIO(rezip(files)))
    assert any("not listed in the manifest" in p for p in report.problems)


def test_not_a_zip_fails(tmp_path):
    with pytest.raises(CommandError, match="not a readable zip"):
        verify_file(tmp_path, b"PK\x03\x04 broken")


def test_rewritten_bundle_is_caught_by_the_published_head(bundle, tmp_path):
    """A forger who edits a revision, fixes its event, recomputes every hash after it, the
    anchors and the manifest makes a bundle that is consistent in itself. The head published
    in HQ's LINE WORKS talk at the time still tells."""
    files = members(bundle)
    anchors = json.loads(files["audit/anchors.json"])
    published = anchors[0]["text"].splitlines()[-1]

    reports = jsonl(files["reports.jsonl"])
    forged_rev = reports[0]["revisions"][0]
    forged_rev["fields"]["count"] = 12
    files["reports.jsonl"] = dump_jsonl(reports)
    events = jsonl(files["audit/events.jsonl"])
    prev = json.loads(files["manifest.json"])["chain"]["start_prev_hash"]
    for event in events:
        if (
            "payload" in event
            and event["object_id"] == str(forged_rev["id"])
            and (event["object_type"] == "reports.reportrevision")
        ):
            event["payload"]["record"]["fields"]["count"] = 12
            event["payload_digest"] = chain.digest(event["payload"])
        event["prev_hash"] = prev
        event["hash"] = chain.event_hash(event)
        prev = event["hash"]
    files["audit/events.jsonl"] = dump_jsonl(events)
    by_id = {e["id"]: e["hash"] for e in events}
    for anchor in anchors:
        anchor["head_hash"] = by_id.get(anchor["head_id"], anchor["head_hash"])
    files["audit/anchors.json"] = json.dumps(anchors).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["chain"]["end_hash"] = prev
    files["manifest.json"] = json.dumps(manifest).encode()
    forged = rezip(files, fix_manifest=True)

    assert verify_bundle(io.BytesIO(forged)).ok  # consistent in itself
    with pytest.raises(CommandError, match="two different hashes"):
        verify_file(tmp_path, forged, "--anchor", published)
    assert "bundle OK" in verify_file(tmp_path, bundle, "--anchor", published)
