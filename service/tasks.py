"""Service-side Celery tasks (no torch): webhook delivery, the PII purge, re-sending stalled tickets and
overdue webhook deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from celery import Task
from celery.signals import worker_process_init

from rtbf.logging import get_logger
from rtbf.settings import get_settings
from service.celery_app import (
    DELIVER_WEBHOOK,
    GPU_QUEUE,
    PROCESS_TICKET,
    PURGE_EXPIRED_PII,
    REQUEUE_STALLED,
    RESEND_WEBHOOKS,
    WEBHOOK_QUEUE,
    app,
)
from service.db import get_engine, session_scope
from service.retention import purge_expired_pii
from service.tickets import repository
from service.webhooks.delivery import attempt_delivery, overdue_pending

log = get_logger("rtbf.service.tasks")
STALLED_AFTER = timedelta(minutes=15)


@worker_process_init.connect
def _fresh_connections_after_fork(**_: object) -> None:
    """A forked pool process must not share the parent's pooled database connections."""
    get_engine().dispose(close=False)


@app.task(name=DELIVER_WEBHOOK, bind=True, max_retries=None, acks_late=True)
def deliver_webhook(self: Task, delivery_id: str) -> dict:
    """One attempt per run; on failure re-schedule itself with exponential backoff until the attempt cap."""
    with session_scope() as session:
        outcome = attempt_delivery(session, delivery_id)
    log.info("webhook_attempt", delivery_id=delivery_id, attempt=outcome.attempt, delivered=outcome.delivered,
             status_code=outcome.status_code)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return {"delivered": outcome.delivered, "attempts": outcome.attempt}


@app.task(name=PURGE_EXPIRED_PII)
def purge_expired_pii_task() -> int:
    with session_scope() as session:
        erased = purge_expired_pii(session)
    log.info("pii_purged", tickets=erased)
    return erased


@app.task(name=REQUEUE_STALLED)
def requeue_stalled_tickets() -> int:
    """Re-send ``rtbf.process_ticket`` for tickets queued long ago (a lost message, a broker outage at intake).

    Harmless when the original message is still around: a worker that finds its ticket already past
    ``queued`` does nothing.
    """
    older_than = datetime.now(UTC) - STALLED_AFTER
    with session_scope() as session:
        ids = repository.stalled_queued(session, older_than)
    for ticket_id in ids:
        app.send_task(PROCESS_TICKET, args=[str(ticket_id)], queue=GPU_QUEUE)
    if ids:
        log.info("requeued_stalled", tickets=len(ids))
    return len(ids)


@app.task(name=RESEND_WEBHOOKS)
def resend_overdue_webhooks() -> int:
    """Re-send ``rtbf.deliver_webhook`` for pending deliveries whose next attempt is long overdue.

    A delivery row is committed before its task is published (after commit), so a broker outage at that
    moment, or a lost retry message, would leave it pending for ever. A duplicate (the original was only
    late) at worst makes one attempt early: ``attempt_delivery`` locks the row, does nothing once it is
    delivered or failed, and the attempt cap still holds.
    """
    older_than = datetime.now(UTC) - timedelta(seconds=get_settings().webhook_resend_after_seconds)
    with session_scope() as session:
        ids = overdue_pending(session, older_than)
    for delivery_id in ids:
        app.send_task(DELIVER_WEBHOOK, args=[str(delivery_id)], queue=WEBHOOK_QUEUE)
    if ids:
        log.info("resent_overdue_webhooks", deliveries=len(ids))
    return len(ids)
