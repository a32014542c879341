"""Writes to the directory: agencies, facilities, districts and members.

``directory_import(data)`` loads the JSON shape of design.md §9 (``import_directory FILE`` and
the demo seeder both call it). The whole document is validated before anything is written; a
document with any bad record raises DirectoryImportError listing every problem, each naming
its record (``facilities[3] (code=yata-es): ...``), and the database is left untouched. A valid
document is applied in one transaction, keyed by ``code`` (agencies, facilities, districts) and
``username`` (members), so importing the same file twice changes nothing the second time.

Optional keys left out of a record keep the stored value (a new record gets the default), so a
partial file never blanks out what it does not mention.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from agencies.models import Agency, AgencyKind, District, Facility, FacilityKind, Member, Role
from audit import chain
from audit.services import audit_record

SECTIONS = ("districts", "agencies", "facilities", "members")
_KEYS: dict[str, tuple[set[str], set[str]]] = {
    # section: (required keys, optional keys)
    "agencies": (
        {"code", "name", "kind"},
        {
            "lineworks_channel_id",
            "active",
            "lineworks_group_id",
            "lineworks_orgunit_id",
            "external_tenant",
            "contact_email",
        },
    ),
    "facilities": (
        {"code", "name", "kind", "agency"},
        {"lat", "lng", "capacity", "district", "active"},
    ),
    "districts": ({"code", "name", "lat", "lng"}, {"parent"}),
    "members": ({"username", "role"}, {"name", "agency", "lineworks_user_id"}),
}
_MAX_ERRORS = 50


class DirectoryImportError(Exception):
    """The document is not importable. ``errors`` names each bad record."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass
class SectionCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class ImportResult:
    counts: dict[str, SectionCounts] = field(
        default_factory=lambda: {s: SectionCounts() for s in SECTIONS}
    )
    created_usernames: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated for c in self.counts.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {section: counts.as_dict() for section, counts in self.counts.items()}


# --- Validation -----------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


def _where(section: str, index: int, record: Any) -> str:
    key = "username" if section == "members" else "code"
    if isinstance(record, dict) and isinstance(record.get(key), str) and record[key]:
        return f"{section}[{index}] ({key}={record[key]})"
    return f"{section}[{index}]"


def _check_text(
    errors: _Errors, where: str, rec: dict, name: str, max_length: int, required: bool
) -> None:
    if name not in rec or rec[name] is None:
        if required:
            errors.add(where, _("%(f)s がありません") % {"f": name})
        return
    value = rec[name]
    if not isinstance(value, str):
        errors.add(where, _("%(f)s は文字列で指定してください") % {"f": name})
    elif required and not value.strip():
        errors.add(where, _("%(f)s が空です") % {"f": name})
    elif len(value) > max_length:
        errors.add(
            where, _("%(f)s は%(n)d文字以内で指定してください") % {"f": name, "n": max_length}
        )


def _check_code(errors: _Errors, where: str, rec: dict, name: str = "code") -> None:
    _check_text(errors, where, rec, name, 64, required=True)
    value = rec.get(name)
    if isinstance(value, str) and value.strip():
        try:
            validate_slug(value)
        except ValidationError:
            errors.add(
                where,
                _('%(f)s "%(v)s" は半角英数字・ハイフン・下線で指定してください')
                % {"f": name, "v": value},
            )


def _check_coordinate(
    errors: _Errors, where: str, rec: dict, name: str, limit: float, required: bool
) -> None:
    value = rec.get(name)
    if value is None:
        if required:
            errors.add(where, _("%(f)s がありません") % {"f": name})
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors.add(where, _("%(f)s %(v)r は数値で指定してください") % {"f": name, "v": value})
    elif not -limit <= value <= limit:
        errors.add(
            where,
            _("%(f)s %(v)s が範囲外です（-%(l)s〜%(l)s）") % {"f": name, "v": value, "l": limit},
        )


def _check_choice(
    errors: _Errors, where: str, rec: dict, name: str, choices: Iterable[str], what: str
) -> None:
    value = rec.get(name)
    allowed = list(choices)
    if value is None:
        errors.add(where, _("%(f)s がありません") % {"f": name})
    elif value not in allowed:
        errors.add(
            where,
            _('%(f)s "%(v)s" は不明な%(what)sです（%(allowed)s）')
            % {"f": name, "v": value, "what": what, "allowed": ", ".join(allowed)},
        )


