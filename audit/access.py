"""Who may use the auditor's workspace: auditors, and HQ (which reads everything anyway)."""

from __future__ import annotations

from typing import Any

from agencies import roles


def can_audit(user: Any) -> bool:
    return roles.is_auditor(user) or roles.is_hq(user)
