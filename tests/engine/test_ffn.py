"""FFN discovery on the layouts of many model families, built from their configs (random weights, no download).

Discovery reads the structure (the block list, the one d_ff -> d_model map in a block), so each family
here is found without a line of code naming it. The test pins the module it finds per family: a change
that made discovery pick the attention output or the up-projection of any of them fails here, before an
editor writes into the wrong matrix.
"""

from __future__ import annotations

import pytest
import torch
import transformers as tf

from workers.engine.errors import UnsupportedArchitectureError
from workers.engine.ffn import discover_ffn

VOCAB, WIDTH, LAYERS, HEADS = 256, 64, 2, 4
COMMON = dict(vocab_size=VOCAB, bos_token_id=1, eos_token_id=2, pad_token_id=0)

# family -> (config, module path of layer 0's down-projection, d_ff)
FAMILIES = {
    "gpt2": (lambda: tf.GPT2Config(n_embd=WIDTH, n_layer=LAYERS, n_head=HEADS, **COMMON), "transformer.h.0.mlp.c_proj", 4 * WIDTH),
    "gpt_bigcode": (lambda: tf.GPTBigCodeConfig(n_embd=WIDTH, n_layer=LAYERS, n_head=HEADS, **COMMON), "transformer.h.0.mlp.c_proj", 4 * WIDTH),
    "gpt_neo": (
        lambda: tf.GPTNeoConfig(hidden_size=WIDTH, num_layers=LAYERS, num_heads=HEADS, attention_types=[[["global", "local"], 1]], **COMMON),
        "transformer.h.0.mlp.c_proj", 4 * WIDTH,
    ),
    "gptj": (lambda: tf.GPTJConfig(n_embd=WIDTH, n_layer=LAYERS, n_head=HEADS, rotary_dim=8, **COMMON), "transformer.h.0.mlp.fc_out", 4 * WIDTH),
    "codegen": (lambda: tf.CodeGenConfig(n_embd=WIDTH, n_layer=LAYERS, n_head=HEADS, rotary_dim=8, **COMMON), "transformer.h.0.mlp.fc_out", 4 * WIDTH),
    "gpt_neox": (
        lambda: tf.GPTNeoXConfig(hidden_size=WIDTH, intermediate_size=4 * WIDTH, num_hidden_layers=LAYERS, num_attention_heads=HEADS, **COMMON),
        "gpt_neox.layers.0.mlp.dense_4h_to_h", 4 * WIDTH,
    ),
    "bloom": (lambda: tf.BloomConfig(hidden_size=WIDTH, n_layer=LAYERS, n_head=HEADS, **COMMON), "transformer.h.0.mlp.dense_4h_to_h", 4 * WIDTH),
    "falcon": (
        lambda: tf.FalconConfig(hidden_size=WIDTH, num_hidden_layers=LAYERS, num_attention_heads=HEADS, **COMMON),
        "transformer.h.0.mlp.dense_4h_to_h", 4 * WIDTH,
    ),
    "opt": (
        lambda: tf.OPTConfig(hidden_size=WIDTH, word_embed_proj_dim=WIDTH, ffn_dim=4 * WIDTH, num_hidden_layers=LAYERS,
                             num_attention_heads=HEADS, **COMMON),
        "model.decoder.layers.0.fc2", 4 * WIDTH,
    ),
    "opt-projected-embeddings": (
        lambda: tf.OPTConfig(hidden_size=WIDTH, word_embed_proj_dim=WIDTH // 2, ffn_dim=4 * WIDTH, num_hidden_layers=LAYERS,
                             num_attention_heads=HEADS, **COMMON),
        "model.decoder.layers.0.fc2", 4 * WIDTH,
    ),
    "xglm": (lambda: tf.XGLMConfig(d_model=WIDTH, num_layers=LAYERS, attention_heads=HEADS, ffn_dim=4 * WIDTH, **COMMON), "model.layers.0.fc2", 4 * WIDTH),
    "phi": (
        lambda: tf.PhiConfig(hidden_size=WIDTH, intermediate_size=4 * WIDTH, num_hidden_layers=LAYERS, num_attention_heads=HEADS, **COMMON),
        "model.layers.0.mlp.fc2", 4 * WIDTH,
    ),
    "mpt": (lambda: tf.MptConfig(d_model=WIDTH, n_layers=LAYERS, n_heads=HEADS, **COMMON), "transformer.blocks.0.ffn.down_proj", 4 * WIDTH),
}
GATED = {  # gated MLPs (gate, up, down) with grouped-query attention where the family has it
    "llama": tf.LlamaConfig,
    "mistral": tf.MistralConfig,
    "qwen2": tf.Qwen2Config,
    "gemma": tf.GemmaConfig,
    "stablelm": tf.StableLmConfig,
    "olmo": tf.OlmoConfig,
    "phi3": tf.Phi3Config,
}
for _name, _config in GATED.items():
    FAMILIES[_name] = (
        lambda c=_config: c(hidden_size=WIDTH, intermediate_size=176, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                            num_key_value_heads=HEADS // 2, head_dim=WIDTH // HEADS, **COMMON),
        "model.layers.0.mlp.down_proj", 176,
    )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_discovery_finds_each_familys_down_projection(family: str) -> None:
    make_config, expected_path, d_ff = FAMILIES[family]
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(make_config())
    sites = discover_ffn(model)
    paths = {module: name for name, module in model.named_modules()}
    assert len(sites) == LAYERS
    assert paths[sites[0].down_proj] == expected_path
    assert paths[sites[1].down_proj] == expected_path.replace(".0.", ".1.")
    for site in sites:
        assert (site.d_ff, site.d_model) == (d_ff, WIDTH)
        weight = site.weight()
        assert weight.shape == (WIDTH, d_ff)
        # the (d_model, d_ff) view shares the parameter's storage: an edit through it changes the model
        assert weight.data_ptr() == site.down_proj.weight.data_ptr()
        # the site's key really is the down-projection's input: d_ff wide at every position
        seen: dict[str, torch.Tensor] = {}

        def grab(_module, args, _output, seen=seen) -> None:
            seen["key"] = args[0]

        handle = site.down_proj.register_forward_hook(grab)
        try:
            with torch.no_grad():
                model(input_ids=torch.tensor([[3, 4, 5]]))
        finally:
            handle.remove()
        assert seen["key"].shape[-2:] == (3, d_ff)


def test_a_per_model_override_names_the_down_projection_when_structure_is_ambiguous() -> None:
    """An override is read from settings by ``model_type``; a wrong path is a clear error, not a guess."""
    model = tf.AutoModelForCausalLM.from_config(FAMILIES["gptj"][0]())
    sites = discover_ffn(model, {"gptj": {"layers": "transformer.h", "down_proj": "mlp.fc_out"}})
    assert [site.down_proj for site in sites] == [block.mlp.fc_out for block in model.transformer.h]
    with pytest.raises(UnsupportedArchitectureError, match="mlp.nowhere"):
        discover_ffn(model, {"gptj": {"layers": "transformer.h", "down_proj": "mlp.nowhere"}})


@pytest.mark.parametrize("family", ["gpt2", "opt", "llama"])
def test_hooks_address_keys_by_text_and_position_even_where_the_ffn_flattens_tokens(family: str) -> None:
    """OPT runs its FFN on (batch * length, width): the hooks still see (batch, length, width), so an edit at
    (text 1, position 2) changes text 1 from position 2 on and nothing of text 0."""
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(FAMILIES[family][0]()).eval()
    site = discover_ffn(model)[0]
    ids = torch.tensor([[5, 9, 17, 33, 65], [7, 8, 40, 41, 90]])
    mask = torch.ones_like(ids)
    seen: list[tuple[int, ...]] = []

    def zero_one_key(keys: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(keys.shape))
        keys = keys.clone()
        keys[1, 2] = 0.0
        return keys

    with torch.no_grad():
        before = model(input_ids=ids, attention_mask=mask).logits
        handle = site.hook_key(zero_one_key)
        try:
            after = model(input_ids=ids, attention_mask=mask).logits
        finally:
            handle.remove()
        again = model(input_ids=ids, attention_mask=mask).logits
    assert seen == [(2, 5, site.d_ff)]
    torch.testing.assert_close(after[0], before[0])
    torch.testing.assert_close(after[1, :2], before[1, :2])
    assert (after[1, 2:] - before[1, 2:]).abs().amax(-1).min() > 1e-6
    torch.testing.assert_close(again, before)  # removed: the model is as it was
