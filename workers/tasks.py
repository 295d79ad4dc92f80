"""The GPU workers' Celery task: ``rtbf.process_ticket(ticket_id)``, a thin shell around the pipeline.

The only Celery-specific decision lives here: a busy lineage lease becomes a retry with a countdown
(forever: the ticket is safely ``queued`` in the database, and the lease holder will batch it or release
the lineage). The time since the first attempt travels with the retries, for the lease-wait histogram.
"""

from __future__ import annotations

import time

from celery import Task

from rtbf.settings import get_settings
from service.celery_app import PROCESS_TICKET
from workers.celery_app import app
from workers.pipeline import LeaseBusy, process_ticket, worker_actor


@app.task(name=PROCESS_TICKET, bind=True, max_retries=None, acks_late=True)
def process_ticket_task(self: Task, ticket_id: str, waiting_since: float | None = None) -> dict:
    """Process one queued ticket (and the tickets batched with it); a no-op when it is past ``queued``."""
    settings = get_settings()
    holder = f"{worker_actor()}:{self.request.id or 'local'}"
    try:
        outcome = process_ticket(ticket_id, settings=settings, holder=holder, waiting_since=waiting_since)
    except LeaseBusy:
        raise self.retry(countdown=settings.lease_retry_seconds,
                         kwargs={"waiting_since": waiting_since or time.time()}) from None
    return outcome.as_dict()
