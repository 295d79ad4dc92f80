"""Model registry use cases: register a base model, list lineages and versions, roll back "current".

Rolling back past a version produced by a completed erasure would put erased data back into service,
so it needs ``force`` and is refused while an edit holds the lineage's lease.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rtbf.settings import EngineSettings
from service.keys.service import Principal
from service.models import ModelVersion, RegisteredModel, Ticket
from service.problems import Problem, describe_errors, not_found
from service.registry import repository
from service.registry.repository import CURRENT
from service.registry.schemas import ModelCreate, ModelOut, RollbackBody, VersionOut
from service.tickets.states import Status


def validate_engine_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Check overrides against the engine settings (unknown or invalid knobs are a 422); keep only them."""
    if not overrides:
        return {}
    unknown = sorted(set(overrides) - set(EngineSettings.model_fields))
    if unknown:
        raise Problem(422, "validation", f"Unknown engine setting(s): {', '.join(unknown)}.", title="Invalid request")
    try:
        EngineSettings.model_validate(overrides)
    except ValidationError as exc:
        errors = describe_errors(exc.errors(include_input=False))
        raise Problem(422, "validation", "Invalid engine settings: " + "; ".join(
            f"engine.{e['location']}: {e['message']}" for e in errors), title="Invalid request") from None
    return dict(overrides)


def register_model(session: Session, principal: Principal, body: ModelCreate) -> RegisteredModel:
    engine = validate_engine_overrides(body.engine)
    if repository.get_model(session, body.name) is not None:
        raise Problem(409, "model-exists", f"A model named {body.name!r} is already registered.", title="Conflict")
    try:
        model = repository.add_model(session, body.name, body.source, engine)
        base = repository.add_version(session, model.id, storage_uri=body.source, sha256=None, parent_id=None,
                                      notes={"origin": "registered base model"})
        repository.set_alias(session, model.id, CURRENT, base.id, actor=principal.actor, reason="registered")
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Problem(409, "model-exists", f"A model named {body.name!r} is already registered.", title="Conflict") from None
    return model


def load_model(session: Session, name: str) -> RegisteredModel:
    model = repository.get_model(session, name)
    if model is None:
        raise not_found(f"Model {name!r}")
    return model


def model_view(session: Session, model: RegisteredModel) -> ModelOut:
    current = repository.get_alias(session, model.id, CURRENT)
    latest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id))
    return ModelOut(
        name=model.name, source=model.source_uri, engine=model.engine_settings or {}, created_at=model.created_at,
        current_version=current.version if current else None, latest_version=latest,
        versions=f"/v1/models/{model.name}/versions",
    )


def versions_view(session: Session, principal: Principal, model: RegisteredModel) -> list[VersionOut]:
    """The lineage's versions; ``ticket_ids`` lists only the caller's tenant's tickets.

    Models are shared by all tenants but tickets are not: another tenant's ticket id (even its existence)
    must not leak through the version that erased it.
    """
    versions = repository.list_versions(session, model.id)
    by_id = {v.id: v for v in versions}
    current = repository.get_alias(session, model.id, CURRENT)
    owned = repository.tenant_ticket_ids(
        session, principal.tenant_id, model.id, {t for v in versions for t in v.created_by_ticket_ids or []})
    return [
        VersionOut(
            id=v.id, version=v.version, parent_version=by_id[v.parent_id].version if v.parent_id in by_id else None,
            storage_uri=v.storage_uri, sha256=v.sha256, created_at=v.created_at,
            ticket_ids=[t for t in v.created_by_ticket_ids or [] if t in owned],
            current=current is not None and current.id == v.id,
        )
        for v in versions
    ]


def rollback(session: Session, principal: Principal, name: str, body: RollbackBody) -> RegisteredModel:
    model = load_model(session, name)
    target = repository.get_version(session, model.id, body.version)
    if target is None:
        raise Problem(422, "unknown-model-version", f"Model {name!r} has no version {body.version}.",
                      title="Unknown model version")
    lease = repository.get_lease(session, model.id)
    if lease is not None and lease.holder is not None and lease.expires_at and lease.expires_at > datetime.now(UTC):
        raise Problem(409, "edit-in-progress", f"An edit of {name!r} is in progress; roll back after it ends.",
                      title="Conflict")
    current = repository.get_alias(session, model.id, CURRENT)
    if current is not None and current.id == target.id:
        raise Problem(409, "already-current", f"Version {body.version} of {name!r} is already current.", title="Conflict")
    undone_query = (
        select(func.count())
        .select_from(Ticket)
        .join(ModelVersion, ModelVersion.id == Ticket.result_version_id)
        .where(Ticket.model_id == model.id, Ticket.status == Status.completed.value, ModelVersion.version > body.version)
    )
    undone = session.scalar(undone_query) or 0
    if undone and not body.force:
        # The guard counts every tenant's erasures, but the answer reports only the caller's own: how
        # many erasures other tenants completed on a shared model is theirs to know.
        own = session.scalar(undone_query.where(Ticket.tenant_id == principal.tenant_id)) or 0
        raise Problem(
            409, "rollback-reexposes",
            f"Rolling back to version {body.version} would undo completed erasures; "
            "set force=true only if they will be re-applied.", title="Conflict", completed_erasures_undone=own,
        )
    repository.set_alias(session, model.id, CURRENT, target.id, actor=principal.actor,
                         reason=f"rollback: {body.reason}" + (f" (undoes {undone} completed erasures)" if undone else ""))
    session.commit()
    return model