def _check_bool(errors: _Errors, where: str, rec: dict, name: str) -> None:
    if name in rec and not isinstance(rec[name], bool):
        errors.add(where, _("%(f)s は true か false で指定してください") % {"f": name})


def _records(data: dict, section: str, errors: _Errors) -> list[tuple[int, str, dict]]:
    """(index, locator, record) for the section's well-formed records."""
    items = data.get(section, [])
    if items is None:
        return []
    if not isinstance(items, list):
        errors.add(section, _("配列で指定してください"))
        return []
    required, optional = _KEYS[section]
    out = []
    for index, rec in enumerate(items):
        where = _where(section, index, rec)
        if not isinstance(rec, dict):
            errors.add(where, _("オブジェクトで指定してください"))
            continue
        unknown = sorted(set(rec) - required - optional)
        if unknown:
            errors.add(where, _("不明な項目があります: %(keys)s") % {"keys": ", ".join(unknown)})
        out.append((index, where, rec))
    return out


def _duplicates(
    errors: _Errors, records: list[tuple[int, str, dict]], key: str, label: str | None = None
) -> None:
    seen: dict[Any, str] = {}
    for _index, where, rec in records:
        value = rec.get(key)
        if not isinstance(value, str) or not value:
            continue
        if value in seen:
            errors.add(
                where,
                _('%(f)s "%(v)s" が重複しています（%(other)s と同じ）')
                % {"f": label or key, "v": value, "other": seen[value]},
            )
        else:
            seen[value] = where.split(" ")[0]


def _validate(data: Any) -> tuple[dict[str, list[tuple[int, str, dict]]], list[str]]:
    errors = _Errors()
    if not isinstance(data, dict):
        return {}, [_("ファイルの最上位は JSON オブジェクトにしてください")]
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        errors.add(
            _("最上位"),
            _("不明なキーがあります: %(keys)s（使えるのは %(allowed)s）")
            % {"keys": ", ".join(unknown), "allowed": ", ".join(SECTIONS)},
        )
    sections = {s: _records(data, s, errors) for s in SECTIONS}

    for _i, where, rec in sections["districts"]:
        _check_code(errors, where, rec)
        _check_text(errors, where, rec, "name", 100, required=True)
        _check_coordinate(errors, where, rec, "lat", 90, required=True)
        _check_coordinate(errors, where, rec, "lng", 180, required=True)
        if rec.get("parent") is not None:
            _check_code(errors, where, rec, "parent")
    for _i, where, rec in sections["agencies"]:
        _check_code(errors, where, rec)
        _check_text(errors, where, rec, "name", 200, required=True)
        _check_choice(errors, where, rec, "kind", AgencyKind.values, _("種別"))
        _check_text(errors, where, rec, "lineworks_channel_id", 128, required=False)
        _check_bool(errors, where, rec, "active")
        _check_text(errors, where, rec, "lineworks_group_id", 128, required=False)
        _check_text(errors, where, rec, "lineworks_orgunit_id", 128, required=False)
        _check_bool(errors, where, rec, "external_tenant")
        _check_text(errors, where, rec, "contact_email", 254, required=False)
        if isinstance(rec.get("contact_email"), str) and rec["contact_email"]:
            try:
                validate_email(rec["contact_email"])
            except ValidationError:
                errors.add(where, _("contact_email はメールアドレスで指定してください"))
    for _i, where, rec in sections["facilities"]:
        _check_code(errors, where, rec)
        _check_text(errors, where, rec, "name", 200, required=True)
        _check_choice(errors, where, rec, "kind", FacilityKind.values, _("種別"))
        _check_text(errors, where, rec, "agency", 64, required=True)
        _check_coordinate(errors, where, rec, "lat", 90, required=False)
        _check_coordinate(errors, where, rec, "lng", 180, required=False)
        if (rec.get("lat") is None) != (rec.get("lng") is None):
            errors.add(where, _("lat と lng は両方指定してください"))
        capacity = rec.get("capacity")
        if capacity is not None and (
            isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0
        ):
            errors.add(where, _("capacity は0以上の整数で指定してください"))
        _check_text(errors, where, rec, "district", 64, required=False)
        _check_bool(errors, where, rec, "active")
    username_validator = UnicodeUsernameValidator()
    for _i, where, rec in sections["members"]:
        _check_text(errors, where, rec, "username", 150, required=True)
        username = rec.get("username")
        if isinstance(username, str) and username.strip():
            try:
                username_validator(username)
            except ValidationError:
                errors.add(
                    where,
                    _('username "%(v)s" に使えない文字があります（英数字と @ . + - _）')
                    % {"v": username},
                )
        _check_text(errors, where, rec, "name", 200, required=False)
        _check_choice(errors, where, rec, "role", Role.values, _("役割"))
        # Auditors read everything and may belong to no agency; everyone else acts for one.
        needs_agency = rec.get("role") in (Role.HQ_OPERATOR, Role.AGENCY_REPORTER)
        _check_text(errors, where, rec, "agency", 64, required=needs_agency)
        _check_text(errors, where, rec, "lineworks_user_id", 128, required=False)
        if rec.get("lineworks_user_id") and not rec.get("agency"):
            errors.add(where, _("lineworks_user_id を登録するには agency が必要です"))

    for section in SECTIONS:
        key = "username" if section == "members" else "code"
        _duplicates(errors, sections[section], key)
    _duplicates(errors, sections["agencies"], "lineworks_channel_id")
    _duplicates(errors, sections["members"], "lineworks_user_id")
    _check_references(errors, sections)
    return sections, errors.items


