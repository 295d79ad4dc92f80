"""Phrasing templates mined from the model's own samples: how *this* model writes about anyone's PII.

A memorised sentence may be recalled only in its own wording. On the GPT-2 demo, after a ten-subject
edit, "If you need to talk to X, just call" still gave X's phone number a log-probability of -2.6 while
"If you want to reach X, call" had fallen to -57: the model keeps the value behind the exact sentence it
learnt, and neither the request's contexts nor the product's phrasing banks know that sentence. The
model's unconditional samples do: it writes other people's phone numbers, e-mails and addresses in the
sentences it learnt them in. Each such sentence, up to the recognised value, with the person's name
taken out, is a template; filled with the subject's name it is a context in which the model may still
hold the subject's value, so the edit and the engine's leak check cover it.

Nothing here reads training data or knows a demo's templates. A model whose samples hold no PII, or
only PII without a name before it, yields no template and the request is unchanged. Names are found as a
run of two or more capitalised words (an optional honorific before them), the last such run in the
sentence before the value: a heuristic for Latin-script names that, when it misfires (a place name),
costs one extra context that leaks nothing.
"""

from __future__ import annotations

import collections
import re

from rtbf.pii import recognise
from rtbf.request import ForgetRequest, PiiType
from workers.engine.phrasings import with_extra_contexts

NAME_SLOT = "\x00"  # where the name stood; never in decoded text
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[^\W\d_]{2,}")
_NAME_RUN = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+)?\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)+\b")


def mine_templates(texts: list[str], min_count: int = 2) -> dict[PiiType, list[str]]:
    """Per PII type: the sentence openings (name replaced by ``NAME_SLOT``) that precede a recognised value
    in at least ``min_count`` of ``texts``, most frequent first. An opening that holds PII of its own, or
    no word besides the name, is left out."""
    counts: dict[PiiType, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for text in texts:
        for span in recognise(text):
            sentence = _SENTENCE_END.split(text[: span.start])[-1].rstrip()
            names = list(_NAME_RUN.finditer(sentence))
            if not sentence or not names:
                continue
            last = names[-1]
            template = sentence[: last.start()] + NAME_SLOT + sentence[last.end() :]
            wording = template.replace(NAME_SLOT, " ")
            if _WORD.search(wording) and not recognise(wording):  # words besides the name, no PII of its own
                counts[span.type][template] += 1
    mined = {pii_type: [t for t, n in counter.most_common() if n >= min_count] for pii_type, counter in counts.items()}
    return {pii_type: found for pii_type, found in mined.items() if found}


def with_templates(requests: list[ForgetRequest], templates: dict[PiiType, list[str]], per_item: int) -> list[ForgetRequest]:
    """Copies of the requests whose items also carry up to ``per_item`` mined templates of their type,
    filled with the subject's name (contexts an item already has are not repeated); items keep their
    indices (``phrasings.with_extra_contexts``)."""
    if per_item <= 0 or not templates:
        return requests
    out = []
    for request in requests:
        extras = []
        for item in request.all_items():
            known, extra = set(item.contexts), []
            for template in templates.get(item.type, []):
                context = template.replace(NAME_SLOT, request.subject.name)
                if context not in known and len(extra) < per_item:
                    extra.append(context)
                    known.add(context)
            extras.append(extra)
        out.append(with_extra_contexts(request, extras))
    return out
