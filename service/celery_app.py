"""The gateway's own light Celery app (no torch): it sends work to the GPU workers by task name and runs
the service-side tasks (webhook delivery, PII purge, re-enqueueing stalled tickets and overdue webhooks).

Work reaches the workers only as tasks sent by name (``rtbf.process_ticket`` on the ``gpu`` queue), so
this package never imports ``workers``. Run the service-side tasks with
``celery -A service.celery_app worker -Q webhooks,maintenance -B`` (or ``rtbf gateway-worker``).
"""

from __future__ import annotations

from celery import Celery

from rtbf.settings import get_settings

PROCESS_TICKET = "rtbf.process_ticket"
DELIVER_WEBHOOK = "rtbf.deliver_webhook"
PURGE_EXPIRED_PII = "rtbf.purge_expired_pii"
REQUEUE_STALLED = "rtbf.requeue_stalled_tickets"
RESEND_WEBHOOKS = "rtbf.resend_overdue_webhooks"
GPU_QUEUE = "gpu"
WEBHOOK_QUEUE = "webhooks"
MAINTENANCE_QUEUE = "maintenance"


# Delivery guarantees shared by the gateway's and the GPU workers' Celery apps: JSON only, a task is
# acknowledged after it ran (a crashed worker's task is redelivered), one task prefetched at a time.
RELIABLE_DELIVERY = dict(
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery("rtbf_gateway", broker=settings.broker_url, backend=settings.result_backend, set_as_current=False)
    app.conf.update(
        **RELIABLE_DELIVERY,
        # Fail fast when the broker is down: the ticket is already committed and the sweeper re-sends it.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        task_routes={
            DELIVER_WEBHOOK: {"queue": WEBHOOK_QUEUE},
            PURGE_EXPIRED_PII: {"queue": MAINTENANCE_QUEUE},
            REQUEUE_STALLED: {"queue": MAINTENANCE_QUEUE},
            RESEND_WEBHOOKS: {"queue": MAINTENANCE_QUEUE},
            PROCESS_TICKET: {"queue": GPU_QUEUE},
        },
        beat_schedule={
            "purge-expired-pii": {"task": PURGE_EXPIRED_PII, "schedule": 3600.0},
            "requeue-stalled-tickets": {"task": REQUEUE_STALLED, "schedule": 600.0},
            "resend-overdue-webhooks": {"task": RESEND_WEBHOOKS, "schedule": 300.0},
        },
        imports=("service.tasks",),
    )
    return app


app = make_celery()


def send_by_name(name: str, args: list, queue: str) -> None:
    """Publish a task by name (the consumer may live in another image)."""
    app.send_task(name, args=args, queue=queue)