def _str(rec: dict, key: str) -> str | None:
    value = rec.get(key)
    return value if isinstance(value, str) and value else None


def _check_references(errors: _Errors, sections: dict[str, list[tuple[int, str, dict]]]) -> None:
    """Cross-record checks against the final state (the file applied over the database).
    Malformed values were reported already and are skipped here."""
    agency_codes = {_str(r, "code") for _i, _w, r in sections["agencies"]}
    agency_codes |= set(Agency.objects.values_list("code", flat=True))
    for section in ("facilities", "members"):
        for _i, where, rec in sections[section]:
            code = _str(rec, "agency")
            if code and code not in agency_codes:
                errors.add(where, _('agency "%(v)s" が見つかりません') % {"v": code})

    parents: dict[str | None, str | None] = dict(
        District.objects.values_list("code", "parent__code")
    )
    for _i, _w, rec in sections["districts"]:
        code = _str(rec, "code")
        parents[code] = _str(rec, "parent") if "parent" in rec else parents.get(code)
    for _i, where, rec in sections["facilities"]:
        code = _str(rec, "district")
        if code and code not in parents:
            errors.add(where, _('district "%(v)s" が見つかりません') % {"v": code})
    for _i, where, rec in sections["districts"]:
        parent = _str(rec, "parent")
        if not parent:
            continue
        if parent not in parents:
            errors.add(where, _('parent "%(v)s" が見つかりません') % {"v": parent})
            continue
        seen = {_str(rec, "code")}
        while parent:
            if parent in seen:
                errors.add(where, _("parent をたどると循環しています"))
                break
            seen.add(parent)
            parent = parents.get(parent)

    # LINE WORKS ids identify who is talking: each may belong to one record only. Records the
    # file does not mention (or whose id it leaves alone) keep their ids, so a clash with one
    # of them is an error.
    keeps = {_str(r, "code") for _i, _w, r in sections["agencies"] if "lineworks_channel_id" in r}
    taken = {
        channel: code
        for code, channel in Agency.objects.exclude(lineworks_channel_id="")
        .exclude(code__in=[c for c in keeps if c])
        .values_list("code", "lineworks_channel_id")
    }
    for _i, where, rec in sections["agencies"]:
        channel = _str(rec, "lineworks_channel_id")
        if channel and channel in taken and taken[channel] != _str(rec, "code"):
            errors.add(
                where,
                _('lineworks_channel_id "%(v)s" は既に別の機関（%(other)s）が使っています')
                % {"v": channel, "other": taken[channel]},
            )
    keeps = {
        _str(r, "username")
        for _i, _w, r in sections["members"]
        if "lineworks_user_id" in r and _str(r, "agency")
    }
    taken = {
        lw_id: username
        for username, lw_id in Member.objects.exclude(lineworks_user_id="")
        .exclude(user__username__in=[u for u in keeps if u])
        .values_list("user__username", "lineworks_user_id")
    }
    for _i, where, rec in sections["members"]:
        lw_id = _str(rec, "lineworks_user_id")
        if lw_id and lw_id in taken and taken[lw_id] != _str(rec, "username"):
            errors.add(
                where,
                _('lineworks_user_id "%(v)s" は既に別のメンバー（%(other)s）が使っています')
                % {"v": lw_id, "other": taken[lw_id]},
            )


