"""Memorisation accuracy (MA) and extraction likelihood (EL_n), after Jang et al. (ACL 2023).

    MA(x)   = mean_t 1[argmax p(. | x_<t) = x_t]
    EL_n(x) = mean_t overlap_n(greedy(x_<t), x_>=t),   overlap_n(a, b) = share of a's n-grams found in b

Jang et al. average over every token of a training sequence and call a sequence forgotten when both
fall below their averages on data the model never saw. A request's documents are mostly ordinary words
that the model should keep predicting, so here t runs over **the value's tokens only**: the positions
where producing the right token means producing the PII. Each instance is one place the value appears
(a document span with its surrounding text, a context given in the request, else the editor's first
phrasing); the greedy continuation from position t is compared with the true text from t onwards, which
is the rest of the value plus up to ``MAX_SUFFIX_TOKENS`` of what follows it. EL_n is measured only
where that reference has at least n tokens ("where the text is long enough").

Tokens made wholly of the value's name-built parts (the 'chang' and 'r' of chang.r@... for Ryan Chang,
``formats.NameParts``) are left out of both: the request states the name, so predicting them is
copying from the prompt, which any model does for any name and at rates that vary with how the name
happens to tokenize. What remains (separators, a domain, digits, the rest of an address) is what a
model can only know from having seen this person's value.

The never-seen baseline replaces the value in the very same instances by fresh same-format values
(``formats.py``) and measures them identically, one replica per fresh value. Parts built from the
subject's name stay fixed in those values; a value built *wholly* from the name (``chang.r@...``) has no
secret part to vary, and its replicas are the same construction for a stranger instead: other names in
the instance and the value rebuilt from them (``strangers.py``). A single request compared
with the *mean* of such replicas would fail half the time for data the model never saw, so the gate
compares with the replicas' upper percentile (``memorisation_baseline_percentile``): the request must not
look more memorised than fresh values commonly do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from transformers import PreTrainedTokenizerBase

from rtbf.pii import contains_value, value_spans
from rtbf.prompts import edit_contexts
from rtbf.request import ForgetRequest, PiiItem
from rtbf.settings import GateSettings
from workers.verify.exposure import item_seed
from workers.verify.formats import (
    CandidateSampler,
    has_name_built_part,
    name_built_spans,
)
from workers.verify.scoring import Encoded, encode_values, generate, score_values
from workers.verify.spellings import most_frequent_tail
from workers.verify.strangers import Stranger

MAX_PREFIX_TOKENS = 64
MAX_SUFFIX_TOKENS = 16
MAX_EL_POSITIONS = 16  # value positions EL_n generates from, at most (spread evenly over a longer value)


def memorisation_instances(request: ForgetRequest, item: PiiItem, limit: int) -> list[tuple[str, str]]:
    """(prefix, suffix) pairs around the value: document occurrences first, then contexts, then the edit bank."""
    out: list[tuple[str, str]] = []
    for doc in request.documents:
        starts = {s.start: s.end for s in doc.spans if doc.text[s.start : s.end].strip() == item.value}
        starts.update({start: end for start, end in value_spans(doc.text, item.value)})
        for start, end in sorted(starts.items()):
            pair = (doc.text[:start].rstrip(), doc.text[end:])
            # before a second mention the value can be copied from the prefix; its replicas cannot be
            if pair[0] and pair not in out and not contains_value(pair[0], item.value, item.type):
                out.append(pair)
    for context in [*item.contexts, *edit_contexts(request, item)]:
        pair = (context.rstrip(), "")
        if pair[0] and pair not in out:
            out.append(pair)
    return out[:limit]


def overlap_n(generated: Sequence[int], reference: Sequence[int], n: int) -> float:
    """Share of the generated n-grams that occur in the reference (0 when nothing was generated)."""
    grams = [tuple(generated[i : i + n]) for i in range(len(generated) - n + 1)]
    if not grams:
        return 0.0
    ref = {tuple(reference[i : i + n]) for i in range(len(reference) - n + 1)}
    return sum(g in ref for g in grams) / len(grams)


@dataclass
class Measure:
    """MA and EL_n averaged over a set of instances (None where no instance was long enough)."""

    ma: float | None
    el: dict[int, float | None]


@dataclass
class RequestMemorisation:
    request_index: int
    instances: int
    measured: Measure
    baseline: list[Measure] = field(default_factory=list)

    def baseline_percentile(self, percentile: float) -> Measure:
        mas = [b.ma for b in self.baseline if b.ma is not None]
        el: dict[int, float | None] = {}
        for n in self.measured.el:
            values = [b.el.get(n) for b in self.baseline if b.el.get(n) is not None]
            el[n] = float(np.percentile(values, percentile)) if values else None
        return Measure(float(np.percentile(mas, percentile)) if mas else None, el)

    def above_baseline(self, percentile: float) -> list[str]:
        """The measures ('ma', 'el_3', ...) above the never-seen percentile; one not measurable never is."""
        base = self.baseline_percentile(percentile)
        pairs = [("ma", self.measured.ma, base.ma)]
        pairs += [(f"el_{n}", value, base.el.get(n)) for n, value in self.measured.el.items()]
        return [name for name, value, limit in pairs if value is not None and limit is not None and value > limit]


def _el_positions(enc: Encoded) -> list[int]:
    """The value positions EL_n generates from: every measured one, or MAX_EL_POSITIONS spread evenly from
    the first to the last. EL_n is a mean over start positions, and each costs a greedy generation for the
    value and for every one of its replicas: a value of 120 tokens would cost 6,000 per context."""
    positions = [t for t in range(enc.value_start, enc.value_end) if t not in enc.unmeasured]
    if len(positions) <= MAX_EL_POSITIONS:
        return positions
    last = len(positions) - 1
    return [positions[round(i * last / (MAX_EL_POSITIONS - 1))] for i in range(MAX_EL_POSITIONS)]


def _measure_encoded(
    model, tokenizer: PreTrainedTokenizerBase, groups: list[list[Encoded]], settings: GateSettings
) -> list[Measure]:
    """One Measure per group of encoded instances; every group's forwards and generations are batched together."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    flat = [(g, enc) for g, group in enumerate(groups) for enc in group]
    scores = score_values(model, [enc for _, enc in flat], settings.batch_size, pad_id)
    longest_n = max(settings.el_ns, default=0)
    prompts: list[tuple[int, ...]] = []
    references: list[tuple[int, ...]] = []  # the true text from t on, as far as the longest reference needs
    value_rests: list[int] = []
    owners: list[int] = []
    for g, enc in flat:
        for t in _el_positions(enc):
            prompts.append(enc.ids[:t])
            references.append(enc.ids[t : t + max(enc.value_end - t, longest_n)])
            value_rests.append(enc.value_end - t)
            owners.append(g)
    generations: list[list[int]] = []
    if prompts and settings.el_ns:
        outputs = generate(
            model, tokenizer, prompts, max_new_tokens=max(len(r) for r in references),
            batch_size=settings.batch_size, mode="greedy",
        )
        generations = [rows[0] if rows else [] for rows in outputs]
    ma_by_group: dict[int, list[float]] = {}
    for (g, enc), score in zip(flat, scores):
        measured = [k for k in range(len(score.top1)) if enc.value_start + k not in enc.unmeasured]
        if measured:
            ma_by_group.setdefault(g, []).append(float(score.top1[measured].mean()))
    el_by_group: dict[int, dict[int, list[float]]] = {}
    for k, generated in enumerate(generations):
        for n in settings.el_ns:
            # EL_n's reference: the rest of the value, extended to n tokens by what follows it in the text
            reference = references[k][: max(value_rests[k], n)]
            if len(reference) < n:
                continue
            score = overlap_n(generated[: len(reference)], reference, n)
            el_by_group.setdefault(owners[k], {}).setdefault(n, []).append(score)
    out = []
    for g in range(len(groups)):
        mas = ma_by_group.get(g, [])
        els = el_by_group.get(g, {})
        out.append(Measure(
            float(np.mean(mas)) if mas else None,
            {n: (float(np.mean(els[n])) if els.get(n) else None) for n in settings.el_ns},
        ))
    return out


