"""Queries on tickets, their audit events and their PII hashes (every ticket SQL statement lives here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, not_, select, tuple_, update
from sqlalchemy.orm import Session

from service.models import RegisteredModel, Ticket, TicketEvent, TicketPiiHash
from service.tickets.states import OPEN, Status


@dataclass(frozen=True)
class TicketFilters:
    statuses: list[Status] | None = None
    model: str | None = None
    overdue: bool | None = None
    external_ref: str | None = None


def add_ticket(session: Session, ticket: Ticket, hashes: list[str]) -> Ticket:
    session.add(ticket)
    session.flush()
    session.add_all(TicketPiiHash(ticket_id=ticket.id, pii_hash=h) for h in sorted(set(hashes)))
    session.flush()
    return ticket


def get(session: Session, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.id == ticket_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update(of=Ticket)
    return session.scalars(stmt).unique().one_or_none()


def get_for_tenant(session: Session, tenant_id: uuid.UUID, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket | None:
    ticket = get(session, ticket_id, for_update=for_update)
    return ticket if ticket is not None and ticket.tenant_id == tenant_id else None


def get_by_idempotency_key(session: Session, tenant_id: uuid.UUID, key: str) -> Ticket | None:
    return session.scalars(
        select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.idempotency_key == key)
    ).unique().one_or_none()


def events(session: Session, ticket_id: uuid.UUID) -> list[TicketEvent]:
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)))


def possible_duplicates(session: Session, ticket: Ticket, limit: int = 20) -> list[uuid.UUID]:
    """Other tickets of the same tenant that share at least one salted PII hash with this one."""
    mine = select(TicketPiiHash.pii_hash).where(TicketPiiHash.ticket_id == ticket.id)
    stmt = (
        select(Ticket.id)
        .join(TicketPiiHash, TicketPiiHash.ticket_id == Ticket.id)
        .where(Ticket.tenant_id == ticket.tenant_id, Ticket.id != ticket.id, TicketPiiHash.pii_hash.in_(mine))
        .group_by(Ticket.id, Ticket.received_at)
        .order_by(Ticket.received_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def page(
    session: Session,
    tenant_id: uuid.UUID,
    filters: TicketFilters,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    now: datetime,
) -> list[Ticket]:
    """Newest first, keyset-paginated on (received_at, id); fetches ``limit + 1`` to detect a next page."""
    stmt = select(Ticket).where(Ticket.tenant_id == tenant_id)
    if filters.statuses:
        stmt = stmt.where(Ticket.status.in_([s.value for s in filters.statuses]))
    if filters.model is not None:
        stmt = stmt.join(RegisteredModel, RegisteredModel.id == Ticket.model_id).where(RegisteredModel.name == filters.model)
    if filters.external_ref is not None:
        stmt = stmt.where(Ticket.external_ref == filters.external_ref)
    if filters.overdue is not None:
        is_overdue = and_(Ticket.status.in_([s.value for s in OPEN]), Ticket.due_at < now)
        stmt = stmt.where(is_overdue if filters.overdue else not_(is_overdue))
    if after is not None:
        stmt = stmt.where(tuple_(Ticket.received_at, Ticket.id) < tuple_(*after))
    stmt = stmt.order_by(Ticket.received_at.desc(), Ticket.id.desc()).limit(limit + 1)
    return list(session.scalars(stmt).unique())


def move_due(session: Session, ticket: Ticket, new_due: datetime, now: datetime) -> bool:
    """Set the extended deadline once; False when the ticket was extended (or closed) concurrently."""
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.extended.is_(False), Ticket.status.in_([s.value for s in OPEN]))
        .values(due_at=new_due, extended=True, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        session.refresh(ticket)
        return True
    return False


def purge_expired_ciphertexts(session: Session, closed_before: datetime, now: datetime) -> int:
    """Erase the encrypted PII of tickets closed before ``closed_before``; returns how many were erased."""
    result = session.execute(
        update(Ticket)
        .where(Ticket.closed_at.is_not(None), Ticket.closed_at < closed_before, Ticket.pii_ciphertext.is_not(None))
        .values(pii_ciphertext=None, pii_key_id=None, pii_purged_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def stalled_queued(session: Session, older_than: datetime, limit: int = 500) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Ticket.id)
            .where(Ticket.status == Status.queued.value, Ticket.updated_at < older_than)
            .order_by(Ticket.updated_at)
            .limit(limit)
        )
    )


def count_by_status(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).tuples().all())


def count_overdue(session: Session, now: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.status.in_([s.value for s in OPEN]), Ticket.due_at < now)
    ) or 0

