"""The gate's report: the evidence that goes into the erasure certificate.

It says what was tried, what was measured, against which thresholds, and the verdict of every check, so
an auditor can re-judge it without re-running anything. PII never enters it: a subject or a value
appears only as ``rtbf.pii.pii_hash(value, salt, type)`` next to its type; counts and scores say the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from rtbf.settings import GateSettings
from workers.store import file_digests

REPORT_FORMAT = 1


class Status(StrEnum):
    passed = "pass"
    failed = "fail"
    skipped = "skipped"


class Check(BaseModel):
    """One gate condition: what was measured, the bound it had to meet, and the verdict."""

    name: str
    status: Status
    measured: float | None = None
    threshold: float | None = None
    detail: str = ""


class AttackCounts(BaseModel):
    prompts: int
    generations: int
    hits: int
    partial_leaks: int


class ExposureFigures(BaseModel):
    candidates: int
    contexts: int
    rank: int | None
    bits: float | None
    baseline_percentile_bits: float | None
    baseline_values: int
    baseline_mean_bits: float | None
    baseline_max_bits: float | None
    threshold_bits: float | None
    note: str | None = None


class ItemReport(BaseModel):
    """One PII item, known only by its salted hash and type."""

    value_hash: str
    type: str
    prompts: int
    attacks: dict[str, AttackCounts]
    exposure: ExposureFigures
    checks: list[Check]


class MemorisationFigures(BaseModel):
    instances: int
    ma: float | None
    el: dict[str, float | None]
    baseline_replicas: int
    baseline_ma: float | None
    baseline_el: dict[str, float | None]


class RequestReport(BaseModel):
    """One erasure request: the current one(s) and every earlier one of the lineage, re-checked."""

    role: str = Field(description="'current' for the request being closed, 'prior' for earlier erasures re-checked.")
    subject_hash: str
    items: list[ItemReport]
    memorisation: MemorisationFigures
    checks: list[Check]
    passed: bool


class UtilityFigures(BaseModel):
    heldout_texts: int
    heldout_source: str
    heldout_perplexity: float | None
    reference_heldout_perplexity: float | None
    retain_probes: int
    retain_perplexity: float | None
    reference_retain_perplexity: float | None
    locality_items: int
    locality_reference_extracted: int
    locality_still_extracted: int
    locality: float | None
    checks: list[Check]


class JoinFigures(BaseModel):
    """How the run joined values to their contexts (rtbf.joins): counts only, since a context names the person."""

    decided_by: str = Field(
        "none", description="'reference model', 'audited model' (no reference given) or 'none' (a report older "
        "than join decisions: every value measured after a space).",
    )
    contexts_decided: int = Field(0, description="Contexts that could glue a value, each scored both ways.")
    contexts_glued: int = Field(0, description="Of those, the ones whose value was measured glued on ('tel:+44').")
    from_engine: int = Field(0, description="Decisions that came from the engine's forget call, which win.")


class ModelFingerprint(BaseModel):
    path: str | None
    files: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256")


class GateReport(BaseModel):
    format: int = REPORT_FORMAT
    passed: bool
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    model: ModelFingerprint
    reference: ModelFingerprint | None
    device: str
    thresholds: GateSettings
    requests: list[RequestReport]
    utility: UtilityFigures
    joins: JoinFigures = Field(default_factory=JoinFigures)
    checks: list[Check] = Field(description="Every check of the run, flattened, for a quick verdict.")
    failed_checks: list[str]
    timings_seconds: dict[str, float]
    versions: dict[str, str]


def sha256_files(directory: Path | None) -> dict[str, str]:
    """sha256 of every file under a model directory, so the certificate names exactly what was audited."""
    if directory is None or not Path(directory).is_dir():
        return {}
    return file_digests(Path(directory))


def fingerprint(directory: Path | None) -> ModelFingerprint:
    return ModelFingerprint(path=str(directory) if directory is not None else None, files=sha256_files(directory))
