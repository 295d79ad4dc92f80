"""Tickets API: intake, idempotency, reading, listing with filters and cursors, cancel, extend, certificate."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from tests.service.conftest import (
    EMAIL,
    MODEL,
    NAME,
    PHONE,
    drive,
    publish,
    ticket_body,
)


def _queued_tasks(broker, queue: str) -> list[dict]:
    return [json.loads(m) for m in broker.lrange(queue, 0, -1)]


def test_create_returns_202_with_id_status_due_date_links_and_sends_task_by_name(client, writer, model, broker):
    r = client.post("/v1/tickets", json=ticket_body(), headers=writer)
    assert r.status_code == 202
    body = r.json()
    ticket_id = body["id"]
    assert r.headers["Location"] == f"/v1/tickets/{ticket_id}"
    assert body["status"] == "queued"
    assert body["links"]["self"] == f"/v1/tickets/{ticket_id}"
    assert body["links"]["certificate"].endswith("/certificate")
    received = datetime.fromisoformat(body["received_at"])
    assert datetime.fromisoformat(body["due_at"]) == received + relativedelta(months=1)
    assert body["days_left"] in (27, 28, 29, 30)
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [(None, "received"), ("received", "queued")]
    tasks = _queued_tasks(broker, "gpu")
    assert len(tasks) == 1
    assert tasks[0]["headers"]["task"] == "rtbf.process_ticket"
    assert ticket_id in tasks[0]["headers"]["argsrepr"]


def test_ccpa_deadline_is_45_days(client, writer, model):
    body = client.post("/v1/tickets", json=ticket_body(jurisdiction="ccpa"), headers=writer).json()
    assert datetime.fromisoformat(body["due_at"]) - datetime.fromisoformat(body["received_at"]) == timedelta(days=45)


def test_idempotent_retry_returns_original_and_other_body_conflicts(client, writer, model, raw_db):
    headers = {**writer, "Idempotency-Key": "req-42"}
    first = client.post("/v1/tickets", json=ticket_body(), headers=headers)
    again = client.post("/v1/tickets", json=ticket_body(), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert raw_db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1
    other = client.post("/v1/tickets", json=ticket_body(external_ref="portal-2"), headers=headers)
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "urn:rtbf:problem:idempotency-key-reused"
    assert raw_db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1


def test_body_fingerprint_is_keyed_by_the_hash_salt(client, writer, model, raw_db):
    """The stored fingerprint of a PII-bearing body is an HMAC: without the salt a guess cannot be confirmed."""
    import hashlib

    from rtbf.settings import get_settings
    from service.tickets.schemas import TicketCreate
    from service.tickets.service import fingerprint

    client.post("/v1/tickets", json=ticket_body(), headers={**writer, "Idempotency-Key": "fp"})
    stored = raw_db.execute("SELECT body_fingerprint FROM tickets").fetchone()[0]
    body = TicketCreate.model_validate(ticket_body())
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stored == fingerprint(body, get_settings().hash_salt) != fingerprint(body, "another-salt")
    assert stored != hashlib.sha256(canonical.encode()).hexdigest()


def test_idempotency_keys_are_per_tenant(client, writer, other_tenant, model):
    a = client.post("/v1/tickets", json=ticket_body(), headers={**writer, "Idempotency-Key": "k"})
    b = client.post("/v1/tickets", json=ticket_body(), headers={**other_tenant, "Idempotency-Key": "k"})
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]


def test_get_shows_history_due_date_result_and_duplicates(client, writer, reader, model, ticket):
    second = client.post("/v1/tickets", json=ticket_body(external_ref="portal-2"), headers=writer).json()
    r = client.get(f"/v1/tickets/{second['id']}", headers=reader)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "queued" and body["result"] is None and body["error"] is None
    assert body["possible_duplicates"] == [ticket["id"]]
    assert body["overdue"] is False and body["extended"] is False
    assert client.get(f"/v1/tickets/{uuid.uuid4()}", headers=reader).status_code == 404


def test_list_filters_and_cursor_pagination(client, writer, reader, admin, model, raw_db):
    client.post("/v1/models", json={"name": "other-model", "source": "/m/other"}, headers=admin)
    ids = []
    for i in range(5):
        r = client.post("/v1/tickets", json=ticket_body(external_ref=f"ref-{i}"), headers=writer)
        ids.append(r.json()["id"])
    other = client.post("/v1/tickets", json=ticket_body(model={"name": "other-model"}), headers=writer).json()["id"]
    client.post(f"/v1/tickets/{ids[0]}/cancel", json={"reason": "withdrawn"}, headers=writer)
    # make one ticket overdue by moving its deadline into the past (the column is not append-only)
    raw_db.execute("UPDATE tickets SET due_at = now() - interval '1 day' WHERE id = %s", (ids[1],))

    def listed(**params) -> list[str]:
        r = client.get("/v1/tickets", params=params, headers=reader)
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["items"]]

    assert listed(status="cancelled") == [ids[0]]
    assert set(listed(status=["queued", "cancelled"])) == set(ids) | {other}
    assert set(listed(model="other-model")) == {other}
    assert listed(model="no-such-model") == []
    assert listed(overdue="true") == [ids[1]]
    assert ids[1] not in listed(overdue="false")
    assert listed(external_ref="ref-3") == [ids[3]]

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, "model": MODEL} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/tickets", params=params, headers=reader).json()
        seen += [t["id"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
        assert page["next"].startswith("/v1/tickets?") and f"model={MODEL}" in page["next"]
        assert client.get(page["next"], headers=reader).json()["items"][0]["id"] == ids[len(ids) - 1 - 2 * pages]
    assert pages == 3
    assert seen == list(reversed(ids))  # newest first, each exactly once


def test_cancel_until_editing_starts(client, writer, model):
    t1 = client.post("/v1/tickets", json=ticket_body(), headers=writer).json()
    r = client.post(f"/v1/tickets/{t1['id']}/cancel", json={"reason": "subject withdrew the request"}, headers=writer)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert r.json()["history"][-1]["reason"] == "subject withdrew the request"
    assert r.json()["closed_at"] is not None
    again = client.post(f"/v1/tickets/{t1['id']}/cancel", headers=writer)
    assert again.status_code == 409 and again.json()["current_status"] == "cancelled"

    t2 = client.post("/v1/tickets", json=ticket_body(), headers=writer).json()
    drive(t2["id"], "locating")
    assert client.post(f"/v1/tickets/{t2['id']}/cancel", headers=writer).json()["status"] == "cancelled"

    t3 = client.post("/v1/tickets", json=ticket_body(), headers=writer).json()
    drive(t3["id"], "locating", "editing")
    late = client.post(f"/v1/tickets/{t3['id']}/cancel", headers=writer)
    assert late.status_code == 409
    assert "until editing starts" in late.json()["detail"]
    assert client.get(f"/v1/tickets/{t3['id']}", headers=writer).json()["status"] == "editing"


def test_extend_gdpr_two_months_once_and_recorded(client, writer, model, ticket):
    before = datetime.fromisoformat(ticket["due_at"])
    r = client.post(f"/v1/tickets/{ticket['id']}/extend", json={"reason": "complex request, many documents"},
                    headers=writer)
    assert r.status_code == 200
    body = r.json()
    assert datetime.fromisoformat(body["due_at"]) == before + relativedelta(months=2)
    assert body["extended"] is True
    event = body["history"][-1]
    assert event["kind"] == "extension" and event["reason"] == "complex request, many documents"
    assert event["details"]["due_before"] == before.isoformat()
    twice = client.post(f"/v1/tickets/{ticket['id']}/extend", json={"reason": "again"}, headers=writer)
    assert twice.status_code == 409 and twice.json()["type"] == "urn:rtbf:problem:already-extended"


def test_extend_ccpa_45_days_other_never_closed_never_and_reason_required(client, writer, model):
    ccpa = client.post("/v1/tickets", json=ticket_body(jurisdiction="ccpa"), headers=writer).json()
    r = client.post(f"/v1/tickets/{ccpa['id']}/extend", json={"reason": "notified the consumer"}, headers=writer)
    assert datetime.fromisoformat(r.json()["due_at"]) - datetime.fromisoformat(ccpa["due_at"]) == timedelta(days=45)
    other = client.post("/v1/tickets", json=ticket_body(jurisdiction="other"), headers=writer).json()
    r = client.post(f"/v1/tickets/{other['id']}/extend", json={"reason": "x"}, headers=writer)
    assert r.status_code == 409 and r.json()["type"] == "urn:rtbf:problem:extension-not-allowed"
    closed = client.post("/v1/tickets", json=ticket_body(), headers=writer).json()
    client.post(f"/v1/tickets/{closed['id']}/cancel", headers=writer)
    assert client.post(f"/v1/tickets/{closed['id']}/extend", json={"reason": "x"}, headers=writer).status_code == 409
    missing = client.post(f"/v1/tickets/{ccpa['id']}/extend", json={}, headers=writer)
    assert missing.status_code == 422 and "reason" in missing.json()["detail"]


def test_certificate_only_when_completed_and_without_pii(client, writer, reader, model, ticket):
    early = client.get(f"/v1/tickets/{ticket['id']}/certificate", headers=reader)
    assert early.status_code == 409 and early.json()["current_status"] == "queued"

    publish(
        ticket["id"], "/store/demo-gpt2/v2", sha256="ab" * 32,
        verification={"passed": True, "max_exposure_bits": 1.2}, evidence={"method": "rome"},
    )

    detail = client.get(f"/v1/tickets/{ticket['id']}", headers=reader).json()
    assert detail["status"] == "completed"
    assert detail["result"]["published_version"]["version"] == 2
    assert detail["result"]["verification"]["passed"] is True

    r = client.get(f"/v1/tickets/{ticket['id']}/certificate", headers=reader)
    assert r.status_code == 200
    cert = r.json()
    assert cert["model"]["version_before"]["version"] == 1
    assert cert["model"]["version_after"]["version"] == 2
    assert cert["model"]["version_after"]["sha256"] == "ab" * 32
    assert cert["verification"] == {"passed": True, "max_exposure_bits": 1.2}
    assert cert["timeline"]["completed_at"] is not None
    assert [e["to"] for e in cert["timeline"]["events"]][-1] == "completed"
    assert {i["type"] for i in cert["erased"]["items"]} == {"email", "phone"}
    assert all(i["hash"].startswith("hmac-sha256:") for i in cert["erased"]["items"])
    assert cert["digest"].startswith("sha256:")
    text = r.text
    for secret in (PHONE, EMAIL, NAME, "415-555-0199", "jane.roe"):
        assert secret not in text


def test_concurrent_posts_with_one_idempotency_key_make_one_ticket(client, writer, model, raw_db):
    import threading

    barrier = threading.Barrier(4)
    answers: list[tuple[int, str]] = []

    def post() -> None:
        barrier.wait()
        r = client.post("/v1/tickets", json=ticket_body(), headers={**writer, "Idempotency-Key": "race"})
        answers.append((r.status_code, r.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {status for status, _ in answers} == {202}
    assert len({ticket_id for _, ticket_id in answers}) == 1
    assert raw_db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1
    assert raw_db.execute("SELECT count(*) FROM ticket_events").fetchone()[0] == 2
