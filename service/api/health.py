"""Liveness, readiness and Prometheus metrics.

``/healthz`` answers as long as the process serves HTTP; ``/readyz`` checks that PostgreSQL answers a
query and the broker accepts a connection (a load balancer should stop routing otherwise);
``/metrics`` refreshes the ticket gauges from the database and exposes every rtbf metric.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from rtbf.logging import get_logger
from rtbf.metrics import TICKETS_IN_STATE, TICKETS_OVERDUE
from service.api.deps import SessionDep
from service.celery_app import app as celery_app
from service.problems import problem_response
from service.tickets import repository
from service.tickets.states import Status

router = APIRouter(tags=["health"])
log = get_logger("rtbf.service.health")
BROKER_TIMEOUT_SECONDS = 2.0


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _database_ok(session: Session) -> bool:
    try:
        session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def _broker_ok() -> bool:
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        return True
    except Exception:
        return False


@router.get("/readyz", summary="Readiness: database and broker reachable",
            responses={503: {"description": "A dependency is unreachable", "content": {"application/problem+json": {}}}})
def readyz(request: Request, session: SessionDep) -> Response:
    checks = {"database": _database_ok(session), "broker": _broker_ok()}
    if all(checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    failing = ", ".join(name for name, ok in checks.items() if not ok)
    return problem_response(request, 503, "not-ready", f"Unreachable: {failing}.", title="Service Unavailable",
                            checks=checks)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(session: SessionDep) -> Response:
    try:
        counts = repository.count_by_status(session)
        for status in Status:
            TICKETS_IN_STATE.labels(status.value).set(counts.get(status.value, 0))
        TICKETS_OVERDUE.set(repository.count_overdue(session, datetime.now(UTC)))
    except Exception as exc:  # the process metrics are still worth serving when the database is down
        log.warning("ticket_gauges_unavailable", error_type=type(exc).__name__)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
