"""What the unedited model says about strangers in the request's own phrasings: the editors' locality anchors.

An edit pushes on phrasings such as "X's phone number is". Whatever it changes there risks changing what
the model says after *anyone's* name in that phrasing: other people's texts were measured to lose the
'(' that opens a phone number and the '.' after it. These anchors are the request's contexts with the
subject's names swapped for a stranger's (``workers.verify.strangers``), continued by the unedited
model's own greedy completion; FPGA holds them in its retain KL, ROME's value keys hold their keys still.

The completion is the model's own, not a value drawn from the subject's format: a drawn e-mail keeps the
subject's domain, and holding that after a stranger's name held it after the subject's too.
"""

from __future__ import annotations

from collections.abc import Callable

from transformers import PreTrainedTokenizerBase

from rtbf.names import first_mention
from rtbf.pii import recognise
from workers.engine.instances import PiiInstance
from workers.engine.window import clip_context_ids

# Long enough for any PII value and the end of its sentence.
STRANGER_COMPLETION_TOKENS = 24
# A lead-in's continuation: a name, a phrase and a value.
LEAD_IN_TOKENS = 32


def stranger_completions(
    model, tokenizer: PreTrainedTokenizerBase, instances: list[PiiInstance], count: int, seed: int,
    batch_size: int = 64,
) -> list[tuple[list[int], int]]:
    """Up to ``count`` (token ids, index of the first completion token) about strangers, one per distinct
    renamed context, cycling through ``instances``."""
    from workers.verify.scoring import generate
    from workers.verify.strangers import Stranger

    prompts: list[list[int]] = []
    seen: set[str] = set()
    for k in range(4 * count if instances else 0):
        inst = instances[k % len(instances)]
        context = Stranger(inst.subject_names, seed + k).rename(inst.context).rstrip()
        if context not in seen:
            seen.add(context)
            ids = clip_context_ids(tokenizer, tokenizer(context, add_special_tokens=True)["input_ids"],
                                   STRANGER_COMPLETION_TOKENS)
            if ids:
                prompts.append(ids)
        if len(prompts) >= count:
            break
    completions = generate(model, tokenizer, prompts, max_new_tokens=STRANGER_COMPLETION_TOKENS, batch_size=batch_size)
    return [(prompt + rows[0], len(prompt)) for prompt, rows in zip(prompts, completions) if rows and rows[0]]


def sampled_pii_positions(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], count: int
) -> list[tuple[list[int], list[int]]]:
    """Other people's PII as the model writes it unprompted: (token ids, positions that predict a token of a
    recognised PII span) for up to ``count`` of ``texts`` that hold one.

    The stranger completions above hold the request's phrasings; these hold the values themselves. A
    value-keyed edit moves what the model predicts *inside* a phone number or an e-mail address, and the
    keys there are shared with every other value of the format, so the memorised values the model
    reproduces by itself (the only view of other people's data an editor has without the training set)
    are held at zero change. Callers pass texts that mention no subject of the request.
    """
    out: list[tuple[list[int], list[int]]] = []
    for text in texts:
        if len(out) >= count:
            break
        ids, positions = pii_predicting_positions(tokenizer, text)
        if positions:
            out.append((ids, positions))
    return out


def lead_in_pii_positions(
    model, tokenizer: PreTrainedTokenizerBase, instances: list[PiiInstance], count: int, seed: int,
    keep: Callable[[str], bool], batch_size: int = 64,
) -> list[tuple[list[int], list[int]]]:
    """Other people's PII as the model writes it *in the request's phrasings*: up to ``count`` (token ids,
    positions that predict a token of a recognised PII span) from sampled continuations of what each
    context says before it names the subject ("Her e-mail, as listed for" ...), kept where ``keep`` accepts
    the text (callers drop texts about the request's subjects).

    The model's unconditional samples state other people's data in whatever phrasing it favours; the
    neighbours a value-keyed edit damages are the ones the model recalls *after these lead-ins*, whose
    value positions share the edited keys most closely. Continuing the lead-ins asks the model which
    people it would name there and what it would say about them, with no access to its training data.
    Contexts that open with the name have no lead-in (the unconditional samples stand for them).
    """
    from workers.verify.scoring import generate

    lead_ins: list[str] = []
    for inst in instances:
        start = first_mention(inst.context, inst.subject_names)
        lead_in = inst.context[:start].strip() if start else ""
        if lead_in and lead_in not in lead_ins:
            lead_ins.append(lead_in)
    if not lead_ins or count <= 0:
        return []
    per_lead_in = -(-2 * count // len(lead_ins))  # twice the need: some continuations name a subject or no PII
    prompts = [clip_context_ids(tokenizer, tokenizer(t, add_special_tokens=True)["input_ids"], LEAD_IN_TOKENS)
               for t in lead_ins]
    prompts = [p for p in prompts if p]
    rows = generate(model, tokenizer, prompts, max_new_tokens=LEAD_IN_TOKENS, batch_size=batch_size,
                    mode="sample", samples=per_lead_in, seed=seed)
    found: list[list[tuple[list[int], list[int]]]] = []
    seen_texts: set[str] = set()
    for prompt, continuations in zip(prompts, rows):
        texts = []
        for continuation in continuations:
            text = tokenizer.decode(prompt + continuation, skip_special_tokens=True).strip()
            if text not in seen_texts and keep(text):
                seen_texts.add(text)
                texts.append(text)
        found.append(sampled_pii_positions(tokenizer, texts, len(texts)))
    # one lead-in's texts after another's in turn, so the cut at ``count`` keeps every phrasing
    interleaved = [texts[k] for k in range(max(map(len, found), default=0)) for texts in found if k < len(texts)]
    return interleaved[:count]


def pii_predicting_positions(
    tokenizer: PreTrainedTokenizerBase, text: str, max_length: int | None = None
) -> tuple[list[int], list[int]]:
    """``text``'s token ids (truncated to ``max_length``) and the positions whose next-token prediction is a
    token of a recognised PII span; no positions when the recogniser finds none."""
    spans = recognise(text)
    enc = tokenizer(
        text, return_offsets_mapping=True, add_special_tokens=True,
        truncation=max_length is not None, max_length=max_length,
    )
    positions = sorted(
        {
            index - 1
            for index, (start, end) in enumerate(enc["offset_mapping"])
            if index > 0 and end > start and any(start < span.end and end > span.start for span in spans)
        }
    )
    return list(enc["input_ids"]), positions
