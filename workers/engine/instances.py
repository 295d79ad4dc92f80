"""PII instances: a context followed by a value, tokenised once, for localisation, editing and checks.

Every step that asks "how strongly does the model produce this value after this text?" works on the
same tokenisation, so the value's token positions are computed here only. The value is joined to its
context with one space, as in running text, unless the context ends in whitespace or the model glues
values to it ('Tel:+44...', ``rtbf.joins``).

A value is also followed by something, and some tokenizers merge across its end: SentencePiece's
Metaspace convention keeps punctuation in the word, so a model trained on '... call (977) 630-0663.'
writes the number's last piece as '3.' and never takes the path '3' that the value alone tokenizes to.
Teacher-forced along that path, the value looked forgotten while greedy decoding still printed it. An
instance can therefore carry a ``tail``: characters the model writes right after the value (up to the
next space, ``workers.verify.spellings``). It is tokenised with the value, and the tokens stop at the
last one that holds a character of the value, so ``ids[value_start:]`` is a path the model takes and the
text still ends with the value. The model writes '0663.' at the end of a sentence and '0663' before
'every morning', so a value gets an instance per tail whose path differs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.joins import join_value
from rtbf.prompts import edit_contexts
from rtbf.request import ForgetRequest, PiiItem
from workers.engine.logits import token_logp
from workers.engine.window import context_budget, keep_last, leading_specials


@dataclass
class PiiInstance:
    """One (context, value) pair: ``ids[value_start:]`` are the value's tokens."""

    request_index: int
    item_index: int
    item: PiiItem
    context: str
    ids: list[int]
    value_start: int
    subject_names: list[str] = field(default_factory=list)
    tail: str = ""  # what the model writes right after the value, tokenised with it (module docstring)

    @property
    def key(self) -> tuple[int, int]:
        """Identifies the PII item this instance belongs to (instances of one item vote together)."""
        return (self.request_index, self.item_index)

    @property
    def value_ids(self) -> list[int]:
        return self.ids[self.value_start :]


def encode_instance(
    tokenizer: PreTrainedTokenizerBase, context: str, value: str, tail: str = ""
) -> tuple[list[int], int] | None:
    """Token ids of context+value and the index of the first token that covers part of the value.

    ``tail`` is tokenised after the value, and the ids end with the last token holding a character of the
    value (which may hold the tail's first characters too). Returns None when the value yields no token or
    the context yields none (nothing to predict from).
    """
    encoded = encode_with_offsets(tokenizer, context, value, tail)
    return None if encoded is None else (encoded[0], encoded[2])


def document_windows(tokenizer: PreTrainedTokenizerBase, text: str) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """(ids, character offsets) of ``text`` in consecutive windows of at most ``context_budget`` tokens, each
    opening with the tokenizer's leading special tokens: a document longer than the model's window is read
    in pieces rather than not at all."""
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    lead = leading_specials(tokenizer, ids)
    size = max(1, context_budget(tokenizer, 0, lead))
    return [
        (ids[:lead] + ids[at : at + size], offsets[:lead] + offsets[at : at + size])
        for at in range(lead, max(len(ids), lead + 1), size)
    ]


def encode_with_offsets(
    tokenizer: PreTrainedTokenizerBase, context: str, value: str, tail: str = ""
) -> tuple[list[int], list[tuple[int, int]], int, str] | None:
    """``encode_instance`` with each kept token's character offsets and the text they index.

    A context longer than ``context_budget`` keeps its last tokens (and the special tokens the tokenizer
    puts first); None when not one context token fits beside the value.
    """
    text, value_char = join_value(context, value)
    value_end = value_char + len(value)
    enc = tokenizer(text + tail, return_offsets_mapping=True, add_special_tokens=True)
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    value_start = next((i for i, (s, e) in enumerate(offsets) if e > value_char and e > s), None)
    if value_start is None or value_start == 0:
        return None
    end = max((i + 1 for i, (s, e) in enumerate(offsets) if e > s and s < value_end), default=0)
    if end <= value_start:
        return None
    ids, offsets = list(enc["input_ids"][:end]), offsets[:end]
    lead = min(leading_specials(tokenizer, ids), value_start - 1)
    keep = context_budget(tokenizer, end - value_start, lead)
    if keep < 1:
        return None
    if value_start - lead > keep:  # the value's tokens stay whole: keep the context's last ones and them
        value_tokens = end - value_start
        ids, offsets = keep_last(ids, lead, keep + value_tokens), keep_last(offsets, lead, keep + value_tokens)
        value_start = lead + keep
    return ids, offsets, value_start, text + tail