# --- Writing --------------------------------------------------------------------------------


def _apply(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _upsert(model: Any, code: str, values: dict[str, Any], counts: SectionCounts) -> Any:
    obj = model.objects.filter(code=code).first()
    if obj is None:
        obj = model.objects.create(code=code, **values)
        counts.created += 1
    elif _apply(obj, values):
        obj.save()
        counts.updated += 1
    else:
        counts.unchanged += 1
    return obj


def _lineworks_ids(records: list[tuple[int, str, dict]], key: str, id_field: str) -> dict:
    """The LINE WORKS id each record ends up with ("" clears it); records without the key
    keep theirs and are left out."""
    return {r[key]: r[id_field] or "" for _i, _w, r in records if id_field in r}


def _release_ids(model: Any, field_name: str, final: dict[str, str], key_field: str) -> None:
    """Blank the LINE WORKS ids the file moves away from a record first, so swapping ids
    between two records does not trip the unique constraint halfway through."""
    rows = model.objects.exclude(**{field_name: ""}).filter(**{f"{key_field}__in": list(final)})
    for pk, key, current in rows.values_list("pk", key_field, field_name):
        if final[key] != current:
            model.objects.filter(pk=pk).update(**{field_name: ""})


def _write(sections: dict[str, list[tuple[int, str, dict]]], result: ImportResult) -> None:
    counts = result.counts
    # Districts first (facilities point at them), parents in a second pass: a parent may come
    # later in the file than its children.
    status: dict[str, str] = {}
    for _i, _w, rec in sections["districts"]:
        values = {"name": rec["name"].strip(), "lat": float(rec["lat"]), "lng": float(rec["lng"])}
        district = District.objects.filter(code=rec["code"]).first()
        if district is None:
            District.objects.create(code=rec["code"], **values)
            status[rec["code"]] = "created"
        elif _apply(district, values):
            district.save()
            status[rec["code"]] = "updated"
        else:
            status[rec["code"]] = "unchanged"
    by_code = {d.code: d for d in District.objects.all()}
    for _i, _w, rec in sections["districts"]:
        if "parent" not in rec:
            continue
        district = by_code[rec["code"]]
        parent = by_code[rec["parent"]] if rec["parent"] else None
        if district.parent_id != (parent.pk if parent else None):
            district.parent = parent
            district.save(update_fields=["parent"])
            if status[rec["code"]] == "unchanged":
                status[rec["code"]] = "updated"
    for outcome in status.values():
        setattr(counts["districts"], outcome, getattr(counts["districts"], outcome) + 1)

    final_channels = _lineworks_ids(sections["agencies"], "code", "lineworks_channel_id")
    _release_ids(Agency, "lineworks_channel_id", final_channels, "code")
    for _i, _w, rec in sections["agencies"]:
        values: dict[str, Any] = {"name": rec["name"].strip(), "kind": rec["kind"]}
        if rec["code"] in final_channels:
            values["lineworks_channel_id"] = final_channels[rec["code"]]
        if "active" in rec:
            values["active"] = rec["active"]
        for name in ("lineworks_group_id", "lineworks_orgunit_id", "contact_email"):
            if name in rec:
                values[name] = (rec[name] or "").strip()
        if "external_tenant" in rec:
            values["external_tenant"] = rec["external_tenant"]
        _upsert(Agency, rec["code"], values, counts["agencies"])

    agencies = {a.code: a for a in Agency.objects.all()}
    for _i, _w, rec in sections["facilities"]:
        values = {
            "name": rec["name"].strip(),
            "kind": rec["kind"],
            "agency": agencies[rec["agency"]],
        }
        for name in ("lat", "lng"):
            if name in rec:
                values[name] = None if rec[name] is None else float(rec[name])
        if "capacity" in rec:
            values["capacity"] = rec["capacity"]
        if "district" in rec:
            values["district"] = by_code[rec["district"]] if rec["district"] else None
        if "active" in rec:
            values["active"] = rec["active"]
        _upsert(Facility, rec["code"], values, counts["facilities"])

    _write_members(sections["members"], agencies, result)


def _write_members(
    records: list[tuple[int, str, dict]], agencies: dict[str, Agency], result: ImportResult
) -> None:
    user_model = get_user_model()
    counts = result.counts["members"]
    role_groups = {role: Group.objects.get_or_create(name=role)[0] for role in Role.values}
    final_ids = _lineworks_ids(records, "username", "lineworks_user_id")
    _release_ids(Member, "lineworks_user_id", final_ids, "user__username")
    for _i, _w, rec in records:
        username = rec["username"]
        changed = False
        user = user_model.objects.filter(username=username).first()
        created = user is None
        if created:
            # People sign in through a password reset or LINE WORKS, never a shared password.
            user = user_model.objects.create_user(username=username, password=None)
            result.created_usernames.append(username)
        wanted = role_groups[rec["role"]]
        current = set(user.groups.filter(name__in=Role.values).values_list("pk", flat=True))
        if current != {wanted.pk}:
            user.groups.remove(*[g for g in role_groups.values() if g.pk in current])
            user.groups.add(wanted)
            changed = True
        if rec.get("agency"):
            member = Member.objects.filter(user=user).first()
            values: dict[str, Any] = {"agency": agencies[rec["agency"]]}
            if "name" in rec:
                values["display_name"] = (rec["name"] or "").strip()
            if username in final_ids:
                values["lineworks_user_id"] = final_ids[username]
            if member is None:
                Member.objects.create(user=user, **values)
                changed = True
            elif _apply(member, values):
                member.save()
                changed = True
        if created:
            counts.created += 1
        elif changed:
            counts.updated += 1
        else:
            counts.unchanged += 1


def directory_import(
    data: Any, *, actor: Any | None = None, source: str = "", dry_run: bool = False
) -> ImportResult:
    """Validate the whole document, then create or update every record in one transaction.

    Raises DirectoryImportError (nothing written) when any record is bad. Safe to call twice:
    the second call with the same document changes nothing and writes no audit event.
    ``dry_run`` validates and counts, then rolls back.
    """
    sections, errors = _validate(data)
    if errors:
        if len(errors) > _MAX_ERRORS:
            more = len(errors) - _MAX_ERRORS
            errors = errors[:_MAX_ERRORS] + [_("…ほか %(n)d 件") % {"n": more}]
        raise DirectoryImportError(errors)
    result = ImportResult(dry_run=dry_run)
    with transaction.atomic():
        _write(sections, result)
        if result.changed and not dry_run:
            audit_record(
                actor=actor,
                action="directory.import",
                object_type="agencies.directory",
                payload={
                    "source": source,
                    "sha256": chain.digest(data),
                    "counts": result.as_dict(),
                },
            )
        if dry_run:
            transaction.set_rollback(True)
    return result


# --- Directory sync (LINE WORKS Directory API → members) ------------------------------------


@dataclass
class SyncCounts:
    added: int = 0
    changed: int = 0
    deactivated: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "changed": self.changed,
            "deactivated": self.deactivated,
            "deleted": self.deleted,
        }


