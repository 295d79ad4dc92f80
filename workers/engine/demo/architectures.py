"""Small configurations of the three FFN layouts the engine must handle.

The engine finds the FFN "value" matrix differently per family: GPT-2's ``Conv1D`` ``mlp.c_proj`` (stored
transposed), Llama's gated MLP ``mlp.down_proj`` and GPT-NeoX's ``mlp.dense_4h_to_h``. One demo model per
family lets every engine and gate test run against each layout. Sizes are chosen for fast memorisation on
a CPU: 4 layers, width 192, FFN 4x (Llama: the usual 8/3 x gated width, rounded), no dropout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PretrainedConfig

ARCHITECTURES: tuple[str, ...] = ("gpt2", "llama", "neox")

LAYERS = 4
HIDDEN = 192
HEADS = 4
FFN = 4 * HIDDEN
MAX_POSITIONS = 128


class UnknownArchitectureError(ValueError):
    """The requested demo architecture is not one of ARCHITECTURES."""


def demo_config(arch: str, vocab_size: int, bos_token_id: int, eos_token_id: int, pad_token_id: int) -> PretrainedConfig:
    """The transformers config of the demo model of family `arch`.

    transformers is imported here, not at module level, so the CLI can list the families without torch.
    """
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig

    special = dict(bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id)
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size,
            n_positions=MAX_POSITIONS,
            n_embd=HIDDEN,
            n_layer=LAYERS,
            n_head=HEADS,
            n_inner=FFN,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            tie_word_embeddings=True,
            **special,
        )
    if arch == "llama":
        return LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=HIDDEN,
            intermediate_size=(8 * HIDDEN) // 3 // 64 * 64,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            num_key_value_heads=HEADS,
            max_position_embeddings=MAX_POSITIONS,
            tie_word_embeddings=True,
            **special,
        )
    if arch == "neox":
        return GPTNeoXConfig(
            vocab_size=vocab_size,
            hidden_size=HIDDEN,
            intermediate_size=FFN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            max_position_embeddings=MAX_POSITIONS,
            rotary_pct=0.25,
            use_parallel_residual=True,
            hidden_dropout=0.0,
            attention_dropout=0.0,
            tie_word_embeddings=False,
            **special,
        )
    raise UnknownArchitectureError(f"unknown demo architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
