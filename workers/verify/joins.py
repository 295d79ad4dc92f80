"""The unedited model decides how each request value is joined to its contexts (``rtbf.joins``).

For every context that *can* glue a value ('Tel:', '<', 'Contact (Ann Lee):', an ideograph), both texts
are scored teacher-forced, 'context value' and 'contextvalue', from the first token where they differ
(or the value's first token) to the end of the value, the space included whatever token carries it. The context glues when the model finds the
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


def _encode_pairs(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]]
) -> list[tuple[Encoded, Encoded] | None]:
    """Per (context, value): 'context value' and 'contextvalue', each scored from the first token the two
    do not share, so both measure the same text's probability: where a token straddles the join (a ':('
    token in 'tel:(977)'), the context's last characters are scored in both, not only in the glued one."""
    spaced = tokenizer([c + " " + v for c, v in pairs], return_offsets_mapping=True, add_special_tokens=True)
    glued = tokenizer([c + v for c, v in pairs], add_special_tokens=True)["input_ids"]
    out: list[tuple[Encoded, Encoded] | None] = []
    for s_ids, offsets, g_ids, (context, _value) in zip(spaced["input_ids"], spaced["offset_mapping"], glued, pairs):
        value_at = next((i for i, (a, e) in enumerate(offsets) if e > len(context) and e > a), None)
        shared = next((i for i, (a, b) in enumerate(zip(s_ids, g_ids)) if a != b), min(len(s_ids), len(g_ids)))
        start = min(shared, value_at) if value_at is not None else shared
        if start < 1 or start >= len(s_ids) or start >= len(g_ids):
            out.append(None)
            continue
        out.append((Encoded(tuple(s_ids), start, len(s_ids)), Encoded(tuple(g_ids), start, len(g_ids))))
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
    encoded = _encode_pairs(tokenizer, pairs)
    usable = [i for i in range(len(pairs)) if encoded[i] is not None]
    scores = score_values(model, [e for i in usable for e in encoded[i]], batch_size, pad_id)  # type: ignore[union-attr]
    margins: dict[str, float] = {}
    for n, i in enumerate(usable):
        context = pairs[i][0]
        margins[context] = margins.get(context, 0.0) + scores[2 * n + 1].total - scores[2 * n].total
    return GlueDecisions({context: margin > 0 for context, margin in margins.items()})
