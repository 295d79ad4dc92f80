"""Build each demo model once per machine, not once per test process.

Engine, gate and pipeline tests all need the demo model; with pytest-xdist every worker process would
otherwise train its own copy. ``cached_demo_model`` keeps built models under the engine cache directory,
keyed by everything that determines the weights (the demo package's source, the torch and transformers
versions, arch, subjects, seed), and serialises concurrent builders with a file lock, so the first caller
trains and the others wait and then load. A code change gives a new key, so a stale model is never used.
"""

from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path

from workers.engine.demo.factory import (
    DEFAULT_SUBJECTS,
    build_demo_model,
    check_arch,
    check_tokenizer_style,
)
from workers.engine.demo.subjects import SUBJECTS_FILE, DemoInfo

_PACKAGE_DIR = Path(__file__).resolve().parent


def code_fingerprint() -> str:
    """Hash of the demo package's sources and of the libraries that shape the weights."""
    import tokenizers
    import torch
    import transformers

    digest = hashlib.sha256()
    for source in sorted(_PACKAGE_DIR.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    for version in (torch.__version__, transformers.__version__, tokenizers.__version__):
        digest.update(version.encode())
    return digest.hexdigest()[:16]


def default_cache_root() -> Path:
    """The engine's cache directory (RTBF_ENGINE__CACHE_DIR), made absolute so every process agrees."""
    from rtbf.settings import get_settings

    return (Path(get_settings().engine.cache_dir) / "demo-models").resolve()


def cache_path(
    arch: str = "gpt2",
    subjects: int = DEFAULT_SUBJECTS,
    seed: int = 0,
    root: Path | None = None,
    tokenizer_style: str = "byte-level",
) -> Path:
    """Where the cached demo model for these arguments and this code version lives (built or not)."""
    check_arch(arch)
    check_tokenizer_style(tokenizer_style)
    base = Path(root) if root is not None else default_cache_root()
    style = "" if tokenizer_style == "byte-level" else f"-{tokenizer_style}"
    return base / f"{arch}{style}-s{subjects}-seed{seed}-{code_fingerprint()}"


def cached_demo_model(
    arch: str = "gpt2",
    subjects: int = DEFAULT_SUBJECTS,
    seed: int = 0,
    root: Path | None = None,
    tokenizer_style: str = "byte-level",
) -> DemoInfo:
    """The demo model for (arch, subjects, seed), built on first use; callers must treat it as read-only.

    Copy ``info.model_dir`` (or load it and edit the in-memory model) before changing weights: the
    directory is shared by every test process on the machine.
    """
    target = cache_path(arch, subjects, seed, root, tokenizer_style)
    base = target.parent
    base.mkdir(parents=True, exist_ok=True)
    if (target / SUBJECTS_FILE).is_file():
        return DemoInfo.load(target)
    with open(base / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / SUBJECTS_FILE).is_file():
                build_demo_model(target, arch=arch, subjects=subjects, seed=seed, tokenizer_style=tokenizer_style)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return DemoInfo.load(target)