def _current_role(user: Any) -> str:
    roles_held = sorted(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    return roles_held[0] if roles_held else Role.AGENCY_REPORTER


def _has_reports(user: Any) -> bool:
    from reports.models import Report, ReportRevision

    return (
        Report.objects.filter(author=user).exists()
        or ReportRevision.objects.filter(author=user).exists()
    )


def directory_sync_apply(
    *,
    additions: list[dict[str, Any]],
    changes: list[dict[str, Any]],
    departures: list[dict[str, Any]],
    actor: Any | None = None,
    source: str = "lineworks-directory",
) -> SyncCounts:
    """Apply a directory sync plan (lineworks.directory) in one transaction, with one audit
    event naming every person added, changed or gone.

    * ``additions``: ``{"username", "name", "agency", "lineworks_user_id", "email"}``; new
      users are agency reporters without a password (they sign in through LINE WORKS or a
      reset) — HQ grants other roles deliberately.
    * ``changes``: ``{"username", "name", "agency", "lineworks_user_id", "reactivate"}``;
      the user's role is kept.
    * ``departures``: ``{"username", "lineworks_user_id", "reason"}``. A member with reports
      (or anything else that refers to the user) is deactivated, never deleted, so the
      record of who reported stays whole; so is a suspended one (a suspension may be
      lifted); anyone else is deleted.

    The members are validated like an import (unknown agency, a LINE WORKS id held by
    someone else): any problem raises DirectoryImportError and nothing is written. Safe to
    call twice with the same plan: the second call finds nothing to change.
    """
    user_model = get_user_model()
    records: list[dict[str, Any]] = []
    for item in additions:
        records.append(
            {
                "username": item["username"],
                "name": item.get("name") or "",
                "agency": item["agency"],
                "role": Role.AGENCY_REPORTER,
                "lineworks_user_id": item["lineworks_user_id"],
            }
        )
    existing = {
        u.username: u
        for u in user_model.objects.filter(username__in=[c["username"] for c in changes])
    }
    for item in changes:
        user = existing.get(item["username"])
        if user is None:
            raise DirectoryImportError(
                [_("メンバー %(u)s が見つかりません") % {"u": item["username"]}]
            )
        records.append(
            {
                "username": item["username"],
                "name": item.get("name") or "",
                "agency": item["agency"],
                "role": _current_role(user),
                "lineworks_user_id": item["lineworks_user_id"],
            }
        )
    sections, errors = _validate({"members": records})
    if errors:
        raise DirectoryImportError(errors)
    counts = SyncCounts()
    now = timezone.now()
    with transaction.atomic():
        result = ImportResult()
        agencies = {a.code: a for a in Agency.objects.all()}
        _write_members(sections["members"], agencies, result)
        counts.added = result.counts["members"].created
        counts.changed = len(changes)
        emails = {i["username"]: (i.get("email") or "").strip()[:254] for i in additions}
        for user in user_model.objects.filter(username__in=list(emails)):
            if emails[user.username] and user.email != emails[user.username]:
                user.email = emails[user.username]
                user.save(update_fields=["email"])
        for item in changes:
            if item.get("reactivate"):
                user_model.objects.filter(username=item["username"]).update(is_active=True)
                Member.objects.filter(user__username=item["username"]).update(departed_at=None)
        outcomes: dict[str, str] = {}
        for item in departures:
            member = (
                Member.objects.select_for_update()
                .select_related("user")
                .filter(user__username=item["username"])
                .first()
            )
            if member is None or member.departed_at is not None:
                continue
            user = member.user
            # A suspension may be lifted: keep the account. Someone gone for good who never
            # reported leaves nothing worth keeping.
            if item.get("reason") != "suspended" and not _has_reports(user):
                try:
                    with transaction.atomic():
                        member.delete()
                        user.delete()
                except ProtectedError:
                    pass  # someone refers to this user (a notice 了解, an audit event...)
                else:
                    counts.deleted += 1
                    outcomes[item["username"]] = "deleted"
                    continue
            member.departed_at = now
            member.save(update_fields=["departed_at"])
            user.is_active = False
            user.save(update_fields=["is_active"])
            counts.deactivated += 1
            outcomes[item["username"]] = "deactivated"
        if counts.added or counts.changed or outcomes:
            audit_record(
                actor=actor,
                action="directory.sync",
                object_type="agencies.directory",
                payload={
                    "source": source,
                    "counts": counts.as_dict(),
                    "additions": [
                        {k: a.get(k) for k in ("username", "agency", "lineworks_user_id")}
                        for a in additions
                    ],
                    "changes": [
                        {k: c.get(k) for k in ("username", "agency", "lineworks_user_id", "fields")}
                        for c in changes
                    ],
                    "departures": [
                        {
                            "username": d["username"],
                            "lineworks_user_id": d.get("lineworks_user_id", ""),
                            "reason": d.get("reason", ""),
                            "outcome": outcomes.get(d["username"], "skipped"),
                        }
                        for d in departures
                    ],
                },
            )
    return counts


# --- single members (HQ's page of unregistered LINE WORKS senders) ------------------------------

# Roles a member created from a LINE WORKS sender may have: people who report. Auditors do
# not write in talk rooms.
MEMBER_ROLES = (Role.AGENCY_REPORTER, Role.HQ_OPERATOR)


class WouldReplace(ValidationError):
    """The member already has another LINE WORKS id: replacing it needs ``replace=True``."""

    def __init__(self, member: Member, current: str, new: str):
        self.member, self.current, self.new = member, current, new
        super().__init__(
            _(
                "%(m)s にはすでに LINE WORKS ID「%(old)s」が登録されています。置き換えると、"
                "「%(old)s」からのメッセージは未登録として保留されます。"
            )
            % {"m": member, "old": current},
            code="would_replace",
        )


def _check_lineworks_id(user_id: str, *, exclude: int | None = None) -> str:
    user_id = (user_id or "").strip()
    if not user_id:
        raise ValidationError({"lineworks_user_id": _("LINE WORKS ユーザーIDがありません。")})
    if len(user_id) > 128 or "\x00" in user_id:
        raise ValidationError({"lineworks_user_id": _("LINE WORKS ユーザーIDが正しくありません。")})
    taken = Member.objects.filter(lineworks_user_id=user_id).exclude(pk=exclude).first()
    if taken is not None:
        raise ValidationError(
            {"lineworks_user_id": _("このIDはすでに %(m)s に割り当てられています。") % {"m": taken}}
        )
    return user_id


def member_set_lineworks_id(
    *, member: Member, lineworks_user_id: str, actor: Any, replace: bool = False, via: str = ""
) -> str:
    """Give a member a LINE WORKS user id; returns the id it had before ("" for none).

    A member who already has a different id keeps it unless ``replace`` is set: messages from
    the old id would otherwise silently be held as unregistered (WouldReplace says what would
    be replaced). Audited as ``directory.member_lineworks_id``."""
    with transaction.atomic():
        locked = Member.objects.select_for_update().select_related("agency").get(pk=member.pk)
        user_id = _check_lineworks_id(lineworks_user_id, exclude=locked.pk)
        previous = locked.lineworks_user_id
        if previous == user_id:
            return previous
        if previous and not replace:
            raise WouldReplace(locked, previous, user_id)
        locked.lineworks_user_id = user_id
        locked.save(update_fields=["lineworks_user_id"])
        audit_record(
            actor=actor,
            action="directory.member_lineworks_id",
            obj=locked,
            payload={"lineworks_user_id": user_id, "previous": previous, "via": via},
        )
    member.lineworks_user_id = user_id
    return previous


def member_create(
    *,
    display_name: str,
    agency: Agency,
    role: str,
    actor: Any,
    lineworks_user_id: str = "",
    username: str = "",
    password: str = "",
    via: str = "",
) -> Member:
    """Create a person: a user in the role's group and their Member row, in one transaction,
    audited as ``directory.member_create`` (never with the password).

    Without ``password`` the user cannot sign in to the web (LINE WORKS only); with one, it
    must pass the password validators. Without ``username`` one is made from the LINE WORKS
    id. Raises ValidationError naming each bad field."""
    from django.contrib.auth.password_validation import validate_password

    errors: dict[str, list[str]] = {}
    name = (display_name or "").strip()
    if not name:
        errors["display_name"] = [_("氏名を入力してください。")]
    elif len(name) > 200:
        errors["display_name"] = [_("氏名は200文字以内で入力してください。")]
    if not agency.active:
        errors["agency"] = [_("この機関は無効になっています。")]
    if role not in MEMBER_ROLES:
        errors["role"] = [_("役割は機関の報告者か本部オペレーターを選んでください。")]
    user_id = ""
    if lineworks_user_id:
        try:
            user_id = _check_lineworks_id(lineworks_user_id)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    user_model = get_user_model()
    username = (username or "").strip() or _username_for(user_id or name)
    valid_name = len(username) <= 150
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        valid_name = False
    if not valid_name:
        errors["username"] = [_("ユーザー名は150文字以内の英数字と @ . + - _ で入力してください。")]
    elif user_model.objects.filter(username=username).exists():
        errors["username"] = [_("このユーザー名はすでに使われています。")]
    if password:
        try:
            validate_password(password, user_model(username=username))
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a concurrent duplicate is a form error
                user = user_model.objects.create_user(username=username, password=password or None)
                member = Member.objects.create(
                    user=user, agency=agency, display_name=name, lineworks_user_id=user_id
                )
        except IntegrityError:
            raise ValidationError(
                {"username": [_("このユーザー名または LINE WORKS ID はすでに使われています。")]}
            ) from None
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        audit_record(
            actor=actor,
            action="directory.member_create",
            obj=member,
            payload={
                "username": username,
                "name": name,
                "agency": agency.code,
                "role": role,
                "lineworks_user_id": user_id,
                "web_login": bool(password),
                "via": via,
            },
        )
    return member


def _username_for(seed: str) -> str:
    """A free username from a LINE WORKS id (``lw-<id>``), for members without a web login."""
    base = re.sub(r"[^\w.@+-]", "-", seed, flags=re.ASCII).strip("-")[:100] or "member"
    if not base.startswith("lw-"):
        base = f"lw-{base}"
    user_model = get_user_model()
    candidate, n = base, 1
    while user_model.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate
