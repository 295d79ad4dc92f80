"""``rtbf.process_ticket``: claim a queued ticket, edit its model lineage once for every ticket waiting on
it, verify, publish an immutable version and close the tickets, through ``service.pipeline_api`` only.

The database is the truth; the message only says "go look at ticket N". So:

* a ticket that is no longer ``queued`` is left alone (a duplicate or late delivery does nothing);
* one edit at a time per lineage: the lease is taken before anything moves, and a busy lease means
  "try again later" (:class:`LeaseBusy`, which the Celery task turns into a retry);
* the tickets queued for the same lineage (same method and requested version) join the edit, so
  sequential edits, which drift, stay few;
* every step is its own commit, so a legal team polling the ticket sees it move, and webhooks (sent by
  ``transition`` after each commit) announce only what really happened;
* a cancel that lands before editing starts wins: the edit is abandoned or re-run without that ticket;
* the engine is run exactly as ``rtbf forget`` runs it (``workers.offline.forget_offline``), so a ticket
  can be replayed offline; earlier erasures of the lineage are re-checked by the gate;
* nothing but hashes, counts and exception class names reaches the database or the logs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from rtbf.logging import get_logger
from rtbf.metrics import EDITS, LEASE_WAIT, STAGE_DURATION
from rtbf.request import ForgetRequest
from rtbf.settings import EngineSettings, Settings, get_settings
from service.models import ModelVersion, Ticket
from service.pipeline_api import (
    CURRENT,
    Status,
    acquire_lease,
    earlier_completed_requests,
    get_alias,
    get_model_by_id,
    get_version_by_id,
    list_versions,
    load_request,
    load_ticket,
    queued_tickets,
    record_error,
    record_result,
    register_version,
    release_lease,
    renew_lease,
    session_scope,
    set_alias,
    transition,
)
from service.tickets.states import TERMINAL
from workers import evidence, store
from workers.errors import LeaseLost, describe

log = get_logger("rtbf.workers.pipeline")

# Stage names recorded with each status (the audit trail and the ``stage`` field of the ticket).
STAGE_LOCATE, STAGE_GATE, STAGE_STORE = "depn", "gate", "store"
RENEW_EVERY_SECONDS = 60.0


class LeaseBusy(Exception):
    """Another worker holds the lineage's edit lease: nothing changed, try the ticket again later."""

    def __init__(self, model_id: uuid.UUID) -> None:
        super().__init__(f"the edit lease of model {model_id} is held by another worker")
        self.model_id = model_id


class _Cancelled(Exception):
    """Tickets of the batch were cancelled before editing started (the engine run is abandoned)."""


def worker_actor() -> str:
    """``worker:<hostname>:<pid>``: who did it, in the audit trail (fits the 100-character column)."""
    return f"worker:{socket.gethostname()[:80]}:{os.getpid()}"


@dataclass
class Batch:
    """The tickets one edit serves, claimed under the lineage's lease (``locating``)."""

    ticket_ids: list[uuid.UUID]
    model_id: uuid.UUID
    method: str
    requested_version_id: uuid.UUID | None
    holder: str
    actor: str


@dataclass
class Outcome:
    """What a run did, for the task result and logs (ids and numbers only)."""

    status: str  # skipped | completed | rejected | failed | cancelled
    ticket_ids: list[str] = field(default_factory=list)
    version: int | None = None
    error_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "ticket_ids": self.ticket_ids, "version": self.version,
                "error_code": self.error_code}


def process_ticket(
    ticket_id: uuid.UUID | str,
    *,
    settings: Settings | None = None,
    holder: str | None = None,
    waiting_since: float | None = None,
) -> Outcome:
    """Handle one ``rtbf.process_ticket`` message. Raises :class:`LeaseBusy` when the lineage is being
    edited elsewhere (retry later); every other problem ends the claimed tickets in ``failed``."""
    settings = settings or get_settings()
    batch = claim(ticket_id, settings=settings, holder=holder, waiting_since=waiting_since)
    if batch is None:
        return Outcome("skipped", [str(ticket_id)])
    return run(batch, settings=settings)


# ------------------------------------------------------------------------------------------- claim


