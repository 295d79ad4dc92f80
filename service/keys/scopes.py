"""API key scopes and what each one implies.

``admin`` (models, keys) implies everything; ``tickets:write`` (compliance portals) implies
``tickets:read`` so a portal can poll the tickets it filed; ``tickets:read`` is for legal teams.
All of them stay within the key's tenant.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    tickets_write = "tickets:write"
    tickets_read = "tickets:read"
    admin = "admin"


_IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.admin: frozenset(Scope),
    Scope.tickets_write: frozenset({Scope.tickets_write, Scope.tickets_read}),
    Scope.tickets_read: frozenset({Scope.tickets_read}),
}


def effective_scopes(granted: list[str] | set[str]) -> frozenset[Scope]:
    """Everything the granted scopes allow; unknown names (from an older schema) are ignored."""
    out: set[Scope] = set()
    for name in granted:
        try:
            out |= _IMPLIES[Scope(name)]
        except ValueError:
            continue
    return frozenset(out)
