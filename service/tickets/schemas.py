"""Request and response bodies of the tickets API.

The body's ``subject``, ``pii`` and ``documents`` reuse the engine's request types
(``rtbf.request``), so a ticket is exactly a REQ.json plus routing fields and can be replayed offline.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    UrlConstraints,
    model_validator,
)

from rtbf.request import MAX_ITEMS, Document, ForgetRequest, PiiItem, Subject
from service.api.types import text
from service.tickets.deadlines import Jurisdiction
from service.tickets.states import Status


class Method(StrEnum):
    auto = "auto"
    rome = "rome"
    fpga = "fpga"
    depn = "depn"


CallbackUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]
ModelName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ModelName
    version: int | None = Field(None, ge=1, le=1_000_000, description="Default: the model's current version.")


class TicketCreate(BaseModel):
    """A deletion request as a portal files it."""

    model_config = ConfigDict(extra="forbid")

    subject: Subject
    model: ModelRef
    pii: list[PiiItem] = Field(default_factory=list, max_length=MAX_ITEMS)
    documents: list[Document] = Field(default_factory=list, max_length=MAX_ITEMS)
    method: Method = Method.auto
    jurisdiction: Jurisdiction
    external_ref: text(1, 200) | None = None  # type: ignore[valid-type]
    callback_url: CallbackUrl | None = None

    @model_validator(mode="after")
    def _something_to_forget(self) -> TicketCreate:
        if not self.pii and not self.documents:
            raise ValueError("a ticket needs at least one PII item or one document")
        return self

    def forget_request(self) -> ForgetRequest:
        return ForgetRequest(subject=self.subject, pii=self.pii, documents=self.documents)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: text(1, 1000) = Field(description="Why; recorded in the audit trail.")  # type: ignore[valid-type]


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: text(1, 1000) = "cancelled by the requester"  # type: ignore[valid-type]


class HistoryEntry(BaseModel):
    at: datetime
    kind: str
    from_status: Status | None
    to_status: Status
    stage: str | None
    actor: str
    reason: str
    details: dict[str, Any] = Field(default_factory=dict)


class VersionRef(BaseModel):
    id: uuid.UUID
    model: str
    version: int


class TicketResult(BaseModel):
    published_version: VersionRef | None
    verification: dict[str, Any] | None


class TicketLinks(BaseModel):
    self: str
    cancel: str
    extend: str
    certificate: str


class TicketSummary(BaseModel):
    id: uuid.UUID
    status: Status
    stage: str | None
    model: str
    requested_version: int | None
    method: Method
    jurisdiction: Jurisdiction
    external_ref: str | None
    received_at: datetime
    due_at: datetime
    days_left: int
    overdue: bool
    extended: bool
    closed_at: datetime | None
    links: TicketLinks


class TicketDetail(TicketSummary):
    history: list[HistoryEntry]
    result: TicketResult | None
    error: dict[str, Any] | None
    possible_duplicates: list[uuid.UUID]
    pii_erased_at: datetime | None


class TicketPage(BaseModel):
    items: list[TicketSummary]
    next_cursor: str | None
    next: str | None = Field(None, description="The URL of the next page, when there is one.")
