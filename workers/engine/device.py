"""Device and precision choice, in one place so every engine and gate step agrees."""

from __future__ import annotations

import torch


def resolve_device(preference: str | None = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; anything else is passed to torch.device."""
    if preference in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def default_dtype(device: torch.device) -> torch.dtype:
    """float32 on CPU (half precision is slow and inexact there); bfloat16 on CUDA when supported, else float16."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def model_device(model: torch.nn.Module) -> torch.device:
    """Device of the model's first parameter (the input embedding's device under accelerate's device_map)."""
    return next(model.parameters()).device
