"""The state machine: allowed and forbidden transitions, the append-only audit trail, concurrency."""

from __future__ import annotations

import psycopg
import pytest

from tests.service.conftest import drive

FULL_PATH = ["locating", "editing", "verifying", "publishing", "completed"]


def test_transition_table_is_exactly_the_documented_graph():
    from service.tickets.states import ALLOWED, CANCELLABLE, TERMINAL, Status

    edges = {(a.value, b.value) for a, targets in ALLOWED.items() for b in targets}
    expected = {
        ("received", "queued"), ("queued", "locating"), ("locating", "editing"), ("editing", "verifying"),
        ("verifying", "publishing"), ("publishing", "completed"), ("verifying", "rejected"), ("verifying", "editing"),
    } | {(s, "failed") for s in ("received", "queued", "locating", "editing", "verifying", "publishing")} \
      | {(s.value, "cancelled") for s in CANCELLABLE}
    assert edges == expected
    assert all(not ALLOWED[s] for s in TERMINAL)
    assert set(Status) == set(ALLOWED)


def test_happy_path_appends_one_audit_event_per_change(client, reader, ticket, raw_db):
    drive(ticket["id"], *FULL_PATH)
    rows = raw_db.execute(
        "SELECT from_status, to_status, actor, reason, created_at FROM ticket_events WHERE ticket_id = %s ORDER BY id",
        (ticket["id"],),
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == list(zip([None, "received", "queued", *FULL_PATH[:-1]],
                                                    ["received", "queued", *FULL_PATH], strict=True))
    assert all(r[2] and r[3] for r in rows)
    assert [r[4] for r in rows] == sorted(r[4] for r in rows)
    body = client.get(f"/v1/tickets/{ticket['id']}", headers=reader).json()
    assert body["status"] == "completed" and body["stage"] == "completed" and body["closed_at"]
    assert [h["to_status"] for h in body["history"]] == ["received", "queued", *FULL_PATH]


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        ([], "editing"),  # queued -> editing skips localisation
        ([], "completed"),
        ([], "rejected"),  # only the gate (verifying) rejects
        (["locating", "editing"], "cancelled"),  # too late to cancel
        (["locating", "editing", "verifying", "publishing", "completed"], "queued"),  # terminal
        (["cancelled"], "queued"),
        (["failed"], "locating"),
        (["locating", "editing", "verifying", "rejected"], "publishing"),
        (["locating"], "received"),
    ],
)
def test_forbidden_transitions_raise_and_change_nothing(ticket, raw_db, path, forbidden):
    from service.db import session_scope
    from service.pipeline_api import TransitionError, load_ticket, transition

    drive(ticket["id"], *path)
    events_before = raw_db.execute("SELECT count(*) FROM ticket_events").fetchone()[0]
    status_before = raw_db.execute("SELECT status FROM tickets").fetchone()[0]
    with pytest.raises(TransitionError, match=f"cannot go from {status_before} to {forbidden}"):
        with session_scope() as s:
            transition(s, load_ticket(s, ticket["id"]), forbidden, actor="worker:test", reason="should fail")
    assert raw_db.execute("SELECT count(*) FROM ticket_events").fetchone()[0] == events_before
    assert raw_db.execute("SELECT status FROM tickets").fetchone()[0] == status_before


def test_stale_ticket_object_cannot_transition(ticket, session):
    """Two workers load the same queued ticket; only the first move wins."""
    from service.db import get_sessionmaker
    from service.pipeline_api import TransitionError, load_ticket, transition

    other = get_sessionmaker()()
    try:
        mine, theirs = load_ticket(session, ticket["id"]), load_ticket(other, ticket["id"])
        transition(other, theirs, "locating", actor="worker:a", reason="first")
        other.commit()
        with pytest.raises(TransitionError, match="changed concurrently"):
            transition(session, mine, "locating", actor="worker:b", reason="second")
        session.rollback()
    finally:
        other.close()


def test_audit_rows_can_be_neither_updated_nor_deleted(ticket, raw_db):
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
        raw_db.execute("UPDATE ticket_events SET reason = 'rewritten'")
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
        raw_db.execute("DELETE FROM ticket_events")
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
        raw_db.execute("UPDATE model_versions SET storage_uri = '/elsewhere'")
    with pytest.raises(psycopg.errors.CheckViolation):
        raw_db.execute("UPDATE tickets SET status = 'paused'")
    assert raw_db.execute("SELECT count(*) FROM ticket_events").fetchone()[0] == 2


def test_transition_metric_counts_only_committed_changes(ticket):
    from rtbf.metrics import TICKET_TRANSITIONS
    from service.db import get_sessionmaker
    from service.pipeline_api import load_ticket, transition

    counter = TICKET_TRANSITIONS.labels("queued", "locating")
    before = counter._value.get()
    with get_sessionmaker()() as s:
        transition(s, load_ticket(s, ticket["id"]), "locating", actor="worker:test", reason="rolled back")
        s.rollback()
    assert counter._value.get() == before
    drive(ticket["id"], "locating")
    assert counter._value.get() == before + 1
