"""The report write path: revisions, validation, situation semantics, audit chain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from reports import services
from reports.models import ReportChannel, ReportRevision, RevisionKind
from reports.queries import situation_summary

pytestmark = pytest.mark.django_db


def submit_evacuees(user, agency, count, *, facility="箭田小学校", observed_at=None):
    return services.report_submit(
        agency=agency,
        author=user,
        category="evacuees",
        fields={"facility": facility, "count": count, "households": None},
        text=f"{facility} 避難者数 {count}名",
        observed_at=observed_at,
        channel=ReportChannel.WEB,
    )


def test_correction_keeps_every_earlier_revision(reporter_a, agency_a):
    report = submit_evacuees(reporter_a, agency_a, 120)
    services.report_correct(
        report=report,
        author=reporter_a,
        reason="集計誤り",
        fields={"facility": "箭田小学校", "count": 135, "households": 48},
    )
    services.report_withdraw(report=report, author=reporter_a, reason="重複報告のため")
    revs = list(ReportRevision.objects.filter(report=report).order_by("number"))
    assert [r.kind for r in revs] == [
        RevisionKind.ORIGINAL,
        RevisionKind.CORRECTION,
        RevisionKind.WITHDRAWAL,
    ]
    assert revs[0].fields["count"] == 120
    assert revs[1].fields == {"facility": "箭田小学校", "count": 135, "households": 48}
    assert revs[1].reason == "集計誤り"
    assert report.number == f"R-{report.pk:06d}"


def test_reporter_cannot_create_or_correct_for_other_agency(reporter_a, reporter_b, agency_a):
    with pytest.raises(PermissionDenied):
        submit_evacuees(reporter_b, agency_a, 10)
    report = submit_evacuees(reporter_a, agency_a, 10)
    with pytest.raises(PermissionDenied):
        services.report_correct(
            report=report,
            author=reporter_b,
            reason="x",
            fields={"facility": "箭田小学校", "count": 1},
        )


def test_auditor_can_change_nothing(auditor, agency_a, reporter_a):
    with pytest.raises(PermissionDenied):
        submit_evacuees(auditor, agency_a, 10)
    report = submit_evacuees(reporter_a, agency_a, 10)
    with pytest.raises(PermissionDenied):
        services.report_acknowledge(report=report, user=auditor)


@pytest.mark.parametrize(
    ("category", "fields", "bad_field"),
    [
        ("evacuees", {"facility": "箭田小学校", "count": -3}, "count"),
        ("evacuees", {"facility": "箭田小学校", "count": "多数"}, "count"),
        ("evacuees", {"facility": "箭田小学校", "count": 3, "pets": 2}, "pets"),
        ("evacuees", {"count": 3}, "facility"),
        ("road_closure", {"road": "国道486号", "cause": "earthquake"}, "cause"),
        ("water_level", {"area": "小田川", "level_m": "高い"}, "level_m"),
        ("outage", {"areas": [{"area": "真備地区", "households": -1}]}, "areas[0].households"),
        ("medical_capacity", {"facility": "まび記念病院", "accepting": "はい"}, "accepting"),
    ],
)
def test_category_validation_names_the_field(reporter_a, agency_a, category, fields, bad_field):
    with pytest.raises(ValidationError) as info:
        services.report_submit(agency=agency_a, author=reporter_a, category=category, fields=fields)
    assert bad_field in info.value.message_dict


def test_situation_is_latest_per_subject_not_a_sum(reporter_a, agency_a, hq_user):
    t0 = timezone.now() - timedelta(hours=3)
    submit_evacuees(reporter_a, agency_a, 120, observed_at=t0)
    submit_evacuees(reporter_a, agency_a, 80, observed_at=t0 + timedelta(hours=1))
    submit_evacuees(
        reporter_a, agency_a, 35, facility="真備東中学校", observed_at=t0 + timedelta(hours=1)
    )
    summary = situation_summary()
    assert summary["evacuees"]["total"] == 80 + 35
    assert summary["evacuees"]["reports"] == 2


def test_situation_as_of_the_past_sees_what_was_known_then(reporter_a, agency_a):
    first = submit_evacuees(reporter_a, agency_a, 120)
    before_correction = timezone.now()
    services.report_correct(
        report=first,
        author=reporter_a,
        reason="再集計",
        fields={"facility": "箭田小学校", "count": 150},
    )
    assert situation_summary()["evacuees"]["total"] == 150
    assert situation_summary(before_correction)["evacuees"]["total"] == 120
    before_withdrawal = timezone.now()
    services.report_withdraw(report=first, author=reporter_a, reason="誤送信")
    assert situation_summary()["evacuees"]["total"] == 0
    assert situation_summary(before_withdrawal)["evacuees"]["total"] == 150


def test_closed_subject_drops_out(reporter_b, agency_b, districts):
    services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="outage",
        fields={
            "areas": [
                {"area": "真備地区", "households": 1200},
                {"area": "玉島地区", "households": 340},
            ],
            "restoration": "未定",
        },
    )
    assert situation_summary()["outage"]["total_households"] == 1540
    services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="outage",
        fields={"areas": [{"area": "真備地区", "households": 0}]},
    )
    summary = situation_summary()
    assert summary["outage"]["total_households"] == 340
    assert [a["area"] for a in summary["outage"]["areas"]] == ["玉島地区"]


def test_verify_audit_chain_passes_then_names_tampered_revision(reporter_a, agency_a, capsys):
    report = submit_evacuees(reporter_a, agency_a, 120)
    services.report_correct(
        report=report,
        author=reporter_a,
        reason="再集計",
        fields={"facility": "箭田小学校", "count": 150},
    )
    call_command("verify_audit_chain")
    assert "audit chain OK" in capsys.readouterr().out

    first = ReportRevision.objects.get(report=report, number=1)
    event = AuditEvent.objects.get(object_type="reports.reportrevision", object_id=str(first.pk))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reports_reportrevision SET fields = %s WHERE id = %s",
            ['{"facility": "箭田小学校", "count": 12, "households": null}', first.pk],
        )
    with pytest.raises(CommandError, match=f"event #{event.pk}"):
        call_command("verify_audit_chain")


def test_verify_audit_chain_detects_deleted_event(reporter_a, agency_a):
    for count in (10, 20, 30):
        submit_evacuees(reporter_a, agency_a, count)
    events = list(AuditEvent.objects.order_by("id"))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    with pytest.raises(CommandError, match=f"event #{events[2].pk}"):
        call_command("verify_audit_chain")
