"""Queries on model lineages: models, immutable versions, aliases and the per-lineage edit lease."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from service.models import (
    ModelAlias,
    ModelAliasEvent,
    ModelLease,
    ModelVersion,
    RegisteredModel,
    Ticket,
)

CURRENT = "current"


def get_model(session: Session, name: str) -> RegisteredModel | None:
    return session.scalars(select(RegisteredModel).where(RegisteredModel.name == name)).one_or_none()


def get_model_by_id(session: Session, model_id: uuid.UUID) -> RegisteredModel | None:
    return session.get(RegisteredModel, model_id)


def list_models(session: Session) -> list[RegisteredModel]:
    return list(session.scalars(select(RegisteredModel).order_by(RegisteredModel.name)))


def add_model(session: Session, name: str, source_uri: str, engine_settings: dict[str, Any]) -> RegisteredModel:
    model = RegisteredModel(id=uuid.uuid4(), name=name, source_uri=source_uri, engine_settings=engine_settings)
    session.add(model)
    session.flush()
    session.add(ModelLease(model_id=model.id, holder=None, acquired_at=None, expires_at=None))
    session.flush()
    return model


def list_versions(session: Session, model_id: uuid.UUID) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).where(ModelVersion.model_id == model_id).order_by(ModelVersion.version)))


def tenant_ticket_ids(session: Session, tenant_id: uuid.UUID, model_id: uuid.UUID, ids: set[str]) -> set[str]:
    """Which of ``ids`` (as stored in ``created_by_ticket_ids``) are tickets of this tenant on this model."""
    wanted = set()
    for value in ids:
        try:
            wanted.add(uuid.UUID(value))
        except ValueError:
            continue
    if not wanted:
        return set()
    rows = session.scalars(
        select(Ticket.id).where(Ticket.tenant_id == tenant_id, Ticket.model_id == model_id, Ticket.id.in_(wanted))
    )
    return {str(ticket_id) for ticket_id in rows}


def get_version(session: Session, model_id: uuid.UUID, number: int) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion).where(ModelVersion.model_id == model_id, ModelVersion.version == number)
    ).one_or_none()


def get_version_by_id(session: Session, version_id: uuid.UUID) -> ModelVersion | None:
    return session.get(ModelVersion, version_id)


def add_version(
    session: Session,
    model_id: uuid.UUID,
    *,
    storage_uri: str,
    sha256: str | None,
    parent_id: uuid.UUID | None,
    ticket_ids: list[str] | None = None,
    notes: dict[str, Any] | None = None,
) -> ModelVersion:
    """Append the next version number of the lineage (the unique constraint settles a race: retry)."""
    next_number = (
        session.scalar(select(func.coalesce(func.max(ModelVersion.version), 0)).where(ModelVersion.model_id == model_id))
        + 1
    )
    version = ModelVersion(
        id=uuid.uuid4(), model_id=model_id, version=next_number, parent_id=parent_id, storage_uri=storage_uri,
        sha256=sha256, created_by_ticket_ids=list(ticket_ids or []), notes=dict(notes or {}),
        created_at=datetime.now(UTC),
    )
    session.add(version)
    session.flush()
    return version


def get_alias(session: Session, model_id: uuid.UUID, alias: str = CURRENT) -> ModelVersion | None:
    row = session.get(ModelAlias, (model_id, alias))
    return None if row is None else session.get(ModelVersion, row.version_id)


def set_alias(
    session: Session, model_id: uuid.UUID, alias: str, version_id: uuid.UUID, *, actor: str, reason: str
) -> None:
    """Point ``alias`` at a version (upsert) and append the move to the alias history."""
    previous = session.get(ModelAlias, (model_id, alias))
    from_version = previous.version_id if previous else None
    now = datetime.now(UTC)
    session.execute(
        pg_insert(ModelAlias)
        .values(model_id=model_id, alias=alias, version_id=version_id, updated_at=now, updated_by=actor)
        .on_conflict_do_update(
            index_elements=[ModelAlias.model_id, ModelAlias.alias],
            set_={"version_id": version_id, "updated_at": now, "updated_by": actor},
        )
    )
    if previous is not None:
        session.expire(previous)
    session.add(ModelAliasEvent(model_id=model_id, alias=alias, from_version_id=from_version, to_version_id=version_id,
                                actor=actor, reason=reason, created_at=now))
    session.flush()


def acquire_lease(session: Session, model_id: uuid.UUID, holder: str, seconds: int) -> bool:
    """Take the lineage's edit lease when free or expired, in one atomic UPDATE; True when taken."""
    now = datetime.now(UTC)
    result = session.execute(
        update(ModelLease)
        .where(
            ModelLease.model_id == model_id,
            or_(ModelLease.holder.is_(None), ModelLease.expires_at < now, ModelLease.holder == holder),
        )
        .values(holder=holder, acquired_at=now, expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def renew_lease(session: Session, model_id: uuid.UUID, holder: str, seconds: int) -> bool:
    """Extend a lease the caller still holds (long edits); False when it was lost."""
    now = datetime.now(UTC)
    result = session.execute(
        update(ModelLease)
        .where(ModelLease.model_id == model_id, ModelLease.holder == holder, ModelLease.expires_at >= now)
        .values(expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release_lease(session: Session, model_id: uuid.UUID, holder: str) -> bool:
    """Give the lease back; only its holder can. False when the caller did not hold it."""
    result = session.execute(
        update(ModelLease)
        .where(ModelLease.model_id == model_id, ModelLease.holder == holder)
        .values(holder=None, acquired_at=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def get_lease(session: Session, model_id: uuid.UUID) -> ModelLease | None:
    return session.get(ModelLease, model_id, populate_existing=True)
