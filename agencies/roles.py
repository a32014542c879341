"""Who may do what (design.md §8). Every view and API endpoint asks these helpers.

The role is the user's Django group; the agency is the user's Member row. Superusers
administer and count as HQ operators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agencies.models import Agency, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    AnyUser = AbstractBaseUser | AnonymousUser


def _groups(user: AnyUser) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_kdr_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._kdr_groups = cached  # type: ignore[union-attr]
    return cached


def is_hq(user: AnyUser) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or Role.HQ_OPERATOR in _groups(user)))


def is_auditor(user: AnyUser) -> bool:
    return Role.AUDITOR in _groups(user)


def is_reporter(user: AnyUser) -> bool:
    return Role.AGENCY_REPORTER in _groups(user) and user_agency(user) is not None


def user_agency(user: AnyUser) -> Agency | None:
    """The agency the user reports for, or None (auditors, users without a Member row)."""
    if not user.is_authenticated:
        return None
    if not hasattr(user, "_kdr_agency"):
        # _meta, not type(user): request.user is a SimpleLazyObject around the user.
        member = (
            user._meta.model.objects.filter(pk=user.pk)
            .values_list("member__agency_id", flat=True)
            .first()
        )
        user._kdr_agency = Agency.objects.filter(pk=member).first() if member else None  # type: ignore[union-attr]
    return user._kdr_agency  # type: ignore[union-attr]


def can_read_all(user: AnyUser) -> bool:
    """HQ and auditors read every agency's reports; reporters only their own agency's."""
    return is_hq(user) or is_auditor(user)


def can_report_for(user: AnyUser, agency: Agency) -> bool:
    """Reporters act for their own agency only; HQ may record on behalf of any agency."""
    if is_auditor(user) and not is_hq(user):
        return False
    if is_hq(user):
        return True
    own = user_agency(user)
    return is_reporter(user) and own is not None and own.pk == agency.pk


def can_view_situation(user: AnyUser) -> bool:
    return is_hq(user) or is_auditor(user) or is_reporter(user)


def role_label(user: AnyUser) -> str:
    if is_hq(user):
        return str(Role.HQ_OPERATOR.label)
    if is_auditor(user):
        return str(Role.AUDITOR.label)
    if is_reporter(user):
        return str(Role.AGENCY_REPORTER.label)
    return ""
