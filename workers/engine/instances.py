"""PII instances: a context followed by a value, tokenised once, for localisation, editing and checks.

Every step that asks "how strongly does the model produce this value after this text?" works on the
same tokenisation, so the value's token positions are computed here only. The value is joined to its
context with one space unless the context already ends in whitespace (or is empty), which is how the
value appears in running text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.prompts import edit_contexts
from rtbf.request import ForgetRequest, PiiItem


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

    @property
    def key(self) -> tuple[int, int]:
        """Identifies the PII item this instance belongs to (instances of one item vote together)."""
        return (self.request_index, self.item_index)

    @property
    def value_ids(self) -> list[int]:
        return self.ids[self.value_start :]


def join_context(context: str, value: str) -> tuple[str, int]:
    """The text 'context value' and the character offset where the value starts."""
    if not context or context[-1].isspace():
        return context + value, len(context)
    return context + " " + value, len(context) + 1


def encode_instance(tokenizer: PreTrainedTokenizerBase, context: str, value: str) -> tuple[list[int], int] | None:
    """Token ids of context+value and the index of the first token that covers part of the value.

    Returns None when the value yields no token or the context yields none (nothing to predict from).
    """
    text, value_char = join_context(context, value)
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids: list[int] = enc["input_ids"]
    offsets = enc["offset_mapping"]
    value_start = None
    for index, (start, end) in enumerate(offsets):
        if end > value_char and end > start:
            value_start = index
            break
    if value_start is None or value_start == 0:
        return None
    return ids, value_start


def build_instances(
    tokenizer: PreTrainedTokenizerBase,
    requests: list[ForgetRequest],
    contexts_for=edit_contexts,
) -> list[PiiInstance]:
    """All (context, value) instances of the requests' PII items, documents' spans included."""
    instances = []
    for r_index, request in enumerate(requests):
        for i_index, item in enumerate(request.all_items()):
            for context in contexts_for(request, item):
                encoded = encode_instance(tokenizer, context, item.value)
                if encoded is None:
                    continue
                ids, value_start = encoded
                instances.append(
                    PiiInstance(r_index, i_index, item, context, ids, value_start, request.subject.names)
                )
    return instances


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
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            targets = ids[:, 1:]
            token_lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
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
