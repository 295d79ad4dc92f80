"""A causal LM's next-token distribution, read without a second vocabulary-sized tensor.

A full ``log_softmax`` beside the logits doubles the largest tensor of a forward pass (a 150k-token
vocabulary over a batch of texts is gigabytes), while the editors and checks mostly need the
log-probability of one token per position: the gathered logit minus the position's ``logsumexp``.
"""

from __future__ import annotations

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
