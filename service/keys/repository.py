"""Queries on tenants and API keys (every SQL statement about them lives here)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.models import ApiKey, Tenant


def get_tenant_by_name(session: Session, name: str) -> Tenant | None:
    return session.scalars(select(Tenant).where(Tenant.name == name)).one_or_none()


def get_or_create_tenant(session: Session, name: str) -> Tenant:
    tenant = get_tenant_by_name(session, name)
    if tenant is None:
        tenant = Tenant(id=uuid.uuid4(), name=name)
        session.add(tenant)
        session.flush()
    return tenant


def add_key(session: Session, key: ApiKey) -> ApiKey:
    session.add(key)
    session.flush()
    return key


def get_key(session: Session, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def revoke_key(session: Session, key_id: str, at: datetime) -> bool:
    """Mark the key revoked; False when no such active key exists."""
    result = session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=at)
    )
    return result.rowcount == 1
