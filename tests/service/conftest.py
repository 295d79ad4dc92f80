"""Fixtures of the gateway tests: a scratch PostgreSQL database per test process, real Redis (db 12).

The database ``rtbf_test_gw_<pid>`` is created and migrated with Alembic once per session, every test
starts from empty tables, and the database is
dropped at the end. The environment is pointed at these resources before any ``service`` module reads
the settings, and restored afterwards.
"""

from __future__ import annotations

import base64
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
import redis

from tests.envtools import restore_env

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
TEST_DB = f"rtbf_test_gw_{os.getpid()}"
TEST_DB_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{TEST_DB}"
# One Redis database per xdist worker, as the PostgreSQL database is one per process: both workers run
# service tests, each flushes its database after every test and counts the messages its tickets enqueue, and
# on a shared database one worker's webhooks landed in the other's count (a CI run saw 6 where 4 were sent).
# 12 to 14: 11 is the pipeline suite's, and other suites are told to use 15.
REDIS_DB = 12 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 3
TEST_ENV = {
    "RTBF_DATABASE_URL": TEST_DB_URL,
    "RTBF_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
    "RTBF_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "RTBF_ENCRYPTION_KEY_ID": "test-k1",
    "RTBF_WEBHOOK_SECRET": "test-webhook-secret",
    "RTBF_WEBHOOK_MAX_ATTEMPTS": "3",
    "RTBF_MAX_BODY_BYTES": "200000",
    "RTBF_PII_RETENTION_DAYS": "30",
}
_saved_env = {k: os.environ.get(k) for k in TEST_ENV}
os.environ.update(TEST_ENV)

from rtbf.settings import get_settings

get_settings.cache_clear()

TABLES = (
    "webhook_attempts", "webhook_deliveries", "ticket_pii_hashes", "ticket_events", "tickets",
    "model_alias_events", "model_aliases", "model_leases", "model_versions", "models", "api_keys", "tenants",
)


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    from service.db import engine_for
    from service.migrate import upgrade

    _admin(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{TEST_DB}"')
    upgrade(TEST_DB_URL)
    yield TEST_DB_URL
    engine_for(TEST_DB_URL).dispose()
    _admin(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    restore_env(_saved_env)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def broker() -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)


@pytest.fixture(autouse=True)
def clean_state(database: str, broker: redis.Redis) -> Iterator[None]:
    yield
    # DELETE with triggers off (replica role) is much faster than TRUNCATE on tiny tables, and the
    # append-only triggers exist to stop the application, not the test harness.
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={TEST_DB}") as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        for table in TABLES:
            conn.execute(f"DELETE FROM {table}")
        conn.commit()
    broker.flushdb()


@pytest.fixture(scope="session")
def app(database: str):
    from service.app import create_app

    return create_app()


@pytest.fixture(scope="session")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def session(database: str):
    from service.db import get_sessionmaker

    with get_sessionmaker()() as s:
        yield s


@pytest.fixture
def raw_db(database: str) -> Iterator[psycopg.Connection]:
    """A plain psycopg connection, to read rows exactly as stored."""
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={TEST_DB}", autocommit=True) as conn:
        yield conn


def _create_key(tenant: str, scopes: list[str]) -> str:
    from service.db import session_scope
    from service.keys.service import create_key

    with session_scope() as s:
        return create_key(s, tenant, scopes).secret


@pytest.fixture
def make_headers(database: str):
    """make_headers(tenant, *scopes) -> Authorization headers of a fresh key."""

    def make(tenant: str, *scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {_create_key(tenant, list(scopes))}"}

    return make


@pytest.fixture
def admin(make_headers) -> dict[str, str]:
    return make_headers("acme", "admin")


@pytest.fixture
def writer(make_headers) -> dict[str, str]:
    return make_headers("acme", "tickets:write")


@pytest.fixture
def reader(make_headers) -> dict[str, str]:
    return make_headers("acme", "tickets:read")


@pytest.fixture
def other_tenant(make_headers) -> dict[str, str]:
    return make_headers("globex", "admin")


MODEL = "demo-gpt2"
PHONE = "+1 415-555-0199"
EMAIL = "jane.roe@example.org"
NAME = "Jane Roe"
DOC_TEXT = "Call Jane Roe at +1 415-555-0199 or write to jane.roe@example.org today."


def ticket_body(**overrides) -> dict:
    start = DOC_TEXT.index(PHONE)
    body = {
        "subject": {"name": NAME, "aliases": ["J. Roe"]},
        "model": {"name": MODEL},
        "pii": [{"value": EMAIL, "type": "email", "contexts": ["write to"]}],
        "documents": [{"text": DOC_TEXT, "spans": [{"start": start, "end": start + len(PHONE), "type": "phone",
                                                   "value": PHONE}]}],
        "method": "auto",
        "jurisdiction": "gdpr",
        "external_ref": "portal-1",
    }
    body.update(overrides)
    return body


@pytest.fixture
def model(client, admin) -> str:
    r = client.post("/v1/models", json={"name": MODEL, "source": "/models/demo-gpt2"}, headers=admin)
    assert r.status_code == 201, r.text
    return MODEL


@pytest.fixture
def ticket(client, writer, model) -> dict:
    r = client.post("/v1/tickets", json=ticket_body(), headers=writer)
    assert r.status_code == 202, r.text
    return r.json()


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec.requests.append(({k: v for k, v in self.headers.items()}, body))
            status = rec.statuses.pop(0) if rec.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/rtbf"
    yield rec
    server.shutdown()
    server.server_close()


def drive(ticket_id: str | uuid.UUID, *statuses: str, actor: str = "worker:test") -> None:
    """Move a ticket through statuses with the state machine, as a worker would."""
    from service.db import session_scope
    from service.pipeline_api import load_ticket, transition

    with session_scope() as s:
        t = load_ticket(s, ticket_id, for_update=True)
        for status in statuses:
            transition(s, t, status, actor=actor, reason=f"test moves to {status}", stage=status)


def publish(
    ticket_id: str, uri: str, *, sha256: str = "cd" * 32, verification: dict | None = None,
    evidence: dict | None = None,
) -> int:
    """What a worker does at the end: a new immutable version, 'current' moved, the result recorded, the
    ticket completed. Returns the new version number."""
    from service.db import session_scope
    from service.pipeline_api import (
        get_alias,
        load_ticket,
        record_result,
        register_version,
        set_alias,
        transition,
    )

    drive(ticket_id, "locating", "editing", "verifying", "publishing")
    with session_scope() as s:
        t = load_ticket(s, ticket_id, for_update=True)
        base = get_alias(s, t.model_id)
        v = register_version(s, t.model_id, storage_uri=uri, sha256=sha256, parent_id=base.id, ticket_ids=[str(t.id)])
        set_alias(s, t.model_id, "current", v.id, actor="worker:test", reason=f"publish {ticket_id}")
        record_result(
            s, t, base_version_id=base.id, result_version_id=v.id,
            verification=verification if verification is not None else {"passed": True}, evidence=evidence,
        )
        transition(s, t, "completed", actor="worker:test", reason="gate passed")
        return v.version
