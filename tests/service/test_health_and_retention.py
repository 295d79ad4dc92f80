"""Liveness, readiness (real database and broker), Prometheus metrics, and the PII retention purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from typer.testing import CliRunner

from tests.service.conftest import drive


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"database": True, "broker": True}


def test_readyz_is_503_when_the_broker_is_unreachable(client, monkeypatch):
    from service.celery_app import app as celery_app

    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:9/0")
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": True, "broker": False}
    assert r.json()["detail"] == "Unreachable: broker."


def test_readyz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    # nothing listens on port 9 of the loopback: every connection is refused at once
    unreachable = create_engine("postgresql+psycopg://postgres@127.0.0.1:9/rtbf", pool_pre_ping=True)
    monkeypatch.setattr("service.api.deps.get_sessionmaker", lambda: sessionmaker(bind=unreachable))
    try:
        r = client.get("/readyz")
    finally:
        unreachable.dispose()
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["checks"] == {"database": False, "broker": True}
    assert r.json()["detail"] == "Unreachable: database."
    monkeypatch.undo()
    assert client.get("/readyz").status_code == 200  # the real database is still there


def test_metrics_expose_requests_tickets_and_transitions(client, ticket, reader):
    client.get(f"/v1/tickets/{ticket['id']}", headers=reader)
    text = client.get("/metrics").text
    assert 'rtbf_http_requests_total{method="GET",route="/v1/tickets/{ticket_id}",status="200"}' in text
    assert 'rtbf_tickets_in_state{status="queued"} 1.0' in text
    assert 'rtbf_ticket_transitions_total{from_status="received",to_status="queued"}' in text
    assert "rtbf_tickets_overdue 0.0" in text
    assert ticket["id"] not in text  # labels never carry ids or PII


def _close_days_ago(raw_db, ticket_id: str, days: int) -> None:
    raw_db.execute("UPDATE tickets SET closed_at = now() - make_interval(days => %s) WHERE id = %s", (days, ticket_id))


def test_purge_erases_only_expired_ciphertexts_and_keeps_the_evidence(client, writer, reader, model, raw_db, session):
    from service.retention import purge_expired_pii
    from tests.service.conftest import ticket_body

    old, recent, open_ = (client.post("/v1/tickets", json=ticket_body(), headers=writer).json()["id"] for _ in range(3))
    for t in (old, recent):
        drive(t, "cancelled")
    _close_days_ago(raw_db, old, 31)
    _close_days_ago(raw_db, recent, 5)
    assert purge_expired_pii(session) == 1
    rows = dict(raw_db.execute("SELECT id::text, pii_ciphertext IS NULL FROM tickets").fetchall())
    assert rows == {old: True, recent: False, open_: False}
    hashes = raw_db.execute("SELECT pii_hashes::text, pii_purged_at FROM tickets WHERE id = %s", (old,)).fetchone()
    assert "hmac-sha256:" in hashes[0] and hashes[1] is not None
    body = client.get(f"/v1/tickets/{old}", headers=reader).json()
    assert body["pii_erased_at"] is not None and len(body["history"]) == 3
    assert purge_expired_pii(session) == 0  # idempotent

    from service.pipeline_api import PiiPurgedError, load_request, load_ticket

    try:
        load_request(session, load_ticket(session, old))
        raise AssertionError("a purged ticket must not yield its request")
    except PiiPurgedError:
        pass


def test_purge_cli_and_task(client, writer, model, raw_db):
    from service.cli import register
    from service.tasks import purge_expired_pii_task
    from tests.service.conftest import ticket_body

    ids = [client.post("/v1/tickets", json=ticket_body(), headers=writer).json()["id"] for _ in range(2)]
    for t in ids:
        drive(t, "failed")
    _close_days_ago(raw_db, ids[0], 3)
    _close_days_ago(raw_db, ids[1], 40)
    assert purge_expired_pii_task.apply().get() == 1
    app = typer.Typer()
    register(app)
    r = CliRunner().invoke(app, ["purge-pii", "--retention-days", "2"])
    assert r.exit_code == 0 and "erased the PII of 1 ticket(s)" in r.output
    assert raw_db.execute("SELECT count(*) FROM tickets WHERE pii_ciphertext IS NOT NULL").fetchone()[0] == 0


def test_requeue_resends_stalled_queued_tickets(ticket, raw_db, broker):
    from service.tasks import requeue_stalled_tickets

    broker.flushdb()
    assert requeue_stalled_tickets.apply().get() == 0
    raw_db.execute("UPDATE tickets SET updated_at = %s", (datetime.now(UTC) - timedelta(hours=1),))
    assert requeue_stalled_tickets.apply().get() == 1
    assert broker.llen("gpu") == 1
