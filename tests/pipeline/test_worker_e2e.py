"""End to end through Redis: the gateway sends ``rtbf.process_ticket`` by name, a real Celery worker
(the GPU workers' app, solo pool, queue ``gpu``) consumes it and runs the pipeline. The ticket is the
lineage's second erasure, so it must start from the first one's version and re-check that erasure."""

from __future__ import annotations

import time

import pytest

from tests.pipeline.conftest import MODEL, file_ticket, ticket_body

# one xdist worker runs the whole package: its fixtures (database, Redis db 11, the first edit) are
# package-scoped, and two workers would flush each other's broker and repeat the costly first edit
pytestmark = pytest.mark.xdist_group("pipeline")


def test_a_real_worker_processes_the_next_ticket_from_the_new_version(first_edit, client, admin, demo, broker) -> None:
    from celery.contrib.testing.worker import start_worker

    from rtbf.settings import get_settings
    from service.celery_app import GPU_QUEUE
    from workers.celery_app import app
    from workers.tasks import process_ticket_task  # noqa: F401 - registers the task on the app

    assert first_edit.outcome["status"] == "completed", first_edit.outcome
    assert app.conf.broker_url == get_settings().broker_url
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=[GPU_QUEUE],
                      shutdown_timeout=30):
        ticket_id = file_ticket(client, admin, ticket_body(demo, 1, callback_url=first_edit.callback_url))
        deadline = time.monotonic() + 400
        while True:
            detail = client.get(f"/v1/tickets/{ticket_id}", headers=admin).json()
            if detail["status"] in ("completed", "rejected", "failed") or time.monotonic() > deadline:
                break
            time.sleep(1)
    assert detail["status"] in ("completed", "rejected"), detail.get("error")
    steps = [h["to_status"] for h in detail["history"]]
    assert steps[:5] == ["received", "queued", "locating", "editing", "verifying"]
    assert all(h["actor"].startswith("worker:") for h in detail["history"][2:])
    verification = detail["result"]["verification"]
    assert verification["batch"]["earlier_erasures_rechecked"] == 1  # the first erasure was re-checked
    assert [r["role"] for r in verification["requests"]] == ["current", "prior"]
    cert_or_versions = client.get(f"/v1/models/{MODEL}/versions", headers=admin).json()
    by_number = {v["version"]: v for v in cert_or_versions}
    if detail["status"] == "completed":
        assert detail["result"]["published_version"]["version"] == 3
        assert by_number[3]["parent_version"] == first_edit.outcome["version"] == 2
        cert = client.get(f"/v1/tickets/{ticket_id}/certificate", headers=admin).json()
        assert cert["model"]["version_before"]["version"] == 2
        assert cert["worker_evidence"]["earlier_erasures"]["rechecked"] == first_edit.ticket_ids
    else:
        assert 3 not in by_number
    # the worker's transitions were announced: one webhook delivery row per step (that each is published
    # to the webhooks queue after its commit is asserted by test_pipeline on the in-process run)
    from service.db import session_scope
    from service.models import WebhookDelivery

    with session_scope() as s:
        deliveries = s.query(WebhookDelivery).filter(WebhookDelivery.ticket_id == ticket_id).all()
        assert sorted(d.payload["to"] for d in deliveries) == sorted(steps)


def test_a_real_worker_retries_while_the_lineage_is_leased(client, admin, demo, tmp_path, raw_db) -> None:
    """The Celery retry path: the lease is held elsewhere, the worker re-tries every second; once it is
    released the ticket is processed (here it fails fast: the lineage's source is missing on purpose)."""
    from celery.contrib.testing.worker import start_worker

    from service.celery_app import GPU_QUEUE
    from service.db import session_scope
    from service.pipeline_api import acquire_lease, get_model, release_lease
    from tests.pipeline.conftest import register_model
    from workers.celery_app import app
    from workers.tasks import process_ticket_task  # noqa: F401 - registers the task on the app

    register_model(client, admin, "retry-gpt2", str(tmp_path / "missing-model"))
    with session_scope() as s:
        model_id = get_model(s, "retry-gpt2").id
        assert acquire_lease(s, model_id, "worker:elsewhere:2", 600)
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=[GPU_QUEUE],
                      shutdown_timeout=30):
        ticket_id = file_ticket(client, admin, ticket_body(demo, 8, model="retry-gpt2"))
        time.sleep(4)  # several retries (RTBF_LEASE_RETRY_SECONDS=1)
        assert client.get(f"/v1/tickets/{ticket_id}", headers=admin).json()["status"] == "queued"
        with session_scope() as s:
            assert release_lease(s, model_id, "worker:elsewhere:2")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            detail = client.get(f"/v1/tickets/{ticket_id}", headers=admin).json()
            if detail["status"] == "failed":
                break
            time.sleep(0.5)
    assert detail["status"] == "failed" and detail["error"]["code"] in {"model-load-error", "io-error"}
    holder = raw_db.execute("SELECT holder FROM model_leases WHERE model_id = %s", (model_id,)).fetchone()[0]
    assert holder is None
