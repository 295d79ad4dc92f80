"""Exposure (Carlini et al., The Secret Sharer): how far above chance the model ranks the true value.

For each item the true value and ``exposure_candidates`` random values of the same format
(``formats.py``) are scored by their log-likelihood after the item's contexts, in large batches. With
rank r of the true value among the |R| = candidates + 1 values,

    exposure = log2(|R|) - log2(r),

so a value ranked first among 10,001 scores 13.3 bits and a value ranked like a random one about 1.4.

Calibration comes for free from the same scored pool: the first ``exposure_baseline_values`` candidates
are fresh values the model never saw, and their exposures (each ranked among all the others) are the
never-seen baseline whose percentile bounds the true value's exposure. Because they cost nothing extra,
the default is 1,000 of them: the 95th percentile of only 20 values swings by more than a bit between
seeds, which made never-seen values fail by chance.

When an item has several contexts, each candidate's score is its log-likelihood averaged over them and
the value is ranked once. A memorised value is likely in every phrasing, so averaging keeps its rank;
ranking per context and taking the maximum would instead give a never-seen value several chances to
land in the top 1/16 by luck and turn the 95th-percentile test into a much weaker one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from transformers import PreTrainedTokenizerBase

from rtbf.prompts import edit_contexts
from rtbf.request import ForgetRequest, PiiItem
from rtbf.settings import GateSettings
from workers.verify.attacks import document_contexts
from workers.verify.formats import CandidateSampler
from workers.verify.scoring import encode_values, score_values
from workers.verify.spellings import most_frequent_tail

MAX_CONTEXT_TOKENS = 64


@dataclass
class ExposureResult:
    """Exposure of one item; ``exposure_bits`` is None when the format admits too few other values."""

    request_index: int
    item_index: int
    item: PiiItem
    contexts: int = 0
    candidates: int = 0
    rank: int | None = None
    exposure_bits: float | None = None
    baseline_bits: list[float] = field(default_factory=list)
    reason: str | None = None

    def baseline_percentile(self, percentile: float) -> float | None:
        return float(np.percentile(self.baseline_bits, percentile)) if self.baseline_bits else None


def item_seed(settings: GateSettings, item: PiiItem, salt: int = 0) -> int:
    """A per-item seed: reproducible runs, independent candidate pools for different values."""
    digest = hashlib.sha256(f"{item.type}\x00{item.value}".encode()).digest()
    return (settings.seed * 1_000_003 + int.from_bytes(digest[:6], "big") + salt) % (2**63)


def exposure_contexts(request: ForgetRequest, item: PiiItem, limit: int) -> list[str]:
    """Where the value really appeared first (its contexts, the documents), then the editor's phrasings."""
    out: list[str] = []
    for context in [*item.contexts, *document_contexts(request, item), *edit_contexts(request, item)]:
        context = context.rstrip()
        if context and context not in out:
            out.append(context)
    return out[:limit]


def exposures_from_scores(scores: np.ndarray) -> np.ndarray:
    """Exposure of every member of a scored pool, each ranked among all the others.

    rank = 1 + (members scoring higher) + (other members scoring the same) / 2: a tie is a coin flip, so a
    model that cannot tell the value from the candidates gets the exposure of an average candidate.
    """
    n = len(scores)
    ordered = np.sort(scores)
    right = np.searchsorted(ordered, scores, side="right")
    left = np.searchsorted(ordered, scores, side="left")
    rank = 1 + (n - right) + (right - left - 1) / 2
    return np.log2(n) - np.log2(rank)


def measure_exposure(
    model,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[ForgetRequest],
    settings: GateSettings,
    sampler: CandidateSampler,
    *,
    each_context: bool = False,
    tails: Mapping[tuple[int, str], Sequence[str]] | None = None,
) -> list[ExposureResult]:
    """Exposure and never-seen baseline for every item of every request.

    ``tails`` maps (request index, value) to what the model writes right after the value, most frequent
    first; the value and its candidates are tokenised with the first, along the path the model takes most
    often (``workers.verify.spellings``).

    ``each_context`` ranks the value in each context on its own and keeps the highest exposure: stricter
    than the averaged ranking, so a check that must imply the gate's verdict (the editors' stopping rule,
    which scores a smaller pool) cannot pass on an average while the gate's first context still leaks.
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    results = []
    for r_index, request in enumerate(requests):
        for i_index, item in enumerate(request.all_items()):
            result = ExposureResult(r_index, i_index, item)
            results.append(result)
            contexts = exposure_contexts(request, item, settings.exposure_contexts)
            candidates = sampler.sample(
                item.value, item.type, settings.exposure_candidates, item_seed(settings, item), names=request.subject.names
            )
            if len(candidates) < min(100, settings.exposure_candidates):
                result.reason = f"the value's format admits only {len(candidates)} other values"
                continue
            pool = [item.value, *candidates]
            tail = most_frequent_tail(tails, r_index, item.value)
            per_context: list[np.ndarray] = []
            for context in contexts:
                encoded = encode_values(tokenizer, [(context, v, tail) for v in pool], MAX_CONTEXT_TOKENS)
                if any(e is None for e in encoded):
                    continue
                scored = score_values(model, encoded, settings.batch_size, pad_id)  # type: ignore[arg-type]
                per_context.append(np.array([s.total for s in scored]))
            usable = len(per_context)
            if usable == 0:
                result.reason = "no context yields a scorable value on this tokenizer"
                continue
            if each_context:
                exposures = max((exposures_from_scores(scores) for scores in per_context), key=lambda e: e[0])
            else:
                exposures = exposures_from_scores(np.mean(per_context, axis=0))
            result.contexts = usable
            result.candidates = len(candidates)
            result.exposure_bits = float(exposures[0])
            result.rank = int(np.ceil(2 ** (np.log2(len(pool)) - exposures[0]) - 1e-9))
            result.baseline_bits = [float(x) for x in exposures[1 : 1 + settings.exposure_baseline_values]]
    return results
