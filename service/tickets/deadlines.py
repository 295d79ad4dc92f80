"""Legal deadlines of an erasure request.

GDPR Art. 12(3): answer within one month of receipt, extendable once by two further months.
CCPA (Cal. Civ. Code 1798.130): 45 days, extendable once by a further 45 days.
Other regimes: 30 days by default, no extension (a contractual deadline is not ours to move).
Calendar months are added with ``relativedelta`` (31 January + 1 month = 28/29 February).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from dateutil.relativedelta import relativedelta


class Jurisdiction(StrEnum):
    gdpr = "gdpr"
    ccpa = "ccpa"
    other = "other"


_INITIAL = {
    Jurisdiction.gdpr: relativedelta(months=1),
    Jurisdiction.ccpa: relativedelta(days=45),
    Jurisdiction.other: relativedelta(days=30),
}
_EXTENSION = {
    Jurisdiction.gdpr: relativedelta(months=2),
    Jurisdiction.ccpa: relativedelta(days=45),
}


def initial_due(jurisdiction: Jurisdiction | str, received_at: datetime) -> datetime:
    return received_at + _INITIAL[Jurisdiction(jurisdiction)]


def extension_of(jurisdiction: Jurisdiction | str) -> relativedelta | None:
    """How far one extension moves the deadline; None when the regime allows none."""
    return _EXTENSION.get(Jurisdiction(jurisdiction))


def days_left(due_at: datetime, now: datetime) -> int:
    """Whole days until the deadline (negative once overdue), rounding towards the deadline."""
    delta: timedelta = due_at - now
    return delta.days
