"""The auditor's pages through HTTP: who may open them, what they show, and that opening
them is itself recorded in the audit log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit import registry
from audit.models import AuditEvent
from conftest import login

pytestmark = pytest.mark.django_db

PAGES = ["audit:index", "audit:events", "audit:chain", "audit:exports"]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    ("who", "status"),
    [("auditor", 200), ("hq", 200), ("reporter_a", 403), ("reporter_b", 403), ("stranger", 403)],
)
def test_only_auditors_and_hq_open_audit_pages(cast, page, who, status):
    response = login(cast[who]).get(reverse(page))
    assert response.status_code == status


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_login(page):
    response = login(None).get(reverse(page))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_reporter_cannot_open_history_even_of_own_report(reporter_a, corrected_report):
    response = login(reporter_a).get(reverse("audit:report", args=[corrected_report.pk]))
    assert response.status_code == 403


def test_search_filters_by_agency_category_text_and_number(
    auditor, corrected_report, outage_report, agency_b
):
    client = login(auditor)
    page = client.get(reverse("audit:index")).content.decode()
    assert corrected_report.number in page and outage_report.number in page

    page = client.get(reverse("audit:index"), {"agency": agency_b.pk}).content.decode()
    assert outage_report.number in page and corrected_report.number not in page

    page = client.get(reverse("audit:index"), {"category": "evacuees"}).content.decode()
    assert corrected_report.number in page and outage_report.number not in page

    # Free text finds the report by what its first revision said, even after the correction.
    page = client.get(reverse("audit:index"), {"q": "120名"}).content.decode()
    assert corrected_report.number in page and outage_report.number not in page

    page = client.get(reverse("audit:index"), {"q": outage_report.number}).content.decode()
    assert outage_report.number in page and corrected_report.number not in page

    page = client.get(reverse("audit:index"), {"channel": "lineworks"}).content.decode()
    assert corrected_report.number in page and outage_report.number not in page

    page = client.get(reverse("audit:index"), {"author": "reporter-b"}).content.decode()
    assert outage_report.number in page and corrected_report.number not in page


def test_search_by_time_window_and_incident(auditor, hq_user, corrected_report, outage_report):
    from reports.services import incident_open, report_link_incident

    incident = incident_open(user=hq_user, title="小田川 決壊")
    report_link_incident(report=outage_report, incident=incident, user=hq_user)
    client = login(auditor)
    page = client.get(reverse("audit:index"), {"incident": incident.pk}).content.decode()
    assert outage_report.number in page and corrected_report.number not in page

    page = client.get(
        reverse("audit:index"), {"since": "2018-07-06T00:00", "until": "2018-07-08T00:00"}
    ).content.decode()
    assert corrected_report.number not in page and "条件に合う報告はありません" in page

    response = client.get(reverse("audit:index"), {"author": "no-such-user"})
    assert response.status_code == 200
    assert "このユーザー名の利用者はいません" in response.content.decode()


def test_history_shows_every_revision_side_by_side_with_changes_marked(
    auditor, corrected_report, inbound_resolver, photo
):
    response = login(auditor).get(reverse("audit:report", args=[corrected_report.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "第1版" in html and "第2版" in html
    assert "初報" in html and "訂正" in html
    # Both counts, the reason and who did it.
    assert "120" in html and "135" in html and "48" in html
    assert "集計誤り（体育館分を二重計上）" in html
    assert "reporter-a" in html
    # The count changed (highlighted); the facility did not.
    history = response.context["history"]
    rows = {row.key: row for row in history.rows}
    assert [c.changed for c in rows["evacuees.count"].cells] == [False, True]
    assert [c.changed for c in rows["evacuees.facility"].cells] == [False, False]
    assert [c.changed for c in rows["channel"].cells] == [False, True]
    assert html.count('class="changed"') >= 3
    # The raw LINE WORKS message behind revision 1, through the resolver.
    assert "LINE WORKS 受信 #501" in html
    assert "15時現在の避難者数 120名" in html
    assert "ch-mabi-shelter" in html
    # Revision 2 has the photo; every revision matches its audit event.
    assert reverse("audit:photo", args=[photo.pk]) in html
    assert [c.event_ok for c in history.columns] == [True, True]


def test_history_flags_a_revision_edited_behind_the_portal(auditor, corrected_report):
    from django.db import connection

    first = corrected_report.revisions.get(number=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reports_reportrevision SET fields = %s WHERE id = %s",
            ['{"facility": "箭田小学校", "count": 12, "households": null}', first.pk],
        )
    response = login(auditor).get(reverse("audit:report", args=[corrected_report.pk]))
    assert [c.event_ok for c in response.context["history"].columns] == [False, True]
    assert "不一致（改ざんの疑い）" in response.content.decode()


def test_history_without_resolver_still_opens(auditor, corrected_report, monkeypatch):
    monkeypatch.delitem(registry._RESOLVERS, "lineworks:inbound:", raising=False)
    response = login(auditor).get(reverse("audit:report", args=[corrected_report.pk]))
    assert response.status_code == 200
    assert "lineworks:inbound:501" in response.content.decode()
    assert "元のメッセージが見つかりません" not in response.content.decode()


def test_history_says_when_a_kept_message_is_gone(auditor, corrected_report, inbound_resolver):
    saved = inbound_resolver.pop("lineworks:inbound:501")
    try:
        response = login(auditor).get(reverse("audit:report", args=[corrected_report.pk]))
    finally:
        inbound_resolver["lineworks:inbound:501"] = saved
    assert "元のメッセージが見つかりません" in response.content.decode()


def test_photo_is_served_to_auditor_and_recorded(auditor, photo, reporter_b):
    response = login(auditor).get(reverse("audit:photo", args=[photo.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert AuditEvent.objects.filter(
        action="audit.view", object_type="reports.photo", object_id=str(photo.pk)
    ).exists()
    assert login(reporter_b).get(reverse("audit:photo", args=[photo.pk])).status_code == 403


@pytest.mark.parametrize(
    ("url", "kwargs", "page"),
    [
        ("audit:index", {}, "search"),
        ("audit:events", {}, "events"),
        ("audit:chain", {}, "chain"),
        ("audit:exports", {}, "exports"),
    ],
)
def test_opening_a_page_is_an_audit_event(auditor, corrected_report, url, kwargs, page):
    before = AuditEvent.objects.count()
    assert login(auditor).get(reverse(url, kwargs=kwargs)).status_code == 200
    event = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() == before + 1
    assert event.action == "audit.view"
    assert event.actor_id == auditor.pk and event.actor_label == "auditor"
    assert event.payload["page"] == page


def test_history_view_event_names_the_report(auditor, corrected_report):
    login(auditor).get(reverse("audit:report", args=[corrected_report.pk]))
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.object_type, event.object_id) == (
        "audit.view",
        "reports.report",
        str(corrected_report.pk),
    )
    assert event.payload == {"page": "history", "report_number": corrected_report.number}


def test_search_event_records_the_filters(auditor, corrected_report, agency_a):
    login(auditor).get(reverse("audit:index"), {"agency": agency_a.pk, "q": "避難者"})
    event = AuditEvent.objects.order_by("-id").first()
    assert event.payload["filters"] == {"agency": agency_a.code, "q": "避難者"}


def test_audit_log_browser_filters_and_pages(auditor, reporter_a, corrected_report, outage_report):
    client = login(auditor)
    html = client.get(reverse("audit:events"), {"action": "report.correction"}).content.decode()
    assert "report.correction" in html and "report.original" not in html

    response = client.get(reverse("audit:events"), {"action": "report."})
    actions = {e.action for e in response.context["rows"]}
    assert actions == {"report.original", "report.correction"}

    response = client.get(reverse("audit:events"), {"actor": "reporter-b"})
    assert {e.actor_label for e in response.context["rows"]} == {"reporter-b"}

    rev = corrected_report.revisions.get(number=2)
    response = client.get(
        reverse("audit:events"),
        {"object_type": "reports.reportrevision", "object_id": rev.pk},
    )
    assert [e.action for e in response.context["rows"]] == ["report.correction"]
    assert all(e for e in response.context["rows"])

    response = client.get(
        reverse("audit:events"), {"since": "2018-07-06T00:00", "until": "2018-07-07T00:00"}
    )
    assert response.context["rows"] == []


def test_audit_log_browser_keyset_pages(auditor, reporter_a, agency_a):
    from django.db import transaction

    from audit.services import audit_record

    with transaction.atomic():
        for i in range(230):
            audit_record(actor=reporter_a, action="test.bulk", payload={"i": i})
    client = login(auditor)
    first = client.get(reverse("audit:events"), {"action": "test.bulk"})
    rows = first.context["rows"]
    assert len(rows) == 100 and first.context["older"] and not first.context["newer"]
    second = client.get(reverse("audit:events"), {"action": "test.bulk", "before": rows[-1].pk})
    rows2 = second.context["rows"]
    assert len(rows2) == 100 and rows2[0].pk == rows[-1].pk - 1
    assert second.context["newer"]
    third = client.get(reverse("audit:events"), {"action": "test.bulk", "before": rows2[-1].pk})
    assert len(third.context["rows"]) == 30 and not third.context["older"]
    back = client.get(reverse("audit:events"), {"action": "test.bulk", "after": rows2[0].pk})
    assert [e.pk for e in back.context["rows"]] == [e.pk for e in rows]


def test_chain_page_shows_last_verified_head(auditor, corrected_report):
    from django.core.management import call_command

    call_command("verify_audit_chain")
    html = login(auditor).get(reverse("audit:chain")).content.decode()
    assert "改ざんは見つかりませんでした" in html
    from audit.models import ChainVerification

    run = ChainVerification.objects.get()
    assert run.ok and run.head_hash in html


@pytest.mark.parametrize("page", ["audit:index", "audit:events", "audit:chain", "audit:exports"])
def test_audit_pages_accept_get_only(auditor, page):
    response = login(auditor).post(reverse(page))
    assert response.status_code == 405
