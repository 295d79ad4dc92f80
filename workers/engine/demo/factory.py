"""Build the demo model: corpus -> tokenizer -> trained model -> ``OUT/model`` + ``OUT/subjects.json``.

The demo model is both the product's quick start and the fixture of the whole test suite, so the build is
deterministic for a seed and writes atomically: everything goes to a hidden sibling directory that is
renamed into place at the end, so an interrupted or failed build never leaves a half-written OUT.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

from workers.engine.demo.architectures import (
    DEMO_ARCHITECTURES,
    TOKENIZER_STYLES,
    UnknownArchitectureError,
)
from workers.engine.demo.corpus import Corpus, generate_corpus
from workers.engine.demo.subjects import (
    FORMAT_VERSION,
    MODEL_DIR,
    SUBJECTS_FILE,
    DemoInfo,
)
from workers.engine.demo.train import ProgressFn, TrainingStats

DEFAULT_SUBJECTS = 32
RETAIN_SAMPLE = 120
TOKENIZER_VOCAB = 2048


class OutputExistsError(FileExistsError):
    """OUT exists and is not an empty directory; the factory never overwrites."""


def check_output_dir(out_dir: Path) -> None:
    """Refuse an OUT that exists and is not an empty directory, before any expensive work."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputExistsError(f"output {out_dir} already exists and is not an empty directory")


def check_arch(arch: str) -> None:
    if arch not in DEMO_ARCHITECTURES:
        raise UnknownArchitectureError(f"unknown demo architecture {arch!r}; choose one of {', '.join(DEMO_ARCHITECTURES)}")


def check_tokenizer_style(style: str) -> None:
    if style not in TOKENIZER_STYLES:
        raise ValueError(f"unknown tokenizer style {style!r}; choose one of {', '.join(TOKENIZER_STYLES)}")


def subjects_document(corpus: Corpus, arch: str, stats: TrainingStats, tokenizer_style: str = "byte-level") -> dict:
    """The subjects.json content (see ``DemoInfo``) for a trained corpus."""
    retain = list(corpus.ordinary_train)
    random.Random(corpus.seed).shuffle(retain)
    return {
        "format": FORMAT_VERSION,
        "arch": arch,
        "tokenizer": tokenizer_style,
        "seed": corpus.seed,
        "templates": corpus.templates,
        "heldout_templates": corpus.heldout_templates,
        "subjects": [
            {
                "name": s.name,
                "aliases": list(s.aliases),
                "pii": [{"type": i.type, "value": i.value, "contexts": list(i.contexts)} for i in s.items],
                "sentences": s.sentences,
            }
            for s in corpus.subjects
        ],
        "heldout_texts": list(corpus.heldout_texts),
        "retain_texts": sorted(retain[:RETAIN_SAMPLE], key=corpus.ordinary_train.index),
        "training": {
            "steps": stats.steps,
            "seconds": stats.seconds,
            "final_loss": stats.final_loss,
            "greedy_extraction_rate": stats.greedy_extraction_rate,
            "tokens": stats.tokens,
        },
    }


def _tqdm_progress() -> tuple[ProgressFn, object]:
    from tqdm.auto import tqdm

    bar = tqdm(desc="training", unit="step", leave=True)

    def update(step: int, max_steps: int, loss: float, rate: float | None) -> None:
        bar.total = max_steps
        bar.n = step
        postfix = {"loss": f"{loss:.3f}"}
        if rate is not None:
            postfix["memorised"] = f"{rate:.0%}"
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()

    return update, bar


def build_demo_model(
    out_dir: Path,
    arch: str = "gpt2",
    subjects: int = DEFAULT_SUBJECTS,
    seed: int = 0,
    progress: bool = False,
    tokenizer_style: str = "byte-level",
) -> DemoInfo:
    """Generate the corpus, train tokenizer and model, write OUT/model and OUT/subjects.json; return the info.

    ``tokenizer_style`` is one of ``TOKENIZER_STYLES`` : byte-level BPE, or SentencePiece's
    Metaspace convention that LLaMA-family models use."""
    from workers.engine.demo.architectures import demo_config
    from workers.engine.demo.tokenizer import as_reloaded, train_tokenizer
    from workers.engine.demo.train import train_model

    out_dir = Path(out_dir)
    check_arch(arch)
    check_tokenizer_style(tokenizer_style)
    check_output_dir(out_dir)
    if subjects < 1:
        raise ValueError("the demo model needs at least one subject")

    corpus = generate_corpus(subjects, seed)
    trained = train_tokenizer(corpus.training_texts(), vocab_size=TOKENIZER_VOCAB, style=tokenizer_style)
    special = dict(bos_token_id=trained.bos_token_id, eos_token_id=trained.eos_token_id, pad_token_id=trained.pad_token_id)
    tokenizer = as_reloaded(trained, demo_config(arch, vocab_size=len(trained), **special))
    callback, bar = _tqdm_progress() if progress else (None, None)
    try:
        model, stats = train_model(corpus, tokenizer, arch=arch, seed=seed, progress=callback)
    finally:
        if bar is not None:
            bar.close()

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        model.save_pretrained(staging / MODEL_DIR, safe_serialization=True)
        tokenizer.save_pretrained(staging / MODEL_DIR)
        document = subjects_document(corpus, arch, stats, tokenizer_style)
        (staging / SUBJECTS_FILE).write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
        check_output_dir(out_dir)
        if out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return DemoInfo.load(out_dir)
