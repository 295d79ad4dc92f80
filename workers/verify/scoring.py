"""Batched teacher-forced scoring and generation: the two model calls every measure of the gate is made of.

Scoring answers "how likely is this value after this text, token by token?" for thousands of texts at
once: sequences are sorted by length, left-padded so that every value ends at the last position, and the
vocabulary projection is computed only for the value positions (``logits_to_keep``). Generation batches
many prompts and many samples per ``generate`` call. Nothing here loops over candidates in Python
around a forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from rtbf.joins import join_value
from workers.engine.device import model_device
from workers.engine.window import clip_prompts, new_token_room
from workers.verify.cached_forward import forward_with_cache

# Upper bound on logits materialised at once (rows x kept positions x vocabulary), about 256 MB in float32.
MAX_LOGIT_ELEMENTS = 64_000_000


@dataclass(frozen=True)
class Encoded:
    """Token ids of prefix + value (+ suffix); ``ids[value_start:value_end]`` are the value's tokens."""

    ids: tuple[int, ...]
    value_start: int
    value_end: int
    # positions of value tokens made wholly of characters the caller asked to leave out of measurements
    # (the parts of a value built from the subject's name, see ``memorisation.py``)
    unmeasured: frozenset[int] = frozenset()

    @property
    def value_ids(self) -> tuple[int, ...]:
        return self.ids[self.value_start : self.value_end]


def encode_values(
    tokenizer: PreTrainedTokenizerBase,
    triples: Sequence[tuple[str, str, str]],
    max_prefix_tokens: int,
    max_suffix_tokens: int = 0,
    unmeasured: Sequence[Sequence[tuple[int, int]]] | None = None,
) -> list[Encoded | None]:
    """Tokenise (prefix, value, suffix) triples in one tokenizer call; None where the value has no own token.

    The prefix is cut from the left to ``max_prefix_tokens`` (special tokens the tokenizer puts first are
    kept), the suffix from the right to ``max_suffix_tokens``. ``unmeasured`` gives, per triple, character
    ranges of the value; a value token whose non-space characters all lie in them is marked unmeasured.
    """
    texts, value_chars = [], []
    for prefix, value, suffix in triples:
        text, start = join_value(prefix, value)
        texts.append(text + suffix)
        value_chars.append((start, start + len(value)))
    if not texts:
        return []
    enc = tokenizer(texts, return_offsets_mapping=True, add_special_tokens=True)
    out: list[Encoded | None] = []
    skips = unmeasured if unmeasured is not None else [()] * len(texts)
    for ids, offsets, (v_start, v_end), skip, text in zip(
        enc["input_ids"], enc["offset_mapping"], value_chars, skips, texts
    ):
        first = next((i for i, (s, e) in enumerate(offsets) if e > v_start and e > s), None)
        last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < v_end and offsets[i][1] > offsets[i][0]), None)
        if first is None or last is None or first == 0 or last < first:
            out.append(None)
            continue
        lead = 0
        while lead < first and offsets[lead] == (0, 0) and lead < len(ids):
            lead += 1
        keep_from = max(lead, first - max_prefix_tokens)
        head = list(ids[:lead]) + list(ids[keep_from:first])
        if not head:
            out.append(None)
            continue
        value_ids = list(ids[first : last + 1])
        suffix_ids = list(ids[last + 1 : last + 1 + max_suffix_tokens])
        ranges = [(v_start + a, v_start + b) for a, b in skip]
        left_out = frozenset(
            len(head) + k for k, (s, e) in enumerate(offsets[first : last + 1])
            if ranges and all(any(a <= c < b for a, b in ranges) for c in range(s, e) if not text[c].isspace())
        )
        out.append(Encoded(tuple(head + value_ids + suffix_ids), len(head), len(head) + len(value_ids), left_out))
    return out


@dataclass(frozen=True)
class ValueScore:
    """Per value token: its log-probability and whether it was the model's top prediction."""

    logprobs: np.ndarray
    top1: np.ndarray

    @property
    def total(self) -> float:
        return float(self.logprobs.sum())


