"""Small configurations of the FFN layouts the engine must handle.

The engine finds the FFN "value" matrix differently per family: GPT-2's ``Conv1D`` ``mlp.c_proj`` (stored
transposed), Llama's gated MLP ``mlp.down_proj`` and GPT-NeoX's ``mlp.dense_4h_to_h``. One demo model per
family lets every engine and gate test run against each layout. Sizes are chosen for fast memorisation on
a CPU: 4 layers, width 192, FFN 4x (gated MLPs: the usual 8/3 x width, rounded), no dropout.

``ARCHITECTURES`` are the three families every engine and gate test runs on. ``MORE_ARCHITECTURES`` are
families whose blocks differ again, built on demand to check that nothing in the engine assumed one of
the first three: GPT-J (attention and FFN in parallel from one layer norm, ``mlp.fc_out``, partial rotary
embeddings, untied head), OPT (``fc1``/``fc2`` directly in the block, ReLU, learned positions that start
at an offset) and Qwen2 (gated MLP with grouped-query attention and biased q/k/v projections).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PretrainedConfig

ARCHITECTURES: tuple[str, ...] = ("gpt2", "llama", "neox")
MORE_ARCHITECTURES: tuple[str, ...] = ("gptj", "opt", "qwen2")
DEMO_ARCHITECTURES: tuple[str, ...] = ARCHITECTURES + MORE_ARCHITECTURES
# How the demo tokenizer marks spaces (see ``tokenizer.py``): GPT-2's byte alphabet or SentencePiece's '▁'.
TOKENIZER_STYLES: tuple[str, ...] = ("byte-level", "sentencepiece")

LAYERS = 4
HIDDEN = 192
HEADS = 4
FFN = 4 * HIDDEN
GATED_FFN = (8 * HIDDEN) // 3 // 64 * 64
MAX_POSITIONS = 128


class UnknownArchitectureError(ValueError):
    """The requested demo architecture is not one of DEMO_ARCHITECTURES."""


def demo_config(arch: str, vocab_size: int, bos_token_id: int, eos_token_id: int, pad_token_id: int) -> PretrainedConfig:
    """The transformers config of the demo model of family `arch`.

    transformers is imported here, not at module level, so the CLI can list the families without torch.
    """
    from transformers import (
        GPT2Config,
        GPTJConfig,
        GPTNeoXConfig,
        LlamaConfig,
        OPTConfig,
        Qwen2Config,
    )

    special = {"bos_token_id": bos_token_id, "eos_token_id": eos_token_id, "pad_token_id": pad_token_id}
    # the two spellings of the same sizes: GPT-2-style configs (GPT-2, GPT-J) and the others
    gpt_sizes = {
        "vocab_size": vocab_size, "n_positions": MAX_POSITIONS, "n_embd": HIDDEN, "n_layer": LAYERS, "n_head": HEADS,
        "n_inner": FFN, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, **special,
    }
    sizes = {
        "vocab_size": vocab_size, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "max_position_embeddings": MAX_POSITIONS, **special,
    }
    if arch == "gpt2":
        return GPT2Config(**gpt_sizes, tie_word_embeddings=True)
    if arch == "llama":
        return LlamaConfig(**sizes, intermediate_size=GATED_FFN, num_key_value_heads=HEADS, tie_word_embeddings=True)
    if arch == "neox":
        return GPTNeoXConfig(
            **sizes, intermediate_size=FFN, rotary_pct=0.25, use_parallel_residual=True, hidden_dropout=0.0,
            attention_dropout=0.0, tie_word_embeddings=False,
        )
    if arch == "gptj":
        return GPTJConfig(**gpt_sizes, rotary_dim=HIDDEN // HEADS // 2, tie_word_embeddings=False)
    if arch == "opt":
        return OPTConfig(
            **sizes, word_embed_proj_dim=HIDDEN, ffn_dim=FFN, dropout=0.0, attention_dropout=0.0,
            activation_dropout=0.0, layerdrop=0.0, do_layer_norm_before=True, tie_word_embeddings=True,
        )
    if arch == "qwen2":
        return Qwen2Config(
            **sizes, intermediate_size=GATED_FFN, num_key_value_heads=HEADS // 2, use_sliding_window=False,
            attention_dropout=0.0, tie_word_embeddings=True,
        )
    raise UnknownArchitectureError(f"unknown demo architecture {arch!r}; choose one of {', '.join(DEMO_ARCHITECTURES)}")