def claim(
    ticket_id: uuid.UUID | str,
    *,
    settings: Settings,
    holder: str | None = None,
    waiting_since: float | None = None,
) -> Batch | None:
    """Lock the ticket, take the lease, gather the batch and move it to ``locating``; one commit.

    None when the ticket is not (or no longer) ``queued``.
    """
    actor = worker_actor()
    holder = holder or f"{actor}:{secrets.token_hex(4)}"
    with session_scope() as session:
        ticket = load_ticket(session, ticket_id, for_update=True)
        if ticket is None or ticket.status != Status.queued.value:
            log.info("ticket_skipped", ticket_id=str(ticket_id), status=None if ticket is None else ticket.status)
            return None
        if not acquire_lease(session, ticket.model_id, holder, settings.lease_seconds):
            log.info("lease_busy", ticket_id=str(ticket.id), model_id=str(ticket.model_id))
            raise LeaseBusy(ticket.model_id)
        LEASE_WAIT.observe(max(time.time() - waiting_since, 0.0) if waiting_since else 0.0)
        members = _batch_members(session, ticket)
        for member in members:
            others = len(members) - 1
            transition(session, member, Status.locating, actor=actor, stage=STAGE_LOCATE,
                       reason="claimed by a worker; locating the PII in the model"
                       + (f" (one edit with {others} other ticket(s) of this model)" if others else ""),
                       details={"batch_size": len(members)})
        batch = Batch(ticket_ids=[m.id for m in members], model_id=ticket.model_id, method=ticket.method,
                      requested_version_id=ticket.requested_version_id, holder=holder, actor=actor)
    log.info("batch_claimed", ticket_ids=[str(i) for i in batch.ticket_ids], model_id=str(batch.model_id))
    return batch


def _batch_members(session: Session, leader: Ticket) -> list[Ticket]:
    """The leader plus the lineage's other queued tickets that can share its edit (same method, same base)."""
    members = [leader]
    for other in queued_tickets(session, leader.model_id):
        if other.id == leader.id:
            continue
        if other.method == leader.method and other.requested_version_id == leader.requested_version_id:
            members.append(other)
    return members


# --------------------------------------------------------------------------------------------- run


@dataclass
class _Job:
    """What the engine needs, read in one short transaction after the claim."""

    model_name: str
    base: ModelVersion | None
    base_uri: str
    next_number: int
    ticket_ids: list[uuid.UUID]
    requests: list[ForgetRequest]
    prior: list[ForgetRequest]
    prior_rechecked: list[str]
    prior_hash_only: list[str]
    settings: Settings


def run(batch: Batch, *, settings: Settings) -> Outcome:
    """Edit, verify and publish for a claimed batch; the lease is released whatever happens."""
    ids = [str(i) for i in batch.ticket_ids]
    try:
        return _run(batch, settings)
    except _Cancelled:
        log.info("batch_cancelled", ticket_ids=ids)
        return Outcome("cancelled", ids)
    except Exception as exc:  # noqa: BLE001 - every failure must close the tickets, PII-free
        code, message = describe(exc)
        log.error("batch_failed", ticket_ids=ids, error_type=type(exc).__name__, error_code=code)
        _fail_open(batch, code, message)
        EDITS.labels(batch.method, "error").inc()
        return Outcome("failed", ids, error_code=code)
    finally:
        _release(batch)


def _run(batch: Batch, settings: Settings) -> Outcome:
    job = _prepare(batch, settings)
    if not job.ticket_ids:
        return Outcome("failed", [str(i) for i in batch.ticket_ids], error_code="pii-purged")
    work = Path(tempfile.mkdtemp(prefix="rtbf-edit-"))
    try:
        report, job = _edit(batch, job, work)
        return _judge_and_publish(batch, job, report, work / "out")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _prepare(batch: Batch, settings: Settings) -> _Job:
    """Decrypt the requests, pick the base version, gather earlier erasures, merge the model's overrides."""
    with session_scope() as session:
        model = get_model_by_id(session, batch.model_id)
        if model is None:
            raise LookupError("the ticket's model lineage is gone")
        base = get_version_by_id(session, batch.requested_version_id) if batch.requested_version_id else None
        base = base or get_alias(session, batch.model_id, CURRENT)
        versions = list_versions(session, batch.model_id)
        ticket_ids: list[uuid.UUID] = []
        requests: list[ForgetRequest] = []
        for ticket_id in batch.ticket_ids:
            ticket = load_ticket(session, ticket_id)
            try:
                requests.append(load_request(session, ticket))
                ticket_ids.append(ticket_id)
            except Exception as exc:  # purged or undecryptable: that ticket fails, the others go on
                code, message = describe(exc)
                log.error("request_unreadable", ticket_id=str(ticket_id), error_type=type(exc).__name__)
                _close(session, ticket, Status.failed, batch.actor, message, code=code)
        earlier = earlier_completed_requests(session, batch.model_id, exclude=set(batch.ticket_ids))
        engine = EngineSettings.model_validate({**settings.engine.model_dump(), **(model.engine_settings or {})})
        return _Job(
            model_name=model.name,
            base=base,
            base_uri=base.storage_uri if base is not None else model.source_uri,
            next_number=max((v.version for v in versions), default=0) + 1,
            ticket_ids=ticket_ids,
            requests=requests,
            prior=[e.request for e in earlier if e.request is not None],
            prior_rechecked=[str(e.ticket_id) for e in earlier if e.request is not None],
            prior_hash_only=[str(e.ticket_id) for e in earlier if e.request is None],
            settings=settings.model_copy(update={"engine": engine}),
        )