def _forward_last(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
    """Logits of the last ``keep`` positions; position ids count only real tokens (left padding)."""
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    try:
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
    except TypeError:  # architectures without logits_to_keep compute all positions
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    return logits[:, -keep:]


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


# Sequences that share a prefix at least this often are scored from one cached prefix forward.
SHARED_PREFIX_MIN = 16
# A prefix tree expands this many batches' worth of values at once: wider trees share more tokens, and a
# level of the tree is one forward whatever its width (its cache rows are small: one token per level).
TREE_CHUNK_FACTOR = 4


@torch.no_grad()
def score_values(
    model: torch.nn.Module, encoded: Sequence[Encoded], batch_size: int, pad_id: int
) -> list[ValueScore]:
    """Teacher-forced log-probabilities of every value token, all sequences in large batches.

    Values that follow the same prefix (thousands of exposure candidates after one context) reuse one
    forward pass of that prefix through the key/value cache, so only the value tokens are computed per
    candidate; the rest are scored as whole left-padded sequences.
    """
    results: list[ValueScore | None] = [None] * len(encoded)
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, enc in enumerate(encoded):
        groups.setdefault(enc.ids[: enc.value_start], []).append(index)
    rest: list[int] = []
    for prefix, members in groups.items():
        if len(members) >= SHARED_PREFIX_MIN:
            scores = _score_after_prefix(model, prefix, [encoded[i].value_ids for i in members], batch_size)
            for index, score in zip(members, scores):
                results[index] = score
        else:
            rest.extend(members)
    if rest:
        for index, score in zip(rest, _score_full(model, [encoded[i] for i in rest], batch_size, pad_id)):
            results[index] = score
    return results  # type: ignore[return-value]


def _rows_for_memory(model: torch.nn.Module, positions: int, batch_size: int) -> int:
    vocab = model.get_output_embeddings().weight.shape[0]
    return max(1, min(batch_size, MAX_LOGIT_ELEMENTS // (max(1, positions) * vocab)))


@torch.no_grad()
def _score_full(model: torch.nn.Module, encoded: Sequence[Encoded], batch_size: int, pad_id: int) -> list[ValueScore]:
    device = model_device(model)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids[: encoded[i].value_end]))
    results: list[ValueScore | None] = [None] * len(encoded)
    position = 0
    while position < len(order):
        longest_value = max(
            encoded[i].value_end - encoded[i].value_start for i in order[position : position + batch_size]
        )
        chunk = order[position : position + _rows_for_memory(model, longest_value + 1, batch_size)]
        position += len(chunk)
        rows = [encoded[i].ids[: encoded[i].value_end] for i in chunk]
        ids, mask = _left_pad(rows, pad_id, device)
        keep = longest_value + 1
        logits = _forward_last(model, ids, mask, keep).float()[:, :-1]
        targets = ids[:, -longest_value:]
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        top1 = logits.argmax(-1) == targets
        logprobs, top1 = logprobs.cpu().numpy(), top1.cpu().numpy()
        for row, index in enumerate(chunk):
            n = encoded[index].value_end - encoded[index].value_start
            results[index] = ValueScore(logprobs[row, longest_value - n :], top1[row, longest_value - n :])
    return results  # type: ignore[return-value]


@torch.no_grad()
def _score_after_prefix(
    model: torch.nn.Module, prefix: tuple[int, ...], values: Sequence[tuple[int, ...]], batch_size: int
) -> list[ValueScore]:
    """Score many values after one prefix, sharing every computation that can be shared.

    The prefix runs once per chunk and its cache is reused; values are sorted so that a chunk's values
    share their leading tokens, and the chunk is expanded as a prefix tree: each distinct partial value
    goes through the model once, one tree level per forward. For 10,000 random phone numbers that is
    about a third fewer token positions than scoring every value separately.
    """
    device = model_device(model)
    prefix_ids = torch.tensor([prefix], dtype=torch.long, device=device)
    prefix_mask = torch.ones_like(prefix_ids)
    first = model(input_ids=prefix_ids, attention_mask=prefix_mask, use_cache=False).logits[0, -1].float()
    first_logprobs = torch.log_softmax(first, dim=-1).cpu().numpy()
    first_top = int(first.argmax())
    order = sorted(range(len(values)), key=lambda i: values[i])
    logprobs = [[float(first_logprobs[values[i][0]])] for i in range(len(values))]
    tops = [[values[i][0] == first_top] for i in range(len(values))]
    chunk_size = batch_size * TREE_CHUNK_FACTOR
    for start in range(0, len(order), chunk_size):
        chunk = order[start : start + chunk_size]
        cache = None
        parents_of: dict[tuple[int, ...], int] = {(): 0}
        depth = 1
        while True:
            growing = [i for i in chunk if len(values[i]) > depth]
            if not growing:
                break
            nodes: dict[tuple[int, ...], int] = {}
            for i in growing:
                nodes.setdefault(values[i][:depth], len(nodes))
            keys = list(nodes)
            parents = torch.tensor([parents_of[k[:-1]] for k in keys], dtype=torch.long, device=device)
            if cache is None:
                _, cache = forward_with_cache(model, prefix_ids, prefix_mask, last_only=True)
            cache.batch_select_indices(parents)
            tokens = torch.tensor([[k[-1]] for k in keys], dtype=torch.long, device=device)
            mask = torch.ones((len(keys), len(prefix) + depth), dtype=torch.long, device=device)
            positions = torch.full((len(keys), 1), len(prefix) + depth - 1, dtype=torch.long, device=device)
            logits, cache = forward_with_cache(model, tokens, mask, positions, cache)
            logits = logits[:, -1].float()
            level = torch.log_softmax(logits, dim=-1)
            node_index = torch.tensor([nodes[values[i][:depth]] for i in growing], dtype=torch.long, device=device)
            targets = torch.tensor([values[i][depth] for i in growing], dtype=torch.long, device=device)
            picked = level[node_index, targets].cpu().tolist()
            hits = (logits.argmax(-1)[node_index] == targets).cpu().tolist()
            for i, lp, hit in zip(growing, picked, hits):
                logprobs[i].append(lp)
                tops[i].append(hit)
            parents_of = nodes
            depth += 1
    return [ValueScore(np.array(logprobs[i]), np.array(tops[i])) for i in range(len(values))]


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    batch_size: int,
    mode: str = "greedy",
    beams: int = 5,
    samples: int = 1,
    top_k: int = 40,
    temperature: float = 1.0,
    seed: int = 0,
) -> list[list[list[int]]]:
    """New token ids per prompt: one list for greedy, ``beams`` lists for beam, ``samples`` for sample.

    ``batch_size`` bounds the sequences decoded together (prompts x returned sequences per call).
    Greedy and sampled decoding use ``_decode`` below; beam search uses ``transformers``' ``generate``.
    Sampling draws from its own seeded generator, so a gate run is reproducible and leaves the global
    RNG alone.
    """
    per_prompt = {"greedy": 1, "beam": beams, "sample": samples}[mode]
    if per_prompt == 0 or not prompts:
        return [[] for _ in prompts]
    max_new_tokens = new_token_room(model, max_new_tokens)  # prompt and continuation in the model's window
    prompts = clip_prompts(model, tokenizer, prompts, max_new_tokens)
    device = model_device(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos_id = tokenizer.eos_token_id
    prompts_per_call = max(1, batch_size // per_prompt)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: list[list[list[int]]] = [[] for _ in prompts]
    generator = torch.Generator(device=device).manual_seed(seed)
    for start in range(0, len(order), prompts_per_call):
        chunk = order[start : start + prompts_per_call]
        ids, mask = _left_pad([prompts[i] for i in chunk], pad_id, device)
        if mode == "beam":
            out = model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, pad_token_id=pad_id,
                do_sample=False, num_beams=beams, num_return_sequences=beams, early_stopping=True,
            )[:, ids.shape[1] :].cpu().tolist()
            rows = [_strip_pad(r, pad_id) for r in out]
        else:
            rows = _decode(
                model, ids, mask, per_prompt, max_new_tokens, eos_id,
                top_k=None if mode == "greedy" else top_k, temperature=temperature, generator=generator,
            )
        for k, index in enumerate(chunk):
            outputs[index] = rows[k * per_prompt : (k + 1) * per_prompt]
    return outputs


def _pick(logits: torch.Tensor, top_k: int | None, temperature: float, generator: torch.Generator) -> torch.Tensor:
    if top_k is None:
        return logits.argmax(-1)
    values, indices = torch.topk(logits.float() / temperature, min(top_k, logits.shape[-1]), dim=-1)
    choice = torch.multinomial(torch.softmax(values, dim=-1), 1, generator=generator)
    return indices.gather(-1, choice).squeeze(-1)


def _decode(
    model: torch.nn.Module,
    ids: torch.Tensor,
    mask: torch.Tensor,
    copies: int,
    max_new_tokens: int,
    eos_id: int | None,
    *,
    top_k: int | None,
    temperature: float,
    generator: torch.Generator,
) -> list[list[int]]:
    """Greedy (``top_k`` None) or top-k sampled decoding with a key/value cache.

    Each prompt is run once and its cache repeated ``copies`` times (N samples share one prefill), and a
    row that has produced eos leaves the batch at once, so the cost follows the real output lengths
    rather than the longest one. Returned rows end with eos when the model stopped by itself.
    """
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits, cache = forward_with_cache(model, ids, mask, positions, last_only=True)
    logits = logits[:, -1]
    if copies > 1:
        cache.batch_repeat_interleave(copies)
        logits = logits.repeat_interleave(copies, dim=0)
        mask = mask.repeat_interleave(copies, dim=0)
        positions = positions.repeat_interleave(copies, dim=0)
    next_position = positions[:, -1:] + 1
    alive = torch.arange(logits.shape[0], device=ids.device)
    rows: list[list[int]] = [[] for _ in range(logits.shape[0])]
    for step in range(max_new_tokens):
        tokens = _pick(logits, top_k, temperature, generator)
        for row, token in zip(alive.tolist(), tokens.tolist()):
            rows[row].append(token)
        if step == max_new_tokens - 1:
            break
        keep = tokens != eos_id if eos_id is not None else torch.ones_like(tokens, dtype=torch.bool)
        if not bool(keep.any()):
            break
        if not bool(keep.all()):
            kept = keep.nonzero().squeeze(-1)
            cache.batch_select_indices(kept)
            alive, tokens, mask, next_position = alive[kept], tokens[kept], mask[kept], next_position[kept]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
        logits, cache = forward_with_cache(model, tokens.unsqueeze(-1), mask, next_position, cache)
        logits = logits[:, -1]
        next_position = next_position + 1
    return rows


def _strip_pad(row: list[int], pad_id: int) -> list[int]:
    end = len(row)
    while end > 0 and row[end - 1] == pad_id:
        end -= 1
    return row[:end]
