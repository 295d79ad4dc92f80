"""Utility and locality: the edited model must still work, and still know everybody else.

* Perplexity on held-out text (texts the caller provides, else text the reference model writes itself)
  and on retain probes (sentences that state other subjects' PII), for the edited and the reference
  model; the gate bounds the relative rise.
* Locality: of the other subjects' PII items that the reference model produces greedily, the share the
  edited model still produces. An edit that wipes out every phone number it was not asked to forget
  fails here even when perplexity on ordinary text barely moves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.joins import join_value
from rtbf.names import mentions_name
from rtbf.pii import contains_value
from rtbf.prompts import edit_contexts
from rtbf.request import ForgetRequest
from rtbf.settings import GateSettings
from workers.engine.device import model_device
from workers.verify.attacks import run_attacks
from workers.verify.scoring import generate

MAX_TEXT_TOKENS = 128
MODEL_TEXT_COUNT = 24
MODEL_TEXT_TOKENS = 40


@torch.no_grad()
def perplexity(model, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], batch_size: int) -> float | None:
    """Token-weighted perplexity of the texts (each cut to the model's first MAX_TEXT_TOKENS tokens)."""
    texts = [t for t in texts if t.strip()]
    if not texts:
        return None
    device = model_device(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [ids[:MAX_TEXT_TOKENS] for ids in tokenizer(list(texts), add_special_tokens=True)["input_ids"]]
    rows = sorted((r for r in rows if len(r) >= 2), key=len)
    total_nll, total_tokens = 0.0, 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(r) for r in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, r in enumerate(chunk):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        ids, mask = ids.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = ids[:, 1:]
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        keep = mask[:, 1:].bool()
        total_nll += float(nll[keep].sum())
        total_tokens += int(keep.sum())
    return math.exp(total_nll / total_tokens) if total_tokens else None


def retain_probes(locality_requests: Sequence[ForgetRequest]) -> list[str]:
    """Sentences stating other subjects' PII as the editor phrases them, plus their documents."""
    texts: list[str] = []
    for request in locality_requests:
        for item in request.all_items():
            for context in edit_contexts(request, item)[:2]:
                texts.append(join_value(context.rstrip(), item.value)[0] + ".")
        texts.extend(doc.text for doc in request.documents)
    return texts


def model_written_texts(
    model, tokenizer: PreTrainedTokenizerBase, forget: Sequence[ForgetRequest], seed: int, batch_size: int
) -> list[str]:
    """Held-out stand-in when the caller has none: unconditional samples of the reference model, minus any
    that mention a name or value being forgotten (those would measure the erasure, not general ability)."""
    start = next((t for t in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None), 0)
    rows = generate(
        model, tokenizer, [[start]] * MODEL_TEXT_COUNT, max_new_tokens=MODEL_TEXT_TOKENS, batch_size=batch_size,
        mode="sample", samples=1, seed=seed,
    )
    texts = [tokenizer.decode(r[0], skip_special_tokens=True).strip() for r in rows if r]
    banned = [(item.value, item.type) for req in forget for item in req.all_items()]
    names = [name for req in forget for name in req.subject.names]
    return [
        t for t in texts
        if t and not any(contains_value(t, v, ty) for v, ty in banned) and not mentions_name(t, names)
    ]


@dataclass
class Locality:
    """Items of other subjects extracted greedily by the reference model, and how many the edit kept."""

    reference_extracted: int
    still_extracted: int
    items: int

    @property
    def share(self) -> float | None:
        return self.still_extracted / self.reference_extracted if self.reference_extracted else None


def _extracted(model, tokenizer, requests: Sequence[ForgetRequest], settings: GateSettings) -> set[tuple[int, int]]:
    plan = run_attacks(model, tokenizer, requests, settings, modes=("greedy",), contexts_per_item=settings.locality_contexts)
    return {(a.request_index, a.item_index) for a in plan if a.modes["greedy"].hits > 0}


def measure_locality(
    model,
    tokenizer: PreTrainedTokenizerBase,
    reference,
    reference_tokenizer: PreTrainedTokenizerBase,
    locality_requests: Sequence[ForgetRequest],
    settings: GateSettings,
) -> Locality:
    """Share of the reference's greedy extractions of other subjects that the edited model still makes."""
    before = _extracted(reference, reference_tokenizer, locality_requests, settings)
    after = _extracted(model, tokenizer, locality_requests, settings)
    items = sum(len(r.all_items()) for r in locality_requests)
    return Locality(reference_extracted=len(before), still_extracted=len(before & after), items=items)
