"""Role-based access as ARM checks it: role definitions (actions and notActions with wildcards) and
assignments at a scope (a subscription, a resource group, a resource). Pure: no I/O.

A principal may perform an action over a scope when one of its assignments has a scope equal to
or above it (`/subscriptions/s` covers `/subscriptions/s/resourceGroups/rg/...`), and that
assignment's role has an action pattern that matches and no notAction that matches. Patterns
compare case-insensitively and `*` matches any run of characters, `/` included, as in Azure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Role:
    name: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()

    def permits(self, action: str) -> bool:
        return (any(_pattern(p).fullmatch(action) for p in self.actions)
                and not any(_pattern(p).fullmatch(action) for p in self.not_actions))


# Azure's built-in roles, their actions and notActions as `az role definition list --name NAME` shows them
# (Microsoft's "Azure built-in roles" page; the Authorization and Blueprint notActions of Contributor).
BUILT_IN_ROLES: dict[str, Role] = {r.name.lower(): r for r in (
    Role("Owner", ("*",)),
    Role("Contributor", ("*",), ("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                                 "Microsoft.Authorization/elevateAccess/Action",
                                 "Microsoft.Blueprint/blueprintAssignments/write",
                                 "Microsoft.Blueprint/blueprintAssignments/delete",
                                 "Microsoft.Compute/galleries/share/action",
                                 "Microsoft.Subscription/cancel/action", "Microsoft.Subscription/enable/action")),
    Role("Reader", ("*/read",)),
)}


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE)


def normalize_scope(scope: str) -> str:
    """A scope as compared: lower case, one leading slash, no trailing slash, no empty segments."""
    return "/" + "/".join(s for s in scope.lower().split("/") if s)


def covers(assigned: str, requested: str) -> bool:
    """Whether an assignment at `assigned` reaches `requested` (both normalized)."""
    return requested == assigned or requested.startswith(assigned + "/") or assigned == "/"


@dataclass(frozen=True)
class Assignment:
    role: Role
    scope: str  # normalized (normalize_scope)

    @property
    def subscription(self) -> str | None:
        parts = self.scope.split("/")
        return parts[2] if len(parts) > 2 and parts[1] == "subscriptions" else None

    def permits(self, action: str, scope: str) -> bool:
        return covers(self.scope, scope) and self.role.permits(action)


def permitted(assignments: tuple[Assignment, ...], action: str, scope: str) -> bool:
    s = normalize_scope(scope)
    return any(a.permits(action, s) for a in assignments)


__all__ = ["BUILT_IN_ROLES", "Assignment", "Role", "covers", "normalize_scope", "permitted"]
