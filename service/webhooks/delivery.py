"""One webhook attempt: POST the signed payload, record the attempt, say whether to retry and when.

Retries use exponential backoff (``base * 2**(attempt-1)``, capped) up to
``RTBF_WEBHOOK_MAX_ATTEMPTS``; a 2xx is success, anything else (including network errors) is retried.
Every attempt is a row in ``webhook_attempts``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rtbf.metrics import WEBHOOK_DELIVERIES
from rtbf.settings import get_settings
from service.models import WebhookAttempt, WebhookDelivery
from service.webhooks.signing import SIGNATURE_HEADER, sign

BACKOFF_BASE_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 3600.0
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    attempt: int
    status_code: int | None
    retry_in: float | None  # seconds until the next attempt, None when no retry is due


def backoff_seconds(attempt: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    return min(cap, base * 2 ** max(0, attempt - 1))


def overdue_pending(session: Session, older_than: datetime, limit: int = 500) -> list[uuid.UUID]:
    """Pending deliveries whose next attempt fell due before ``older_than``: nothing is going to run them.

    The next attempt of a delivery is due at its creation (no attempt yet) or at its last attempt plus
    the backoff that attempt scheduled (``backoff_seconds``, computed here in SQL).
    """
    last_attempt = (
        select(func.max(WebhookAttempt.created_at)).where(WebhookAttempt.delivery_id == WebhookDelivery.id)
        .scalar_subquery()
    )
    backoff = func.least(BACKOFF_CAP_SECONDS,
                         BACKOFF_BASE_SECONDS * func.power(2, func.greatest(0, WebhookDelivery.attempts - 1)))
    next_due = func.coalesce(last_attempt + func.make_interval(0, 0, 0, 0, 0, 0, backoff), WebhookDelivery.created_at)
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending", next_due < older_than)
            .order_by(WebhookDelivery.created_at)
            .limit(limit)
        )
    )


def attempt_delivery(session: Session, delivery_id: uuid.UUID | str, *, client: httpx.Client | None = None) -> AttemptOutcome:
    """Make one attempt for a pending delivery; the caller commits."""
    settings = get_settings()
    delivery = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id == uuid.UUID(str(delivery_id))).with_for_update()
    ).one_or_none()
    if delivery is None or delivery.status != "pending":
        return AttemptOutcome(delivered=delivery is not None and delivery.status == "delivered",
                              attempt=delivery.attempts if delivery else 0, status_code=None, retry_in=None)
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, settings.webhook_secret),
        "X-Rtbf-Delivery": str(delivery.id),
        "User-Agent": "rtbf-webhooks/1",
    }
    attempt = delivery.attempts + 1
    status_code: int | None = None
    error: str | None = None
    started = time.perf_counter()
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
    try:
        response = http.post(delivery.url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"receiver answered HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}"
    finally:
        if own_client:
            http.close()
    duration_ms = (time.perf_counter() - started) * 1000
    session.add(WebhookAttempt(delivery_id=delivery.id, attempt=attempt, status_code=status_code, error=error,
                               duration_ms=duration_ms, created_at=datetime.now(UTC)))
    delivery.attempts = attempt
    delivered = error is None
    retry_in: float | None = None
    if delivered:
        delivery.status = "delivered"
        delivery.delivered_at = datetime.now(UTC)
        WEBHOOK_DELIVERIES.labels("delivered").inc()
    elif attempt >= settings.webhook_max_attempts:
        delivery.status = "failed"
        WEBHOOK_DELIVERIES.labels("failed").inc()
    else:
        retry_in = backoff_seconds(attempt)
        WEBHOOK_DELIVERIES.labels("retry").inc()
    session.flush()
    return AttemptOutcome(delivered=delivered, attempt=attempt, status_code=status_code, retry_in=retry_in)
