"""The model's own phrasings: contexts in which the unedited model writes a requested value after a name.

A request names at most a few contexts, and the per-type banks (``rtbf.prompts``) are the product's guess
at how people write about a phone number or an address. Neither knows how *this* model learnt the fact:
'X answers the phone at ... most evenings' may be the sentence it memorised, and an edit that pushes
only on 'X's phone number is' can leave that one intact. The model itself can say: prompted with the
subject's name and sampled, a model that memorised a value writes it in the wording it learnt, which is
also what an extractor that knows only the name would see (Carlini et al. 2021 prompt with prefixes in
the same way). Every distinct text before a requested value in those samples becomes one more context of
that item for the edit and for the engine's cheap leak check.

Nothing here reads training data, and nothing depends on the demo's templates: a model that did not
memorise the value writes it nowhere and nothing is added.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from rtbf.pii import normalise, recognise, value_spans
from rtbf.request import ForgetRequest, PiiItem


def value_starts(text: str, item: PiiItem) -> list[int]:
    """Where ``item``'s value starts in text: verbatim, or as a recognised span of the same normalised
    value (a phone number written with other separators)."""
    starts = {start for start, _ in value_spans(text, item.value)}
    wanted = normalise(item.value, item.type)
    if wanted:
        starts |= {span.start for span in recognise(text) if normalise(text[span.start : span.end], item.type) == wanted}
    return sorted(starts)


def model_phrasings(
    model,
    tokenizer: PreTrainedTokenizerBase,
    request: ForgetRequest,
    *,
    samples_per_name: int,
    max_new_tokens: int,
    per_item: int,
    seed: int,
    batch_size: int = 64,
) -> list[list[str]]:
    """Per item of ``request.all_items()``: up to ``per_item`` contexts (text before the value, stripped)
    in which the model, prompted with one of the subject's names, wrote that item's value. Contexts the
    item already has are not repeated."""
    from workers.verify.scoring import generate

    items = request.all_items()
    found: list[list[str]] = [[] for _ in items]
    if samples_per_name <= 0 or per_item <= 0:
        return found
    names = list(request.subject.names)
    prompts = [tokenizer(name, add_special_tokens=True)["input_ids"] for name in names]
    outputs = generate(
        model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, mode="sample",
        samples=samples_per_name, seed=seed,
    )
    for prompt, rows in zip(prompts, outputs):
        for row in rows:
            text = tokenizer.decode(list(prompt) + list(row), skip_special_tokens=True)
            for index, item in enumerate(items):
                known = set(item.contexts) | set(found[index])
                for start in value_starts(text, item):
                    context = text[:start].rstrip()
                    if context and context not in known and len(found[index]) < per_item:
                        found[index].append(context)
                        known.add(context)
    return found


def with_model_phrasings(model, tokenizer: PreTrainedTokenizerBase, requests: list[ForgetRequest], **options) -> list[ForgetRequest]:
    """Copies of the requests whose items carry the model's own phrasings as further contexts (see
    ``model_phrasings``; ``options`` are its keyword arguments). Every item, those named only by a document
    span included, becomes an explicit item, in ``all_items()`` order, so item indices do not move."""
    out = []
    seed = options.pop("seed", 0)
    for r_index, request in enumerate(requests):
        found = model_phrasings(model, tokenizer, request, seed=seed + r_index, **options)
        if not any(found):
            out.append(request)
            continue
        out.append(with_extra_contexts(request, found))
    return out


def with_extra_contexts(request: ForgetRequest, extras: list[list[str]]) -> ForgetRequest:
    """A copy of ``request`` whose items (``all_items()`` order) carry ``extras[i]`` after their own contexts.
    Every item, those named only by a document span included, becomes an explicit item in that order, so
    item indices do not move."""
    items = [item.model_copy(update={"contexts": list(item.contexts) + extra}) for item, extra in zip(request.all_items(), extras)]
    return request.model_copy(update={"pii": items})
