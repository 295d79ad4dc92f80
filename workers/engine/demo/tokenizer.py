"""A small byte-level BPE tokenizer trained on the demo corpus, wrapped for ``transformers``.

A vocabulary fitted to the corpus keeps sequences short (so training is fast) while byte-level BPE still
encodes any string, including PII the engine or the gate will later probe with. Wrapping it as a
``PreTrainedTokenizerFast`` with bos/eos/pad means ``AutoTokenizer.from_pretrained`` works like for any
hub model, so nothing downstream special-cases the demo model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

BOS = "<|bos|>"
EOS = "<|eos|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = [PAD, BOS, EOS]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """Train byte-level BPE on `texts`; every encoding starts with BOS so a bare prompt has a start state.

    BOS is added by the post-processor, not by the texts, so ``tokenizer(prompt)`` at attack time yields
    exactly the token sequence the model saw at the start of its training sentences.
    """
    texts = list(texts)
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
