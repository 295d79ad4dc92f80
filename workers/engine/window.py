"""A model's window: how many positions it reads, and token sequences cut to fit it.

Requests carry whole documents and the gate generates after long prompts; past its window a model with
learned positions fails outright (128 on the demo models) and one with rotary positions reads noise. The
window is the model's config's; a tokenizer that does not know it is told (``fit_window``), and every cut
keeps the special tokens a tokenizer puts first (BOS) and drops the oldest text.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

# The most context tokens the engine reads before a value. The value is predicted from the recent text, and
# localisation's integrated gradients run (instances x steps) rows as long as the longest context: a request
# whose context is a whole document (the text before a span) would cost memory for nothing, and past the
# model's window (learned positions: 128 on the demo models) it would not run at all.
MAX_CONTEXT_TOKENS = 256
UNSET_WINDOW = 1_000_000  # transformers' model_max_length when a tokenizer does not know its model's window
WINDOW_CONFIG_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")


def fit_window(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Tell the tokenizer the model's window where it does not know it (transformers leaves a huge
    placeholder in ``model_max_length`` when the tokenizer files do not say) or states a larger one: the
    engine cuts contexts to fit it (``context_budget``)."""
    window = getattr(tokenizer, "model_max_length", None)
    size = model_window(model)
    if size is not None and not (isinstance(window, int) and 0 < window <= size):
        tokenizer.model_max_length = size  # unknown, or larger than what the model reads


def model_window(model: PreTrainedModel) -> int | None:
    """The number of positions the model's config says it reads, or None when it says nothing."""
    config = getattr(model, "config", None)
    for key in WINDOW_CONFIG_KEYS:
        size = getattr(config, key, None)
        if isinstance(size, int) and 0 < size < UNSET_WINDOW:
            return size
    return None


def context_budget(tokenizer: PreTrainedTokenizerBase, value_tokens: int, lead: int = 0) -> int:
    """How many tokens of context may precede a value of ``value_tokens`` tokens (after ``lead`` special
    tokens): MAX_CONTEXT_TOKENS, or less where the model's window (``tokenizer.model_max_length``, set from
    the model's config by ``fit_window``) leaves less room."""
    window = getattr(tokenizer, "model_max_length", None)
    budget = MAX_CONTEXT_TOKENS
    if isinstance(window, int) and 0 < window < UNSET_WINDOW:
        budget = min(budget, window - value_tokens - lead)
    return budget


def leading_specials(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int]) -> int:
    """How many of ``ids`` are special tokens the tokenizer put first (BOS): they stay when a context is cut."""
    special = set(tokenizer.all_special_ids)
    lead = 0
    while lead < len(ids) and ids[lead] in special:
        lead += 1
    return lead


def clip_context_ids(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int], continuation_tokens: int) -> list[int]:
    """A context's ids cut to its last ``context_budget`` tokens, leaving room for ``continuation_tokens``
    after it (its leading special tokens stay); empty when none fits."""
    lead = leading_specials(tokenizer, ids)
    keep = context_budget(tokenizer, continuation_tokens, lead)
    return keep_last(ids, lead, keep) if keep >= 1 else []


def keep_last(seq: Sequence, lead: int, keep: int) -> list:
    """``seq``'s first ``lead`` items (the special tokens a tokenizer puts first) and its last ``keep`` others:
    the whole of it when that is no more."""
    return list(seq) if len(seq) - lead <= keep else list(seq[:lead]) + list(seq[len(seq) - keep :])


def new_token_room(model: PreTrainedModel, new_tokens: int) -> int:
    """``new_tokens``, or fewer where the model's window cannot hold them after one prompt token."""
    window = model_window(model)
    return new_tokens if window is None else max(1, min(new_tokens, window - 1))


def clip_prompts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[Sequence[int]], new_tokens: int) -> list[list[int]]:
    """Prompts cut to leave ``new_tokens`` generated tokens inside the model's window (unchanged where the
    model states no window or they fit; callers first bound ``new_tokens`` with ``new_token_room``)."""
    window = model_window(model)
    if window is None:
        return [list(p) for p in prompts]
    room = max(1, window - new_tokens)
    out = []
    for prompt in prompts:
        lead = min(leading_specials(tokenizer, prompt), room - 1)
        out.append(keep_last(prompt, lead, room - lead))
    return out
