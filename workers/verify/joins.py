"""The unedited model decides how each request value is joined to its contexts (``rtbf.joins``).

For every context that *can* glue a value ('Tel:', '<', 'Contact (Ann Lee):', an ideograph), both texts
are scored teacher-forced, 'context value' and 'contextvalue', from the end of the context to the end of
the value (the space included, whatever token carries it). The context glues when the model finds the
glued text more likely, summed over the items that share the context. The decisions are made once, on
the model before any edit (the engine) or on the reference model (the gate), because an edited model
that has forgotten a value no longer prefers either join.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.joins import GlueDecisions, can_glue
from rtbf.request import ForgetRequest
from workers.verify.attacks import plan_attacks
from workers.verify.scoring import Encoded, score_values

# a join depends on the text just before it: a document's context is cut to its last characters
CONTEXT_CHARS = 400


def _encode(tokenizer: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]], sep: str) -> list[Encoded | None]:
    """Encoded 'context + sep + value' texts whose scored tokens run from the end of the context on."""
    texts = [context + sep + value for context, value in pairs]
    enc = tokenizer(texts, return_offsets_mapping=True, add_special_tokens=True)
    out: list[Encoded | None] = []
    for ids, offsets, (context, _value) in zip(enc["input_ids"], enc["offset_mapping"], pairs):
        start = next((i for i, (s, e) in enumerate(offsets) if e > len(context) and e > s), None)
        out.append(None if not start else Encoded(tuple(ids), start, len(ids)))
    return out


@torch.no_grad()
def decide_glue(
    model, tokenizer: PreTrainedTokenizerBase, requests: Sequence[ForgetRequest], batch_size: int = 64
) -> GlueDecisions:
    """Which contexts of the requests' items (their own, the documents' and the prompt banks') glue."""
    pairs: list[tuple[str, str]] = []
    for attack in plan_attacks(requests):
        for context in dict.fromkeys([*attack.item.contexts, *attack.contexts]):
            if can_glue(context, attack.item.value):
                pairs.append((context[-CONTEXT_CHARS:], attack.item.value))
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        return GlueDecisions()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    spaced, glued = _encode(tokenizer, pairs, " "), _encode(tokenizer, pairs, "")
    usable = [i for i in range(len(pairs)) if spaced[i] is not None and glued[i] is not None]
    scores = score_values(model, [e for i in usable for e in (spaced[i], glued[i])], batch_size, pad_id)
    margins: dict[str, float] = {}
    for n, i in enumerate(usable):
        context = pairs[i][0]
        margins[context] = margins.get(context, 0.0) + scores[2 * n + 1].total - scores[2 * n].total
    return GlueDecisions({context: margin > 0 for context, margin in margins.items()})
