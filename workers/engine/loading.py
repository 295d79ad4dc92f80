"""Load any Hugging Face causal LM from a local directory (or a hub id where the network allows it).

Loading never branches on the model's name: the config says what the model is, and
``AutoModelForCausalLM`` picks the class. Errors say what the directory lacks.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from workers.engine.device import default_dtype, resolve_device
from workers.engine.errors import ModelLoadError
from workers.engine.window import fit_window

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def _check_directory(path: Path) -> None:
    if not path.exists():
        raise ModelLoadError(f"model directory not found: {path}")
    if not path.is_dir():
        raise ModelLoadError(f"model path is not a directory: {path}")
    config = path / "config.json"
    if not config.is_file():
        raise ModelLoadError(f"{path} holds no causal LM: config.json is missing")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelLoadError(f"{path}/config.json is not valid JSON") from None
    if not any(p.name.endswith(WEIGHT_SUFFIXES) for p in path.iterdir()):
        raise ModelLoadError(f"{path} holds no causal LM: no weight files (*.safetensors, *.bin) found")


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The model's tokenizer, fast (Rust) only: every step that finds a value's tokens reads character
    offsets, which only fast tokenizers give."""
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"{path}: the tokenizer ({type(tokenizer).__name__}) has no fast version; the engine needs one "
            "(tokenizer.json, or files transformers can convert)"
        )
    if tokenizer.pad_token is None:
        # Generation and batched scoring need a pad token; eos is the conventional stand-in.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_causal_lm(
    path: str | Path,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    device_map: str | dict | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load (model, tokenizer) in eval mode.

    float32 on CPU, bfloat16/float16 on CUDA unless ``dtype`` says otherwise. ``device_map`` (e.g.
    "auto") hands placement to accelerate for models that need several GPUs.
    """
    local = Path(path)
    if local.exists() or str(path).startswith((".", "/", "~")):
        _check_directory(local.expanduser())
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    dtype = dtype or default_dtype(dev)
    try:
        config = AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} holds no causal LM: its config cannot be read ({exc.__class__.__name__})") from None
    try:
        kwargs: dict = {"dtype": dtype}
        if device_map is not None:
            kwargs["device_map"] = device_map
        model = AutoModelForCausalLM.from_pretrained(str(path), config=config, **kwargs)
    except ValueError as exc:
        raise ModelLoadError(
            f"{path} holds no causal LM: model type {getattr(config, 'model_type', '?')!r} has no causal-LM head "
            f"({str(exc).splitlines()[0][:200]})"
        ) from None
    except OSError as exc:
        raise ModelLoadError(f"{path}: weights cannot be loaded ({str(exc).splitlines()[0][:200]})") from None
    if device_map is None:
        model.to(dev)
    model.eval()
    try:
        tokenizer = load_tokenizer(path)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelLoadError(f"{path} has no usable tokenizer ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})") from None
    fit_window(model, tokenizer)
    return model, tokenizer
