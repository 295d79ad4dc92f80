"""API keys: hashes only, scopes, revocation, tenant isolation (404, not 403), and the keys CLI."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from tests.service.conftest import ticket_body


def _cli() -> typer.Typer:
    from service.cli import register

    app = typer.Typer()
    register(app)
    return app


def test_missing_and_wrong_keys_are_401_problems(client, model):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"X-API-Key": "rtbf_0000_ffff"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        r = client.get("/v1/tickets", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_key_in_x_api_key_header_works(client, writer, model):
    key = writer["Authorization"].removeprefix("Bearer ")
    assert client.get("/v1/tickets", headers={"X-API-Key": key}).status_code == 200


def test_wrong_secret_for_a_real_key_id_is_401(client, writer, model):
    key = writer["Authorization"].removeprefix("Bearer ")
    forged = key[: key.rindex("_") + 1] + "A" * 43
    assert client.get("/v1/tickets", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_scopes(client, admin, writer, reader, model, ticket):
    # readers (legal teams) read but never write
    assert client.get(f"/v1/tickets/{ticket['id']}", headers=reader).status_code == 200
    assert client.get("/v1/models", headers=reader).status_code == 200
    denied = client.post("/v1/tickets", json=ticket_body(), headers=reader)
    assert denied.status_code == 403 and "tickets:write" in denied.json()["detail"]
    assert client.post(f"/v1/tickets/{ticket['id']}/cancel", headers=reader).status_code == 403
    assert client.post(f"/v1/tickets/{ticket['id']}/extend", json={"reason": "x"}, headers=reader).status_code == 403
    # writers (portals) file and poll, but do not manage models
    assert client.get(f"/v1/tickets/{ticket['id']}", headers=writer).status_code == 200
    r = client.post("/v1/models", json={"name": "m2", "source": "/m2"}, headers=writer)
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    assert client.post(f"/v1/models/{model}/rollback", json={"version": 1, "reason": "x"}, headers=reader).status_code == 403
    # admin does everything
    assert client.post("/v1/tickets", json=ticket_body(), headers=admin).status_code == 202


def test_tenant_isolation_is_404_everywhere(client, writer, other_tenant, model, ticket):
    tid = ticket["id"]
    for method, path, kwargs in [
        ("GET", f"/v1/tickets/{tid}", {}),
        ("POST", f"/v1/tickets/{tid}/cancel", {}),
        ("POST", f"/v1/tickets/{tid}/extend", {"json": {"reason": "x"}}),
        ("GET", f"/v1/tickets/{tid}/certificate", {}),
    ]:
        r = client.request(method, path, headers=other_tenant, **kwargs)
        assert r.status_code == 404, (method, path)
        assert r.json()["detail"] == f"Ticket {tid} was not found."
    assert client.get("/v1/tickets", headers=other_tenant).json()["items"] == []
    assert client.get("/v1/tickets", params={"external_ref": "portal-1"}, headers=other_tenant).json()["items"] == []
    # and nothing changed for the owner
    assert client.get(f"/v1/tickets/{tid}", headers=writer).json()["status"] == "queued"
    # duplicates are never reported across tenants
    theirs = client.post("/v1/tickets", json=ticket_body(), headers=other_tenant).json()
    assert theirs["possible_duplicates"] == []


def test_cli_creates_key_shown_once_storing_only_a_hash_and_revokes_it(client, raw_db, model):
    runner = CliRunner()
    r = runner.invoke(_cli(), ["keys", "create", "--tenant", "initech", "--scope", "tickets:read",
                               "--scope", "tickets:write"])
    assert r.exit_code == 0, r.output
    key = r.output.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    assert key.startswith("rtbf_")
    secret = key.split("_", 2)[2]
    row = raw_db.execute("SELECT id, secret_hash, scopes::text FROM api_keys WHERE id = %s", (key_id,)).fetchone()
    assert row is not None and secret not in " ".join(str(c) for c in row) and len(row[1]) == 64
    assert client.get("/v1/tickets", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    r = runner.invoke(_cli(), ["keys", "revoke", key_id])
    assert r.exit_code == 0 and key_id in r.output
    assert client.get("/v1/tickets", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_cli_rejects_bad_key_commands(raw_db):
    runner = CliRunner()
    r = runner.invoke(_cli(), ["keys", "create", "--tenant", "initech", "--scope", "superuser"])
    assert r.exit_code == 2 and "unknown scope(s) superuser" in r.output
    r = runner.invoke(_cli(), ["keys", "revoke", "doesnotexist"])
    assert r.exit_code == 2 and "no active key" in r.output
    assert raw_db.execute("SELECT count(*) FROM api_keys").fetchone()[0] == 0
    assert raw_db.execute("SELECT count(*) FROM tenants").fetchone()[0] == 0
