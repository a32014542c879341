"""The read-ahead helpers used by the large exports and the verifier: order, errors, early
stop, and the threaded paths giving exactly what the plain paths give."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit.exports import ReportFilter, stream_csv
from audit.prefetch import can_prefetch, ordered_parallel, prefetched


def test_results_come_in_input_order_even_when_finished_out_of_order():
    first_may_finish = threading.Event()

    def work(n: int) -> int:
        if n == 0:
            assert first_may_finish.wait(timeout=10)
        if n == 1:
            first_may_finish.set()  # the second task is done before the first
        return n * 10

    assert list(ordered_parallel(iter(range(6)), work, workers=2, depth=3)) == [
        0,
        10,
        20,
        30,
        40,
        50,
    ]


def test_worker_error_is_raised_to_the_consumer():
    def work(n: int) -> int:
        if n == 2:
            raise ValueError("page 2 failed")
        return n

    results = ordered_parallel(iter(range(5)), work)
    assert next(results) == 0 and next(results) == 1
    with pytest.raises(ValueError, match="page 2 failed"):
        next(results)


def test_closing_early_stops_the_helpers():
    before = threading.active_count()
    results = ordered_parallel(iter(range(1000)), lambda n: n, workers=2, depth=4)
    assert next(results) == 0
    results.close()
    assert threading.active_count() == before

    ahead = prefetched(lambda: iter(range(1000)))
    assert next(ahead) == 0
    ahead.close()
    assert threading.active_count() == before


@pytest.mark.django_db(transaction=True)
def test_parallel_csv_equals_sequential_csv(corrected_report, outage_report, fire_report):
    assert can_prefetch()
    parallel = b"".join(stream_csv(ReportFilter(), fast=True))
    with transaction.atomic():
        assert not can_prefetch()
        sequential = b"".join(stream_csv(ReportFilter(), fast=True))
    assert parallel == sequential
    assert parallel.count(b"\n") == 1 + 6


@pytest.mark.django_db(transaction=True)
def test_prefetched_verification_finds_tampering(corrected_report, outage_report):
    assert can_prefetch()
    call_command("verify_audit_chain", "--no-record")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = 2")
    with pytest.raises(CommandError, match="event #3: prev_hash"):
        call_command("verify_audit_chain", "--no-record")


@pytest.fixture
def many_events(reporter_a, agency_a):
    """Twelve revisions: enough events for two segments once the threshold is lowered."""
    from reports import services

    reports = []
    for i in range(6):
        report = services.report_submit(
            agency=agency_a,
            author=reporter_a,
            category="evacuees",
            fields={"facility": "箭田小学校", "count": 100 + i},
            text=f"避難者数 {100 + i}名",
        )
        services.report_correct(
            report=report,
            author=reporter_a,
            reason="再集計",
            fields={"facility": "箭田小学校", "count": 200 + i},
        )
        reports.append(report)
    return reports


@pytest.fixture
def parallel(monkeypatch):
    from audit import services

    monkeypatch.setattr(services, "PARALLEL_MIN_EVENTS", 1)
    return services


@pytest.mark.django_db(transaction=True)
def test_parallel_verification_equals_one_walk(parallel, many_events):
    one = parallel.verify_chain(workers=1)
    two = parallel.verify_chain(workers=2)
    assert one.ok and two.ok
    assert (
        (two.events, two.head, two.head_id, two.records_checked)
        == (
            one.events,
            one.head,
            one.head_id,
            one.records_checked,
        )
        # 12 revisions and the 6 reports' states.
        == (12, one.head, 12, 18)
    )


@pytest.mark.django_db(transaction=True)
def test_parallel_verification_finds_a_deleted_boundary_event(parallel, many_events):
    # Segments are 1..6 and 7..12: deleting #6 leaves segment 2 starting from a hash that
    # segment 1 no longer ends with.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = 6")
    result = parallel.verify_chain(workers=2)
    assert str(result.problem).startswith("event #7: prev_hash")


@pytest.mark.django_db(transaction=True)
def test_parallel_verification_finds_problems_in_the_second_segment(parallel, many_events):
    from reports.models import ReportRevision

    rev = ReportRevision.objects.order_by("-id").first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE reports_reportrevision SET text = '改ざん' WHERE id = %s", [rev.pk])
    result = parallel.verify_chain(workers=2)
    assert "event #12" in str(result.problem) and "no longer matches" in str(result.problem)


@pytest.mark.django_db(transaction=True)
def test_parallel_verification_checks_anchors_in_both_segments(parallel, many_events):
    from audit.tests.test_tamper import rewrite_whole_chain

    with connection.cursor() as cursor:
        cursor.execute("SELECT hash FROM audit_auditevent WHERE id = 9")
        published = cursor.fetchone()[0]
        cursor.execute("UPDATE audit_auditevent SET actor_label = 'x' WHERE id = 8")
    rewrite_whole_chain()
    assert parallel.verify_chain(workers=2).ok  # consistent in itself
    result = parallel.verify_chain(workers=2, external_anchors=[(9, published)])
    assert str(result.problem).startswith("event #9: hash differs from the head")
    result = parallel.verify_chain(workers=2, external_anchors=[(40, published)])
    assert str(result.problem).startswith("event #40: a head was published")
