"""Writing, verifying and anchoring the audit chain.

Threat model, in short: the hash chain makes any edit, deletion, insertion or reordering of
events visible, and the record and state checks make SQL edits of audited rows visible
(revisions, photos and their files, reports, incidents, notices and their acknowledgements,
stored LINE WORKS messages; see ``audit.registry``). Someone with write access to the
database could still rewrite the *whole* chain with fresh hashes. Anchors stop that: every
hour (and on demand) the head hash is published to HQ's LINE WORKS talk, outside the
database, and kept in ``ChainAnchor``. Verification compares the chain with the stored
anchors and with any published heads given to it (``verify_audit_chain --anchor N:HASH``).
The stored anchors can be rewritten by the same attacker; the published copies cannot,
which is why an auditor compares against them.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from audit import chain, signals
from audit.models import AnchorTrigger, AuditEvent, ChainAnchor, ChainVerification
from audit.prefetch import can_prefetch, prefetched

logger = logging.getLogger(__name__)

# Any constant; it names the PostgreSQL advisory lock that serialises chain appends.
_CHAIN_LOCK_KEY = 0x6B64725F61756469  # "kdr_audi"

_FIELDS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "channel",
    "payload",
    "payload_digest",
    "prev_hash",
    "hash",
)


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    # SQLite serialises writers itself; the dev server is the only user of that mode.


def audit_record(
    *,
    actor: Any | None,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    channel: str = "",
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it records.

    Holds a transaction-scoped lock until commit, so appends are strictly ordered and the
    previous event read here is the committed head. Not idempotent: call once per change.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must be called inside transaction.atomic()")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk
    clean_payload = json.loads(chain.dumps(payload or {}))
    _lock_chain()
    last = AuditEvent.objects.order_by("-id").values("id", "hash").first()
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    event = AuditEvent(
        id=(last["id"] + 1) if last else 1,
        # UTC, as the database returns it: the hash covers the ISO text of this instant.
        occurred_at=(occurred_at or timezone.now()).astimezone(UTC),
        actor_id=actor_id,
        actor_label=actor.get_username() if actor_id else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        channel=channel,
        payload=clean_payload,
        payload_digest=chain.digest(clean_payload),
        prev_hash=last["hash"] if last else chain.GENESIS,
    )
    event.hash = chain.event_hash({f: getattr(event, f) for f in _FIELDS if f != "hash"})
    event.save(force_insert=True)
    signals.event_recorded.send(sender=AuditEvent, event=event)
    return event


def iter_chain(chunk_size: int = 5000, *, after_id: int = 0) -> Iterator[dict[str, Any]]:
    """All events in id order as dicts, streamed in keyset pages (constant memory)."""
    for page in _chain_pages(chunk_size, after_id):
        yield from page


_NO_END = 2**63 - 1


def _chain_pages(
    chunk_size: int, after_id: int, until_id: int = _NO_END
) -> Iterator[list[dict[str, Any]]]:
    if connection.vendor == "postgresql":
        if can_prefetch():
            for rows in prefetched(lambda: _pg_raw_pages(chunk_size, after_id, until_id)):
                yield _pg_events(rows)
        else:
            for rows in _pg_raw_pages(chunk_size, after_id, until_id):
                yield _pg_events(rows)
        return
    last_id = after_id
    events = AuditEvent.objects.filter(id__lte=until_id).order_by("id").values(*_FIELDS)
    while True:
        rows = list(events.filter(id__gt=last_id)[:chunk_size])
        if not rows:
            return
        yield rows
        last_id = rows[-1]["id"]


# occurred_at comes back as the exact text ``chain.iso`` makes of a UTC datetime, so the
# verifier neither parses nor formats a datetime per event.
_PG_PAGE = (
    "SELECT id, to_char(occurred_at AT TIME ZONE 'UTC', "
    '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\'), actor_id, actor_label, action, object_type, '
    "object_id, channel, payload::text, payload_digest, prev_hash, hash, payload ? 'record' "
    "FROM audit_auditevent WHERE id > %s AND id <= %s ORDER BY id LIMIT %s"
)


def _pg_raw_pages(chunk_size: int, after_id: int, until_id: int = _NO_END) -> Iterator[list[tuple]]:
    last_id = after_id
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_PG_PAGE, [last_id, until_id, chunk_size])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last_id = rows[-1][0]


def _pg_events(rows: list[tuple]) -> list[dict[str, Any]]:
    loads = chain.loads
    return [
        {
            "id": r[0],
            "occurred_at": r[1],
            "actor_id": r[2],
            "actor_label": r[3],
            "action": r[4],
            "object_type": r[5],
            "object_id": r[6],
            "channel": r[7],
            "payload": loads(r[8]),
            "payload_digest": r[9],
            "prev_hash": r[10],
            "hash": r[11],
        }
        for r in rows
    ]


def event_intact(event: AuditEvent) -> bool:
    """One row on its own: does its payload match its digest and its hash its content?
    (Links to the neighbours are checked by the full verification.)"""
    data = {f: getattr(event, f) for f in _FIELDS if f not in ("payload", "hash")}
    return chain.payload_matches(event.payload, event.payload_digest) and chain.hash_matches(
        data, event.hash
    )


def chain_head() -> dict[str, Any] | None:
    """The newest event: {"id", "hash", "occurred_at"}, or None for an empty chain."""
    return AuditEvent.objects.order_by("-id").values("id", "hash", "occurred_at").first()


@dataclass(frozen=True)
class VerifyResult:
    events: int
    head: str
    problem: chain.ChainProblem | None
    head_id: int | None = None
    anchors_checked: int = 0
    records_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


def anchor_checkpoints(
    external: Iterable[tuple[int, str]] = (),
) -> tuple[dict[int, str], chain.ChainProblem | None]:
    """Stored anchors plus heads given from outside (the published copies), by event id.
    Two different hashes for one event id is itself a problem: someone edited an anchor."""
    points: dict[int, str] = {}
    sources = [
        *ChainAnchor.objects.order_by("head_id", "id").values_list("head_id", "head_hash"),
        *external,
    ]
    for head_id, head_hash in sources:
        known = points.setdefault(int(head_id), head_hash)
        if known != head_hash:
            return points, chain.ChainProblem(
                int(head_id),
                "two different hashes were published for this event (an anchor was altered)",
            )
    return points, None


# Verification splits the chain into this many segments, each walked by its own process,
# from this many events on (below that, forking costs more than it saves).
PARALLEL_WORKERS = 2
PARALLEL_MIN_EVENTS = 100_000
_SEGMENT = 5000


@dataclass(frozen=True)
class _Segment:
    walked: chain.WalkResult
    start_prev_hash: str
    record_problem: chain.ChainProblem | None
    records_checked: int
    # The last state each stateful row has in this segment (see RecordChecker.states).
    states: dict[str, dict[int, tuple[int, bytes]]]


def _verify_segment(
    after_id: int, until_id: int, checkpoints: dict[int, str], *, last: bool
) -> _Segment:
    """Walk events after_id < id <= until_id and check the records they vouch for.

    The first segment starts from GENESIS; a later one from the prev_hash its first event
    states, which the caller compares with the previous segment's last hash.
    """
    from audit.registry import RecordChecker

    if after_id == 0:
        start = chain.GENESIS
    else:
        start = (
            AuditEvent.objects.filter(id__gt=after_id, id__lte=until_id)
            .order_by("id")
            .values_list("prev_hash", flat=True)
            .first()
        ) or chain.GENESIS
    checker = RecordChecker()
    record_problem: list[chain.ChainProblem] = []

    if connection.vendor == "postgresql" and can_prefetch():
        # The read-ahead thread only does I/O (the next page of events and the rows they
        # vouch for); all Python work stays here, so the two threads don't fight for the GIL.
        labels = checker.labels

        def produce() -> Iterator[tuple[list[tuple], dict[str, list[tuple]]]]:
            for rows in _pg_raw_pages(_SEGMENT, after_id, until_id):
                wanted: dict[str, list[int]] = {}
                for r in rows:
                    if r[12] and r[5] in labels:
                        wanted.setdefault(r[5], []).append(int(r[6]))
                yield rows, checker.fetch_rows(wanted)

        pages: Iterator[tuple[list[dict[str, Any]], Any]] = (
            (_pg_events(rows), checker.build(raw)) for rows, raw in prefetched(produce)
        )
    else:
        pages = ((page, checker.fetch(page)) for page in _chain_pages(_SEGMENT, after_id, until_id))

    def events() -> Iterator[dict[str, Any]]:
        for page, fetched in pages:
            if not record_problem:
                found = checker.check(page, fetched)
                if found is not None:
                    record_problem.append(found)
            yield from page

    walked = chain.walk(
        events(),
        start_prev_hash=start,
        checkpoints=checkpoints,
        up_to=None if last else until_id,
    )
    return _Segment(
        walked,
        start,
        record_problem[0] if record_problem else None,
        checker.checked,
        checker.states,
    )


def _segment_in_child(
    after_id: int, until_id: int, checkpoints: dict[int, str], last: bool
) -> _Segment:
    from django.db import connections

    try:
        return _verify_segment(after_id, until_id, checkpoints, last=last)
    finally:
        connections.close_all()


def _verify_in_parallel(
    head_id: int, workers: int, checkpoints: dict[int, str]
) -> list[_Segment] | None:
    """The segments walked by ``workers`` forked processes, or None where processes cannot
    be started (e.g. inside a daemonic worker): the caller then walks the chain itself."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from django.db import connections

    bounds = [head_id * k // workers for k in range(workers + 1)]
    bounds[-1] = _NO_END  # the last segment also takes what is appended meanwhile
    connections.close_all()  # a forked child must not share the parent's socket
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [
                pool.submit(
                    _segment_in_child, bounds[k], bounds[k + 1], checkpoints, k == workers - 1
                )
                for k in range(workers)
            ]
            return [f.result() for f in futures]
    except (AssertionError, OSError, RuntimeError) as exc:
        logger.warning("audit chain: verifying in one process (%s)", exc)
        return None


def verify_chain(
    *, external_anchors: Iterable[tuple[int, str]] = (), workers: int | None = None
) -> VerifyResult:
    """Verify the chain, the published heads and every audited record.

    Order of checks: each event's link, payload and hash; each anchored event's hash against
    the published head (and no published head beyond the end); then every audited record
    (a record edited by SQL after the fact keeps a valid chain but no longer matches the
    snapshot its event holds; the problem names that event). Read-only; safe to run while
    the portal appends (events appended during the walk are verified too).

    A long chain is cut into segments walked by separate processes (``workers``, default
    ``PARALLEL_WORKERS``); each segment's first prev_hash must then equal the previous
    segment's last hash, which keeps the proof exactly that of one walk.
    """
    from audit.registry import RecordChecker

    checkpoints, problem = anchor_checkpoints(external_anchors)
    if problem is not None:
        return VerifyResult(events=0, head="", problem=problem)
    workers = PARALLEL_WORKERS if workers is None else workers
    head_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    segments = None
    if (
        workers > 1
        and head_id >= PARALLEL_MIN_EVENTS
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    ):
        segments = _verify_in_parallel(head_id, workers, checkpoints)
    if segments is None:
        segments = [_verify_segment(0, _NO_END, checkpoints, last=True)]

    problem = None
    expected = chain.GENESIS
    previous: _Segment | None = None
    for segment in segments:
        walked = segment.walked
        if not walked.count:
            continue
        if problem is None and segment.start_prev_hash != expected:
            problem = chain.ChainProblem(
                walked.first_id or 0,
                "prev_hash does not match the previous event (a row was deleted, "
                "inserted or reordered)",
            )
        if problem is None and walked.problem is not None:
            problem = walked.problem
        expected = walked.head
        previous = segment
    if problem is None:
        problem = next((s.record_problem for s in segments if s.record_problem), None)
    final = RecordChecker()
    if problem is None:
        for segment in segments:  # in chain order: a later state replaces an earlier one
            final.merge_states(segment.states)
        problem = final.finish()
    last = previous.walked if previous is not None else segments[-1].walked
    return VerifyResult(
        events=sum(s.walked.count for s in segments),
        head=last.head,
        problem=problem,
        head_id=last.last_id,
        anchors_checked=sum(s.walked.checkpoints_checked for s in segments),
        records_checked=sum(s.records_checked for s in segments) + final.checked,
    )


def chain_verify(
    *,
    user: Any | None = None,
    trigger: str = AnchorTrigger.COMMAND,
    external_anchors: Iterable[tuple[int, str]] = (),
    workers: int | None = None,
) -> ChainVerification:
    """Run ``verify_chain`` and keep the outcome (the auditors' status page shows it).

    The row is created before the walk (a run that dies leaves an unfinished row, which is
    itself worth seeing) and completed after it.
    """
    run = ChainVerification.objects.create(
        started_at=timezone.now(),
        trigger=trigger,
        requested_by=user if user is not None and user.is_authenticated else None,
    )
    result = verify_chain(external_anchors=external_anchors, workers=workers)
    run.finished_at = timezone.now()
    run.ok = result.ok
    run.events = result.events
    run.head_id = result.head_id
    run.head_hash = result.head
    run.anchors_checked = result.anchors_checked
    run.records_checked = result.records_checked
    if result.problem is not None:
        run.problem_event_id = result.problem.event_id or None
        run.problem = str(result.problem)
        logger.error("audit chain verification failed: %s", result.problem)
    run.save()
    return run


def anchor_text(anchor: ChainAnchor) -> str:
    """The message published to HQ's talk. The last line is what ``--anchor`` accepts."""
    moment = timezone.localtime(anchor.created_at)
    return "\n".join(
        [
            _("【監査ログ 公開ハッシュ】"),
            _("時点: %(t)s") % {"t": moment.strftime("%Y-%m-%d %H:%M")},
            _("対象: イベント #%(n)s までの全記録") % {"n": number_format(anchor.head_id)},
            _("改ざん検知のため、このメッセージは削除・編集しないでください。"),
            f"{anchor.head_id}:{anchor.head_hash}",
        ]
    )


def _publish_head(head: dict[str, Any], *, actor: Any | None, trigger: str) -> ChainAnchor:
    """Store ``head`` as an anchor, record it and hand the text to ``chain_anchored``
    receivers. Caller holds the transaction and the chain's lock."""
    anchor = ChainAnchor(
        head_id=head["id"],
        head_hash=head["hash"],
        created_at=timezone.now(),
        created_by=actor if actor is not None and actor.is_authenticated else None,
        trigger=trigger,
        text="",
    )
    anchor.text = anchor_text(anchor)
    anchor.save()
    audit_record(
        actor=actor,
        action="audit.anchor",
        obj=anchor,
        payload={"head_id": anchor.head_id, "head_hash": anchor.head_hash, "trigger": trigger},
    )
    signals.chain_anchored.send(sender=ChainAnchor, text=anchor.text, anchor=anchor)
    return anchor


def chain_anchor_publish(
    *, actor: Any | None = None, trigger: str = AnchorTrigger.SCHEDULE, force: bool = False
) -> ChainAnchor | None:
    """Store the current head as an anchor and publish it (``chain_anchored`` receivers put
    the text in the outbox to HQ's LINE WORKS talk, in this transaction).

    Returns None, doing nothing, when the chain is empty or, unless ``force``, when nothing
    but earlier anchor events was appended since the last anchor: the hourly schedule then
    stays quiet on an idle night. Safe to call twice. (A person's "publish now" goes through
    ``chain_anchor_request``, which is rate-limited.)
    """
    with transaction.atomic():
        _lock_chain()  # the head read here stays the head until this transaction commits
        head = AuditEvent.objects.order_by("-id").values("id", "hash").first()
        if head is None:
            return None
        last = ChainAnchor.objects.order_by("-head_id", "-id").first()
        if last is not None and not force:
            new_events = AuditEvent.objects.filter(id__gt=last.head_id).exclude(
                action="audit.anchor"
            )
            if last.head_id == head["id"] or not new_events.exists():
                return None
        anchor = _publish_head(head, actor=actor, trigger=trigger)
    return anchor


class AnchorRateLimited(Exception):
    """A person asked to publish again too soon; ``retry_after`` seconds remain."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        interval = settings.AUDIT_ANCHOR_MANUAL_INTERVAL
        return _("公開ハッシュの送信は1人%(m)s分に1回までです。あと%(s)s秒お待ちください。") % {
            "m": number_format(max(1, round(interval / 60))),
            "s": self.retry_after,
        }


@dataclass(frozen=True)
class AnchorRequest:
    anchor: ChainAnchor | None  # None: the chain is empty
    created: bool  # False: this head was already published (nothing sent)


def _bookkeeping_since(head_id: int) -> bool:
    """True when nothing but the log's own bookkeeping follows event ``head_id``: anchor
    events and views of the chain status page (which the publish button redirects to)."""
    return (
        not AuditEvent.objects.filter(id__gt=head_id)
        .exclude(action="audit.anchor")
        .exclude(action="audit.view", object_type="audit.chain")
        .exists()
    )


def chain_anchor_request(*, actor: Any) -> AnchorRequest:
    """An auditor's or HQ's "publish the head now" (the chain page's button, the API).

    Publishing the same head again is a no-op: when nothing but bookkeeping was recorded
    since the last published head, that anchor is returned with ``created=False`` and no
    message is sent. Otherwise one person may publish at most once per
    ``AUDIT_ANCHOR_MANUAL_INTERVAL`` seconds (each is a message in HQ's talk); sooner
    raises ``AnchorRateLimited``. Checked under the chain's lock, so concurrent requests
    cannot both pass.
    """
    with transaction.atomic():
        _lock_chain()
        head = AuditEvent.objects.order_by("-id").values("id", "hash").first()
        if head is None:
            return AnchorRequest(None, False)
        last = ChainAnchor.objects.order_by("-head_id", "-id").first()
        if last is not None and _bookkeeping_since(last.head_id):
            return AnchorRequest(last, False)
        interval = settings.AUDIT_ANCHOR_MANUAL_INTERVAL
        if interval and actor is not None and actor.is_authenticated:
            now = timezone.now()
            recent = (
                ChainAnchor.objects.filter(
                    created_by=actor,
                    trigger=AnchorTrigger.MANUAL,
                    created_at__gt=now - timedelta(seconds=interval),
                )
                .order_by("-created_at")
                .values_list("created_at", flat=True)
                .first()
            )
            if recent is not None:
                wait = interval - (now - recent).total_seconds()
                raise AnchorRateLimited(max(1, math.ceil(wait)))
        anchor = _publish_head(head, actor=actor, trigger=AnchorTrigger.MANUAL)
    return AnchorRequest(anchor, True)


def filter_events(qs: Any, data: dict[str, Any]) -> Any:
    """The audit-log browser's filters (page and API alike): actor, action (a trailing "."
    matches a prefix such as "report."), object, time window [since, until)."""
    if data.get("actor"):
        qs = qs.filter(actor_label=data["actor"])
    if data.get("action"):
        action = data["action"]
        qs = (
            qs.filter(action__startswith=action)
            if action.endswith(".")
            else qs.filter(action=action)
        )
    if data.get("object_type"):
        qs = qs.filter(object_type=data["object_type"])
    if data.get("object_id"):
        qs = qs.filter(object_id=data["object_id"])
    if data.get("since"):
        qs = qs.filter(occurred_at__gte=data["since"])
    if data.get("until"):
        qs = qs.filter(occurred_at__lt=data["until"])
    return qs
