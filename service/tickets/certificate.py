"""The certificate of erasure: what was erased (as salted hashes), from which model version to which,
the verification report, and the timeline, as one JSON document with a digest over its content.

It holds no PII, so it survives the retention purge of the ticket's ciphertext; anyone holding the
hash salt can check that a given value was part of the request, nobody else can recover it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from service.models import ModelVersion, Ticket
from service.registry import repository as registry
from service.tickets import repository
from service.tickets.states import Status

CERTIFICATE_FORMAT = "rtbf.certificate/1"


def _version_view(version: ModelVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {"id": str(version.id), "version": version.version, "storage_uri": version.storage_uri,
            "sha256": version.sha256, "created_at": version.created_at.isoformat()}


def build_certificate(session: Session, ticket: Ticket, *, tenant_name: str) -> dict[str, Any]:
    """The certificate of a completed ticket (the caller checks the status)."""
    assert ticket.status == Status.completed.value
    before = registry.get_version_by_id(session, ticket.base_version_id) if ticket.base_version_id else None
    after = registry.get_version_by_id(session, ticket.result_version_id) if ticket.result_version_id else None
    events = repository.events(session, ticket.id)
    body: dict[str, Any] = {
        "format": CERTIFICATE_FORMAT,
        "ticket_id": str(ticket.id),
        "tenant": tenant_name,
        "external_ref": ticket.external_ref,
        "jurisdiction": ticket.jurisdiction,
        "method": ticket.method,
        "erased": {
            "subject_hash": f"hmac-sha256:{ticket.subject_hash}",
            "items": ticket.pii_hashes,
            "hash_scheme": "HMAC-SHA256 over the normalised value, keyed with the deployment's salt, first 128 bits",
        },
        "model": {"name": ticket.model.name, "version_before": _version_view(before), "version_after": _version_view(after)},
        "verification": ticket.verification,
        "worker_evidence": ticket.certificate,
        "timeline": {
            "received_at": ticket.received_at.isoformat(),
            "due_at": ticket.due_at.isoformat(),
            "completed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
            "events": [
                {"at": e.created_at.isoformat(), "kind": e.kind, "from": e.from_status, "to": e.to_status,
                 "stage": e.stage, "actor": e.actor}
                for e in events
            ],
        },
        "issued_at": datetime.now(UTC).isoformat(),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    body["digest"] = "sha256:" + hashlib.sha256(canonical).hexdigest()
    return body