class _Progress:
    """The engine's progress callback: keeps the lease alive and moves the batch to ``editing`` when
    localisation ends, after checking for cancellations (the last moment a cancel can win)."""

    def __init__(self, batch: Batch, job: _Job) -> None:
        self.batch, self.job = batch, job
        self.editing = False
        self.last_renewal = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if time.monotonic() - self.last_renewal > RENEW_EVERY_SECONDS:
            _renew(self.batch, self.job.settings)
            self.last_renewal = time.monotonic()
        if not self.editing and (stage != "locate" or done >= total):
            self.start_editing()

    def start_editing(self) -> None:
        """Move every still-wanted ticket to ``editing``; raise _Cancelled if any was cancelled meanwhile."""
        with session_scope() as session:
            tickets = [load_ticket(session, i, for_update=True) for i in self.job.ticket_ids]
            cancelled = [t.id for t in tickets if t.status == Status.cancelled.value]
            if cancelled:
                raise _Cancelled(cancelled)
            for ticket in tickets:
                transition(session, ticket, Status.editing, actor=self.batch.actor, stage=self.batch.method,
                           reason="privacy neurons located; editing the model")
        self.editing = True


def _edit(batch: Batch, job: _Job, work: Path) -> tuple[dict[str, Any], _Job]:
    """Run the engine, re-running it without tickets cancelled during localisation."""
    from workers.offline import (
        forget_offline,  # torch: imported only where it is needed
    )

    while True:
        job = _drop_cancelled(job)  # cheap check first: a cancel filed before loading costs nothing
        if not job.ticket_ids:
            raise _Cancelled()
        progress = _Progress(batch, job)
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        try:
            with store.Fetched(job.base_uri, scratch=work) as model_dir:
                report = forget_offline(
                    model_dir, out, job.requests, method=batch.method, prior_requests=job.prior,
                    device=job.settings.engine.device, settings=job.settings, progress=progress,
                )
            if not progress.editing:  # the engine reported no progress: the cancel check happens now
                progress.start_editing()
        except _Cancelled:
            log.info("batch_rerun_without_cancelled", ticket_ids=[str(i) for i in job.ticket_ids])
            continue
        _observe(batch.method, report)
        return report, job


def _drop_cancelled(job: _Job) -> _Job:
    with session_scope() as session:
        keep = [(i, r) for i, r in zip(job.ticket_ids, job.requests)
                if load_ticket(session, i).status != Status.cancelled.value]
    job.ticket_ids = [i for i, _ in keep]
    job.requests = [r for _, r in keep]
    return job


def _observe(method: str, report: dict[str, Any]) -> None:
    timings = report.get("timings_seconds") or {}
    for stage in ("load", "locate", "edit", "verify", "save"):
        if stage in timings:
            STAGE_DURATION.labels(stage, method).observe(float(timings[stage]))


def _judge_and_publish(batch: Batch, job: _Job, report: dict[str, Any], out: Path) -> Outcome:
    ids = [str(i) for i in job.ticket_ids]
    gate = report.get("verification")
    passed = bool(report.get("passed")) and bool(gate and gate.get("passed"))
    verdict = evidence.summary(gate)
    with session_scope() as session:
        for ticket in _lock(session, job.ticket_ids):
            transition(session, ticket, Status.verifying, actor=batch.actor, stage=STAGE_GATE,
                       reason="edit done; verification gate " + ("passed" if passed else "not met"),
                       details={**verdict, "path": list(report.get("path") or [])})
    base_id = job.base.id if job.base is not None else None
    if not passed:
        with session_scope() as session:
            for index, ticket in enumerate(_lock(session, job.ticket_ids)):
                record_result(session, ticket, base_version_id=base_id, result_version_id=None,
                              verification=evidence.ticket_verification(gate, index, len(job.ticket_ids)))
                _close(session, ticket, Status.rejected, batch.actor,
                       "The verification gate could not be met: the edited model still failed "
                       f"{len(verdict.get('failed_checks', []))} check(s); nothing was published.",
                       code="gate-not-met", details={"failed_checks": verdict.get("failed_checks", [])})
        EDITS.labels(batch.method, "rejected").inc()
        log.info("batch_rejected", ticket_ids=ids, failed_checks=verdict.get("failed_checks"))
        return Outcome("rejected", ids)

    with session_scope() as session:
        for ticket in _lock(session, job.ticket_ids):
            transition(session, ticket, Status.publishing, actor=batch.actor, stage=STAGE_STORE,
                       reason="verification passed; publishing a new model version")
    _renew(batch, job.settings)
    started = time.perf_counter()
    label = f"v{job.next_number}-{secrets.token_hex(4)}"
    published = store.publish(out, job.settings.model_store, job.model_name, label)
    try:
        version_number = _register(batch, job, report, published)
    except BaseException:
        store.remove(published.uri)  # never registered, so never served: do not leave it lying around
        raise
    STAGE_DURATION.labels("publish", batch.method).observe(time.perf_counter() - started)
    EDITS.labels(batch.method, "published").inc()
    log.info("batch_completed", ticket_ids=ids, version=version_number)
    return Outcome("completed", ids, version=version_number)


