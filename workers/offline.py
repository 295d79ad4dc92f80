"""Forget offline: load a model directory, erase, verify against the untouched original, save the copy.

Shared by ``rtbf forget`` and the Celery pipeline, so a ticket can be replayed offline exactly as the
workers ran it. The reference for the gate (utility and locality "before") is a deep copy taken before
any edit, never an alias of the model being edited.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

from rtbf.request import ForgetRequest
from rtbf.settings import Settings, get_settings
from workers.engine.forget import GateVerdict, Progress, forget
from workers.engine.loading import load_causal_lm
from workers.engine.samples import mentions_any, sample_texts


def default_heldout_texts(model, tokenizer, requests: list[ForgetRequest], settings: Settings) -> list[str]:
    """Model-written text (from the original model), free of the request's subjects, as the utility yardstick."""
    from workers.engine.device import model_device

    texts = sample_texts(model, tokenizer, 64, 48, model_device(model), seed=settings.engine.seed + 7)
    return [t for t in texts if not mentions_any(t, requests)]


def make_gate(
    reference,
    tokenizer,
    requests: list[ForgetRequest],
    *,
    settings: Settings,
    heldout_texts: list[str],
    locality_requests: list[ForgetRequest],
    prior_requests: list[ForgetRequest],
    progress: Progress | None = None,
):
    """A gate callback for forget(): the full verification of workers.verify against the reference model."""
    from workers.verify.gate import run_gate

    def gate(model) -> GateVerdict:
        report = run_gate(
            model,
            tokenizer,
            requests,
            settings=settings.gate,
            salt=settings.hash_salt,
            reference=(reference, tokenizer),
            prior_requests=prior_requests,
            locality_requests=locality_requests,
            heldout_texts=heldout_texts,
        )
        return GateVerdict(bool(report.passed), json.loads(report.model_dump_json()))

    return gate


def forget_offline(
    model_dir: Path,
    out_dir: Path,
    requests: list[ForgetRequest],
    *,
    method: str = "auto",
    heldout_texts: list[str] | None = None,
    locality_requests: list[ForgetRequest] | None = None,
    prior_requests: list[ForgetRequest] | None = None,
    device: str = "auto",
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> dict:
    """Run the whole engine on a model directory and write ``out_dir`` (model, tokenizer, report.json)."""
    settings = settings or get_settings()
    t0 = time.perf_counter()
    model, tokenizer = load_causal_lm(model_dir, device=device)
    reference = copy.deepcopy(model)
    load_seconds = time.perf_counter() - t0
    heldout = heldout_texts or default_heldout_texts(reference, tokenizer, requests, settings)
    gate = make_gate(
        reference,
        tokenizer,
        requests,
        settings=settings,
        heldout_texts=heldout,
        locality_requests=locality_requests or [],
        prior_requests=prior_requests or [],
        progress=progress,
    )
    result = forget(
        model, tokenizer, requests, method=method, settings=settings.engine, gate=gate, gate_settings=settings.gate,
        salt=settings.hash_salt,
        progress=progress,
    )
    t = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    report = result.report()
    report["timings_seconds"]["load"] = round(load_seconds, 3)
    report["timings_seconds"]["save"] = round(time.perf_counter() - t, 3)
    report["requests"] = len(requests)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
    return report
