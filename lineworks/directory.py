"""Directory sync: agencies' members from the LINE WORKS Directory API (lineworks-api.md §9.2).

Each agency may name a LINE WORKS group (``Agency.lineworks_group_id``) or an org unit
(``lineworks_orgunit_id``). ``directory_plan`` reads ``GET /users`` and
``GET /groups/{groupId}/members`` (cursor paging) and compares them with the directory:

* **additions**: people in an agency's group the portal does not know;
* **changes**: a new name, a move to another agency, a LINE WORKS id found for a member
  known only by e-mail, or a departed member who is back;
* **departures**: members with a LINE WORKS id who are no longer in their agency's group,
  or whom LINE WORKS marks deleted (``isDeleted``) or suspended (``isSuspended``).

Nothing is written by the plan. ``directory_sync_run`` records a run (a dry run unless
``apply``) and applies through ``agencies.services.directory_sync_apply``, the directory's
one write path. Safety rules: an agency whose group cannot be read loses no member (a typo
in a group id must not deactivate a whole agency); a person in two mapped groups is left
as is and reported; members without a LINE WORKS id (web-only accounts) are never touched;
agencies of an external tenant are not synced (their group lists none of their staff).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agencies.models import Agency, Member
from agencies.services import DirectoryImportError, directory_sync_apply
from lineworks import content
from lineworks.client import LineWorksClient, LineWorksError, get_directory_client
from lineworks.models import DirectorySyncRun, DirectorySyncStatus, OutboundKind
from lineworks.services import outbound_create

logger = logging.getLogger(__name__)

_USERNAME_RE = re.compile(r"^[\w.@+-]{1,150}$")


@dataclass
class Person:
    user_id: str
    email: str
    name: str
    state: str  # active, suspended, deleted


@dataclass
class AgencySource:
    agency: str
    agency_name: str
    source: str  # "group:<id>" or "orgunit:<id>"
    ok: bool = True
    error: str = ""
    people: int = 0


@dataclass
class SyncPlan:
    sources: list[AgencySource] = field(default_factory=list)
    additions: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    departures: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    users_read: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.additions or self.changes or self.departures)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["digest"] = self.digest
        return data

    @property
    def digest(self) -> str:
        """Identifies the differences, so an apply can check it applies what HQ saw."""
        body = json.dumps(
            [self.additions, self.changes, self.departures], sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]


def _person(user: dict[str, Any]) -> Person | None:
    user_id = str(user.get("userId") or "")[:128]
    if not user_id:
        return None
    name = user.get("userName") or {}
    if isinstance(name, dict):
        # Japanese order: family name first, a space between (山田 花子).
        full = " ".join(str(p).strip() for p in (name.get("lastName"), name.get("firstName")) if p)
    else:
        full = str(name)
    state = "active"
    if user.get("isDeleted"):
        state = "deleted"
    elif user.get("isSuspended"):
        state = "suspended"
    return Person(
        user_id=user_id, email=str(user.get("email") or "").strip().lower(), name=full, state=state
    )


def _orgunits(user: dict[str, Any]) -> set[str]:
    units: set[str] = set()
    for org in user.get("organizations") or []:
        if isinstance(org, dict):
            for unit in org.get("orgUnits") or []:
                if isinstance(unit, dict) and unit.get("orgUnitId"):
                    units.add(str(unit["orgUnitId"]))
    return units


def _group_user_ids(
    client: LineWorksClient,
    group_id: str,
    users: list[dict[str, Any]],
    seen: set[str] | None = None,
) -> set[str]:
    """User ids of a group's members; nested groups and org units are expanded."""
    seen = seen if seen is not None else set()
    seen.add(group_id)
    found: set[str] = set()
    for member in client.group_members(group_id):
        kind, member_id = member.get("type"), str(member.get("id") or "")
        if kind == "USER" and member_id:
            found.add(member_id)
        elif kind == "ORGUNIT" and member_id:
            found |= {str(u.get("userId")) for u in users if member_id in _orgunits(u)}
        elif kind == "GROUP" and member_id and member_id not in seen:
            found |= _group_user_ids(client, member_id, users, seen)
    return found


def _free_username(person: Person, taken: set[str]) -> str:
    """The LINE WORKS login id (an e-mail address) when usable, else ``lw-<userId>``."""
    for candidate in (person.email, f"lw-{person.user_id}"[:150]):
        if candidate and _USERNAME_RE.match(candidate) and candidate not in taken:
            return candidate
    return f"lw-{hashlib.sha256(person.user_id.encode()).hexdigest()[:20]}"