def _register(batch: Batch, job: _Job, report: dict[str, Any], published: store.PublishedVersion) -> int:
    """One transaction: the version row, the alias, every ticket's result and ``completed``."""
    ids = [str(i) for i in job.ticket_ids]
    with session_scope() as session:
        if not renew_lease(session, batch.model_id, batch.holder, job.settings.lease_seconds):
            raise LeaseLost("the edit lease expired before publication")
        version = register_version(
            session, batch.model_id, storage_uri=published.uri, sha256=published.sha256,
            parent_id=job.base.id if job.base is not None else None, ticket_ids=ids,
            notes={"origin": "erasure", "method": report.get("method"), "path": report.get("path"), "kept": report.get("kept"),
                   "files": published.files},
        )
        set_alias(session, batch.model_id, CURRENT, version.id, actor=batch.actor,
                  reason=f"published erasure of ticket(s) {', '.join(ids)}")
        base_view = None if job.base is None else {
            "version": job.base.version, "storage_uri": job.base.storage_uri, "sha256": job.base.sha256}
        proof = evidence.worker_evidence(
            actor=batch.actor, ticket_ids=ids, model_name=job.model_name, base=base_view,
            result={"version": version.version, "storage_uri": published.uri, "sha256": published.sha256,
                    "files": published.files},
            engine_report=report, engine_settings=job.settings.engine.model_dump(mode="json"),
            prior_rechecked=job.prior_rechecked, prior_hash_only=job.prior_hash_only,
        )
        gate = report.get("verification")
        for index, ticket in enumerate(_lock(session, job.ticket_ids)):
            record_result(session, ticket, base_version_id=job.base.id if job.base is not None else None,
                          result_version_id=version.id,
                          verification=evidence.ticket_verification(gate, index, len(job.ticket_ids)),
                          evidence=proof)
            transition(session, ticket, Status.completed, actor=batch.actor, stage=None,
                       reason=f"erased; model version {version.version} published as {CURRENT}",
                       details={"result_version": version.version})
        return version.version


# ------------------------------------------------------------------------------------------ helpers


def _lock(session: Session, ticket_ids: Iterable[uuid.UUID]) -> list[Ticket]:
    return [load_ticket(session, i, for_update=True) for i in ticket_ids]


def _close(
    session: Session, ticket: Ticket, to: Status, actor: str, message: str, *, code: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a PII-free error and move an open ticket to ``failed`` / ``rejected``."""
    if Status(ticket.status) in TERMINAL:
        return
    record_error(session, ticket, code=code, message=message, details=details)
    transition(session, ticket, to, actor=actor, reason=message, stage=None, details={"error_code": code})


def _fail_open(batch: Batch, code: str, message: str) -> None:
    """After an error: every ticket of the batch still open ends in ``failed`` (a fresh transaction)."""
    for ticket_id in batch.ticket_ids:
        try:
            with session_scope() as session:
                ticket = load_ticket(session, ticket_id, for_update=True)
                if ticket is not None:
                    _close(session, ticket, Status.failed, batch.actor, message, code=code)
        except Exception as exc:  # noqa: BLE001 - keep closing the others
            log.error("fail_transition_failed", ticket_id=str(ticket_id), error_type=type(exc).__name__)


def _renew(batch: Batch, settings: Settings) -> None:
    with session_scope() as session:
        if not renew_lease(session, batch.model_id, batch.holder, settings.lease_seconds):
            raise LeaseLost("the edit lease expired during the edit")


def _release(batch: Batch) -> None:
    try:
        with session_scope() as session:
            release_lease(session, batch.model_id, batch.holder)
    except Exception as exc:  # noqa: BLE001 - the lease then expires on its own
        log.error("lease_release_failed", model_id=str(batch.model_id), error_type=type(exc).__name__)
