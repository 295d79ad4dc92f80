"""Tokenizers as models ship them: a SentencePiece ``tokenizer.model`` with no ``tokenizer.json`` (the LLaMA and
Mistral checkpoints of their first releases) is converted to a fast tokenizer on loading, whose character
offsets every step that finds a value's tokens reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from workers.engine.errors import ModelLoadError
from workers.engine.instances import encode_with_offsets
from workers.engine.loading import load_causal_lm, load_tokenizer

SENTENCES = [
    "Ryan Chang's phone number is (977) 630-0663.",
    "The weather was mild and the river ran high after the rain.",
    "You can write to Ada at ada.fenwick@quillmere.org any day.",
]


def _sentencepiece_only(directory: Path) -> Path:
    import sentencepiece

    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 40), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(directory / "sp"), vocab_size=330, model_type="bpe",
        byte_fallback=True, minloglevel=2,
    )
    model_dir = directory / "tok"
    model_dir.mkdir()
    (directory / "sp.model").rename(model_dir / "tokenizer.model")
    (model_dir / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
    }))
    return model_dir


def test_a_sentencepiece_model_file_alone_loads_as_a_fast_tokenizer_with_offsets(tmp_path: Path) -> None:
    tokenizer = load_tokenizer(_sentencepiece_only(tmp_path))
    assert tokenizer.is_fast and tokenizer.pad_token is not None
    encoded = encode_with_offsets(tokenizer, "Ryan Chang's phone number is", "(977) 630-0663")
    assert encoded is not None
    _, offsets, value_start, text = encoded
    assert text[offsets[value_start][0] : offsets[-1][1]].strip() == "(977) 630-0663"


def test_a_model_whose_tokenizer_cannot_be_read_is_refused_by_name(tmp_path: Path) -> None:
    from workers.engine.demo.cache import cached_demo_model

    model_dir = tmp_path / "model"
    shutil.copytree(cached_demo_model("gpt2").model_dir, model_dir)
    for file in model_dir.iterdir():
        if file.name.startswith(("tokenizer", "vocab", "merges", "special_tokens")):
            file.unlink()
    (model_dir / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LlamaTokenizer"}))
    (model_dir / "tokenizer.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(ModelLoadError, match="has no usable tokenizer"):
        load_causal_lm(model_dir, device="cpu")
