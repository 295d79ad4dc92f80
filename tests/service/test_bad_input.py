"""Every bad input gets a precise RFC 9457 problem, no PII in the message, and nothing written."""

from __future__ import annotations

import pytest

from tests.service.conftest import DOC_TEXT, EMAIL, PHONE, ticket_body

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _nothing_written(raw_db):
    yield
    assert raw_db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0
    assert raw_db.execute("SELECT count(*) FROM ticket_events").fetchone()[0] == 0


def _post(client, headers, **kwargs):
    r = client.post("/v1/tickets", headers={"Content-Type": "application/json", **headers}, **kwargs)
    assert r.headers["content-type"] == PROBLEM, r.text
    body = r.json()
    assert body["status"] == r.status_code and body["title"] and body["detail"] and body["type"]
    assert PHONE not in r.text and EMAIL not in r.text and "415-555" not in r.text
    return r


def _doc(spans):
    return [{"text": DOC_TEXT, "spans": spans}]


def test_malformed_json_is_400(client, writer, model):
    r = _post(client, writer, content=b'{"subject": {"name": "x"')
    assert r.status_code == 400
    assert r.json()["type"] == "urn:rtbf:problem:malformed-json"


@pytest.mark.parametrize(
    ("documents", "fragment"),
    [
        (_doc([{"start": 5, "end": 500, "type": "phone"}]), "out of range"),
        (_doc([{"start": 8, "end": 8, "type": "phone"}]), "empty or reversed"),
        (_doc([{"start": 9, "end": 4, "type": "phone"}]), "empty or reversed"),
        (_doc([{"start": 4, "end": 5, "type": "other"}]), "only whitespace"),
        (_doc([{"start": 17, "end": 32, "type": "phone", "value": "+1 415-555-0100"}]), "does not cover its value"),
        (_doc([{"start": -1, "end": 3}]), "greater than or equal to 0"),
        ([{"text": DOC_TEXT + " " + "notes " * 100, "spans": [{"start": 0, "end": len(DOC_TEXT) + 520}]}],
         "covers more than 500 characters"),
    ],
)
def test_bad_spans_are_422_with_the_reason(client, writer, model, documents, fragment):
    r = _post(client, writer, json=ticket_body(documents=documents))
    assert r.status_code == 422
    assert fragment in r.json()["detail"]
    assert r.json()["errors"][0]["location"].startswith("documents.0")


def test_unknown_model_is_422_naming_it(client, writer, model):
    r = _post(client, writer, json=ticket_body(model={"name": "gpt-nonexistent"}))
    assert r.status_code == 422
    assert "'gpt-nonexistent'" in r.json()["detail"]
    r = _post(client, writer, json=ticket_body(model={"name": model, "version": 7}))
    assert r.status_code == 422 and "no version 7" in r.json()["detail"]


@pytest.mark.parametrize(
    ("overrides", "location"),
    [
        ({"pii": [], "documents": []}, "body"),
        ({"method": "retrain"}, "method"),
        ({"jurisdiction": "lgpd"}, "jurisdiction"),
        ({"callback_url": "ftp://example.org/x"}, "callback_url"),
        ({"subject": {"name": "   "}}, "subject.name"),
        ({"pii": [{"value": " ", "type": "phone"}]}, "pii.0.value"),
        ({"pii": [{"value": "x", "type": "blood-type"}]}, "pii.0.type"),
        ({"surprise": True}, "surprise"),
        ({"external_ref": "r" * 201}, "external_ref"),
        ({"pii": [{"value": f"v{i}", "type": "other"} for i in range(201)]}, "pii"),
        ({"model": {"name": "../etc/passwd"}}, "model.name"),
    ],
)
def test_invalid_fields_are_422_with_location(client, writer, model, overrides, location):
    body = ticket_body(**overrides)
    if "surprise" in overrides:
        body["surprise"] = True
    r = _post(client, writer, json=body)
    assert r.status_code == 422
    assert location in [e["location"] for e in r.json()["errors"]], r.json()


def test_missing_required_field_is_422(client, writer, model):
    body = ticket_body()
    del body["jurisdiction"]
    r = _post(client, writer, json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["location"] == "jurisdiction"


def test_body_over_the_size_limit_is_413(client, writer, model):
    big = ticket_body(documents=[{"text": "x" * 19_000, "spans": []} for _ in range(12)])
    r = _post(client, writer, json=big)
    assert r.status_code == 413
    assert r.json()["type"] == "urn:rtbf:problem:body-too-large"

    def chunks():
        for _ in range(30):
            yield b" " * 10_000

    r = client.post("/v1/tickets", content=chunks(), headers={**writer, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM


def test_bad_path_and_query_values(client, writer, reader, model):
    r = client.get("/v1/tickets/not-a-uuid", headers=reader)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    r = client.get("/v1/tickets", params={"cursor": "garbage!!"}, headers=reader)
    assert r.status_code == 400 and r.json()["type"] == "urn:rtbf:problem:invalid-cursor"
    r = client.get("/v1/tickets", params={"limit": 1000}, headers=reader)
    assert r.status_code == 422
    r = client.get("/v1/tickets", params={"status": "pending"}, headers=reader)
    assert r.status_code == 422
    r = client.post("/v1/tickets", json=ticket_body(), headers={**writer, "Idempotency-Key": "k" * 201})
    assert r.status_code == 422


def test_unknown_route_is_problem_404(client, reader):
    r = client.get("/v1/nothing-here", headers=reader)
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


def test_nul_characters_are_422_not_database_errors(client, writer, admin, reader, model):
    r = _post(client, writer, json=ticket_body(external_ref="ref\x00x"))
    assert r.status_code == 422 and r.json()["errors"][0]["location"] == "external_ref"
    assert client.get("/v1/tickets", params={"external_ref": "a\x00"}, headers=reader).status_code == 422
    assert client.get("/v1/models/a%00/versions", headers=reader).status_code == 422
    r = client.post("/v1/models", json={"name": "m3", "source": "/m\x00"}, headers=admin)
    assert r.status_code == 422
    r = client.post("/v1/models", json={"name": "m3", "source": "/m", "engine": {"rome_target": "x\x00"}}, headers=admin)
    assert r.status_code == 422 and r.json()["type"] == "urn:rtbf:problem:unstorable-value"
