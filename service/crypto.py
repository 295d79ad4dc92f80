"""AES-GCM envelopes for the ticket's PII, with a key id so keys can rotate.

An envelope is ``version byte | 12-byte nonce | ciphertext+tag``; the key id is stored next to it (a
column), and the ticket id is bound in as associated data, so a ciphertext copied onto another ticket
does not decrypt. Encryption always uses the current key (``RTBF_ENCRYPTION_KEY`` /
``RTBF_ENCRYPTION_KEY_ID``); decryption also accepts the retired keys in ``RTBF_OLD_ENCRYPTION_KEYS``
(``{"k0": "<base64>"}``), so rotating means: add the new key, move the old one to the old keys, and
optionally re-encrypt with :func:`reencrypt`.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rtbf.settings import Settings, get_settings

_FORMAT_VERSION = b"\x01"
_NONCE_BYTES = 12
# Used only when env is dev/test and no key is configured: derived from a public string, so never secret.
_DEV_KEY_MATERIAL = b"rtbf-development-key-not-for-production"


class CryptoError(Exception):
    """A key is missing or malformed, or a ciphertext does not decrypt; messages never quote plaintext."""


@dataclass(frozen=True)
class Envelope:
    key_id: str
    ciphertext: bytes


def _decode_key(encoded: str, key_id: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, TypeError):
        raise CryptoError(f"encryption key {key_id!r} is not valid base64") from None
    if len(raw) != 32:
        raise CryptoError(f"encryption key {key_id!r} must decode to 32 bytes, got {len(raw)}")
    return raw


def keyring(settings: Settings | None = None) -> tuple[str, dict[str, bytes]]:
    """The current key id and every usable key by id (current first)."""
    s = settings or get_settings()
    if s.encryption_key:
        current = _decode_key(s.encryption_key, s.encryption_key_id)
    elif s.env in {"dev", "test"}:
        current = hashlib.sha256(_DEV_KEY_MATERIAL).digest()
    else:
        raise CryptoError("RTBF_ENCRYPTION_KEY is required outside dev/test")
    keys = {s.encryption_key_id: current}
    for key_id, encoded in s.old_encryption_keys.items():
        keys.setdefault(key_id, _decode_key(encoded, key_id))
    return s.encryption_key_id, keys


def new_key() -> str:
    """A fresh random key in the format RTBF_ENCRYPTION_KEY expects."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def encrypt(plaintext: bytes, associated_data: bytes, settings: Settings | None = None) -> Envelope:
    key_id, keys = keyring(settings)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(keys[key_id]).encrypt(nonce, plaintext, associated_data)
    return Envelope(key_id=key_id, ciphertext=_FORMAT_VERSION + nonce + sealed)


def decrypt(envelope: Envelope, associated_data: bytes, settings: Settings | None = None) -> bytes:
    _, keys = keyring(settings)
    key = keys.get(envelope.key_id)
    if key is None:
        raise CryptoError(f"no key with id {envelope.key_id!r} is configured (add it to RTBF_OLD_ENCRYPTION_KEYS)")
    blob = envelope.ciphertext
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _FORMAT_VERSION:
        raise CryptoError("ciphertext is truncated or of an unknown format")
    nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, sealed, associated_data)
    except InvalidTag:
        raise CryptoError(f"ciphertext does not authenticate under key {envelope.key_id!r}") from None


def reencrypt(envelope: Envelope, associated_data: bytes, settings: Settings | None = None) -> Envelope:
    """Decrypt with whichever key sealed it and seal again with the current key (key rotation)."""
    return encrypt(decrypt(envelope, associated_data, settings), associated_data, settings)
