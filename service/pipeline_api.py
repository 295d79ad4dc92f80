"""What the Celery workers use from the gateway's database: one import, documented entry points.

A worker handling ``rtbf.process_ticket(ticket_id)`` typically does::

    with session_scope() as s:
        ticket = load_ticket(s, ticket_id, for_update=True)
        if ticket.status != "queued": return            # someone else got there first
        if not acquire_lease(s, ticket.model_id, holder, seconds): retry later
        transition(s, ticket, "locating", actor="worker:...", reason="...", stage="depn")
    request = load_request(s, ticket)                   # decrypted ForgetRequest (the engine's REQ.json)
    base = get_alias(s, ticket.model_id)                # the version to edit (unless requested_version_id)
    ... locate / edit / verify, re-checking earlier_completed_requests(s, ticket.model_id) at the gate ...
    version = register_version(s, ticket.model_id, storage_uri=..., sha256=..., parent_id=base.id, ticket_ids=[...])
    set_alias(s, ticket.model_id, "current", version.id, actor=..., reason="published erasure of ticket ...")
    record_result(s, ticket, base_version_id=base.id, result_version_id=version.id, verification=..., evidence=...)
    transition(s, ticket, "completed", ...); release_lease(s, ticket.model_id, holder)

Every function takes the caller's session and never commits, so a worker groups them into transactions
as it needs; ``transition`` arranges webhooks and metrics to fire after the commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rtbf.request import ForgetRequest
from service import crypto
from service.db import session_scope
from service.models import ModelVersion, RegisteredModel, Ticket
from service.registry.repository import (
    CURRENT,
    acquire_lease,
    get_alias,
    get_lease,
    get_model,
    get_model_by_id,
    get_version,
    get_version_by_id,
    list_versions,
    release_lease,
    renew_lease,
    set_alias,
)
from service.registry.repository import add_version as register_version
from service.tickets import repository as tickets
from service.tickets.states import Status, TransitionError, transition

__all__ = [
    "CURRENT",
    "EarlierErasure",
    "PiiPurgedError",
    "Status",
    "TransitionError",
    "acquire_lease",
    "earlier_completed_requests",
    "get_alias",
    "get_lease",
    "get_model",
    "get_model_by_id",
    "get_version",
    "get_version_by_id",
    "list_versions",
    "load_request",
    "load_ticket",
    "model_of",
    "queued_tickets",
    "record_error",
    "record_result",
    "register_version",
    "release_lease",
    "renew_lease",
    "session_scope",
    "set_alias",
    "transition",
]


class PiiPurgedError(Exception):
    """The ticket's encrypted request was erased at the end of its retention period."""


@dataclass(frozen=True)
class EarlierErasure:
    """A completed erasure of the lineage: its request when still retained, else only its hashes."""

    ticket_id: uuid.UUID
    result_version: int | None
    request: ForgetRequest | None
    pii_hashes: list[dict[str, str]]


def load_ticket(session: Session, ticket_id: uuid.UUID | str, *, for_update: bool = False) -> Ticket | None:
    """The ticket row (any tenant), optionally locked ``FOR UPDATE`` for the rest of the transaction."""
    return tickets.get(session, uuid.UUID(str(ticket_id)), for_update=for_update)


def load_request(session: Session, ticket: Ticket) -> ForgetRequest:
    """Decrypt the ticket's ForgetRequest. Never log the result."""
    if ticket.pii_ciphertext is None or ticket.pii_key_id is None:
        raise PiiPurgedError(f"ticket {ticket.id} no longer holds its request (erased after retention)")
    plaintext = crypto.decrypt(
        crypto.Envelope(key_id=ticket.pii_key_id, ciphertext=ticket.pii_ciphertext), f"rtbf-ticket:{ticket.id}".encode()
    )
    return ForgetRequest.model_validate_json(plaintext)


def queued_tickets(session: Session, model_id: uuid.UUID, limit: int = 50) -> list[Ticket]:
    """Tickets of the lineage still waiting in ``queued``, oldest first (to batch them into one edit)."""
    stmt = (
        select(Ticket)
        .where(Ticket.model_id == model_id, Ticket.status == Status.queued.value)
        .order_by(Ticket.received_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Ticket)
    )
    return list(session.scalars(stmt).unique())


def record_result(
    session: Session,
    ticket: Ticket,
    *,
    base_version_id: uuid.UUID | None,
    result_version_id: uuid.UUID | None,
    verification: dict[str, Any],
    evidence: dict[str, Any] | None = None,
) -> None:
    """Store the outcome shown by GET /v1/tickets/{id} and the certificate: versions and the gate report.

    ``verification`` and ``evidence`` must hold hashes, never values (they are served to legal teams and
    kept after the ciphertext is purged).
    """
    ticket.base_version_id = base_version_id
    ticket.result_version_id = result_version_id
    ticket.verification = verification
    ticket.certificate = evidence
    session.flush()


def record_error(session: Session, ticket: Ticket, *, code: str, message: str, details: dict[str, Any] | None = None) -> None:
    """Store a PII-free error description (shown to the client) before moving to failed/rejected."""
    ticket.error = {"code": code, "message": message, **({"details": details} if details else {})}
    session.flush()


def earlier_completed_requests(
    session: Session, model_id: uuid.UUID, *, exclude: set[uuid.UUID] | None = None
) -> list[EarlierErasure]:
    """Every completed erasure of the lineage, oldest first, so the gate can re-check them after each edit."""
    stmt = (
        select(Ticket, ModelVersion.version)
        .outerjoin(ModelVersion, ModelVersion.id == Ticket.result_version_id)
        .where(Ticket.model_id == model_id, Ticket.status == Status.completed.value)
        .order_by(Ticket.closed_at)
    )
    out: list[EarlierErasure] = []
    for ticket, version in session.execute(stmt).unique():
        if exclude and ticket.id in exclude:
            continue
        try:
            request = load_request(session, ticket)
        except PiiPurgedError:
            request = None
        out.append(EarlierErasure(ticket_id=ticket.id, result_version=version, request=request,
                                  pii_hashes=list(ticket.pii_hashes or [])))
    return out


def model_of(session: Session, ticket: Ticket) -> RegisteredModel:
    """The ticket's model lineage (name, source URI, engine overrides)."""
    return ticket.model
