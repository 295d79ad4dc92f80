"""Ticket use cases: intake (with idempotency), reading, listing, cancelling, extending, certificates.

Endpoints stay thin and call these; every query is in ``repository``; every status change goes through
``states.transition``. Errors are raised as ``Problem`` with messages that never quote PII.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rtbf.metrics import TICKETS_CREATED
from rtbf.pii import pii_hash
from rtbf.settings import get_settings
from service import crypto
from service.celery_app import GPU_QUEUE, PROCESS_TICKET, send_by_name
from service.keys.service import Principal
from service.models import Ticket, TicketEvent
from service.outbox import after_commit
from service.problems import Problem, not_found
from service.registry import repository as registry
from service.tickets import repository
from service.tickets.deadlines import days_left, extension_of, initial_due
from service.tickets.schemas import (
    HistoryEntry,
    TicketCreate,
    TicketDetail,
    TicketLinks,
    TicketResult,
    TicketSummary,
    VersionRef,
)
from service.tickets.states import (
    CANCELLABLE,
    OPEN,
    Status,
    TransitionError,
    record_creation,
    record_extension,
    transition,
)


def fingerprint(body: TicketCreate, salt: str) -> str:
    """HMAC-SHA256 (keyed by the hash salt) of the canonical JSON of the body, for idempotency.

    Equal bodies give equal fingerprints. The body carries PII, so a plain hash would let anyone holding
    the table confirm a guessed request offline; keying it, like the PII hashes, prevents that.
    """
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(salt.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def _associated_data(ticket_id: uuid.UUID) -> bytes:
    return f"rtbf-ticket:{ticket_id}".encode()


def create_ticket(
    session: Session, principal: Principal, body: TicketCreate, idempotency_key: str | None
) -> tuple[Ticket, bool]:
    """File a ticket and queue it; returns (ticket, created). A replayed idempotent POST returns the original."""
    settings = get_settings()
    digest = fingerprint(body, settings.hash_salt)
    if idempotency_key is not None:
        existing = repository.get_by_idempotency_key(session, principal.tenant_id, idempotency_key)
        if existing is not None:
            return _replay(existing, digest), False
    model = registry.get_model(session, body.model.name)
    if model is None:
        raise Problem(422, "unknown-model", f"Unknown model {body.model.name!r}: register it with POST /v1/models first.",
                      title="Unknown model")
    requested_version = None
    if body.model.version is not None:
        requested_version = registry.get_version(session, model.id, body.model.version)
        if requested_version is None:
            raise Problem(422, "unknown-model-version",
                          f"Model {body.model.name!r} has no version {body.model.version}.", title="Unknown model version")
    request = body.forget_request()
    ticket_id = uuid.uuid4()
    envelope = crypto.encrypt(request.model_dump_json().encode(), _associated_data(ticket_id), settings)
    items = request.all_items()
    hashes = [{"hash": pii_hash(i.value, settings.hash_salt, i.type), "type": i.type.value} for i in items]
    received_at = datetime.now(UTC)
    ticket = Ticket(
        id=ticket_id, tenant_id=principal.tenant_id, model_id=model.id,
        requested_version_id=requested_version.id if requested_version else None,
        status=Status.received.value, stage=None, method=body.method.value, jurisdiction=body.jurisdiction.value,
        external_ref=body.external_ref, callback_url=str(body.callback_url) if body.callback_url else None,
        idempotency_key=idempotency_key, body_fingerprint=digest,
        pii_ciphertext=envelope.ciphertext, pii_key_id=envelope.key_id,
        subject_hash=pii_hash(request.subject.name, settings.hash_salt, "name").removeprefix("hmac-sha256:"),
        pii_hashes=hashes, received_at=received_at, updated_at=received_at,
        due_at=initial_due(body.jurisdiction, received_at), extended=False,
    )
    ticket.model = model  # already loaded: spares a query when the response is built after the commit
    try:
        repository.add_ticket(session, ticket, [h["hash"] for h in hashes])
        record_creation(session, ticket, actor=principal.actor)
        transition(session, ticket, Status.queued, actor=principal.actor, reason="accepted and queued for processing")
        after_commit(session, lambda: send_by_name(PROCESS_TICKET, [str(ticket_id)], GPU_QUEUE))
        jurisdiction = body.jurisdiction.value
        after_commit(session, lambda: TICKETS_CREATED.labels(jurisdiction).inc())
        session.commit()
    except IntegrityError:
        # Two concurrent POSTs with one idempotency key: the loser returns the winner's ticket.
        session.rollback()
        if idempotency_key is None:
            raise
        existing = repository.get_by_idempotency_key(session, principal.tenant_id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, digest), False
    return ticket, True


def _replay(existing: Ticket, digest: str) -> Ticket:
    if not hmac.compare_digest(existing.body_fingerprint, digest):
        raise Problem(409, "idempotency-key-reused",
                      "This Idempotency-Key was already used with a different request body.", title="Conflict")
    return existing


def load_owned(session: Session, principal: Principal, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket:
    """The ticket when it belongs to the caller's tenant; 404 otherwise (never 403: existence is private)."""
    ticket = repository.get_for_tenant(session, principal.tenant_id, ticket_id, for_update=for_update)
    if ticket is None:
        raise not_found(f"Ticket {ticket_id}")
    return ticket