def _path_changing_tail(tokenizer: PreTrainedTokenizerBase, pairs: list[tuple[str, str]], value: str, tail: str) -> str:
    """``tail`` where it changes the value's tokens after the first suffix-less context, else ''. A tail the
    tokenizer splits off would only lengthen EL_n's reference, which is not what it is there for."""
    bare = next((prefix for prefix, suffix in pairs if not suffix), None)
    if not tail or bare is None:
        return ""
    with_tail, alone = encode_values(tokenizer, [(bare, value, tail), (bare, value, "")], MAX_PREFIX_TOKENS)
    if with_tail is None or alone is None:
        return ""
    return tail if with_tail.ids[with_tail.value_start : with_tail.value_end] != alone.ids[alone.value_start : alone.value_end] else ""


def _replicas(
    sampler: CandidateSampler, request: ForgetRequest, item: PiiItem, count: int, seed: int
) -> tuple[list[str], list[Stranger]]:
    """The never-seen values of an item, and the strangers they belong to when they are strangers' values.

    Replicas keep the name-built parts (a never-seen model predicts those too) and vary the rest; a value
    built wholly from the name has nothing else to vary, and its replicas are the same construction for a
    stranger. A value with no free part at all falls back to name-unaware sampling."""
    names = request.subject.names
    values = sampler.sample(item.value, item.type, count, seed, names=names)
    if values:
        return values, []
    if has_name_built_part(item.value, item.type, names):
        strangers = [Stranger(names, seed + r) for r in range(count)]
        return [s.rebuild(item.value, item.type) for s in strangers], strangers
    return sampler.sample(item.value, item.type, count, seed), []


