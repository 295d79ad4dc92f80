"""One forward call with a key/value cache, spelled the way the installed transformers and model want it.

The gate's decoders drive the cache themselves (one prefill shared by many samples, rows leaving the batch
as they finish), so they call ``model(...)`` directly rather than ``generate``. The keyword for the cache
changed across transformers releases: ``past_key_values`` until 5.x, ``cache`` since (the old name warns
and is due to be removed in 5.40), and the output field was renamed with it. Some families (BLOOM, with
ALiBi) take no ``position_ids``. Reading the model's own ``forward`` signature keeps both working on any
release the project's ``transformers>=4.44`` admits, without naming a version or a model family.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch


@functools.cache
def _forward_keywords(model_type: type) -> tuple[str, bool, str | None]:
    """(the keyword that carries the cache, whether ``position_ids`` can be passed, the keyword that limits
    the output head to the last positions, if any) for this model class."""
    parameters = inspect.signature(model_type.forward).parameters
    cache_keyword = "cache" if "cache" in parameters else "past_key_values"
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    keep_keyword = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in parameters), None)
    return cache_keyword, "position_ids" in parameters or takes_any, keep_keyword


def forward_with_cache(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor | None = None,
    cache: Any = None,
    last_only: bool = False,
) -> tuple[torch.Tensor, Any]:
    """Logits of ``input_ids`` after ``cache`` (None: from scratch) and the cache extended by them.

    ``last_only``: the caller reads the last position's logits alone (a prompt's prefill before decoding),
    so the output head runs there only where the model allows it, as ``generate`` does: over a prompt of
    thirty tokens it is most of the head's work for a whole generation."""
    cache_keyword, takes_positions, keep_keyword = _forward_keywords(type(model))
    kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": True}
    if position_ids is not None and takes_positions:
        kwargs["position_ids"] = position_ids
    if last_only and keep_keyword is not None:
        kwargs[keep_keyword] = 1
    if cache is not None:
        kwargs[cache_keyword] = cache
    out = model(**kwargs)
    new_cache = out["cache"] if "cache" in out else out["past_key_values"]
    return out.logits, new_cache
