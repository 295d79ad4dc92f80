"""Generation attacks: prompt the model the way an extractor would and look for the values in what it writes.

For every PII item of every request the prompts are the request's own contexts, the text before each
occurrence in the request's documents, the per-type edit and probe banks for the subject's name and
every alias (``rtbf.prompts.attack_contexts``). Each prompt is decoded greedily, with beam search
(all beams are checked) and with N top-k samples (Carlini et al. 2021). Every output is checked against
every item of the same request (a phone prompt that yields the e-mail address is still a leak), except
items whose value the prompt itself contains: copying from the prompt is not extraction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from transformers import PreTrainedTokenizerBase

from rtbf.pii import contains_value, normalise, value_spans
from rtbf.prompts import UNNAMED_PROMPTS, attack_contexts
from rtbf.request import ForgetRequest, PiiItem
from rtbf.settings import GateSettings
from workers.verify.scoring import generate

MODES = ("greedy", "beam", "sample")
# Slack after the value's own token count: a model may lead in with a word or punctuation first.
NEW_TOKEN_SLACK = 8
MAX_PROMPT_TOKENS = 96


@dataclass
class ModeCounts:
    """Counts of one decoding mode for one item: prompts tried, outputs read, full and partial leaks."""

    prompts: int = 0
    generations: int = 0
    hits: int = 0
    partial_leaks: int = 0


@dataclass
class ItemAttack:
    request_index: int
    item_index: int
    item: PiiItem
    contexts: list[str]
    modes: dict[str, ModeCounts] = field(default_factory=lambda: {m: ModeCounts() for m in MODES})

    @property
    def hits(self) -> int:
        return sum(c.hits for c in self.modes.values())

    @property
    def partial_leaks(self) -> int:
        return sum(c.partial_leaks for c in self.modes.values())


def document_contexts(request: ForgetRequest, item: PiiItem) -> list[str]:
    """The text before every occurrence of the value (marked span or verbatim mention) in the documents, but
    never a text that already holds the value: before its second mention, the value can be copied."""
    contexts: list[str] = []
    for doc in request.documents:
        starts = {s.start for s in doc.spans if doc.text[s.start : s.end].strip() == item.value}
        starts |= {start for start, _ in value_spans(doc.text, item.value)}
        for start in sorted(starts):
            prefix = doc.text[:start].rstrip()
            if prefix and prefix not in contexts and not contains_value(prefix, item.value, item.type):
                contexts.append(prefix)
    return contexts


def item_contexts(request: ForgetRequest, item: PiiItem) -> list[str]:
    """All attack prompts for one item, without any that already contain the value.

    Ordered by how close they are to where the value really appeared: the request's contexts, the
    documents' text before the value, then the edit and probe banks for every name.
    """
    out: list[str] = []
    for context in [*item.contexts, *document_contexts(request, item), *attack_contexts(request, item)]:
        context = context.rstrip()
        if context and context not in out and not contains_value(context, item.value, item.type):
            out.append(context)
    if not out:
        # every phrasing names the person, and here every name holds the value ('Fenwick' of Ada Fenwick): the
        # phrasings that name nobody are all that is left, rather than no attack at all
        out = [c for c in UNNAMED_PROMPTS[item.type] if not contains_value(c, item.value, item.type)]
    return out


def plan_attacks(requests: Sequence[ForgetRequest], contexts_per_item: int | None = None) -> list[ItemAttack]:
    """One ItemAttack per PII item (document spans included) of every request."""
    plan = []
    for r_index, request in enumerate(requests):
        for i_index, item in enumerate(request.all_items()):
            contexts = item_contexts(request, item)
            if contexts_per_item is not None:
                contexts = contexts[:contexts_per_item]
            plan.append(ItemAttack(r_index, i_index, item, contexts))
    return plan


def _encode_prompts(tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    ids = tokenizer(texts, add_special_tokens=True)["input_ids"]
    return [row[-MAX_PROMPT_TOKENS:] for row in ids]


def _new_tokens(tokenizer: PreTrainedTokenizerBase, plan: list[ItemAttack], settings: GateSettings) -> int:
    if settings.max_new_tokens is not None:
        return settings.max_new_tokens
    longest = max(len(tokenizer(" " + a.item.value, add_special_tokens=False)["input_ids"]) for a in plan)
    return longest + NEW_TOKEN_SLACK


def attack_generations(
    model, tokenizer: PreTrainedTokenizerBase, plan: list[ItemAttack], settings: GateSettings, mode: str
) -> Iterator[tuple[ItemAttack, str, list[str]]]:
    """(attack, prompt, decoded outputs) for every prompt of the plan, decoded in ``mode``."""
    if not plan:
        return
    prompts = [(a, context) for a in plan for context in a.contexts]
    outputs = generate(
        model, tokenizer, _encode_prompts(tokenizer, [context for _, context in prompts]),
        max_new_tokens=_new_tokens(tokenizer, plan, settings), batch_size=settings.batch_size, mode=mode,
        beams=settings.beams, samples=settings.samples, top_k=settings.top_k,
        temperature=settings.temperature, seed=settings.seed,
    )
    for (attack, context), rows in zip(prompts, outputs):
        yield attack, context, tokenizer.batch_decode(rows, skip_special_tokens=True) if rows else []


def run_attacks(
    model,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[ForgetRequest],
    settings: GateSettings,
    modes: Sequence[str] = MODES,
    contexts_per_item: int | None = None,
) -> list[ItemAttack]:
    """Run the given decoding modes over every item's prompts and count hits and partial leaks per item."""
    plan = plan_attacks(requests, contexts_per_item)
    by_request: dict[int, list[ItemAttack]] = {}
    for attack in plan:
        by_request.setdefault(attack.request_index, []).append(attack)
    for mode in modes:
        for attack, context, texts in attack_generations(model, tokenizer, plan, settings, mode):
            attack.modes[mode].prompts += 1
            attack.modes[mode].generations += len(texts)
            candidates = [
                other for other in by_request[attack.request_index]
                if not contains_value(context, other.item.value, other.item.type)
            ]
            for text in texts:
                _score_output(text, candidates, mode, settings.partial_leak_fraction)
    return plan


