"""The value-keyed ROME optimiser keeps its memory bounded without changing what it computes."""

from __future__ import annotations

import pytest
import torch

from rtbf.settings import EngineSettings
from workers.engine.editors.value_keys import optimise_value_deltas, value_texts
from workers.engine.ffn import discover_ffn
from workers.engine.instances import build_instances


@pytest.fixture(scope="module")
def demo(demo_gpt2):
    from workers.engine.loading import load_causal_lm

    model, tokenizer = load_causal_lm(demo_gpt2.model_dir, device="cpu")
    instances = build_instances(tokenizer, demo_gpt2.request_for([0], contexts="one"))
    return model, tokenizer, value_texts(tokenizer, instances[:6], [])


def test_recomputed_reference_gives_the_same_residuals_as_the_kept_one(demo) -> None:
    """With no budget for the unedited distributions they are recomputed each step with the residuals off;
    the residuals found must be those found with the distributions kept (same loss, same steps)."""
    model, tokenizer, rows = demo
    site = discover_ffn(model, {})[-1]
    found = {}
    for budget in (1024, 0):
        settings = EngineSettings(rome_value_steps=4, reference_cache_mb=budget)
        torch.manual_seed(0)
        found[budget] = optimise_value_deltas(model, tokenizer, site, rows, settings, torch.device("cpu"))
    kept, recomputed = found[1024], found[0]
    assert kept.steps == recomputed.steps
    assert float(kept.deltas.norm()) > 0  # the optimiser moved: the comparison is not of two zero tensors
    assert torch.allclose(kept.deltas, recomputed.deltas, atol=1e-5, rtol=1e-4)
    assert torch.equal(kept.keys, recomputed.keys)
    assert all(p.grad is None for p in model.parameters())  # no weight gradient was computed or left behind
