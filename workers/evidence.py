"""What a ticket keeps of an edit: its view of the gate report, and the worker's evidence for the certificate.

Both are served to legal teams and outlive the ticket's encrypted request, so they hold hashes, counts and
scores, never a value. A batched edit is judged by one gate run over every request in it plus the
lineage's earlier erasures; each ticket keeps only its own request's figures with hashes, while the
other requests (possibly other tenants' subjects) stay in its view as anonymous figures, so a ticket
cannot be used to learn whose data was erased alongside it.
"""

from __future__ import annotations

import copy
from typing import Any

EVIDENCE_FORMAT = "rtbf.worker-evidence/1"


def _anonymise(request_report: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(request_report)
    out.pop("subject_hash", None)
    for item in out.get("items", []):
        item.pop("value_hash", None)
    out["anonymised"] = True
    return out


def ticket_verification(gate_report: dict[str, Any] | None, index: int, batch_size: int) -> dict[str, Any]:
    """The gate report as ticket ``index`` of a batch of ``batch_size`` should see it.

    ``gate_report["requests"]`` lists the batch's requests first (in batch order), then the earlier
    erasures re-checked; only entry ``index`` keeps its hashes.
    """
    if not gate_report:
        return {"passed": False, "note": "the engine produced no verification report"}
    view = copy.deepcopy(gate_report)
    requests = view.get("requests") or []
    view["requests"] = [r if i == index else _anonymise(r) for i, r in enumerate(requests)]
    view["batch"] = {"requests": batch_size, "this_request": index,
                     "earlier_erasures_rechecked": max(len(requests) - batch_size, 0)}
    return view


def summary(gate_report: dict[str, Any] | None) -> dict[str, Any]:
    """A few PII-free lines for the audit event of the verifying step."""
    if not gate_report:
        return {"passed": False}
    return {
        "passed": bool(gate_report.get("passed")),
        "failed_checks": list(gate_report.get("failed_checks") or []),
        "requests_checked": len(gate_report.get("requests") or []),
    }


def worker_evidence(
    *,
    actor: str,
    ticket_ids: list[str],
    model_name: str,
    base: dict[str, Any] | None,
    result: dict[str, Any],
    engine_report: dict[str, Any],
    engine_settings: dict[str, Any],
    prior_rechecked: list[str],
    prior_hash_only: list[str],
) -> dict[str, Any]:
    """The worker's part of the certificate: which model files were produced from which, how, by whom.

    ``engine_report`` is the engine's own report (``forget_offline``), PII-free by contract; only its
    structural parts are kept (the verification is stored separately).
    """
    engine = {k: engine_report.get(k) for k in ("method", "path", "kept", "passed", "localisation", "edits", "leak_check",
                                                  "timings_seconds", "requests")}
    return {
        "format": EVIDENCE_FORMAT,
        "worker": actor,
        "batch": list(ticket_ids),
        "model": model_name,
        "version_before": base,
        "version_after": result,
        "engine": engine,
        "engine_settings": engine_settings,
        "earlier_erasures": {
            "rechecked": list(prior_rechecked),
            "not_rechecked_request_purged": list(prior_hash_only),
        },
    }
