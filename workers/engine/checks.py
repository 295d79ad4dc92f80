"""Cheap leak check used inside the editors' loops (the full verification gate runs afterwards).

One teacher-forced forward pass per batch tells, for every (context, value) instance, both the value's
log-probability (what sampling and beam search can reach) and whether greedy decoding would reproduce
it token by token (every value token is the argmax given the ones before). That is exact for greedy
decoding and a tight proxy for the other attacks, at a fraction of the cost of generating text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from workers.engine.instances import PiiInstance, pad_batch
from workers.engine.logits import token_logp

if TYPE_CHECKING:
    from rtbf.settings import GateSettings


@dataclass
class LeakStatus:
    instances: int
    greedy_hits: int
    max_log_prob: float
    prob_ceiling: float
    leaking: frozenset[tuple[int, int]] = frozenset()  # (request, item) keys decoded or above the ceiling

    @property
    def clean(self) -> bool:
        return self.greedy_hits == 0 and self.max_log_prob < math.log(self.prob_ceiling)

    def as_dict(self) -> dict:
        return {
            "instances": self.instances,
            "greedy_hits": self.greedy_hits,
            "max_value_prob": math.exp(self.max_log_prob) if self.instances else 0.0,
            "prob_ceiling": self.prob_ceiling,
            "clean": self.clean,
        }


@torch.no_grad()
def leak_status(
    model: torch.nn.Module,
    instances: list[PiiInstance],
    *,
    pad_id: int,
    device: torch.device,
    prob_ceiling: float,
    batch_size: int = 64,
) -> LeakStatus:
    hits = 0
    best = float("-inf")
    ceiling = math.log(prob_ceiling)
    leaking: set[tuple[int, int]] = set()
    for start in range(0, len(instances), batch_size):
        chunk = instances[start : start + batch_size]
        ids, mask = pad_batch([inst.ids for inst in chunk], pad_id, device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        for row, inst in enumerate(chunk):
            span = slice(inst.value_start - 1, len(inst.ids) - 1)
            y = ids[row, inst.value_start : len(inst.ids)]
            at = logits[row, span]  # only the value's positions are normalised: no (batch, len, V) copy
            value_logp = float(token_logp(at, y).sum())
            decoded = bool((at.argmax(-1) == y).all())
            best = max(best, value_logp)
            hits += int(decoded)
            if decoded or value_logp >= ceiling:
                leaking.add(inst.key)
    return LeakStatus(len(instances), hits, best, prob_ceiling, frozenset(leaking))


@dataclass
class ExposureStatus:
    """The highest exposure (bits) over the request's items in the stop check, and the target."""

    items: int
    max_bits: float | None
    target_bits: float
    leaking: frozenset[tuple[int, int]] = frozenset()  # (request, item) keys above the target

    @property
    def clean(self) -> bool:
        return self.max_bits is None or self.max_bits <= self.target_bits

    def as_dict(self) -> dict:
        return {
            "items": self.items,
            "max_exposure_bits": None if self.max_bits is None else round(self.max_bits, 3),
            "target_bits": self.target_bits,
            "clean": self.clean,
        }


class ExposureCheck:
    """The gate's exposure measure (Carlini et al.'s rank among same-format values) on a smaller pool.

    It runs the verification code itself (``workers.verify.exposure``) so the editors stop on the
    criterion they will be judged by; candidates are drawn once per check object with a fixed seed, so
    successive checks of one edit compare like with like. Each of the first ``contexts`` contexts (the
    gate ranks in the first) is ranked on its own and the highest exposure counts, so the stop check
    implies the gate's verdict rather than an average that one leaking phrasing can hide in. Items whose
    format admits too few values (the gate skips them too) do not count.
    """

    def __init__(
        self, tokenizer, requests, *, candidates: int, contexts: int, target_bits: float, seed: int,
        tails: Mapping[tuple[int, str], Sequence[str]] | None = None,
    ):
        from rtbf.settings import GateSettings
        from workers.verify.formats import sampler_for

        self.tokenizer = tokenizer
        self.requests = requests
        self.tails = tails
        self.target_bits = target_bits
        self.settings = GateSettings(
            exposure_candidates=max(100, candidates), exposure_baseline_values=1, exposure_contexts=contexts, seed=seed
        )
        self.sampler = sampler_for(tokenizer)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> ExposureStatus:
        from workers.verify.exposure import measure_exposure

        results = measure_exposure(
            model, self.tokenizer, self.requests, self.settings, self.sampler, each_context=True, tails=self.tails
        )
        bits = [r.exposure_bits for r in results if r.exposure_bits is not None]
        leaking = frozenset(
            (r.request_index, r.item_index) for r in results
            if r.exposure_bits is not None and r.exposure_bits > self.target_bits
        )
        return ExposureStatus(len(results), max(bits) if bits else None, self.target_bits, leaking)