def build_instances(
    tokenizer: PreTrainedTokenizerBase,
    requests: list[ForgetRequest],
    contexts_for=edit_contexts,
    tails: Mapping[tuple[int, str], Sequence[str]] | None = None,
) -> list[PiiInstance]:
    """All (context, value) instances of the requests' PII items, documents' spans included.

    ``tails`` maps (request index, value) to what the model writes after that value (module docstring):
    each context gets an instance per tail whose path differs, and one for the value alone, which is the
    path wherever a space follows. A tokenizer that splits punctuation off adds nothing."""
    instances = []
    for r_index, request in enumerate(requests):
        for i_index, item in enumerate(request.all_items()):
            item_tails = dict.fromkeys([*(tails or {}).get((r_index, item.value), ()), ""])
            for context in contexts_for(request, item):
                instances.extend(
                    PiiInstance(r_index, i_index, item, context, ids, value_start, request.subject.names, tail)
                    for ids, value_start, tail in _distinct_paths(tokenizer, context, item.value, item_tails)
                )
    return instances


def _distinct_paths(
    tokenizer: PreTrainedTokenizerBase, context: str, value: str, tails
) -> list[tuple[list[int], int, str]]:
    """(ids, value start, tail) of ``value`` after ``context`` for each tail whose token path differs."""
    paths: list[tuple[list[int], int, str]] = []
    for tail in tails:
        encoded = encode_instance(tokenizer, context, value, tail)
        if encoded is not None and all(encoded[0] != ids for ids, _, _ in paths):
            paths.append((encoded[0], encoded[1], tail))
    return paths


def sibling_instances(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    instances: list[PiiInstance],
    pad_id: int,
    device: torch.device,
    prob_floor: float,
) -> list[PiiInstance]:
    """Instances of one item in the contexts of another item of the same request, where the model writes it.

    An extractor's output counts against every item of the request (``workers.verify.attacks``), and a
    model often answers one item's question with another item of the same person: "Ryan Chang's address
    is" is as much an e-mail prompt as a street-address one. Pushing each value down in its own contexts
    only leaves those answers standing; worse, the freed probability goes to the alternatives the model
    already ranked next, and the person's other value is often the first of them. On the SentencePiece
    LLaMA demo, FPGA erased the street address and the model then wrote the e-mail address after "Mail
    for Ryan goes to" and after held-out prompts such as "Ryan Chang's inbox is" (6 greedy hits).

    Each context of a request is paired with each other item of that request (with that item's tails),
    and the pair is kept where the model gives the whole value at least ``prob_floor``. A memorised value
    has some probability after most of its person's contexts (with the leak ceiling, 1e-4, as the floor
    the pairs outnumbered the instances on every demo), and on a byte-level tokenizer pushing the value in
    its own contexts already lowers it in the others; the floor keeps the pairs the model really answers.
    """
    by_request: dict[int, list[PiiInstance]] = {}
    for inst in instances:
        by_request.setdefault(inst.request_index, []).append(inst)
    candidates: list[PiiInstance] = []
    for group in by_request.values():
        contexts = list(dict.fromkeys(inst.context for inst in group))
        items: dict[int, tuple[PiiItem, list[str], set[str], list[str]]] = {}
        for inst in group:
            item, tails, own, names = items.setdefault(inst.item_index, (inst.item, [], set(), inst.subject_names))
            own.add(inst.context)
            if inst.tail not in tails:
                tails.append(inst.tail)
        for item_index, (item, tails, own, names) in items.items():
            for context in contexts:
                if context in own or item.value in context:
                    continue
                candidates.extend(
                    PiiInstance(group[0].request_index, item_index, item, context, ids, value_start, names, tail)
                    for ids, value_start, tail in _distinct_paths(tokenizer, context, item.value, tails)
                )
    if not candidates:
        return []
    log_probs = value_log_probs(model, candidates, pad_id, device)
    floor = math.log(prob_floor)
    return [inst for inst, lp in zip(candidates, log_probs.tolist()) if lp >= floor]


def pad_batch(
    sequences: list[list[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask; right padding keeps every sequence's positions unchanged."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


def value_log_probs(
    model: torch.nn.Module, instances: list[PiiInstance], pad_id: int, device: torch.device, batch_size: int = 64
) -> torch.Tensor:
    """log P(value | context) per instance (sum over the value's tokens), teacher-forced, batched."""
    out = []
    with torch.no_grad():
        for start in range(0, len(instances), batch_size):
            chunk = instances[start : start + batch_size]
            ids, mask = pad_batch([inst.ids for inst in chunk], pad_id, device)
            token_lp = token_logp(model(input_ids=ids, attention_mask=mask).logits[:, :-1], ids[:, 1:])
            for row, inst in enumerate(chunk):
                out.append(token_lp[row, inst.value_start - 1 : len(inst.ids) - 1].sum())
    return torch.stack(out) if out else torch.zeros(0)


def last_token_of(tokenizer: PreTrainedTokenizerBase, text: str, needle: str, before: int | None = None) -> tuple[list[int], int] | None:
    """Token ids of ``text`` and the index of the token holding the last character of the last
    occurrence of ``needle`` that ends at or before character ``before``; None if it does not occur."""
    limit = len(text) if before is None else before
    at = text.rfind(needle, 0, limit)
    if at < 0:
        return None
    last_char = at + len(needle) - 1
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    for index, (start, end) in enumerate(enc["offset_mapping"]):
        if start <= last_char < end:
            return enc["input_ids"], index
    return None
