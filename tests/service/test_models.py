"""Model registry endpoints, immutable versions, aliases, rollback and the per-lineage edit lease."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.service.conftest import MODEL, drive, publish, ticket_body


def test_register_list_and_versions(client, admin, reader):
    r = client.post("/v1/models", json={"name": "tiny-llama", "source": "s3://models/tiny-llama",
                                        "engine": {"rome_layer": 3, "max_neurons": 50}}, headers=admin)
    assert r.status_code == 201
    assert r.json() == {**r.json(), "name": "tiny-llama", "current_version": 1, "latest_version": 1,
                        "engine": {"rome_layer": 3, "max_neurons": 50}}
    models = client.get("/v1/models", headers=reader).json()
    assert [m["name"] for m in models] == ["tiny-llama"]
    versions = client.get("/v1/models/tiny-llama/versions", headers=reader).json()
    assert [(v["version"], v["parent_version"], v["storage_uri"], v["current"]) for v in versions] == [
        (1, None, "s3://models/tiny-llama", True)]


def test_register_rejects_duplicates_and_bad_engine_settings(client, admin, model, raw_db):
    dup = client.post("/v1/models", json={"name": MODEL, "source": "/x"}, headers=admin)
    assert dup.status_code == 409 and MODEL in dup.json()["detail"]
    r = client.post("/v1/models", json={"name": "m2", "source": "/x", "engine": {"warp_drive": 1}}, headers=admin)
    assert r.status_code == 422 and "warp_drive" in r.json()["detail"]
    r = client.post("/v1/models", json={"name": "m2", "source": "/x", "engine": {"ig_steps": 1}}, headers=admin)
    assert r.status_code == 422 and "engine.ig_steps" in r.json()["detail"]
    r = client.post("/v1/models", json={"name": "bad name!", "source": "/x"}, headers=admin)
    assert r.status_code == 422
    assert raw_db.execute("SELECT count(*) FROM models").fetchone()[0] == 1
    assert client.get("/v1/models/unknown/versions", headers=admin).status_code == 404


def test_rollback_guards_completed_erasures(client, admin, model, ticket, raw_db):
    assert publish(ticket["id"], "/store/v2") == 2
    versions = client.get(f"/v1/models/{MODEL}/versions", headers=admin).json()
    assert [(v["version"], v["parent_version"], v["current"]) for v in versions] == [(1, None, False), (2, 1, True)]
    assert versions[1]["ticket_ids"] == [ticket["id"]]

    r = client.post(f"/v1/models/{MODEL}/rollback", json={"version": 1, "reason": "quality regression"}, headers=admin)
    assert r.status_code == 409 and r.json()["completed_erasures_undone"] == 1
    r = client.post(f"/v1/models/{MODEL}/rollback", json={"version": 2, "reason": "noop"}, headers=admin)
    assert r.status_code == 409 and r.json()["type"] == "urn:rtbf:problem:already-current"
    r = client.post(f"/v1/models/{MODEL}/rollback", json={"version": 9, "reason": "x"}, headers=admin)
    assert r.status_code == 422 and "no version 9" in r.json()["detail"]
    r = client.post(f"/v1/models/{MODEL}/rollback", json={"version": 1, "reason": "quality regression", "force": True},
                    headers=admin)
    assert r.status_code == 200 and r.json()["current_version"] == 1 and r.json()["latest_version"] == 2
    history = raw_db.execute("SELECT reason FROM model_alias_events ORDER BY id").fetchall()
    assert history[-1][0] == "rollback: quality regression (undoes 1 completed erasures)"
    assert client.post("/v1/models/nope/rollback", json={"version": 1, "reason": "x"}, headers=admin).status_code == 404


def test_versions_and_rollback_never_reveal_another_tenants_tickets(client, admin, other_tenant, model, ticket):
    """Models are shared, tickets are not: each tenant sees only its own ticket ids and erasure counts."""
    theirs = client.post("/v1/tickets", json=ticket_body(external_ref="globex-1"), headers=other_tenant).json()
    publish(ticket["id"], "/store/v2")
    publish(theirs["id"], "/store/v3")

    def ticket_ids(headers: dict[str, str]) -> dict[int, list[str]]:
        versions = client.get(f"/v1/models/{MODEL}/versions", headers=headers).json()
        return {v["version"]: v["ticket_ids"] for v in versions}

    assert ticket_ids(admin) == {1: [], 2: [ticket["id"]], 3: []}
    assert ticket_ids(other_tenant) == {1: [], 2: [], 3: [theirs["id"]]}

    for headers in (admin, other_tenant):  # two erasures would be undone; each tenant hears of its one
        r = client.post(f"/v1/models/{MODEL}/rollback", json={"version": 1, "reason": "x"}, headers=headers)
        assert r.status_code == 409 and r.json()["completed_erasures_undone"] == 1
        assert r.json()["detail"] == ("Rolling back to version 1 would undo completed erasures; "
                                      "set force=true only if they will be re-applied.")
    # rolling back past only the other tenant's erasure: refused, but it reports none of the caller's own
    r = client.post(f"/v1/models/{MODEL}/rollback", json={"version": 2, "reason": "x"}, headers=admin)
    assert r.status_code == 409 and r.json()["completed_erasures_undone"] == 0
    assert theirs["id"] not in r.text and ticket["id"] not in r.text


def test_rollback_refused_while_an_edit_holds_the_lease(client, admin, model, session):
    from service.pipeline_api import (
        acquire_lease,
        get_model,
        register_version,
        release_lease,
    )

    m = get_model(session, MODEL)
    register_version(session, m.id, storage_uri="/store/v2", sha256=None, parent_id=None)
    assert acquire_lease(session, m.id, "worker-a", 60)
    session.commit()
    r = client.post(f"/v1/models/{MODEL}/rollback", json={"version": 2, "reason": "x"}, headers=admin)
    assert r.status_code == 409 and r.json()["type"] == "urn:rtbf:problem:edit-in-progress"
    assert release_lease(session, m.id, "worker-a")
    session.commit()
    r = client.post(f"/v1/models/{MODEL}/rollback", json={"version": 2, "reason": "x"}, headers=admin)
    assert r.status_code == 200 and r.json()["current_version"] == 2


def test_lease_is_exclusive_until_released_or_expired(model, session):
    from service.db import get_sessionmaker
    from service.pipeline_api import (
        acquire_lease,
        get_lease,
        get_model,
        release_lease,
        renew_lease,
    )

    m = get_model(session, MODEL)
    other = get_sessionmaker()()
    try:
        assert acquire_lease(session, m.id, "worker-a", 10)
        session.commit()
        assert not acquire_lease(other, m.id, "worker-b", 10)
        assert not release_lease(other, m.id, "worker-b")
        assert renew_lease(session, m.id, "worker-a", 10)
        session.commit()
        assert get_lease(other, m.id).holder == "worker-a"
        # expire it by hand (as time would): the next worker takes it over atomically
        other.execute(text(
            "UPDATE model_leases SET expires_at = now() - interval '1 second' WHERE model_id = :m"), {"m": m.id})
        other.commit()
        assert acquire_lease(other, m.id, "worker-b", 10)
        other.commit()
        assert not renew_lease(session, m.id, "worker-a", 10)
        assert get_lease(session, m.id).holder == "worker-b"
        assert release_lease(other, m.id, "worker-b")
        other.commit()
        assert get_lease(session, m.id).holder is None
    finally:
        other.close()


def test_concurrent_lease_takers_get_exactly_one_winner(model, session):
    import threading

    from service.db import get_sessionmaker
    from service.pipeline_api import acquire_lease, get_model

    model_id = get_model(session, MODEL).id
    session.close()
    wins: list[str] = []
    barrier = threading.Barrier(6)

    def take(name: str) -> None:
        with get_sessionmaker()() as s:
            barrier.wait()
            if acquire_lease(s, model_id, name, 30):
                wins.append(name)
            s.commit()

    threads = [threading.Thread(target=take, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_versions_are_numbered_per_lineage_and_immutable(model, session):
    from service.pipeline_api import get_model, list_versions, register_version

    m = get_model(session, MODEL)
    v2 = register_version(session, m.id, storage_uri="/a", sha256=None, parent_id=None)
    v3 = register_version(session, m.id, storage_uri="/b", sha256=None, parent_id=v2.id)
    session.commit()
    assert [v.version for v in list_versions(session, m.id)] == [1, 2, 3] and v3.parent_id == v2.id
    v3.storage_uri = "/elsewhere"
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_pipeline_helpers_for_workers(client, writer, model, session):
    from service.pipeline_api import (
        earlier_completed_requests,
        get_model,
        load_ticket,
        queued_tickets,
        record_error,
    )

    ids = [client.post("/v1/tickets", json=ticket_body(external_ref=f"r{i}"), headers=writer).json()["id"]
           for i in range(3)]
    m = get_model(session, MODEL)
    assert [str(t.id) for t in queued_tickets(session, m.id)] == ids
    session.rollback()
    publish(ids[0], "/store/v2")
    time.sleep(0.01)
    publish(ids[1], "/store/v3")
    earlier = earlier_completed_requests(session, m.id)
    assert [str(e.ticket_id) for e in earlier] == ids[:2]
    assert [e.result_version for e in earlier] == [2, 3]
    assert earlier[0].request is not None and earlier[0].request.subject.name == "Jane Roe"
    t = load_ticket(session, ids[2], for_update=True)
    record_error(session, t, code="gate_failed", message="exposure stayed above 4 bits")
    session.commit()
    drive(ids[2], "failed")
    body = client.get(f"/v1/tickets/{ids[2]}", headers=writer).json()
    assert body["status"] == "failed" and body["error"]["code"] == "gate_failed"