def directory_plan(client: LineWorksClient | None = None) -> SyncPlan:
    """Read LINE WORKS and work out what the directory would change. Writes nothing.
    Raises LineWorksError when the user list itself cannot be read."""
    client = client or get_directory_client()
    plan = SyncPlan()
    agencies = list(
        Agency.objects.filter(active=True, external_tenant=False)
        .exclude(lineworks_group_id="", lineworks_orgunit_id="")
        .order_by("kind", "code")
    )
    if not agencies:
        return plan
    raw_users = client.list_users()
    plan.users_read = len(raw_users)
    people = {p.user_id: p for p in (_person(u) for u in raw_users) if p}

    wanted: dict[str, list[str]] = {}  # LINE WORKS user id -> agency codes
    read_ok: set[str] = set()
    for agency in agencies:
        if agency.lineworks_group_id:
            source = AgencySource(agency.code, agency.name, f"group:{agency.lineworks_group_id}")
            try:
                ids = _group_user_ids(client, agency.lineworks_group_id, raw_users)
            except LineWorksError as exc:
                if exc.status != 404:
                    raise
                source.ok = False
                source.error = _("グループ %(g)s が見つかりません") % {
                    "g": agency.lineworks_group_id
                }
                plan.sources.append(source)
                continue
        else:
            source = AgencySource(
                agency.code, agency.name, f"orgunit:{agency.lineworks_orgunit_id}"
            )
            ids = {
                str(u.get("userId"))
                for u in raw_users
                if agency.lineworks_orgunit_id in _orgunits(u)
            }
        read_ok.add(agency.code)
        ids = {i for i in ids if i in people and people[i].state == "active"}
        source.people = len(ids)
        plan.sources.append(source)
        for user_id in ids:
            wanted.setdefault(user_id, []).append(agency.code)

    for user_id, codes in list(wanted.items()):
        if len(codes) > 1:
            plan.conflicts.append(
                {
                    "lineworks_user_id": user_id,
                    "name": people[user_id].name,
                    "agencies": sorted(codes),
                }
            )
    conflicted = {c["lineworks_user_id"] for c in plan.conflicts}

    names = {a.code: a.name for a in agencies}
    members = list(Member.objects.select_related("user", "agency"))
    by_lw = {m.lineworks_user_id: m for m in members if m.lineworks_user_id}
    by_email = {
        m.user.email.strip().lower(): m for m in members if not m.lineworks_user_id and m.user.email
    }
    taken = set(get_user_model().objects.values_list("username", flat=True))

    for user_id in sorted(wanted, key=lambda i: (wanted[i][0], people[i].name, i)):
        if user_id in conflicted:
            continue
        person, code = people[user_id], wanted[user_id][0]
        member = by_lw.get(user_id) or by_email.get(person.email)
        if member is None:
            username = _free_username(person, taken)
            taken.add(username)
            plan.additions.append(
                {
                    "username": username,
                    "name": person.name,
                    "agency": code,
                    "agency_name": names[code],
                    "lineworks_user_id": user_id,
                    "email": person.email,
                }
            )
            continue
        fields: dict[str, list[str]] = {}
        if member.agency.code != code:
            fields["agency"] = [member.agency.code, code]
        if person.name and member.display_name != person.name:
            fields["name"] = [member.display_name, person.name]
        if member.lineworks_user_id != user_id:
            fields["lineworks_user_id"] = [member.lineworks_user_id, user_id]
        reactivate = member.departed_at is not None
        if reactivate:
            fields["departed"] = ["yes", "no"]
        if not fields:
            plan.unchanged += 1
            continue
        plan.changes.append(
            {
                "username": member.user.username,
                "name": person.name or member.display_name,
                "agency": code,
                "agency_name": names[code],
                "lineworks_user_id": user_id,
                "fields": fields,
                "reactivate": reactivate,
            }
        )

    for member in members:
        user_id = member.lineworks_user_id
        if (
            not user_id
            or member.agency.code not in read_ok
            or member.departed_at is not None
            or user_id in wanted
        ):
            continue
        person = people.get(user_id)
        if person is None:
            reason = "not_in_directory"
        elif person.state != "active":
            reason = person.state
        else:
            reason = "left_group"
        plan.departures.append(
            {
                "username": member.user.username,
                "name": member.display_name,
                "agency": member.agency.code,
                "agency_name": member.agency.name,
                "lineworks_user_id": user_id,
                "reason": reason,
                "has_reports": member.user.reports.exists(),
                "action": "deactivate"
                if reason == "suspended" or member.user.reports.exists()
                else "delete",
            }
        )
    return plan


REASON_LABELS = {
    "not_in_directory": gettext_lazy("ディレクトリにいません"),
    "deleted": gettext_lazy("LINE WORKS で削除済み"),
    "suspended": gettext_lazy("LINE WORKS で利用停止中"),
    "left_group": gettext_lazy("グループから外れました"),
}


