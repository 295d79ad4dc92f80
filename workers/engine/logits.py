"""A causal LM's next-token distribution, read without a second vocabulary-sized tensor.

A full ``log_softmax`` beside the logits doubles the largest tensor of a forward pass (a 150k-token
vocabulary over a batch of texts is gigabytes), while the editors and checks mostly need the
log-probability of one token per position: the gathered logit minus the position's ``logsumexp``.
Where an editor needs whole distributions at a few positions only (the value-predicting ones), the
output head runs at those positions alone (``logp_at``).
"""

from __future__ import annotations

import functools
import inspect

import torch


def token_logp(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log P(tokens | ...) per position: ``logits`` (..., V), ``tokens`` (...) of the same leading shape."""
    logits = logits.float()
    return logits.gather(-1, tokens[..., None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def vocabulary_size(model: torch.nn.Module) -> int:
    """Rows of the output embedding, which is what the logits span; the config's ``vocab_size`` is absent on
    some composite configs (a text model inside a multimodal one) and can differ from the padded matrix."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and getattr(head, "weight", None) is not None:
        return int(head.weight.shape[0])
    config = getattr(model, "config", None)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(text_config.vocab_size)


# model classes whose forward took the mask but did not project exactly the kept positions
_SLICES_OTHERWISE: set[type] = set()


@functools.cache
def _takes_position_mask(model_type: type) -> bool:
    """Whether this model class's forward projects only the positions a boolean ``logits_to_keep`` mask
    keeps (transformers 5's causal LMs); older releases and other heads take an int or nothing."""
    if "logits_to_keep" not in inspect.signature(model_type.forward).parameters:
        return False
    try:
        from transformers.modeling_utils import slice_logits_to_keep  # noqa: F401  (the masked slicing)
    except ImportError:
        return False
    return True


def logp_at(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """log P(. | ids[r, :p+1]) for each (rows[i], positions[i]): an (N, V) float tensor in that order.

    The output head and the softmax run at those positions alone where the model allows it: over a batch
    of texts they are most of a small model's cost (a 2048-token head on the 192-wide demos is a fifth of
    each forward pass, and its softmax and backward as much again) and most of a large vocabulary's memory.
    Elsewhere the full logits are indexed, with the same result."""
    keep = torch.zeros(ids.shape, dtype=torch.bool, device=ids.device)
    keep[rows, positions] = True
    model_type = type(model)
    if _takes_position_mask(model_type) and model_type not in _SLICES_OTHERWISE:
        try:
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
        except (IndexError, TypeError):  # a head written for an int or a 1-D index (remote code, older heads)
            logits = None
        if logits is not None and logits.dim() == 3 and logits.shape[0] == 1:  # a head that kept the batch axis
            logits = logits[0]
        if logits is not None and logits.dim() == 2 and logits.shape[0] == int(keep.sum()):
            order = torch.cumsum(keep.flatten(), 0) - 1  # row-major rank of each kept position
            return torch.log_softmax(logits.float(), dim=-1)[order[rows * ids.shape[1] + positions]]
        _SLICES_OTHERWISE.add(model_type)
    logits = model(input_ids=ids, attention_mask=mask).logits
    return torch.log_softmax(logits[rows, positions].float(), dim=-1)
