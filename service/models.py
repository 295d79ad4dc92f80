"""The gateway's tables, as SQLAlchemy 2 typed mappings.

The schema itself is created only by the Alembic migrations in ``migrations/``; these classes describe it
for queries. Two tables are append-only by design and guarded by database triggers (see the migration):
``ticket_events`` (the audit trail of every state change) and ``model_versions`` (immutable versions).
PII lives only in ``tickets.pii_ciphertext`` (AES-GCM, see ``service.crypto``); everything else holds
salted hashes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can drop exactly what they created.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDoc = JSON().with_variant(JSONB(), "postgresql")
UtcDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    """An organisation using the gateway; tickets and API keys belong to exactly one."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the secret is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JsonDoc)
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    tenant: Mapped[Tenant] = relationship(lazy="joined")


class RegisteredModel(Base):
    """A model lineage: a base model plus every version derived from it by edits."""

    __tablename__ = "models"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source_uri: Mapped[str] = mapped_column(Text)
    engine_settings: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class ModelVersion(Base):
    """One immutable version of a model lineage (rows are never updated or deleted)."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    storage_uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_by_ticket_ids: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    notes: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class ModelAlias(Base):
    """A movable name ("current", ...) pointing at one version of a lineage."""

    __tablename__ = "model_aliases"

    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(50), primary_key=True)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(100))


class ModelAliasEvent(Base):
    """Append-only history of alias moves (publications and rollbacks)."""

    __tablename__ = "model_alias_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(50))
    from_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    to_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class ModelLease(Base):
    """The edit lease of a model lineage: one holder at a time, until it releases or the lease expires."""

    __tablename__ = "model_leases"

    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    acquired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Ticket(Base):
    """One erasure request and its life; the request itself is only stored encrypted."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_tickets_tenant_received", "tenant_id", "received_at", "id"),
        Index("ix_tickets_status_due", "status", "due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"), index=True)
    requested_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str | None] = mapped_column(String(50))
    method: Mapped[str] = mapped_column(String(10))
    jurisdiction: Mapped[str] = mapped_column(String(10))
    external_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    callback_url: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    body_fingerprint: Mapped[str] = mapped_column(String(64))
    # The ForgetRequest (subject, pii, documents) as one AES-GCM envelope; NULL once purged.
    pii_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    pii_key_id: Mapped[str | None] = mapped_column(String(50))
    subject_hash: Mapped[str] = mapped_column(String(64))
    pii_hashes: Mapped[list[dict[str, str]]] = mapped_column(JsonDoc, default=list)
    pii_purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    base_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    result_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    verification: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    certificate: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    error: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)

    model: Mapped[RegisteredModel] = relationship(lazy="joined")


class TicketPiiHash(Base):
    """Salted hashes of a ticket's values, indexed for duplicate detection across tickets of a tenant."""

    __tablename__ = "ticket_pii_hashes"

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    pii_hash: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)


class TicketEvent(Base):
    """The audit trail: who changed a ticket, when, from what to what, and why. Never updated or deleted."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "transition" | "extension"
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str | None] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class WebhookDelivery(Base):
    """One webhook to deliver (a ticket event to the ticket's callback URL) and its outcome."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("ticket_events.id", ondelete="RESTRICT"))
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookAttempt(Base):
    """Every HTTP attempt of a delivery, successful or not."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
