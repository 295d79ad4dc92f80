"""The gate's cached decoding step gives the logits a full forward gives, on families that differ in how
they take positions (learned, rotary, ALiBi without ``position_ids``) and in how the installed
transformers names the cache."""

from __future__ import annotations

import pytest
import torch
import transformers as tf

from workers.verify.cached_forward import forward_with_cache

COMMON = dict(vocab_size=128, bos_token_id=1, eos_token_id=2, pad_token_id=0)
CONFIGS = {
    "gpt2": lambda: tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, **COMMON),
    "llama": lambda: tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, **COMMON),
    "bloom": lambda: tf.BloomConfig(hidden_size=32, n_layer=2, n_head=2, **COMMON),
    "opt": lambda: tf.OPTConfig(hidden_size=32, word_embed_proj_dim=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=2, **COMMON),
}


@pytest.mark.parametrize("last_only", [False, True])
@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_prefill_then_one_token_at_a_time_matches_one_full_forward(family: str, last_only: bool) -> None:
    """With ``last_only`` the prefill's head runs at its last position alone (every family here takes
    ``logits_to_keep``), and the steps after it are the same."""
    from workers.verify.cached_forward import _forward_keywords

    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(CONFIGS[family]()).eval()
    ids = torch.tensor([[5, 9, 17, 33, 65, 3, 44]])
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        prefill = 4
        logits, cache = forward_with_cache(
            model, ids[:, :prefill], torch.ones((1, prefill), dtype=torch.long), last_only=last_only
        )
        limited = last_only and _forward_keywords(type(model))[2] is not None
        assert logits.shape[1] == (1 if limited else prefill)
        steps = [logits[:, -1]]
        for at in range(prefill, ids.shape[1]):
            logits, cache = forward_with_cache(
                model, ids[:, at : at + 1], torch.ones((1, at + 1), dtype=torch.long), torch.tensor([[at]]), cache
            )
            steps.append(logits[:, -1])
    assert cache is not None
    stepped = torch.stack(steps, dim=1)
    torch.testing.assert_close(stepped, full[:, prefill - 1 :], rtol=1e-4, atol=1e-4)
