"""Roles of the workstation's users and what each may do."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["surgeon", "researcher", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

Permission = Literal["read", "write_case", "plan", "run", "cohort", "manage_users"]

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "surgeon": frozenset({"read", "write_case", "plan", "run", "cohort"}),
    "researcher": frozenset({"read", "run", "cohort"}),
    "admin": frozenset({"read", "write_case", "plan", "run", "cohort", "manage_users"}),
}
"""A surgeon makes cases and plans; a researcher reads the team's cases, re-runs them and runs
cohorts, but changes no case, label map or plan; an admin also manages the users."""


def allowed(role: Role, permission: Permission) -> bool:
    """Whether ``role`` grants ``permission``."""
    return permission in PERMISSIONS[role]