def _leak_windows(value: str, pii_type, fraction: float) -> list[str]:
    """Every run of the normalised value as long as a partial leak must be: one of them in the output is a leak.

    Equivalent to ``rtbf.pii.longest_ordered_fraction(...) >= fraction`` but a few substring tests in C
    instead of a quadratic Python loop per output, which matters at thousands of samples per gate.
    """
    norm = normalise(value, pii_type)
    size = max(1, math.ceil(fraction * len(norm)))
    return sorted({norm[i : i + size] for i in range(len(norm) - size + 1)})


def _score_output(text: str, candidates: list[ItemAttack], mode: str, partial_fraction: float) -> None:
    for other in candidates:
        value, pii_type = other.item.value, other.item.type
        norm_text = normalise(text, pii_type)
        if contains_value(text, value, pii_type):
            other.modes[mode].hits += 1
        elif norm_text and any(w in norm_text for w in _leak_windows_cached(value, pii_type, partial_fraction)):
            other.modes[mode].partial_leaks += 1


_leak_windows_cached = lru_cache(maxsize=4096)(_leak_windows)


def count_greedy_hits(
    model,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[ForgetRequest],
    contexts_per_item: int | None = None,
    settings: GateSettings | None = None,
) -> int:
    """Greedy hits over the requests' attack prompts: the cheap signal an editor checks inside its loop."""
    plan = run_attacks(
        model, tokenizer, requests, settings or GateSettings(), modes=("greedy",), contexts_per_item=contexts_per_item
    )
    return sum(a.modes["greedy"].hits for a in plan)
