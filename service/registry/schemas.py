"""Request and response bodies of the models API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.api.types import text
from service.tickets.schemas import ModelName


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ModelName
    source: text(1, 2000) = Field(description="Path or fsspec URI of the base model.")  # type: ignore[valid-type]
    engine: dict[str, Any] | None = Field(None, description="Overrides of the engine settings for this model.")


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=1_000_000, description="The version 'current' should point at.")
    reason: text(1, 1000)  # type: ignore[valid-type]
    force: bool = Field(False, description="Roll back even past versions that completed erasures produced.")


class VersionOut(BaseModel):
    id: uuid.UUID
    version: int
    parent_version: int | None
    storage_uri: str
    sha256: str | None
    created_at: datetime
    ticket_ids: list[str]
    current: bool


class ModelOut(BaseModel):
    name: str
    source: str
    engine: dict[str, Any]
    created_at: datetime
    current_version: int | None
    latest_version: int | None
    versions: str = Field(description="Link to the versions of this model.")