@dataclass
class MemorisationStatus:
    """Which requests' MA / EL_n are still above the never-seen replicas' percentile."""

    requests: int
    above: list[str]  # 'request[0].el_3', ...
    leaking_requests: frozenset[int] = frozenset()

    @property
    def clean(self) -> bool:
        return not self.above

    def as_dict(self) -> dict:
        return {"requests": self.requests, "above_never_seen": self.above, "clean": self.clean}


class MemorisationCheck:
    """The gate's memorisation test (``workers.verify.memorisation``: MA and EL_n of the values against
    never-seen replicas), run with the gate's own settings so that a clean stop implies that verdict.

    It is the dearest stop check (a greedy generation from every value position of every replica), so the
    engine runs it last, once the leak and exposure checks pass. It catches what those two cannot: a
    value no longer produced whole, but still in part (an e-mail's rare domain after the name, a street
    after the house number), which a stranger's value would not be.
    """

    def __init__(
        self, tokenizer, requests, settings: GateSettings | None = None,
        tails: Mapping[tuple[int, str], Sequence[str]] | None = None,
    ):
        from rtbf.settings import GateSettings
        from workers.verify.formats import sampler_for

        self.tokenizer = tokenizer
        self.requests = requests
        self.settings = settings or GateSettings()
        self.sampler = sampler_for(tokenizer)
        self.tails = tails

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> MemorisationStatus:
        from workers.verify.memorisation import measure_memorisation

        memos = measure_memorisation(model, self.tokenizer, self.requests, self.settings, self.sampler, self.tails)
        percentile = self.settings.memorisation_baseline_percentile
        above = [f"request[{m.request_index}].{name}" for m in memos for name in m.above_baseline(percentile)]
        leaking = frozenset(m.request_index for m in memos if m.above_baseline(percentile))
        return MemorisationStatus(len(memos), above, leaking)


@dataclass
class ExtractionStatus:
    """Greedy generations from the check contexts that contain a requested value, as text."""

    prompts: int
    hits: int
    leaking: frozenset[tuple[int, int]] = frozenset()  # (request, item) keys some generation still yields

    @property
    def clean(self) -> bool:
        return self.hits == 0

    def as_dict(self) -> dict:
        return {"prompts": self.prompts, "greedy_hits": self.hits, "clean": self.clean}


class ExtractionCheck:
    """The gate's greedy extraction attack (``workers.verify.attacks``) on the engine's check contexts.

    The cheap leak check follows one token path per value, the tokenizer's own spelling of it, and a
    model can write the same characters along another (' 630', '-', '06', '63' for 630-0663): once an edit
    has closed the usual path, greedy decoding may still reach the value by a second one, which the
    teacher-forced probability never sees and the gate's text match does. So before an edit stops, the
    contexts are decoded for real and the text is searched for the value, in any spelling the PII
    normaliser accepts. Runs after the cheap checks pass: a batch of greedy generations costs about as
    much as a few teacher-forced passes.
    """

    def __init__(self, tokenizer, requests, settings: GateSettings | None = None):
        from rtbf.settings import GateSettings

        self.tokenizer = tokenizer
        self.requests = requests
        self.settings = settings or GateSettings()

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> ExtractionStatus:
        from workers.verify.attacks import run_attacks

        plan = run_attacks(model, self.tokenizer, self.requests, self.settings, modes=("greedy",))
        leaking = frozenset((a.request_index, a.item_index) for a in plan if a.modes["greedy"].hits)
        return ExtractionStatus(
            sum(a.modes["greedy"].prompts for a in plan), sum(a.modes["greedy"].hits for a in plan), leaking
        )
