"""Webhooks: one signed POST per state change to a real local receiver, retries with backoff, attempts recorded."""

from __future__ import annotations

import json

from tests.service.conftest import EMAIL, NAME, PHONE, drive, ticket_body


def _deliveries(raw_db) -> list[tuple]:
    return raw_db.execute(
        "SELECT d.id, d.status, d.attempts, e.to_status FROM webhook_deliveries d "
        "JOIN ticket_events e ON e.id = d.event_id ORDER BY e.id"
    ).fetchall()


def test_every_state_change_gets_a_signed_delivery(client, writer, model, receiver, raw_db, session, broker):
    from service.webhooks.delivery import attempt_delivery
    from service.webhooks.signing import SIGNATURE_HEADER, verify

    t = client.post("/v1/tickets", json=ticket_body(callback_url=receiver.url), headers=writer).json()
    drive(t["id"], "locating")
    client.post(f"/v1/tickets/{t['id']}/cancel", json={"reason": "withdrawn"}, headers=writer)
    rows = _deliveries(raw_db)
    assert [r[3] for r in rows] == ["received", "queued", "locating", "cancelled"]
    queued = [json.loads(m)["headers"]["task"] for m in broker.lrange("webhooks", 0, -1)]
    assert queued == ["rtbf.deliver_webhook"] * 4

    for delivery_id, *_ in rows:
        outcome = attempt_delivery(session, delivery_id)
        session.commit()
        assert outcome.delivered and outcome.status_code == 200
    assert len(receiver.requests) == 4
    payloads = []
    for headers, body in receiver.requests:
        assert verify(body, headers[SIGNATURE_HEADER], "test-webhook-secret")
        assert not verify(body + b" ", headers[SIGNATURE_HEADER], "test-webhook-secret")
        assert not verify(body, headers[SIGNATURE_HEADER], "another-secret")
        payloads.append(json.loads(body))
        for value in (PHONE, EMAIL, NAME):
            assert value.encode() not in body
    assert [(p["from"], p["to"]) for p in payloads] == [
        (None, "received"), ("received", "queued"), ("queued", "locating"), ("locating", "cancelled")]
    assert {p["ticket_id"] for p in payloads} == {t["id"]}
    assert payloads[-1]["reason"] == "withdrawn" and payloads[-1]["external_ref"] == "portal-1"
    assert {r[1] for r in _deliveries(raw_db)} == {"delivered"}
    # a second run of a delivered webhook sends nothing
    assert attempt_delivery(session, rows[0][0]).delivered and len(receiver.requests) == 4


def test_failed_attempts_are_recorded_and_retried_by_the_celery_task(client, writer, model, receiver, raw_db):
    from service.tasks import deliver_webhook

    receiver.statuses = [500, 503, 200]
    client.post("/v1/tickets", json=ticket_body(callback_url=receiver.url), headers=writer)
    first = _deliveries(raw_db)[0][0]
    result = deliver_webhook.apply(args=[str(first)])  # runs in-process; retries run eagerly
    assert result.get() == {"delivered": True, "attempts": 3}
    attempts = raw_db.execute(
        "SELECT attempt, status_code, error FROM webhook_attempts WHERE delivery_id = %s ORDER BY attempt", (first,)
    ).fetchall()
    assert attempts == [(1, 500, "receiver answered HTTP 500"), (2, 503, "receiver answered HTTP 503"), (3, 200, None)]
    assert raw_db.execute("SELECT status, attempts FROM webhook_deliveries WHERE id = %s", (first,)).fetchone() == (
        "delivered", 3)


def test_delivery_gives_up_after_max_attempts(client, writer, model, raw_db, session):
    from service.webhooks.delivery import attempt_delivery, backoff_seconds

    # nothing listens on port 9 of the loopback: connection refused
    client.post("/v1/tickets", json=ticket_body(callback_url="http://127.0.0.1:9/hook"), headers=writer)
    first = _deliveries(raw_db)[0][0]
    outcomes = []
    for _ in range(4):
        outcomes.append(attempt_delivery(session, first))
        session.commit()
    assert [o.retry_in for o in outcomes[:3]] == [backoff_seconds(1), backoff_seconds(2), None]
    assert [o.attempt for o in outcomes] == [1, 2, 3, 3]  # RTBF_WEBHOOK_MAX_ATTEMPTS=3; then nothing more
    assert raw_db.execute("SELECT status FROM webhook_deliveries WHERE id = %s", (first,)).fetchone()[0] == "failed"
    errors = raw_db.execute("SELECT error FROM webhook_attempts WHERE delivery_id = %s", (first,)).fetchall()
    assert [e[0] for e in errors] == ["ConnectError"] * 3
    assert backoff_seconds(1) < backoff_seconds(2) < backoff_seconds(3) <= backoff_seconds(30) == 3600


