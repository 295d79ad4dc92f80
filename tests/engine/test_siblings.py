"""A person's other values in each other's contexts: the paths FPGA also pushes down.

An extraction attack counts an output against every item of the request, and a model asked for one item
of a person often answers with another ("Ryan Chang's address is" followed by his e-mail address). These
tests pin which (context, other value) pairs the engine adds: only within one request, only where the
model writes that value with at least the floor's probability, and with the value's own token path.
"""

from __future__ import annotations

import math

import pytest
import torch

from workers.engine.instances import build_instances, sibling_instances, value_log_probs
from workers.engine.loading import load_causal_lm

FLOOR = 0.05


@pytest.fixture(scope="module")
def demo(demo_gpt2):
    model, tokenizer = load_causal_lm(demo_gpt2.model_dir, device="cpu")
    requests = demo_gpt2.request_for([0, 1], contexts="one")
    return model, tokenizer, build_instances(tokenizer, requests)


def _pad(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def test_pairs_stay_within_a_request_and_off_the_items_own_contexts(demo) -> None:
    model, tokenizer, instances = demo
    pairs = sibling_instances(model, tokenizer, instances, _pad(tokenizer), torch.device("cpu"), 1e-6)
    assert pairs, "the demo's memorised values have some probability after their person's other contexts"
    contexts = {}
    for inst in instances:
        contexts.setdefault(inst.request_index, {}).setdefault(inst.context, set()).add(inst.item_index)
    for pair in pairs:
        owners = contexts[pair.request_index].get(pair.context)
        assert owners, f"a context of another request: {pair.context!r}"
        assert pair.item_index not in owners, "an item's own context is not a sibling path"
        assert tokenizer.decode(pair.value_ids).strip().startswith(pair.item.value[:3])


def test_the_floor_keeps_exactly_the_pairs_the_model_writes_that_readily(demo) -> None:
    model, tokenizer, instances = demo
    device = torch.device("cpu")
    every = sibling_instances(model, tokenizer, instances, _pad(tokenizer), device, 1e-6)
    kept = sibling_instances(model, tokenizer, instances, _pad(tokenizer), device, FLOOR)
    log_probs = value_log_probs(model, every, _pad(tokenizer), device).tolist()
    expected = {(p.request_index, p.item_index, p.context, p.tail) for p, lp in zip(every, log_probs) if lp >= math.log(FLOOR)}
    assert {(p.request_index, p.item_index, p.context, p.tail) for p in kept} == expected
    # measured on the GPT-2 demo: a few of a person's values follow the other items' wordings that readily,
    # most do not (the floor is what keeps the pairs from outnumbering the instances)
    assert 0 < len(kept) < len(every) / 2
