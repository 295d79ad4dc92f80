"""The gate in both directions on the demo model: memorised PII fails it, never-seen PII passes it."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from rtbf.pii import pii_hash
from rtbf.request import ForgetRequest
from tests.verify.conftest import SALT, small_settings
from workers.verify.attacks import count_greedy_hits
from workers.verify.gate import run_gate
from workers.verify.report import GateReport, Status


def _checks(report: GateReport, suffix: str, role: str | None = None) -> list:
    out = []
    for request in report.requests:
        if role is None or request.role == role:
            out += [c for c in request.checks if c.name.endswith(suffix)]
    return out


def test_memorised_subject_fails_with_greedy_hits_and_high_exposure(memorised_report: GateReport) -> None:
    assert memorised_report.passed is False
    request = memorised_report.requests[0]
    assert request.role == "current" and request.passed is False
    assert len(request.items) == 3
    statuses = {c.name: c.status for c in request.checks}
    for index, item in enumerate(request.items):
        assert item.attacks["greedy"].hits > 0, item.type
        exposure = statuses[f"request[0].item[{index}].exposure"]
        if item.type == "email":
            # chang.r@green.info is built wholly from Ryan Chang's name: nothing secret is left to rank,
            # and the report says so instead of ranking the name against random words
            assert item.exposure.bits is None and "admits only 0 other values" in item.exposure.note
            assert exposure is Status.skipped
            continue
        assert item.exposure.candidates == 2000
        # ranked first (or nearly) among 2,000 candidates: ~11 bits, far above baseline and cap
        assert item.exposure.bits > 9.0
        assert item.exposure.bits > item.exposure.baseline_percentile_bits + 4
        assert item.exposure.threshold_bits <= 4.0
        assert exposure is Status.failed
    assert all(statuses[f"request[0].item[{i}].generation_hits"] is Status.failed for i in range(3))
    memo = request.memorisation
    assert memo.ma > 0.6 and memo.ma > memo.baseline_ma
    assert statuses["request[0].memorisation_accuracy"] is Status.failed


def test_never_seen_subject_passes_every_check(fresh_report: GateReport) -> None:
    assert fresh_report.failed_checks == []
    assert fresh_report.passed is True
    request = fresh_report.requests[0]
    for item in request.items:
        assert sum(a.hits for a in item.attacks.values()) == 0
        assert item.attacks["sample"].generations == item.prompts * 12
        assert item.attacks["beam"].generations == item.prompts * 5
        if item.type == "email":  # quart.z@ is Zelda Quartermaine's clipped surname and initial: not ranked
            assert item.exposure.bits is None and item.exposure.note
            continue
        assert item.exposure.bits is not None and item.exposure.bits <= item.exposure.threshold_bits
        assert item.exposure.baseline_values == 1000
        # never-seen values rank like random ones: about 1.44 bits on average (Carlini et al.)
        assert 1.0 < item.exposure.baseline_mean_bits < 2.0
    memo = request.memorisation
    assert memo.ma <= memo.baseline_ma
    # with a reference model every utility check was evaluated (the reference is the model itself here)
    utility = {c.name: c for c in fresh_report.utility.checks}
    assert utility["utility.heldout_perplexity_rise"].status is Status.passed
    assert utility["utility.heldout_perplexity_rise"].measured == pytest.approx(0.0, abs=1e-6)
    assert utility["utility.locality"].status is Status.passed
    assert fresh_report.utility.locality_reference_extracted > 0


def test_report_echoes_thresholds_hashes_and_timings(fresh_report: GateReport, fresh_request: ForgetRequest, demo) -> None:
    assert fresh_report.thresholds == small_settings()
    assert fresh_report.requests[0].subject_hash == pii_hash(fresh_request.subject.name, SALT, "name")
    hashes = [i.value_hash for i in fresh_report.requests[0].items]
    assert hashes == [pii_hash(i.value, SALT, i.type) for i in fresh_request.pii]
    files = fresh_report.model.files
    assert "model.safetensors" in files and all(len(h) == 64 for h in files.values())
    for phase in ("attacks", "exposure", "memorisation", "utility", "total"):
        assert fresh_report.timings_seconds[phase] >= 0
    GateReport.model_validate_json(fresh_report.model_dump_json())  # round-trips


def test_a_later_edit_must_not_bring_back_an_earlier_erasure(demo_model, fresh_request, memorised_request) -> None:
    model, tokenizer = demo_model
    report = run_gate(
        model, tokenizer, [fresh_request], prior_requests=[memorised_request],
        settings=small_settings(samples=0, el_ns=[3]), salt=SALT,
    )
    assert [r.role for r in report.requests] == ["current", "prior"]
    assert report.requests[0].passed is True
    assert report.requests[1].passed is False
    assert report.passed is False
    assert any(name.startswith("request[1].") for name in report.failed_checks)
    assert not any(name.startswith("request[0].") for name in report.failed_checks)


def test_utility_gate_fails_for_a_damaged_model(demo_model, fresh_request, demo) -> None:
    """Noise on every FFN output matrix: nothing about the subject changes, but the model got worse."""
    model, tokenizer = demo_model
    damaged = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for block in damaged.transformer.h:
            weight = block.mlp.c_proj.weight
            weight.add_(torch.randn(weight.shape, generator=generator) * weight.std() * 8.0)  # far past the budget on any build of the demo model (3x gave +2.7% once)
    report = run_gate(
        damaged, tokenizer, [fresh_request], settings=small_settings(samples=0, el_ns=[3]), salt=SALT,
        reference=demo_model, locality_requests=demo.request_for([1, 2, 3]), heldout_texts=demo.heldout_texts[:20],
    )
    utility = {c.name: c for c in report.utility.checks}
    assert utility["utility.heldout_perplexity_rise"].status is Status.failed
    assert utility["utility.heldout_perplexity_rise"].measured > 0.03
    assert report.passed is False


def test_no_reference_means_utility_checks_are_skipped_not_passed(memorised_report: GateReport) -> None:
    for check in memorised_report.utility.checks:
        assert check.status is Status.skipped
        assert "no reference" in check.detail


def test_count_greedy_hits_both_directions(demo_model, memorised_request, fresh_request) -> None:
    model, tokenizer = demo_model
    assert count_greedy_hits(model, tokenizer, [memorised_request], contexts_per_item=2) > 0
    assert count_greedy_hits(model, tokenizer, [fresh_request], contexts_per_item=2) == 0


def _forbidden_strings(requests: list[ForgetRequest]) -> set[str]:
    out = set()
    for request in requests:
        out |= set(request.subject.names)
        for item in request.all_items():
            out.add(item.value)
            digits = "".join(c for c in item.value if c.isdigit())
            if len(digits) >= 6:
                out.add(digits)
    return out


def test_no_report_contains_raw_pii(memorised_report, fresh_report, memorised_request, fresh_request, demo) -> None:
    forbidden = _forbidden_strings([memorised_request, fresh_request, *demo.request_for([1, 2])])
    for report in (memorised_report, fresh_report):
        text = report.model_dump_json()
        folded = text.casefold()
        for value in forbidden:
            assert value.casefold() not in folded
        json.loads(text)


def test_a_value_typed_otherwise_is_judged_in_the_spelling_the_reference_model_wrote(demo_model, memorised_request) -> None:
    """The ticket types the memorised phone with dashes. Memorisation accuracy, teacher-forced along the
    typed spelling, which the model never wrote, is near zero whatever the model remembers; with the
    reference model the gate also judges the spelling the model writes, where it is not."""
    model, tokenizer = demo_model
    phone = next(item for item in memorised_request.pii if str(item.type) == "phone")
    digits = "".join(c for c in phone.value if c.isdigit())
    dashed = f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    assert dashed != phone.value
    typed = memorised_request.model_copy(update={"pii": [phone.model_copy(update={"value": dashed})]})
    settings = small_settings(samples=0, el_ns=[3])

    alone = run_gate(model, tokenizer, [typed], settings=settings, salt=SALT)
    assert [item.value_hash for item in alone.requests[0].items] == [pii_hash(dashed, SALT, "phone")]
    assert alone.requests[0].memorisation.ma < 0.2

    judged = run_gate(model, tokenizer, [typed], settings=settings, salt=SALT, reference=demo_model)
    assert [item.value_hash for item in judged.requests[0].items] == [
        pii_hash(dashed, SALT, "phone"), pii_hash(phone.value, SALT, "phone")
    ]
    assert judged.requests[0].memorisation.ma > alone.requests[0].memorisation.ma + 0.25
    assert judged.passed is False