def test_no_callback_no_deliveries(ticket, raw_db):
    assert raw_db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0] == 0


def test_celery_worker_delivers_through_the_real_broker(client, writer, model, receiver, raw_db):
    """The path used in production: task sent by name to Redis, consumed by a Celery worker (in a thread)."""
    import time

    from celery.contrib.testing.worker import start_worker

    import service.tasks  # noqa: F401  (registers the tasks on the app)
    from service.celery_app import WEBHOOK_QUEUE
    from service.celery_app import app as celery_app

    with start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False, queues=[WEBHOOK_QUEUE],
                      shutdown_timeout=10):
        t = client.post("/v1/tickets", json=ticket_body(callback_url=receiver.url), headers=writer).json()
        deadline = time.monotonic() + 20
        while len(receiver.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert [json.loads(body)["to"] for _, body in receiver.requests] == ["received", "queued"]
    assert {json.loads(body)["ticket_id"] for _, body in receiver.requests} == {t["id"]}
    statuses = raw_db.execute("SELECT status, attempts FROM webhook_deliveries").fetchall()
    assert statuses == [("delivered", 1), ("delivered", 1)]


def test_sweep_resends_pending_deliveries_whose_next_attempt_is_overdue(client, writer, model, raw_db, broker,
                                                                        monkeypatch):
    """A delivery whose Celery message was lost (broker down at commit, a lost retry) is re-sent by the beat
    sweep once its next attempt is RTBF_WEBHOOK_RESEND_AFTER_SECONDS overdue; nothing else is."""
    from rtbf.settings import get_settings
    from service.celery_app import RESEND_WEBHOOKS
    from service.celery_app import app as celery_app
    from service.tasks import resend_overdue_webhooks
    from service.webhooks.delivery import backoff_seconds

    assert RESEND_WEBHOOKS in {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    monkeypatch.setenv("RTBF_WEBHOOK_RESEND_AFTER_SECONDS", "60")
    get_settings.cache_clear()
    try:
        t = client.post("/v1/tickets", json=ticket_body(callback_url="http://127.0.0.1:9/hook"), headers=writer).json()
        drive(t["id"], "locating", "cancelled")
        never_sent, retrying, delivered, failed = (r[0] for r in _deliveries(raw_db))
        broker.flushdb()  # as if every after-commit send had failed
        assert resend_overdue_webhooks.apply().get() == 0  # all just created: not overdue yet

        raw_db.execute("UPDATE webhook_deliveries SET created_at = now() - interval '1 hour'")
        raw_db.execute("UPDATE webhook_deliveries SET status = 'delivered', attempts = 1 WHERE id = %s", (delivered,))
        raw_db.execute("UPDATE webhook_deliveries SET status = 'failed', attempts = 3 WHERE id = %s", (failed,))
        # the retrying one failed its second attempt recently: its third is not overdue by 60 s yet
        raw_db.execute("UPDATE webhook_deliveries SET attempts = 2 WHERE id = %s", (retrying,))
        recently = backoff_seconds(2) + 30
        raw_db.execute(
            "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, created_at) "
            "VALUES (%s, 1, 500, 'x', 1, now() - interval '1 hour'), "
            "(%s, 2, 500, 'x', 1, now() - make_interval(secs => %s))", (retrying, retrying, recently))

        def resent() -> list[str]:
            messages = [json.loads(m)["headers"] for m in broker.lrange("webhooks", 0, -1)]
            assert {m["task"] for m in messages} <= {"rtbf.deliver_webhook"}
            return [m["argsrepr"] for m in messages]

        assert resend_overdue_webhooks.apply().get() == 1
        assert resent() == [repr([str(never_sent)])]

        broker.flushdb()
        raw_db.execute("UPDATE webhook_attempts SET created_at = created_at - interval '1 minute' WHERE attempt = 2")
        assert resend_overdue_webhooks.apply().get() == 2
        assert sorted(resent()) == sorted(repr([str(d)]) for d in (never_sent, retrying))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
