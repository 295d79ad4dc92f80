"""Every Prometheus metric of rtbf, defined once so the API, the workers and the dashboards agree on names.

Labels carry only bounded, non-personal values (method, route template, status, stage, outcome):
never a subject, a value or a ticket's external reference.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "rtbf_http_requests_total", "HTTP requests served by the gateway.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "rtbf_http_request_duration_seconds",
    "Gateway request latency.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TICKETS_CREATED = Counter("rtbf_tickets_created_total", "Tickets received.", ["jurisdiction"])
TICKET_TRANSITIONS = Counter(
    "rtbf_ticket_transitions_total", "Ticket state changes.", ["from_status", "to_status"]
)
TICKETS_IN_STATE = Gauge("rtbf_tickets_in_state", "Tickets currently in each state.", ["status"])
TICKETS_OVERDUE = Gauge("rtbf_tickets_overdue", "Open tickets past their legal due date.")
STAGE_DURATION = Histogram(
    "rtbf_pipeline_stage_duration_seconds",
    "Duration of each pipeline stage on a worker.",
    ["stage", "method"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
EDITS = Counter("rtbf_edits_total", "Model edits attempted, by method and gate outcome.", ["method", "outcome"])
GATE_RESULTS = Counter("rtbf_gate_results_total", "Verification gate verdicts.", ["outcome"])
LEASE_WAIT = Histogram(
    "rtbf_model_lease_wait_seconds", "Time a worker waited for a model lineage's edit lease.",
    buckets=(0.1, 1, 5, 30, 60, 300, 900, 3600),
)
WEBHOOK_DELIVERIES = Counter("rtbf_webhook_deliveries_total", "Webhook delivery attempts.", ["outcome"])
PII_PURGED = Counter("rtbf_pii_purged_total", "Tickets whose encrypted PII was erased after retention.")
