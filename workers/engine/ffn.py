"""Find each transformer block's FFN down-projection from the model's own modules and config.

In every block, ``h = W_down · act(W_up · x)``: the input of ``W_down`` (width d_ff) is the key the
editors work on, its output the value. Rather than a table keyed on model names, discovery reads the
structure: the block list is the ``ModuleList`` with ``num_hidden_layers`` entries, and the
down-projection is the one linear map in a block that goes from d_ff (> d_model) to d_model. That
covers GPT-2 (``Conv1D``, weight stored transposed), LLaMA / Mistral / Qwen2 (``mlp.down_proj``),
GPT-NeoX / Pythia (``mlp.dense_4h_to_h``), GPT-J (``mlp.fc_out``), OPT (``fc2``) and most others.
Anything else can be described by a per-``model_type`` override in settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle
from transformers.pytorch_utils import Conv1D

from workers.engine.errors import UnsupportedArchitectureError

SUPPORTED = "gpt2 (Conv1D), llama / mistral / qwen2 (mlp.down_proj), gpt_neox / pythia (mlp.dense_4h_to_h), gptj (mlp.fc_out), opt (fc2)"


@dataclass
class FfnSite:
    """One block's FFN: where its key (d_ff wide) enters the down-projection and how the weight is laid out."""

    layer: int
    block: nn.Module
    down_proj: nn.Module
    mlp: nn.Module  # the smallest module holding the whole FFN (up/gate/down), for editors that train it
    d_ff: int
    d_model: int
    root: nn.Module | None = field(default=None, repr=False)  # the whole model, whose calls set the token grid

    @property
    def transposed(self) -> bool:
        """GPT-2's Conv1D stores W as (d_ff, d_model); nn.Linear stores (d_model, d_ff)."""
        return isinstance(self.down_proj, Conv1D)

    def weight(self) -> torch.Tensor:
        """W_down as a (d_model, d_ff) view sharing storage with the parameter, so in-place edits stick."""
        w = self.down_proj.weight
        return w.T if self.transposed else w

    def hook_key(self, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> GridHooks:
        """Call ``fn`` on the down-projection's input as (batch, length, d_ff) before every forward; a tensor
        it returns replaces the input. See ``hook_output``."""
        return GridHooks(self, fn, on_output=False)

    def hook_output(self, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> GridHooks:
        """Call ``fn`` on the down-projection's output as (batch, length, d_model); a tensor it returns
        replaces the output.

        Editors address keys and values by (text, position). Most families run the FFN on (batch, length,
        width) tensors, but some flatten the tokens first (OPT reshapes to (batch * length, width) around
        ``fc1``/``fc2``), so the hook sees the tensor on the token grid of the model call it belongs to,
        whose shape a hook on the whole model records.
        """
        return GridHooks(self, fn, on_output=True)


class GridHooks:
    """A down-projection hook that presents its tensor as (batch, length, width); ``remove()`` undoes it."""

    def __init__(self, site: FfnSite, fn: Callable[[torch.Tensor], torch.Tensor | None], on_output: bool) -> None:
        self._grid: tuple[int, int] | None = None
        self._fn = fn
        self._handles: list[RemovableHandle] = []
        if site.root is not None:
            self._handles.append(site.root.register_forward_pre_hook(self._remember, with_kwargs=True))
        if on_output:
            self._handles.append(site.down_proj.register_forward_hook(self._on_output))
        else:
            self._handles.append(site.down_proj.register_forward_pre_hook(self._on_input))

    def _remember(self, _module: nn.Module, args: tuple, kwargs: dict) -> None:
        tokens = kwargs.get("input_ids", args[0] if args else None)
        if tokens is None:
            tokens = kwargs.get("inputs_embeds")
        if tokens is not None:
            self._grid = (int(tokens.shape[0]), int(tokens.shape[1]))

    def _call(self, tensor: torch.Tensor) -> torch.Tensor | None:
        if tensor.dim() == 3:
            return self._fn(tensor)
        if tensor.dim() != 2 or self._grid is None or self._grid[0] * self._grid[1] != tensor.shape[0]:
            raise UnsupportedArchitectureError(
                f"the FFN down-projection saw a {tuple(tensor.shape)} tensor that is not on the model call's token grid "
                f"{self._grid}; supported: {SUPPORTED}"
            )
        replaced = self._fn(tensor.view(*self._grid, tensor.shape[-1]))
        return None if replaced is None else replaced.reshape(tensor.shape)

    def _on_input(self, _module: nn.Module, args: tuple) -> tuple | None:
        replaced = self._call(args[0])
        return None if replaced is None else (replaced,) + tuple(args[1:])

    def _on_output(self, _module: nn.Module, _args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        return self._call(output)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _int_attr(config: object, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _get_path(root: nn.Module, dotted: str) -> nn.Module:
    module = root
    for part in dotted.split("."):
        if not hasattr(module, part):
            raise UnsupportedArchitectureError(f"override path {dotted!r} does not exist in the model (missing {part!r})")
        module = getattr(module, part)
    return module


def _linear_shape(module: nn.Module) -> tuple[int, int] | None:
    """(in_features, out_features) for Linear and Conv1D, None for anything else."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if isinstance(module, Conv1D):
        return module.weight.shape[0], module.weight.shape[1]
    return None


def _find_blocks(model: nn.Module, n_layers: int | None) -> nn.ModuleList:
    candidates = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if n_layers is not None:
        candidates = [m for m in candidates if len(m) == n_layers]
    # The block list is the one whose entries are the largest (it holds attention and FFN).
    candidates.sort(key=lambda ml: sum(p.numel() for p in ml.parameters()), reverse=True)
    if not candidates:
        raise UnsupportedArchitectureError(
            f"no list of {n_layers or 'transformer'} blocks found in {type(model).__name__}; supported: {SUPPORTED}. "
            "Describe the model with RTBF_ENGINE__FFN_OVERRIDES='{\"<model_type>\": {\"layers\": \"...\", \"down_proj\": \"...\"}}'"
        )
    return candidates[0]


def _find_down_proj(block: nn.Module, d_model: int, d_ff: int | None) -> tuple[str, nn.Module]:
    found = []
    for name, module in block.named_modules():
        shape = _linear_shape(module)
        if shape is None:
            continue
        fan_in, fan_out = shape
        if fan_out != d_model or fan_in <= d_model:
            continue
        if d_ff is not None and fan_in != d_ff:
            continue
        found.append((name, module))
    if len(found) != 1:
        what = "none" if not found else f"{len(found)} candidates (" + ", ".join(n for n, _ in found) + ")"
        raise UnsupportedArchitectureError(
            f"cannot identify the FFN down-projection in {type(block).__name__}: found {what}. "
            f"Supported: {SUPPORTED}. Mixture-of-experts and other layouts need "
            "RTBF_ENGINE__FFN_OVERRIDES='{\"<model_type>\": {\"layers\": \"<path to block list>\", \"down_proj\": \"<path inside a block>\"}}'"
        )
    return found[0]


def _parent(block: nn.Module, dotted: str) -> nn.Module:
    parts = dotted.split(".")
    return _get_path(block, ".".join(parts[:-1])) if len(parts) > 1 else block


def discover_ffn(model: nn.Module, overrides: dict[str, dict[str, str]] | None = None) -> list[FfnSite]:
    """Every block's FFN site, in layer order; raise UnsupportedArchitectureError when it cannot be found."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    d_model = _int_attr(config, "hidden_size", "n_embd", "d_model")
    n_layers = _int_attr(config, "num_hidden_layers", "n_layer", "num_layers")
    d_ff = _int_attr(config, "intermediate_size", "n_inner", "ffn_dim")
    if d_model is None:
        raise UnsupportedArchitectureError(f"model config ({model_type}) states no hidden size; supported: {SUPPORTED}")
    override = (overrides or {}).get(model_type or "")
    if override:
        blocks = _get_path(model, override["layers"])
        pairs = [(override["down_proj"], _get_path(block, override["down_proj"])) for block in blocks]
    else:
        blocks = _find_blocks(model, n_layers)
        pairs = [_find_down_proj(block, d_model, d_ff) for block in blocks]
    sites = []
    for layer, (block, (path, down)) in enumerate(zip(blocks, pairs)):
        shape = _linear_shape(down)
        if shape is None:
            raise UnsupportedArchitectureError(f"{path} in layer {layer} is not a Linear or Conv1D layer")
        mlp = _parent(block, path)
        if mlp is block:  # OPT-style blocks hold fc1/fc2 directly: the FFN is just its projections
            mlp = down
        sites.append(
            FfnSite(layer=layer, block=block, down_proj=down, mlp=mlp, d_ff=shape[0], d_model=shape[1], root=model)
        )
    return sites
