"""A small BPE tokenizer trained on the demo corpus, wrapped for ``transformers``.

A vocabulary fitted to the corpus keeps sequences short (so training is fast) while every string the
engine or the gate will later probe with still encodes. Two styles, because the engine must not depend
on how a tokenizer marks spaces:

* ``byte-level`` (GPT-2, GPT-NeoX, OPT, Qwen2): a space is part of the byte alphabet (``Ġ``), any
  string encodes through bytes;
* ``sentencepiece`` (LLaMA, Mistral, Gemma): the Metaspace convention, spaces become ``▁`` glued to the
  following word and the first word gets one too, characters outside the vocabulary fall back to byte
  tokens (``<0x..>``). Token offsets then cover the space before a word, and a value's first token
  carries the space that separates it from its context.

Wrapping it as a ``PreTrainedTokenizerFast`` with bos/eos/pad means ``AutoTokenizer.from_pretrained``
works like for any hub model, so nothing downstream special-cases the demo model.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from workers.engine.demo.architectures import TOKENIZER_STYLES

BOS = "<|bos|>"
EOS = "<|eos|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = [PAD, BOS, EOS]
METASPACE = "\u2581"
BYTE_TOKENS = [f"<0x{byte:02X}>" for byte in range(256)]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, style: str = "byte-level") -> PreTrainedTokenizerFast:
    """Train a BPE tokenizer of ``style`` on `texts`; every encoding starts with BOS so a bare prompt has a
    start state.

    BOS is added by the post-processor, not by the texts, so ``tokenizer(prompt)`` at attack time yields
    exactly the token sequence the model saw at the start of its training sentences.
    """
    if style not in TOKENIZER_STYLES:
        raise ValueError(f"unknown tokenizer style {style!r}; choose one of {', '.join(TOKENIZER_STYLES)}")
    texts = list(texts)
    if style == "byte-level":
        core = Tokenizer(models.BPE())
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        core.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        core.train_from_iterator(texts, trainer=trainer)
    else:
        core = Tokenizer(models.BPE())
        core.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="first")
        core.decoder = decoders.Sequence(
            [decoders.Replace(METASPACE, " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
        )
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size - len(BYTE_TOKENS), min_frequency=2, special_tokens=SPECIAL_TOKENS, show_progress=False
        )
        core.train_from_iterator(texts, trainer=trainer)
        core = _with_byte_fallback(core)
    bos_id = core.token_to_id(BOS)
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=None,
        padding_side="right",
        model_max_length=128,
        clean_up_tokenization_spaces=False,
    )


def _with_byte_fallback(core: Tokenizer) -> Tokenizer:
    """The trained tokenizer with the 256 byte tokens appended to its vocabulary and byte fallback on, as
    SentencePiece models have them: a character the corpus never showed encodes as its UTF-8 bytes."""
    spec = json.loads(core.to_str())
    vocab = spec["model"]["vocab"]
    for token in BYTE_TOKENS:
        vocab.setdefault(token, len(vocab))
    spec["model"]["byte_fallback"] = True
    return Tokenizer.from_str(json.dumps(spec))


def as_reloaded(tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig) -> PreTrainedTokenizerBase:
    """The tokenizer that ``AutoTokenizer.from_pretrained`` will give back for a model with this config.

    The model must be trained with the tokenizer every later reader gets, and that is not always the one
    saved: for some model types transformers substitutes its own tokenizer class on loading, which
    rebuilds the pre-tokenizer (a Qwen2 checkpoint's tokenizer splits digits one by one whatever its
    tokenizer.json says). A demo trained on '977' as one token and read back as '9', '7', '7' still
    generates the number, but every teacher-forced probability of it is of a path the model never takes.
    Saving and reloading once, before training, makes the two the same for every family.
    """
    with tempfile.TemporaryDirectory(prefix="rtbf-tokenizer-") as scratch:
        tokenizer.save_pretrained(scratch)
        config.save_pretrained(scratch)
        return AutoTokenizer.from_pretrained(scratch)
