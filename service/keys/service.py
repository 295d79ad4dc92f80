"""Creating, revoking and checking API keys.

A key reads ``rtbf_<key id>_<secret>``. Only the SHA-256 of the secret is stored: the secret has 256
bits of entropy, so a fast hash is enough (no password-stretching needed) and lookups stay cheap on
every request. The key id is public and lets us find the row without scanning.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from service.keys import repository
from service.keys.scopes import Scope, effective_scopes
from service.models import ApiKey

PREFIX = "rtbf_"


class KeyCommandError(Exception):
    """A key command that cannot be carried out (unknown scope, unknown key)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its tenant and what it may do."""

    key_id: str
    tenant_id: uuid.UUID
    tenant_name: str
    scopes: frozenset[Scope]

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


@dataclass(frozen=True)
class NewKey:
    key_id: str
    tenant: str
    scopes: list[str]
    secret: str  # the full key; shown once


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, tenant_name: str, scopes: list[str], description: str | None = None) -> NewKey:
    """Create a key for the tenant (creating the tenant on first use) and return it in full, once."""
    if not scopes:
        raise KeyCommandError("a key needs at least one scope")
    unknown = sorted({s for s in scopes if s not in {x.value for x in Scope}})
    if unknown:
        raise KeyCommandError(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(s.value for s in Scope)}")
    if not tenant_name.strip():
        raise KeyCommandError("the tenant name must not be blank")
    tenant = repository.get_or_create_tenant(session, tenant_name.strip())
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    ordered = sorted(set(scopes))
    repository.add_key(
        session,
        ApiKey(id=key_id, tenant_id=tenant.id, secret_hash=_hash_secret(secret), scopes=ordered, description=description),
    )
    return NewKey(key_id=key_id, tenant=tenant.name, scopes=ordered, secret=f"{PREFIX}{key_id}_{secret}")


def revoke(session: Session, key_id: str) -> None:
    if not repository.revoke_key(session, key_id, datetime.now(UTC)):
        raise KeyCommandError(f"no active key with id {key_id!r}")


def authenticate(session: Session, presented: str) -> Principal | None:
    """The principal behind a presented key, or None when it is malformed, unknown, wrong or revoked."""
    if not presented.startswith(PREFIX):
        return None
    key_id, sep, secret = presented[len(PREFIX) :].partition("_")
    if not sep or not key_id or not secret or len(key_id) > 40:
        return None
    key = repository.get_key(session, key_id)
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_hash, _hash_secret(secret)):
        return None
    return Principal(
        key_id=key.id, tenant_id=key.tenant_id, tenant_name=key.tenant.name, scopes=effective_scopes(key.scopes)
    )
