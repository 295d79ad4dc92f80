"""PII at rest: one AES-GCM envelope per ticket with a key id, salted hashes, no plaintext anywhere."""

from __future__ import annotations

import base64
import os

import pytest

from tests.service.conftest import DOC_TEXT, EMAIL, NAME, PHONE, ticket_body

PII_STRINGS = [PHONE, EMAIL, NAME, "J. Roe", "415-555-0199", "4155550199", "jane.roe", "Jane", DOC_TEXT[:20]]


def _all_stored_text(raw_db) -> str:
    """Every column of every row of every table, as PostgreSQL returns it (bytea as hex and as bytes)."""
    tables = [r[0] for r in raw_db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
    chunks = []
    for table in tables:
        for row in raw_db.execute(f'SELECT * FROM "{table}"').fetchall():
            for value in row:
                if isinstance(value, bytes | memoryview):
                    raw = bytes(value)
                    chunks.append(raw.decode("latin-1"))
                    chunks.append(raw.hex())
                else:
                    chunks.append(str(value))
    return "\n".join(chunks)


def test_raw_rows_hold_no_pii_value(client, writer, model, ticket, raw_db):
    client.post(f"/v1/tickets/{ticket['id']}/extend", json={"reason": "complex"}, headers=writer)
    stored = _all_stored_text(raw_db)
    assert ticket["id"] in stored  # the dump does contain the ticket
    for value in PII_STRINGS:
        assert value.casefold() not in stored.casefold(), "a PII value is stored in clear"
    row = raw_db.execute("SELECT pii_key_id, octet_length(pii_ciphertext), pii_hashes::text FROM tickets").fetchone()
    assert row[0] == "test-k1" and row[1] > 100
    assert row[2].count("hmac-sha256:") == 2


def test_ciphertext_decrypts_to_the_request_for_workers(ticket, session):
    from service.pipeline_api import load_request, load_ticket

    request = load_request(session, load_ticket(session, ticket["id"]))
    assert request.subject.name == NAME and request.subject.aliases == ["J. Roe"]
    assert request.pii[0].value == EMAIL
    assert request.documents[0].text == DOC_TEXT
    assert {i.value for i in request.all_items()} == {EMAIL, PHONE}


def test_ciphertext_is_bound_to_its_ticket(client, writer, model, ticket, raw_db, session):
    from service.crypto import CryptoError
    from service.pipeline_api import load_request, load_ticket

    other = client.post("/v1/tickets", json=ticket_body(), headers=writer).json()
    raw_db.execute("UPDATE tickets SET pii_ciphertext = (SELECT pii_ciphertext FROM tickets WHERE id = %s) "
                   "WHERE id = %s", (ticket["id"], other["id"]))
    with pytest.raises(CryptoError, match="does not authenticate"):
        load_request(session, load_ticket(session, other["id"]))


def test_key_rotation_old_tickets_still_decrypt(ticket, session, monkeypatch):
    from rtbf.settings import get_settings
    from service import crypto
    from service.pipeline_api import load_request, load_ticket

    old_key = os.environ["RTBF_ENCRYPTION_KEY"]
    monkeypatch.setenv("RTBF_ENCRYPTION_KEY", crypto.new_key())
    monkeypatch.setenv("RTBF_ENCRYPTION_KEY_ID", "test-k2")
    get_settings.cache_clear()
    try:
        t = load_ticket(session, ticket["id"])
        with pytest.raises(crypto.CryptoError, match="no key with id 'test-k1'"):
            load_request(session, t)
        monkeypatch.setenv("RTBF_OLD_ENCRYPTION_KEYS", f'{{"test-k1": "{old_key}"}}')
        get_settings.cache_clear()
        assert load_request(session, t).subject.name == NAME
        envelope = crypto.reencrypt(crypto.Envelope(t.pii_key_id, t.pii_ciphertext), f"rtbf-ticket:{t.id}".encode())
        assert envelope.key_id == "test-k2"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_crypto_rejects_bad_keys_and_tampering():
    from rtbf.settings import Settings
    from service import crypto

    good = Settings(encryption_key=crypto.new_key(), encryption_key_id="a")
    env = crypto.encrypt(b"secret", b"ad", good)
    assert crypto.decrypt(env, b"ad", good) == b"secret"
    tampered = crypto.Envelope(env.key_id, env.ciphertext[:-1] + bytes([env.ciphertext[-1] ^ 1]))
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(tampered, b"ad", good)
    with pytest.raises(crypto.CryptoError, match="32 bytes"):
        crypto.keyring(Settings(encryption_key=base64.urlsafe_b64encode(b"short").decode()))
    with pytest.raises(crypto.CryptoError, match="required outside dev/test"):
        crypto.keyring(Settings(env="prod", encryption_key=""))


def test_no_pii_in_logs(client, writer, model, capfd):
    capfd.readouterr()
    client.post("/v1/tickets", json=ticket_body(), headers=writer)
    client.post("/v1/tickets", json=ticket_body(documents=[{"text": DOC_TEXT, "spans": [{"start": 0, "end": 999}]}]),
                headers=writer)
    out, err = capfd.readouterr()
    for value in PII_STRINGS:
        assert value not in out + err
