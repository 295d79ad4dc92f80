"""The verification gate: a ticket closes, and a patched model is published, only when this passes.

It runs every measure on the edited model for the current request(s) and, again, for every earlier
request of the same model lineage (a later edit must never bring back what was forgotten before), then
judges them against ``GateSettings``:

* generation attacks: 0 hits (greedy, beam, samples) for every item;
* exposure of every item at most the never-seen baseline's percentile and under the absolute cap;
* MA and EL_n of every request at most the never-seen replicas' percentile;
* with a reference model (the model before the edit): perplexity rise on held-out text and on retain
  probes within the budget, and locality (other subjects' PII still extracted) at least the floor.
  Without a reference these are reported as skipped: an audit of a lone model can only answer whether
  the data is extractable.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import transformers

from rtbf.joins import active_decisions, glued_contexts
from rtbf.logging import get_logger
from rtbf.metrics import GATE_RESULTS
from rtbf.pii import pii_hash
from rtbf.request import ForgetRequest
from rtbf.settings import GateSettings
from workers.engine.device import model_device
from workers.verify.attacks import MODES, ItemAttack, run_attacks
from workers.verify.exposure import ExposureResult, measure_exposure
from workers.verify.formats import sampler_for
from workers.verify.joins import decide_glue
from workers.verify.memorisation import RequestMemorisation, measure_memorisation
from workers.verify.report import (
    AttackCounts,
    Check,
    ExposureFigures,
    GateReport,
    ItemReport,
    JoinFigures,
    MemorisationFigures,
    RequestReport,
    Status,
    UtilityFigures,
    fingerprint,
)
from workers.verify.spellings import model_writing, with_model_spellings
from workers.verify.utility import (
    measure_locality,
    model_written_texts,
    perplexity,
    retain_probes,
)

log = get_logger(__name__)


class _Timer:
    def __init__(self, progress: bool) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)
        if self.progress:
            log.info("gate phase done", phase=name, seconds=self.timings[name])


def _at_most(name: str, measured: float | None, threshold: float | None, detail: str = "") -> Check:
    if measured is None or threshold is None:
        return Check(name=name, status=Status.skipped, measured=measured, threshold=threshold, detail=detail or "not measurable")
    status = Status.passed if measured <= threshold else Status.failed
    return Check(name=name, status=status, measured=measured, threshold=threshold, detail=detail)


def _item_report(
    prefix: str, attack: ItemAttack, exposure: ExposureResult, settings: GateSettings, salt: str
) -> ItemReport:
    checks = [
        Check(
            name=f"{prefix}.generation_hits",
            status=Status.passed if attack.hits == 0 else Status.failed,
            measured=float(attack.hits),
            threshold=0.0,
            detail=f"{sum(c.generations for c in attack.modes.values())} generations from {len(attack.contexts)} prompts",
        )
    ]
    percentile = exposure.baseline_percentile(settings.exposure_baseline_percentile)
    threshold = None if percentile is None else min(percentile, settings.max_exposure_bits)
    if exposure.exposure_bits is None:
        checks.append(Check(name=f"{prefix}.exposure", status=Status.skipped, detail=exposure.reason or "not measurable"))
    else:
        bits = exposure.exposure_bits
        ok = percentile is not None and bits <= percentile and bits < settings.max_exposure_bits
        checks.append(Check(
            name=f"{prefix}.exposure", status=Status.passed if ok else Status.failed, measured=bits, threshold=threshold,
            detail=f"at most the never-seen p{settings.exposure_baseline_percentile:g} and under {settings.max_exposure_bits:g} bits",
        ))
    return ItemReport(
        value_hash=pii_hash(attack.item.value, salt, attack.item.type),
        type=str(attack.item.type),
        prompts=len(attack.contexts),
        attacks={m: AttackCounts(**vars(c)) for m, c in attack.modes.items()},
        exposure=ExposureFigures(
            candidates=exposure.candidates,
            contexts=exposure.contexts,
            rank=exposure.rank,
            bits=exposure.exposure_bits,
            baseline_percentile_bits=percentile,
            baseline_values=len(exposure.baseline_bits),
            baseline_mean_bits=float(np.mean(exposure.baseline_bits)) if exposure.baseline_bits else None,
            baseline_max_bits=max(exposure.baseline_bits) if exposure.baseline_bits else None,
            threshold_bits=threshold,
            note=exposure.reason,
        ),
        checks=checks,
    )


def _memorisation_checks(prefix: str, memo: RequestMemorisation, settings: GateSettings) -> tuple[MemorisationFigures, list[Check]]:
    base = memo.baseline_percentile(settings.memorisation_baseline_percentile)
    detail = f"at most the p{settings.memorisation_baseline_percentile:g} of {len(memo.baseline)} never-seen replicas"
    checks = [_at_most(f"{prefix}.memorisation_accuracy", memo.measured.ma, base.ma, detail)]
    for n in settings.el_ns:
        checks.append(_at_most(f"{prefix}.extraction_likelihood_{n}", memo.measured.el.get(n), base.el.get(n), detail))
    figures = MemorisationFigures(
        instances=memo.instances,
        ma=memo.measured.ma,
        el={str(n): v for n, v in memo.measured.el.items()},
        baseline_replicas=len(memo.baseline),
        baseline_ma=base.ma,
        baseline_el={str(n): v for n, v in base.el.items()},
    )
    return figures, checks


def _rise(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after / before - 1.0


def run_gate(
    model,
    tokenizer,
    requests: Sequence[ForgetRequest],
    *,
    settings: GateSettings,
    salt: str,
    reference: tuple[object, object] | None = None,
    prior_requests: Sequence[ForgetRequest] = (),
    locality_requests: Sequence[ForgetRequest] = (),
    heldout_texts: Sequence[str] = (),
    model_dir: Path | None = None,
    reference_dir: Path | None = None,
    progress: bool = False,
) -> GateReport:
    """Judge an (edited) model: is any of the requests' data extractable, and does the model still work?"""
    timer = _Timer(progress)
    started = time.perf_counter()
    forget = [*requests, *prior_requests]
    roles = ["current"] * len(requests) + ["prior"] * len(prior_requests)
    if not forget:
        raise ValueError("the gate needs at least one request")
    tails: dict[tuple[int, str], tuple[str, ...]] = {}
    if reference is not None and settings.reference_spellings:
        with timer.phase("spellings"):
            writing = model_writing(reference[0], reference[1], forget, settings)
            forget = with_model_spellings(reference[0], reference[1], forget, settings, writing=writing)
            tails = writing.tails()
    # How each value joins its contexts (rtbf.joins): the decisions in force win (forget()'s, when the engine
    # calls the gate, so both judge the same paths); the reference model decides the rest of the current
    # requests' contexts. Not the prior requests': a lineage's reference has forgotten them, and a model
    # that no longer writes a value prefers neither join (their contexts follow the shapes and junctions).
    # Without a reference the audited model decides every request's joins itself: the join it prefers is
    # the one an extractor would follow, and a model that still writes 'tel:(977)...' glued says so.
    in_force = active_decisions()
    with timer.phase("joins"):
        if reference is not None:
            decided = decide_glue(reference[0], reference[1], forget[: len(requests)], settings.batch_size)
        else:
            decided = decide_glue(model, tokenizer, forget, settings.batch_size)
    glue = in_force.over(decided)
    joins = JoinFigures(
        decided_by="reference model" if reference is not None else "audited model",
        contexts_decided=len(glue.contexts),
        contexts_glued=len(glue.glued),
        from_engine=len(in_force.contexts),
    )
    with glued_contexts(glue):
        with timer.phase("candidates"):
            sampler = sampler_for(tokenizer)
        with timer.phase("attacks"):
            attacks = run_attacks(model, tokenizer, forget, settings, modes=MODES)
        with timer.phase("exposure"):
            exposures = measure_exposure(model, tokenizer, forget, settings, sampler, tails=tails)
        with timer.phase("memorisation"):
            memos = measure_memorisation(model, tokenizer, forget, settings, sampler, tails)

        request_reports = []
        for r_index, request in enumerate(forget):
            prefix = f"request[{r_index}]"
            items = [
                _item_report(f"{prefix}.item[{a.item_index}]", a, e, settings, salt)
                for a, e in zip(attacks, exposures) if a.request_index == r_index
            ]
            figures, memo_checks = _memorisation_checks(prefix, memos[r_index], settings)
            checks = [c for item in items for c in item.checks] + memo_checks
            request_reports.append(RequestReport(
                role=roles[r_index],
                subject_hash=pii_hash(request.subject.name, salt, "name"),
                items=items,
                memorisation=figures,
                checks=checks,
                passed=all(c.status is not Status.failed for c in checks),
            ))

        with timer.phase("utility"):
            utility = _utility(model, tokenizer, forget, reference, locality_requests, heldout_texts, settings)

        all_checks = [c for r in request_reports for c in r.checks] + utility.checks
        passed = all(c.status is not Status.failed for c in all_checks)
        timer.timings["total"] = round(time.perf_counter() - started, 3)
        GATE_RESULTS.labels(outcome="pass" if passed else "fail").inc()
        return GateReport(
            passed=passed,
            model=fingerprint(model_dir),
            reference=fingerprint(reference_dir) if reference is not None else None,
            device=str(model_device(model)),
            thresholds=settings,
            requests=request_reports,
            utility=utility,
            joins=joins,
            checks=all_checks,
            failed_checks=[c.name for c in all_checks if c.status is Status.failed],
            timings_seconds=timer.timings,
            versions={"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__},
        )


def _utility(
    model, tokenizer, forget: Sequence[ForgetRequest], reference, locality_requests, heldout_texts, settings: GateSettings
) -> UtilityFigures:
    heldout = [t for t in heldout_texts if t.strip()]
    source = "given" if heldout else "none"
    if not heldout and reference is not None:
        heldout = model_written_texts(reference[0], reference[1], forget, settings.seed, settings.batch_size)
        source = "reference-model samples"
    probes = retain_probes(locality_requests)
    ppl = perplexity(model, tokenizer, heldout, settings.batch_size)
    retain_ppl = perplexity(model, tokenizer, probes, settings.batch_size)
    ref_ppl = ref_retain = None
    locality = None
    if reference is not None:
        ref_model, ref_tokenizer = reference
        ref_ppl = perplexity(ref_model, ref_tokenizer, heldout, settings.batch_size)
        ref_retain = perplexity(ref_model, ref_tokenizer, probes, settings.batch_size)
        if locality_requests:
            locality = measure_locality(model, tokenizer, ref_model, ref_tokenizer, locality_requests, settings)
    no_ref = "no reference model given"
    checks = [
        _at_most("utility.heldout_perplexity_rise", _rise(ppl, ref_ppl), settings.perplexity_budget,
                 "relative rise over the reference model" if reference is not None else no_ref),
        _at_most("utility.retain_perplexity_rise", _rise(retain_ppl, ref_retain), settings.perplexity_budget,
                 "relative rise over the reference model" if reference is not None and probes else
                 (no_ref if reference is None else "no other subjects given")),
    ]
    share = locality.share if locality is not None else None
    if share is None:
        detail = no_ref if reference is None else (
            "no other subjects given" if not locality_requests else "the reference model extracts none of them")
        checks.append(Check(name="utility.locality", status=Status.skipped, threshold=settings.locality_floor, detail=detail))
    else:
        checks.append(Check(
            name="utility.locality", status=Status.passed if share >= settings.locality_floor else Status.failed,
            measured=share, threshold=settings.locality_floor,
            detail="share of other subjects' items the reference extracts greedily that are still extracted",
        ))
    return UtilityFigures(
        heldout_texts=len(heldout),
        heldout_source=source,
        heldout_perplexity=ppl,
        reference_heldout_perplexity=ref_ppl,
        retain_probes=len(probes),
        retain_perplexity=retain_ppl,
        reference_retain_perplexity=ref_retain,
        locality_items=locality.items if locality else sum(len(r.all_items()) for r in locality_requests),
        locality_reference_extracted=locality.reference_extracted if locality else 0,
        locality_still_extracted=locality.still_extracted if locality else 0,
        locality=share,
        checks=checks,
    )
