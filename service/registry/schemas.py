"""Request and response bodies of the models API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.tickets.schemas import ModelName


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ModelName
    source: str = Field(min_length=1, max_length=2000, description="Path or fsspec URI of the base model.")
    engine: dict[str, Any] | None = Field(None, description="Overrides of the engine settings for this model.")


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=1_000_000, description="The version 'current' should point at.")
    reason: str = Field(min_length=1, max_length=1000)
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
