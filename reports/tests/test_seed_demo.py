"""seed_demo: the Kurashiki demo directory, demo users of every role, and a day of a flood."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agencies import roles
from agencies.models import Agency, AgencyKind, District, Facility, FacilityKind, Member, Role
from audit.models import AuditEvent
from audit.services import verify_chain
from reports.categories import Category
from reports.models import (
    Incident,
    IncidentStatus,
    Observation,
    Report,
    ReportReview,
    ReportRevision,
    ReportStatus,
    ReviewKind,
    RevisionKind,
    Subject,
)
from reports.queries import situation_summary
from reports.review import awaiting_review

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (Agency, Facility, District, Member, User, Report, ReportRevision, Incident,
              Subject, Observation, AuditEvent)  # fmt: skip
    return {m.__name__: m.objects.count() for m in models}


def test_directory_has_real_places_and_every_kind_of_agency():
    seed()

    shelters = Facility.objects.filter(kind=FacilityKind.SHELTER)
    hospitals = Facility.objects.filter(kind=FacilityKind.HOSPITAL)
    assert shelters.count() >= 10
    assert hospitals.count() >= 4
    assert {
        "箭田小学校",
        "二万小学校",
        "真備東中学校",
        "玉島中学校",
        "水島小学校",
        "児島小学校",
    } <= set(shelters.values_list("name", flat=True))
    assert {"まび記念病院", "倉敷中央病院", "川崎医科大学附属病院"} <= set(
        hospitals.values_list("name", flat=True)
    )
    assert Facility.objects.filter(kind=FacilityKind.WATER_GAUGE).count() >= 3
    for facility in Facility.objects.all():
        # All of it in or near Kurashiki (the 矢掛 gauge is just upstream).
        assert 34.4 < facility.lat < 34.7 and 133.5 < facility.lng < 133.9, facility
    for shelter in shelters:
        assert 100 <= shelter.capacity <= 1000

    kinds = set(Agency.objects.values_list("kind", flat=True))
    assert {
        AgencyKind.HQ, AgencyKind.POWER, AgencyKind.POLICE, AgencyKind.FIRE,
        AgencyKind.WATERWAY, AgencyKind.CITY_DEPT, AgencyKind.SHELTER_OPERATOR,
        AgencyKind.MEDICAL,
    } <= kinds  # fmt: skip
    assert Agency.objects.get(code="hq").name == "倉敷市災害対策本部"
    assert Agency.objects.get(code="chugoku-power").kind == AgencyKind.POWER
    # Only the agency on another LINE WORKS tenant has no talk room the bot can be in.
    assert set(Agency.objects.filter(lineworks_channel_id="").values_list("code", flat=True)) == {
        "river-office"
    }
    assert Agency.objects.get(code="river-office").external_tenant

    names = set(District.objects.filter(parent=None).values_list("name", flat=True))
    assert {"倉敷", "水島", "児島", "玉島", "真備", "船穂", "庄", "茶屋町"} <= names
    assert set(District.objects.filter(parent__name="真備").values_list("name", flat=True)) >= {
        "箭田",
        "川辺",
        "有井",
    }


def test_demo_users_have_the_right_roles_and_log_in_with_the_demo_password():
    out = seed()

    hq = User.objects.get(username="demo-hq")
    assert roles.is_hq(hq)
    assert hq.member.agency.code == "hq"
    assert roles.is_auditor(User.objects.get(username="demo-auditor"))
    for agency in Agency.objects.exclude(kind=AgencyKind.HQ):
        reporter = User.objects.get(username=f"demo-{agency.code}")
        assert list(reporter.groups.values_list("name", flat=True)) == [Role.AGENCY_REPORTER]
        assert roles.can_report_for(reporter, agency)
        assert reporter.member.lineworks_user_id
    # Web-only staff (for the onboarding view's "members without ids").
    assert set(
        Member.objects.filter(lineworks_user_id="").values_list("user__username", flat=True)
    ) == {"demo-mabi-shelter-web", "demo-tamashima-shelter-web"}

    for username in ("demo-hq", "demo-auditor", "demo-mabi-shelter"):
        assert username in out
        client = Client()
        response = client.post(
            reverse("login"), {"username": username, "password": settings.DEMO_PASSWORD}
        )
        assert response.status_code == 302, username
        assert client.get(reverse("home")).wsgi_request.user.username == username
    assert f"パスワードはすべて {settings.DEMO_PASSWORD}" in out


def test_a_day_of_reports_in_every_category_with_corrections_and_a_withdrawal():
    before = timezone.now()
    seed()

    reports = Report.objects.all()
    assert set(reports.values_list("category", flat=True)) == set(Category.values)
    assert reports.count() >= 80
    assert set(reports.values_list("channel", flat=True)) == {"web", "lineworks", "api"}
    span = reports.order_by("observed_at").values_list("observed_at", flat=True)
    assert before - timedelta(hours=25) < span.first() < before - timedelta(hours=20)
    assert span.last() <= before
    assert not ReportRevision.objects.filter(recorded_at__gt=timezone.now()).exists()

    corrections = ReportRevision.objects.filter(kind=RevisionKind.CORRECTION)
    assert corrections.count() >= 3
    assert all(reason for reason in corrections.values_list("reason", flat=True))
    corrected = corrections.get(report__current_revision__fields__facility="箭田小学校")
    assert corrected.fields["count"] == 302
    assert corrected.report.revisions.get(number=1).fields["count"] == 320
    withdrawn = Report.objects.get(status=ReportStatus.WITHDRAWN)
    assert withdrawn.current_revision.reason == "二重送信のため取消"

    flood = Incident.objects.get(title="小田川決壊 真備地区浸水")
    assert flood.status == IncidentStatus.OPEN
    assert flood.reports.count() >= 5
    assert flood.opened_at < timezone.now() - timedelta(hours=12)
    fire = Incident.objects.get(title="水島 工場火災")
    assert fire.reports.filter(category=Category.FIRE).exists()
    assert fire.status == IncidentStatus.CLOSED

    # Shelters report counts rising through the night.
    yata = [
        r.current_revision.fields["count"]
        for r in Report.objects.filter(
            category=Category.EVACUEES, current_revision__facility__code="yata-es"
        ).order_by("observed_at")
    ]
    assert yata[0] < 50 < 300 < max(yata)
    assert verify_chain().ok


def test_situation_after_seeding_is_plausible():
    seed()
    now = situation_summary()

    capacity = sum(
        Facility.objects.filter(kind=FacilityKind.SHELTER).values_list("capacity", flat=True)
    )
    assert 500 < now["evacuees"]["total"] < capacity
    assert now["outage"]["total_households"] > 1000
    assert now["road_closure"]["closed"] >= 1
    roads = {r["subject"] for r in now["road_closure"]["roads"]}
    assert any("国道486号" in r for r in roads)
    assert not any("県道22号" in r for r in roads)  # reopened in the afternoon
    assert now["water_level"]["reports"] >= 3
    assert now["medical_capacity"]["accepting"] >= 3
    assert now["medical_capacity"]["not_accepting"] >= 1  # まび記念病院
    assert now["medical_capacity"]["beds_available"] > 0
    assert now["incidents"]["open"] >= 1
    assert [f["area"] for f in now["fire"]["areas"]] == ["真備地区"]  # 水島 fire is out
    assert 0 < len(now["silent_agencies"]) <= 5

    # Time travel: at the start of the day nobody had evacuated yet; at its peak the factory
    # fire in 水島 had an evacuation order.
    start = Report.objects.order_by("observed_at").first().observed_at
    assert situation_summary(as_of=start + timedelta(minutes=30))["evacuees"]["total"] == 0
    peak = situation_summary(as_of=start + timedelta(hours=13))
    assert "水島地区" in [f["area"] for f in peak["fire"]["areas"]]


def test_running_twice_changes_nothing():
    seed()
    before = counts()

    out = seed()

    assert counts() == before
    assert "デモの報告は投入済み" in out


def test_once_does_nothing_when_already_seeded():
    seed("--once")
    before = counts()
    password = User.objects.get(username="demo-hq").password

    out = seed("--once")

    assert "投入済み" in out
    assert "demo-hq" in out
    assert counts() == before
    assert User.objects.get(username="demo-hq").password == password


def test_refuses_outside_demo_mode(settings):
    settings.DEMO_MODE = False

    with pytest.raises(CommandError, match="デモモードではありません"):
        seed()

    assert not User.objects.filter(username__startswith="demo-").exists()


def test_demo_has_messages_waiting_in_hqs_review_queue():
    out = seed()

    queued = list(awaiting_review(Report.objects.all()).order_by("recorded_at"))
    assert len(queued) == 3
    assert "要確認 3件" in out
    assert all(r.channel == "lineworks" for r in queued)
    assert queued[-1].current_revision.text == "水位上昇中、堤防の近くまで来ています"
    confirmed = ReportReview.objects.get(kind=ReviewKind.CONFIRMED)
    assert confirmed.report.current_revision.text == "小田川の様子がおかしいと住民から通報あり"
    client = Client()
    client.force_login(User.objects.get(username="demo-hq"))
    page = client.get("/reports/review/").content.decode()
    assert all(f'id="review-{r.pk}"' in page for r in queued)
    assert verify_chain().ok
