"""Turning ticket events into webhook deliveries (rows first, the Celery task after commit).

The payload names the ticket, its external reference and the state change; never the subject or any
PII. Delivery itself (HTTP, signature, retries) is in ``service.webhooks.delivery``.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from service.celery_app import DELIVER_WEBHOOK, WEBHOOK_QUEUE, send_by_name
from service.models import Ticket, TicketEvent, WebhookDelivery
from service.outbox import after_commit


def event_payload(ticket: Ticket, event: TicketEvent) -> dict:
    return {
        "type": "ticket.extended" if event.kind == "extension" else "ticket.status_changed",
        "event_id": event.id,
        "ticket_id": str(ticket.id),
        "external_ref": ticket.external_ref,
        "from": event.from_status,
        "to": event.to_status,
        "stage": event.stage,
        "reason": event.reason,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
        "at": event.created_at.isoformat(),
    }


def enqueue_for_event(session: Session, ticket: Ticket, event: TicketEvent) -> WebhookDelivery | None:
    """Record a pending delivery for the ticket's callback URL and send it once the change commits."""
    if not ticket.callback_url:
        return None
    delivery = WebhookDelivery(
        id=uuid.uuid4(), ticket_id=ticket.id, event_id=event.id, url=ticket.callback_url,
        payload=event_payload(ticket, event), status="pending", attempts=0,
    )
    session.add(delivery)
    session.flush()
    delivery_id = str(delivery.id)
    after_commit(session, lambda: send_by_name(DELIVER_WEBHOOK, [delivery_id], WEBHOOK_QUEUE))
    return delivery