def cancel(session: Session, principal: Principal, ticket_id: uuid.UUID, reason: str) -> Ticket:
    ticket = load_owned(session, principal, ticket_id, for_update=True)
    if Status(ticket.status) not in CANCELLABLE:
        session.rollback()
        raise Problem(409, "not-cancellable",
                      f"A ticket in status {ticket.status!r} can no longer be cancelled: cancelling is possible "
                      "only until editing starts.", title="Conflict", current_status=ticket.status)
    try:
        transition(session, ticket, Status.cancelled, actor=principal.actor, reason=reason)
    except TransitionError as exc:
        session.rollback()
        raise Problem(409, "transition-conflict", str(exc), title="Conflict") from None
    session.commit()
    return ticket


def extend(session: Session, principal: Principal, ticket_id: uuid.UUID, reason: str) -> Ticket:
    ticket = load_owned(session, principal, ticket_id, for_update=True)
    if Status(ticket.status) not in OPEN:
        session.rollback()
        raise Problem(409, "ticket-closed", f"A {ticket.status} ticket has no deadline to extend.", title="Conflict")
    step = extension_of(ticket.jurisdiction)
    if step is None:
        session.rollback()
        raise Problem(409, "extension-not-allowed",
                      f"Jurisdiction {ticket.jurisdiction!r} allows no extension of the deadline.", title="Conflict")
    if ticket.extended:
        session.rollback()
        raise Problem(409, "already-extended", "The deadline was already extended once; the law allows one extension.",
                      title="Conflict")
    now = datetime.now(UTC)
    old_due = ticket.due_at
    new_due = old_due + step
    if not repository.move_due(session, ticket, new_due, now):
        session.rollback()
        raise Problem(409, "already-extended", "The deadline was extended concurrently.", title="Conflict")
    record_extension(session, ticket, actor=principal.actor, reason=reason, old_due=old_due, new_due=new_due)
    session.commit()
    return ticket


# ---------------------------------------------------------------- views


def links(ticket_id: uuid.UUID) -> TicketLinks:
    base = f"/v1/tickets/{ticket_id}"
    return TicketLinks(self=base, cancel=f"{base}/cancel", extend=f"{base}/extend", certificate=f"{base}/certificate")


def summary(session: Session, ticket: Ticket, now: datetime | None = None) -> TicketSummary:
    now = now or datetime.now(UTC)
    requested = registry.get_version_by_id(session, ticket.requested_version_id) if ticket.requested_version_id else None
    is_open = Status(ticket.status) in OPEN
    return TicketSummary(
        id=ticket.id, status=Status(ticket.status), stage=ticket.stage, model=ticket.model.name,
        requested_version=requested.version if requested else None, method=ticket.method,
        jurisdiction=ticket.jurisdiction, external_ref=ticket.external_ref, received_at=ticket.received_at,
        due_at=ticket.due_at, days_left=days_left(ticket.due_at, now), overdue=is_open and ticket.due_at < now,
        extended=ticket.extended, closed_at=ticket.closed_at, links=links(ticket.id),
    )


def history_entry(event: TicketEvent) -> HistoryEntry:
    return HistoryEntry(
        at=event.created_at, kind=event.kind, from_status=event.from_status, to_status=event.to_status,
        stage=event.stage, actor=event.actor, reason=event.reason, details=event.details or {},
    )


def detail(session: Session, ticket: Ticket) -> TicketDetail:
    base = summary(session, ticket)
    result = None
    if ticket.result_version_id is not None or ticket.verification is not None:
        version = registry.get_version_by_id(session, ticket.result_version_id) if ticket.result_version_id else None
        result = TicketResult(
            published_version=VersionRef(id=version.id, model=ticket.model.name, version=version.version) if version else None,
            verification=ticket.verification,
        )
    return TicketDetail(
        **base.model_dump(),
        history=[history_entry(e) for e in repository.events(session, ticket.id)],
        result=result,
        error=ticket.error,
        possible_duplicates=repository.possible_duplicates(session, ticket),
        pii_erased_at=ticket.pii_purged_at,
    )


# ---------------------------------------------------------------- cursors


def encode_cursor(ticket: Ticket) -> str:
    raw = json.dumps([ticket.received_at.isoformat(), str(ticket.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, ticket_id = json.loads(raw)
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed, uuid.UUID(ticket_id)
    except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise Problem(400, "invalid-cursor", "The cursor is not one this API issued; start again without it.",
                      title="Invalid cursor") from None