def reason_label(reason: str) -> str:
    return str(REASON_LABELS.get(reason, reason))


def _wait_budget() -> float:
    return float(getattr(settings, "LINEWORKS_DIRECTORY_MAX_WAIT", 65))


def _plan_with_patience(client: LineWorksClient | None, max_wait: float) -> SyncPlan:
    """The plan, waiting out a spent rate-limit window (§6.2) up to ``max_wait`` seconds in
    all; a nightly job can afford a minute, a person at the page cannot."""
    waited = 0.0
    while True:
        try:
            return directory_plan(client)
        except LineWorksError as exc:
            wait = exc.retry_after or 0
            if exc.status != 429 or not wait or waited + wait > max_wait:
                raise
            logger.info("lineworks directory: rate limited, waiting %.0f s", wait)
            time.sleep(wait)
            waited += wait


def directory_sync_run(
    *,
    trigger: str,
    apply: bool = False,
    actor: Any | None = None,
    expected_digest: str = "",
    client: LineWorksClient | None = None,
    max_wait: float | None = None,
) -> DirectorySyncRun:
    """Plan (and with ``apply``, apply) the sync; record the run. Never raises for LINE
    WORKS or validation errors: the run is recorded as failed with a Japanese message.
    ``expected_digest``: apply only if the differences are still those HQ looked at."""
    run = DirectorySyncRun.objects.create(
        started_at=timezone.now(),
        trigger=trigger,
        applied=False,
        status=DirectorySyncStatus.FAILED,
        actor=actor if actor is not None and actor.is_authenticated else None,
    )
    try:
        plan = _plan_with_patience(client, _wait_budget() if max_wait is None else max_wait)
        summary = plan.as_dict()
        if apply and expected_digest and expected_digest != plan.digest:
            run.error = _(
                "確認後に LINE WORKS の内容が変わりました。差分をもう一度確認してください。"
            )
        elif apply:
            if plan.has_changes:
                counts = directory_sync_apply(
                    additions=plan.additions,
                    changes=plan.changes,
                    departures=plan.departures,
                    actor=actor,
                    source=f"lineworks-directory:{trigger}",
                )
                summary["applied_counts"] = counts.as_dict()
            run.applied = True
            run.status = DirectorySyncStatus.OK
        else:
            run.status = DirectorySyncStatus.OK
        run.summary = summary
    except LineWorksError as exc:
        run.error = _("LINE WORKS のディレクトリを読めませんでした: %(e)s") % {"e": exc}
        logger.warning("lineworks directory sync failed: %s", exc)
    except DirectoryImportError as exc:
        run.error = _("ディレクトリに反映できませんでした: %(e)s") % {"e": "; ".join(exc.errors)}
    run.finished_at = timezone.now()
    run.save()
    return run


def report_to_hq(run: DirectorySyncRun) -> bool:
    """Tell HQ's talk room about a run's differences (or its failure). Nothing is sent when
    a run found nothing to change. Returns whether a message was queued."""
    channel = settings.LINEWORKS_HQ_CHANNEL_ID
    summary = run.summary or {}
    has_news = run.status == DirectorySyncStatus.FAILED or any(
        summary.get(k) for k in ("additions", "changes", "departures", "conflicts")
    )
    if not channel or not has_news:
        return False
    with translation.override("ja"):
        if run.status == DirectorySyncStatus.FAILED:
            text = _("【ディレクトリ同期】失敗しました。\n%(e)s") % {"e": run.error}
        else:
            head = (
                _("【ディレクトリ同期】反映しました。")
                if run.applied
                else _("【ディレクトリ同期】LINE WORKS との差分があります（未反映）。")
            )
            lines = [
                head,
                _("追加 %(a)d名・変更 %(c)d名・離任 %(d)d名・重複 %(x)d名")
                % {
                    "a": len(summary.get("additions", [])),
                    "c": len(summary.get("changes", [])),
                    "d": len(summary.get("departures", [])),
                    "x": len(summary.get("conflicts", [])),
                },
            ]
            for item in summary.get("departures", [])[:10]:
                lines.append(
                    _("離任: %(n)s（%(a)s）%(r)s")
                    % {"n": item["name"], "a": item["agency"], "r": reason_label(item["reason"])}
                )
            if not run.applied:
                lines.append(_("ポータルの「ディレクトリ同期」で確認して反映してください。"))
            text = "\n".join(lines)
    with transaction.atomic():
        outbound_create(
            kind=OutboundKind.OTHER, contents=[content.text(text[:2000])], channel_id=channel
        )
    return True
