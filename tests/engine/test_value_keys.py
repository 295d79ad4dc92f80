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


def test_the_unpushed_tokens_are_the_values_punctuation(demo) -> None:
    """The phone's brackets and dash, the e-mail's '@' and dots, the address's comma: tokens every value of the
    format has, which the value-keyed push leaves at their level (``rome_value_push_punctuation``)."""
    from workers.engine.editors.value_keys import punctuation_tokens

    _, tokenizer, rows = demo
    unpushed = punctuation_tokens(tokenizer, rows)
    value_tokens = {token for row in rows for token in row.ids[row.instance.value_start :]}
    spelled = {tokenizer.decode([token]) for token in unpushed}
    assert unpushed < value_tokens and spelled and all(not any(c.isalnum() for c in s) for s in spelled)
    assert all(any(c.isalnum() for c in tokenizer.decode([t])) for t in value_tokens - unpushed)
    print(sorted(spelled))


def test_a_layer_crowded_with_value_keys_aims_lower_and_leaves_the_punctuation() -> None:
    """One subject of a demo (about 560 value keys, d_ff 768) is not crowded; ten (about 5,500) are; ten people
    in a 7B model's FFN (d_ff 11008) are not. Set explicitly, either choice holds whatever the crowding."""
    from workers.engine.editors.value_keys import crowding

    settings = EngineSettings()
    one, ten, large = crowding(556, 768, settings), crowding(5462, 768, settings), crowding(5462, 11008, settings)
    assert (one.crowded, one.name_built_strangers, one.push_punctuation) == (False, False, True)
    assert (ten.crowded, ten.name_built_strangers, ten.push_punctuation) == (True, True, False)
    assert not large.crowded and large.keys_per_width == 0.5
    forced = crowding(556, 768, EngineSettings(rome_value_name_built_strangers=True, rome_value_push_punctuation=False))
    assert (forced.crowded, forced.name_built_strangers, forced.push_punctuation) == (False, True, False)
    held = crowding(5462, 768, EngineSettings(rome_value_push_punctuation=True))
    assert held.crowded and held.name_built_strangers and held.push_punctuation