def measure_memorisation(
    model,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[ForgetRequest],
    settings: GateSettings,
    sampler: CandidateSampler,
    tails: Mapping[tuple[int, str], Sequence[str]] | None = None,
) -> list[RequestMemorisation]:
    """MA / EL_n of each request's values and of ``memorisation_baseline_replicas`` never-seen replicas of it.

    ``tails`` (see ``measure_exposure``) stands in for the suffix of a context that has none."""
    replicas = settings.memorisation_baseline_replicas
    groups: list[list[Encoded]] = []
    spans: list[tuple[int, int]] = []  # per request: its groups [first, last)
    for r_index, request in enumerate(requests):
        first = len(groups)
        # (prefix, value, suffix) triples and, beside them, the value's name-built character ranges
        real: list[tuple[str, str, str]] = []
        real_names: list[list[tuple[int, int]]] = []
        fresh: list[list[tuple[str, str, str]]] = [[] for _ in range(replicas)]
        fresh_names: list[list[list[tuple[int, int]]]] = [[] for _ in range(replicas)]
        for item in request.all_items():
            pairs = memorisation_instances(request, item, settings.memorisation_contexts)
            tail = _path_changing_tail(tokenizer, pairs, item.value, most_frequent_tail(tails, r_index, item.value))
            seed = item_seed(settings, item, salt=1)
            values, strangers = _replicas(sampler, request, item, replicas, seed)
            names = request.subject.names
            value_names = name_built_spans(item.value, item.type, names)
            replica_names = [
                name_built_spans(value, item.type, strangers[r].names(names) if strangers else names)
                for r, value in enumerate(values)
            ]
            for prefix, suffix in pairs:
                real.append((prefix, item.value, suffix or tail))
                real_names.append(value_names)
                for r, value in enumerate(values):
                    rename = strangers[r].rename if strangers else str
                    fresh[r].append((rename(prefix), value, rename(suffix) or tail))
                    fresh_names[r].append(replica_names[r])
        for triples, unmeasured in zip([real, *fresh], [real_names, *fresh_names]):
            encoded = encode_values(tokenizer, triples, MAX_PREFIX_TOKENS, MAX_SUFFIX_TOKENS, unmeasured)
            groups.append([e for e in encoded if e is not None])
        spans.append((first, len(groups)))
    measures = _measure_encoded(model, tokenizer, groups, settings)
    results = []
    for r_index, (first, last) in enumerate(spans):
        results.append(RequestMemorisation(
            request_index=r_index,
            instances=len(groups[first]),
            measured=measures[first],
            baseline=[m for m in measures[first + 1 : last] if m.ma is not None],
        ))
    return results
