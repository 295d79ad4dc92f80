"""The ticket state machine: the one place where a ticket's status changes.

    received -> queued -> locating -> editing -> verifying -> publishing -> completed
    any open state -> failed; verifying -> rejected (the gate could not be met);
    received | queued | locating -> cancelled (cancelling stops before the model is touched);
    verifying -> editing (a retry with a stronger edit after a failed gate).

:func:`transition` checks the table, changes the row with a conditional ``UPDATE ... WHERE status =
<expected>`` (so two workers cannot both move the same ticket), appends the audit event, and arranges
the after-commit side effects (metrics, webhook). The Celery workers call it too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from rtbf.metrics import TICKET_TRANSITIONS
from service.models import Ticket, TicketEvent
from service.outbox import after_commit


class Status(StrEnum):
    received = "received"
    queued = "queued"
    locating = "locating"
    editing = "editing"
    verifying = "verifying"
    publishing = "publishing"
    completed = "completed"
    failed = "failed"
    rejected = "rejected"
    cancelled = "cancelled"


TERMINAL: frozenset[Status] = frozenset({Status.completed, Status.failed, Status.rejected, Status.cancelled})
OPEN: frozenset[Status] = frozenset(Status) - TERMINAL
CANCELLABLE: frozenset[Status] = frozenset({Status.received, Status.queued, Status.locating})

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.received: frozenset({Status.queued, Status.cancelled, Status.failed}),
    Status.queued: frozenset({Status.locating, Status.cancelled, Status.failed}),
    Status.locating: frozenset({Status.editing, Status.cancelled, Status.failed}),
    Status.editing: frozenset({Status.verifying, Status.failed}),
    Status.verifying: frozenset({Status.publishing, Status.rejected, Status.editing, Status.failed}),
    Status.publishing: frozenset({Status.completed, Status.failed}),
    Status.completed: frozenset(),
    Status.failed: frozenset(),
    Status.rejected: frozenset(),
    Status.cancelled: frozenset(),
}


class TransitionError(Exception):
    """A change the state machine forbids, or a ticket that moved underneath the caller."""

    def __init__(self, ticket_id: object, from_status: str, to_status: str, message: str) -> None:
        super().__init__(message)
        self.ticket_id = ticket_id
        self.from_status = from_status
        self.to_status = to_status


def is_allowed(from_status: str, to_status: str) -> bool:
    return Status(to_status) in ALLOWED[Status(from_status)]


def _now() -> datetime:
    return datetime.now(UTC)


def record_creation(session: Session, ticket: Ticket, *, actor: str, reason: str = "ticket received") -> TicketEvent:
    """The first audit event of a new ticket (from nothing to ``received``); the ticket must be flushed."""
    event = TicketEvent(
        ticket_id=ticket.id, kind="transition", from_status=None, to_status=Status.received,
        stage=None, actor=actor, reason=reason, details={}, created_at=ticket.received_at,
    )
    session.add(event)
    session.flush()
    _after_change(session, ticket, event)
    return event


def transition(
    session: Session,
    ticket: Ticket,
    to_status: Status | str,
    *,
    actor: str,
    reason: str,
    stage: str | None = None,
    details: dict[str, Any] | None = None,
) -> TicketEvent:
    """Move ``ticket`` to ``to_status`` and append the audit event; the caller commits.

    Raises TransitionError when the table forbids the change or when the ticket's stored status is no
    longer the one the caller saw (a concurrent change): re-load and decide again.
    """
    target = Status(to_status)
    current = Status(ticket.status)
    if target not in ALLOWED[current]:
        raise TransitionError(
            ticket.id, current, target, f"a ticket cannot go from {current.value} to {target.value}"
        )
    now = _now()
    closed_at = now if target in TERMINAL else None
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == current.value)
        .values(status=target.value, stage=stage, updated_at=now, closed_at=closed_at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise TransitionError(
            ticket.id, current, target, f"the ticket is no longer {current.value}; it changed concurrently"
        )
    for attr, value in (("status", target.value), ("stage", stage), ("updated_at", now), ("closed_at", closed_at)):
        set_committed_value(ticket, attr, value)
    event = TicketEvent(
        ticket_id=ticket.id, kind="transition", from_status=current.value, to_status=target.value,
        stage=stage, actor=actor, reason=reason, details=details or {}, created_at=now,
    )
    session.add(event)
    session.flush()
    after_commit(session, lambda: TICKET_TRANSITIONS.labels(current.value, target.value).inc())
    _after_change(session, ticket, event)
    return event


def record_extension(
    session: Session, ticket: Ticket, *, actor: str, reason: str, old_due: datetime, new_due: datetime
) -> TicketEvent:
    """Audit a deadline extension (the status does not change)."""
    event = TicketEvent(
        ticket_id=ticket.id, kind="extension", from_status=ticket.status, to_status=ticket.status,
        stage=ticket.stage, actor=actor, reason=reason,
        details={"due_before": old_due.isoformat(), "due_after": new_due.isoformat()}, created_at=_now(),
    )
    session.add(event)
    session.flush()
    _after_change(session, ticket, event)
    return event


def _after_change(session: Session, ticket: Ticket, event: TicketEvent) -> None:
    from service.webhooks.service import (
        enqueue_for_event,  # webhooks depend on events, not the reverse
    )

    enqueue_for_event(session, ticket, event)
