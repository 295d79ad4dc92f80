"""The other ways a ticket's processing ends: batched and rejected by the gate, failed on a broken model,
cancelled before editing, skipped when already past ``queued``, retried while the lineage is leased.
Each uses its own model lineage so the tests do not depend on one another."""

from __future__ import annotations

import uuid

import pytest

from tests.pipeline.conftest import file_ticket, pii_values, register_model, ticket_body

# one xdist worker runs the whole package: its fixtures (database, Redis db 11, the first edit) are
# package-scoped, and two workers would flush each other's broker and repeat the costly first edit
pytestmark = pytest.mark.xdist_group("pipeline")


def _ticket(client, admin, ticket_id: str) -> dict:
    r = client.get(f"/v1/tickets/{ticket_id}", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


def _lease_holder(raw_db, model: str):
    return raw_db.execute(
        "SELECT l.holder FROM model_leases l JOIN models m ON m.id = l.model_id WHERE m.name = %s", (model,)
    ).fetchone()[0]


def _version_count(raw_db, model: str) -> int:
    return raw_db.execute(
        "SELECT count(*) FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name = %s", (model,)
    ).fetchone()[0]


@pytest.fixture(scope="module")
def strict_gate_batch(client, admin, demo, source_dir):
    """Two depn tickets queued for one lineage, with a zero perplexity budget (no edit can meet it)."""
    import os

    from rtbf.settings import get_settings
    from workers.tasks import process_ticket_task

    register_model(client, admin, "strict-gpt2", str(source_dir))
    ids = [file_ticket(client, admin, ticket_body(demo, i, model="strict-gpt2", method="depn")) for i in (2, 3)]
    previous = os.environ.get("RTBF_GATE__PERPLEXITY_BUDGET")
    os.environ["RTBF_GATE__PERPLEXITY_BUDGET"] = "0"
    get_settings.cache_clear()
    try:
        outcome = process_ticket_task.apply(args=[ids[1]]).get()  # the younger ticket leads: both join
    finally:
        if previous is None:
            os.environ.pop("RTBF_GATE__PERPLEXITY_BUDGET")
        else:
            os.environ["RTBF_GATE__PERPLEXITY_BUDGET"] = previous
        get_settings.cache_clear()
    return ids, outcome


def test_queued_tickets_of_a_lineage_share_one_edit(strict_gate_batch, client, admin) -> None:
    ids, outcome = strict_gate_batch
    assert sorted(outcome["ticket_ids"]) == sorted(ids)
    details = [_ticket(client, admin, i) for i in ids]
    for index, detail in enumerate(details):
        steps = [h["to_status"] for h in detail["history"]]
        assert steps == ["received", "queued", "locating", "editing", "verifying", "rejected"]
        assert detail["history"][2]["details"]["batch_size"] == 2
        verification = detail["result"]["verification"]
        assert verification["batch"]["requests"] == 2
        own = verification["requests"][verification["batch"]["this_request"]]
        other = verification["requests"][1 - verification["batch"]["this_request"]]
        assert own["subject_hash"].startswith("hmac-sha256:")
        assert other["anonymised"] is True and "subject_hash" not in other  # the batch neighbour stays anonymous
    # one gate run judged both: identical timestamps of the report
    assert details[0]["result"]["verification"]["created_at"] == details[1]["result"]["verification"]["created_at"]


def test_a_gate_that_cannot_be_met_rejects_and_publishes_nothing(strict_gate_batch, client, admin, raw_db, demo) -> None:
    ids, outcome = strict_gate_batch
    assert outcome["status"] == "rejected"
    for ticket_id in ids:
        detail = _ticket(client, admin, ticket_id)
        assert detail["status"] == "rejected"
        assert detail["error"]["code"] == "gate-not-met"
        failed = detail["error"]["details"]["failed_checks"]
        assert failed and failed == detail["result"]["verification"]["failed_checks"]
        assert detail["result"]["published_version"] is None
        assert detail["result"]["verification"]["passed"] is False
    assert _version_count(raw_db, "strict-gpt2") == 1  # only the registered base
    assert _lease_holder(raw_db, "strict-gpt2") is None
    errors = " ".join(r[0] for r in raw_db.execute("SELECT coalesce(error::text,'') FROM tickets"))
    for value in pii_values(demo, [2, 3]):
        assert value not in errors


def test_a_broken_model_source_fails_the_ticket_and_releases_the_lease(
    client, admin, demo, raw_db, tmp_path, capfd
) -> None:
    from workers.tasks import process_ticket_task

    register_model(client, admin, "broken-gpt2", str(tmp_path / "no-model-here"))
    ticket_id = file_ticket(client, admin, ticket_body(demo, 4, model="broken-gpt2"))
    outcome = process_ticket_task.apply(args=[ticket_id]).get()
    assert outcome["status"] == "failed"
    detail = _ticket(client, admin, ticket_id)
    assert detail["status"] == "failed"
    assert detail["history"][-1]["from_status"] == "locating"
    assert detail["error"]["code"] in {"model-load-error", "io-error"}
    assert "no-model-here" not in detail["error"]["message"]  # no exception text reaches the client
    assert _lease_holder(raw_db, "broken-gpt2") is None
    assert _version_count(raw_db, "broken-gpt2") == 1
    logged = capfd.readouterr()
    for value in pii_values(demo, [4]):
        assert value not in logged.out and value not in logged.err


def test_a_cancel_before_editing_wins(client, admin, demo, source_dir, raw_db) -> None:
    from rtbf.settings import get_settings
    from workers.pipeline import claim, run

    register_model(client, admin, "cancel-gpt2", str(source_dir))
    ticket_id = file_ticket(client, admin, ticket_body(demo, 5, model="cancel-gpt2"))
    batch = claim(ticket_id, settings=get_settings())
    assert batch is not None and _ticket(client, admin, ticket_id)["status"] == "locating"
    r = client.post(f"/v1/tickets/{ticket_id}/cancel", json={"reason": "withdrawn"}, headers=admin)
    assert r.status_code == 200, r.text
    outcome = run(batch, settings=get_settings())
    assert outcome.status == "cancelled"
    detail = _ticket(client, admin, ticket_id)
    assert [h["to_status"] for h in detail["history"]] == ["received", "queued", "locating", "cancelled"]
    assert _version_count(raw_db, "cancel-gpt2") == 1
    assert _lease_holder(raw_db, "cancel-gpt2") is None


def test_a_busy_lease_leaves_the_ticket_queued(client, admin, demo, source_dir, raw_db) -> None:
    from rtbf.settings import get_settings
    from service.db import session_scope
    from service.pipeline_api import acquire_lease, get_model, release_lease
    from workers.pipeline import LeaseBusy, process_ticket

    register_model(client, admin, "leased-gpt2", str(source_dir))
    ticket_id = file_ticket(client, admin, ticket_body(demo, 6, model="leased-gpt2"))
    with session_scope() as s:
        model_id = get_model(s, "leased-gpt2").id
        assert acquire_lease(s, model_id, "worker:elsewhere:1", 600)
    with pytest.raises(LeaseBusy):
        process_ticket(ticket_id, settings=get_settings())
    assert _ticket(client, admin, ticket_id)["status"] == "queued"
    assert len(_ticket(client, admin, ticket_id)["history"]) == 2
    assert _lease_holder(raw_db, "leased-gpt2") == "worker:elsewhere:1"
    with session_scope() as s:
        release_lease(s, model_id, "worker:elsewhere:1")
    r = client.post(f"/v1/tickets/{ticket_id}/cancel", json={"reason": "test done"}, headers=admin)
    assert r.status_code == 200, r.text


def test_a_ticket_that_moved_on_is_left_alone(client, admin, demo, source_dir, raw_db) -> None:
    from service.db import session_scope
    from service.pipeline_api import load_ticket, transition
    from workers.tasks import process_ticket_task

    register_model(client, admin, "moved-gpt2", str(source_dir))
    ticket_id = file_ticket(client, admin, ticket_body(demo, 7, model="moved-gpt2"))
    with session_scope() as s:
        transition(s, load_ticket(s, ticket_id, for_update=True), "locating", actor="worker:other:1", reason="test")
    assert process_ticket_task.apply(args=[ticket_id]).get()["status"] == "skipped"
    assert process_ticket_task.apply(args=[str(uuid.uuid4())]).get()["status"] == "skipped"  # unknown id
    assert _ticket(client, admin, ticket_id)["status"] == "locating"
    assert _lease_holder(raw_db, "moved-gpt2") is None


def test_worker_command_is_registered() -> None:
    from typer.testing import CliRunner

    from rtbf.cli import _register_all, app
    from workers.worker_cli import worker_argv

    _register_all()
    result = CliRunner().invoke(app, ["worker", "--help"])
    assert result.exit_code == 0
    for option in ("--queues", "--concurrency", "--loglevel"):
        assert option in result.output
    argv = worker_argv("gpu", 1, "info")
    assert argv[argv.index("--queues") + 1] == "gpu" and argv[argv.index("--pool") + 1] == "solo"
