"""Retention: erase a ticket's encrypted PII a configurable time after the ticket ends.

Only the ciphertext goes (and its key id); the salted hashes, the audit trail and the certificate stay,
because they are the evidence of erasure and hold no PII. Run by the periodic Celery task
``rtbf.purge_expired_pii`` and by ``rtbf purge-pii``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from rtbf.metrics import PII_PURGED
from rtbf.settings import get_settings
from service.tickets import repository


def purge_expired_pii(session: Session, now: datetime | None = None, retention_days: int | None = None) -> int:
    """Erase ciphertexts of tickets closed more than the retention period ago; commits; returns the count."""
    now = now or datetime.now(UTC)
    days = get_settings().pii_retention_days if retention_days is None else retention_days
    erased = repository.purge_expired_ciphertexts(session, closed_before=now - timedelta(days=days), now=now)
    session.commit()
    if erased:
        PII_PURGED.inc(erased)
    return erased
