"""The GPU workers' Celery app: consumes ``rtbf.process_ticket`` from the ``gpu`` queue.

Task names and queue names come from ``service.celery_app`` (torch-free), so the gateway and the workers
cannot drift apart. Delivery is at-least-once by design: ``acks_late`` plus ``reject_on_worker_lost``
put a message back when a worker dies mid-edit, and the pipeline is idempotent (a ticket already past
``queued`` is left alone), so a second delivery is harmless. One message at a time per worker process
(prefetch 1): an edit holds a whole GPU for minutes, so prefetching would only strand tickets behind it.

Run it with ``rtbf worker`` (or ``celery -A workers.celery_app worker -Q gpu``).
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init

from rtbf.settings import Settings, get_settings
from service.celery_app import GPU_QUEUE, PROCESS_TICKET, RELIABLE_DELIVERY

# Redis re-delivers an unacknowledged message after the visibility timeout. With acks_late a message
# stays unacknowledged for the whole edit, so the timeout must exceed the longest edit plus its gate,
# or a second worker would receive the same ticket while the first still works on it (harmless, the
# second finds the ticket past ``queued``, but wasteful).
VISIBILITY_TIMEOUT_SECONDS = 12 * 3600


def make_worker_celery(settings: Settings | None = None) -> Celery:
    """A Celery app for the GPU workers, configured from the one settings object."""
    settings = settings or get_settings()
    app = Celery("rtbf_worker", broker=settings.broker_url, backend=settings.result_backend, set_as_current=False)
    app.conf.update(
        **RELIABLE_DELIVERY,
        result_serializer="json",
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        task_default_queue=GPU_QUEUE,
        task_routes={PROCESS_TICKET: {"queue": GPU_QUEUE}},
        # Celery's own logging setup would otherwise replace the structured (PII-scrubbing) handlers.
        worker_hijack_root_logger=False,
        include=["workers.tasks"],
    )
    return app


app = make_worker_celery()


@worker_process_init.connect
def _fresh_connections_after_fork(**_: object) -> None:
    """A forked pool process must not share the parent's pooled database connections."""
    from service.db import get_engine

    get_engine().dispose(close=False)
