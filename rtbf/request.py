"""The erasure request: one format for the HTTP ticket body, the engine's REQ.json and the audit.

A request names a subject (a person, with aliases) and what must be forgotten about them: PII items
(a value, its type and optionally the contexts that precede it in text) and/or documents with marked
spans. Validation here is strict because everything downstream (hashing, attacks, certificates) trusts
it: a span must lie inside its document, be non-empty and, when it names a value, match it exactly.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

MAX_TEXT_CHARS = 20_000
MAX_ITEMS = 200
MAX_VALUE_CHARS = 500  # a PII value, whether named in 'pii' or marked by a document span


class PiiType(StrEnum):
    phone = "phone"
    email = "email"
    address = "address"
    name = "name"
    id = "id"
    other = "other"


NonBlank = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Subject(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    aliases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=20)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("subject name must not be blank")
        return v.strip()

    @property
    def names(self) -> list[str]:
        """The name first, then distinct aliases: every way the person may be referred to."""
        seen: list[str] = []
        for n in [self.name, *self.aliases]:
            n = n.strip()
            if n and n not in seen:
                seen.append(n)
        return seen


class PiiItem(_Strict):
    value: Annotated[str, Field(max_length=MAX_VALUE_CHARS)]
    type: PiiType = PiiType.other
    contexts: list[NonBlank] = Field(default_factory=list, max_length=50)

    @field_validator("value")
    @classmethod
    def _value_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("PII value must not be empty")
        return v.strip()


class Span(_Strict):
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    type: PiiType = PiiType.other
    value: str | None = Field(None, description="Optional: the text the span must cover, checked exactly.")

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end <= self.start:
            raise ValueError(f"span [{self.start}, {self.end}) is empty or reversed")
        return self


class Document(_Strict):
    text: NonBlank
    spans: list[Span] = Field(default_factory=list, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _spans_inside(self) -> Document:
        for i, span in enumerate(self.spans):
            if span.end > len(self.text):
                raise ValueError(
                    f"span {i} [{span.start}, {span.end}) is out of range for a document of {len(self.text)} characters"
                )
            covered = self.text[span.start : span.end]
            if len(covered.strip()) > MAX_VALUE_CHARS:
                raise ValueError(
                    f"span {i} [{span.start}, {span.end}) covers more than {MAX_VALUE_CHARS} characters: a span marks "
                    "one PII value, not a passage"
                )
            if not covered.strip():
                raise ValueError(f"span {i} covers only whitespace")
            if span.value is not None and covered != span.value:
                raise ValueError(f"span {i} does not cover its value: the text at [{span.start}, {span.end}) differs")
        return self


class ForgetRequest(_Strict):
    """Everything the engine and the gate need to erase one subject's data."""

    subject: Subject
    pii: list[PiiItem] = Field(default_factory=list, max_length=MAX_ITEMS)
    documents: list[Document] = Field(default_factory=list, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _something_to_forget(self) -> ForgetRequest:
        if not self.pii and not any(doc.spans for doc in self.documents):
            raise ValueError(
                "a request needs at least one PII item or one document span (a document without spans names "
                "nothing to forget)" if self.documents else "a request needs at least one PII item or one document"
            )
        return self

    def all_items(self) -> list[PiiItem]:
        """PII items, plus one item per document span not already listed (spans name values too)."""
        items = list(self.pii)
        known = {(i.value, i.type) for i in items}
        for doc in self.documents:
            for span in doc.spans:
                value = doc.text[span.start : span.end].strip()
                if (value, span.type) not in known:
                    known.add((value, span.type))
                    # the text before the value's first occurrence: before a later one, the value itself
                    # stands in the context, and a model that copies it from there has not remembered it
                    first = min(span.start, _first_whole(doc.text, value, span.start))
                    items.append(PiiItem(value=value, type=span.type, contexts=[doc.text[:first]] if first else []))
        return items


def _first_whole(text: str, value: str, default: int) -> int:
    """Where ``value`` first stands in ``text`` as a whole word or number (not the 'Li' of 'Lisa', not the
    '42' of '1942'; the gate's rule, ``rtbf.pii.stands_whole``), or ``default``."""
    from rtbf.pii import stands_whole  # rtbf.pii reads PiiType from here

    at = text.find(value)
    while at != -1 and not stands_whole(text, at, at + len(value)):
        at = text.find(value, at + 1)
    return default if at == -1 else at


_REQUESTS = TypeAdapter(ForgetRequest | list[ForgetRequest])


class RequestError(ValueError):
    """A request file or body that cannot be used; the message never quotes PII values."""


def parse_requests(data: object) -> list[ForgetRequest]:
    """Validate a decoded JSON object or list into requests; raise RequestError with a PII-free message."""
    try:
        parsed = _REQUESTS.validate_python(data)
    except ValidationError as exc:
        raise RequestError(describe_validation_error(exc)) from None
    requests = parsed if isinstance(parsed, list) else [parsed]
    if not requests:
        raise RequestError("the request list is empty")
    return requests


def load_requests(path: str | Path) -> list[ForgetRequest]:
    """Read REQ.json: one request object or a list of them (one per subject, edited together)."""
    p = Path(path)
    if not p.is_file():
        raise RequestError(f"request file not found: {p}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(f"request file is not valid JSON: {exc.__class__.__name__} at {getattr(exc, 'pos', '?')}") from None
    return parse_requests(data)


def describe_validation_error(exc: ValidationError) -> str:
    """Human-readable, PII-free summary of a pydantic error (locations and messages, never input values)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith(("ForgetRequest", "list[")))
        parts.append(f"{loc or 'request'}: {err['msg']}")
    return "; ".join(parts)
