"""HTTP routes of the tickets API (thin: validation by schemas, work in ``service``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response

from service.api.deps import ReadPrincipal, SessionDep, WritePrincipal
from service.api.types import NO_NUL
from service.problems import PROBLEM_RESPONSES as _PROBLEMS
from service.problems import Problem
from service.tickets import certificate as certificates
from service.tickets import repository, service
from service.tickets.repository import TicketFilters
from service.tickets.schemas import (
    CancelBody,
    ReasonBody,
    TicketCreate,
    TicketDetail,
    TicketPage,
)
from service.tickets.states import Status

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200,
           description="Retrying with the same key returns the original ticket; another body with it is a 409."),
]


@router.post("", status_code=202, response_model=TicketDetail, responses=_PROBLEMS,
             summary="File an erasure request")
def create_ticket(
    body: Annotated[TicketCreate, Body()],
    principal: WritePrincipal,
    session: SessionDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TicketDetail:
    ticket, created = service.create_ticket(session, principal, body, idempotency_key)
    response.headers["Location"] = f"/v1/tickets/{ticket.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return service.detail(session, ticket)


@router.get("", response_model=TicketPage, responses=_PROBLEMS, summary="List the tenant's tickets")
def list_tickets(
    request: Request,
    principal: ReadPrincipal,
    session: SessionDep,
    status: Annotated[list[Status] | None, Query(description="Only these statuses (repeatable).")] = None,
    model: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    overdue: Annotated[bool | None, Query(description="Only open tickets past (true) or not past (false) their due date.")] = None,
    external_ref: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    cursor: Annotated[str | None, Query(max_length=500, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> TicketPage:
    now = datetime.now(UTC)
    after = service.decode_cursor(cursor) if cursor else None
    filters = TicketFilters(statuses=status, model=model, overdue=overdue, external_ref=external_ref)
    rows = repository.page(session, principal.tenant_id, filters, after=after, limit=limit, now=now)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = service.encode_cursor(rows[-1]) if more and rows else None
    next_url = None
    if next_cursor:  # same filters, next cursor
        url = request.url.include_query_params(cursor=next_cursor)
        next_url = f"{url.path}?{url.query}"
    return TicketPage(items=[service.summary(session, t, now) for t in rows], next_cursor=next_cursor, next=next_url)


@router.get("/{ticket_id}", response_model=TicketDetail, responses=_PROBLEMS, summary="A ticket with its history")
def get_ticket(ticket_id: uuid.UUID, principal: ReadPrincipal, session: SessionDep) -> TicketDetail:
    return service.detail(session, service.load_owned(session, principal, ticket_id))


@router.post("/{ticket_id}/cancel", response_model=TicketDetail, responses=_PROBLEMS,
             summary="Cancel a ticket (only until editing starts)")
def cancel_ticket(
    ticket_id: uuid.UUID, principal: WritePrincipal, session: SessionDep,
    body: Annotated[CancelBody | None, Body()] = None,
) -> TicketDetail:
    reason = body.reason if body is not None else CancelBody().reason
    return service.detail(session, service.cancel(session, principal, ticket_id, reason))


@router.post("/{ticket_id}/extend", response_model=TicketDetail, responses=_PROBLEMS,
             summary="Extend the legal deadline once (GDPR: two months, CCPA: 45 days)")
def extend_ticket(ticket_id: uuid.UUID, body: ReasonBody, principal: WritePrincipal, session: SessionDep) -> TicketDetail:
    return service.detail(session, service.extend(session, principal, ticket_id, body.reason))


@router.get("/{ticket_id}/certificate", responses=_PROBLEMS, summary="The certificate of erasure (completed tickets)")
def get_certificate(ticket_id: uuid.UUID, principal: ReadPrincipal, session: SessionDep) -> dict[str, Any]:
    ticket = service.load_owned(session, principal, ticket_id)
    if ticket.status != Status.completed.value:
        raise Problem(409, "not-completed",
                      f"The ticket is {ticket.status}; a certificate exists only once erasure is completed.",
                      title="Conflict", current_status=ticket.status)
    return certificates.build_certificate(session, ticket, tenant_name=principal.tenant_name)
