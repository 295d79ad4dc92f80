"""The spellings in which the model writes a requested value, where they differ from the ticket's.

A ticket states a value the way its requester typed it: 977-630-0663, while the model memorised
(977) 630-0663. To the gate both are the same phone number (its text match normalises separators, case
and spacing, ``rtbf.pii.normalise``), but the editors work on token paths: teacher-forced through
'977-630-0663', the model gives the value a probability of 1e-20, the leak check is clean before any
edit, and greedy decoding still prints the number. Measured on the GPT-2 demo for that phone, typed with
dashes or with dots.

So the unedited model is decoded greedily from every attack context of every item (the gate's own
prompts), and each stretch of the output that normalises to the requested value but is spelled
otherwise becomes one more item of the request, with the item's contexts. The engine does it before
editing, so the editors close the path the model really takes and every stop check follows it; the gate
does it on the reference model, so exposure and memorisation are measured on the spelling the model
memorised, not on one it never wrote. Nothing is added when the model writes the value as requested,
or not at all.

The same decodings give each value's *tails*: the characters the model writes right after it, up to the
next space ('.' after a number that ends a sentence, nothing before 'every morning'). A tokenizer that keeps punctuation in the word
(SentencePiece's Metaspace) tokenises '630-0663.' otherwise than '630-0663', so the path the model takes
to write the value depends on them (``workers.engine.instances``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.pii import matches_whole_words, normalise, stands_whole, value_needles
from rtbf.request import ForgetRequest, PiiItem, PiiType
from rtbf.settings import GateSettings
from workers.verify.attacks import attack_generations, plan_attacks

_OPENERS = "([{<+"
_TAIL = re.compile(r"\S{0,8}")  # what follows a value up to the next space, at most a few characters
_CLOSERS = ")]}>"


def _unbalanced(stretch: str) -> bool:
    return sum(stretch.count(c) for c in "([{<") > sum(stretch.count(c) for c in _CLOSERS)


def spelled_occurrences(text: str, value: str, pii_type: PiiType | str) -> list[str]:
    """Every stretch of ``text`` that normalises to ``value``'s normal form, as written in ``text``.

    The normal form drops or folds characters one at a time (separators of a phone number, case, runs of
    spaces), so each kept character of the normalised text remembers where it came from, and a match maps
    back to the original stretch. The stretch runs from the first to the last matched character, widened
    over an opening bracket or plus sign just before it and the closing brackets it leaves open, which
    are the value's own format ('(977) 630-0663', '+44 20 7946 0958'), not the sentence's.
    """
    found: list[str] = []
    for spelled, _tail in written_occurrences(text, value, pii_type):
        if spelled not in found:
            found.append(spelled)
    return found


def written_occurrences(text: str, value: str, pii_type: PiiType | str) -> list[tuple[str, str | None]]:
    """Each occurrence of the value in ``text`` (see ``spelled_occurrences``) as (stretch, tail): the tail
    is what follows the stretch up to the next whitespace or the end of the text ('' when whitespace
    follows), None when the text ends with the stretch (what would follow is unknown)."""
    needles = value_needles(value, pii_type)
    if not needles:
        return []
    text = unicodedata.normalize("NFKC", text)
    folds_space = PiiType(pii_type) not in (PiiType.phone, PiiType.id, PiiType.email)
    kept: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isspace():  # dropped by the digit and e-mail forms, a run folded to one space by the others
            if folds_space and kept and kept[-1] != " ":
                kept.append(" ")
                origin.append(index)
            continue
        for piece in normalise(char, pii_type):
            kept.append(piece)
            origin.append(index)
    haystack = "".join(kept)
    found: list[tuple[str, str | None]] = []
    whole = matches_whole_words(pii_type)
    for rank, needle in enumerate(needles):
        _collect(text, haystack, origin, needle, found, national=rank > 0, whole=whole)
    return found


# before a phone number's national form: the country code the text gives it, or the trunk zero
_PHONE_PREFIX = re.compile(r"(?:\+\d{1,3}[ .-]?(?:\(0\) ?)?|\(?0\)?)$")


def _collect(
    text: str, haystack: str, origin: list[int], needle: str, found: list[tuple[str, str | None]], national: bool,
    whole: bool = False,
) -> None:
    """Append (stretch, tail) for each stretch of ``text`` whose kept characters spell ``needle`` (see
    ``written_occurrences``); a phone number's ``national`` form takes the prefix it is written with
    ('+44 20 ...', '020 ...'). With ``whole``, only stretches that stand as whole words (``stands_whole``),
    as the gate counts them: 'Li' is not written in 'Lisa'."""
    start = haystack.find(needle)
    while start != -1:
        if whole and not stands_whole(haystack, start, start + len(needle)):
            start = haystack.find(needle, start + 1)
            continue
        first, last = origin[start], origin[start + len(needle) - 1] + 1
        prefix = _PHONE_PREFIX.search(text, 0, first) if national else None
        if prefix:
            first = prefix.start()
        while first > 0 and text[first - 1] in _OPENERS:  # '(977) 630-0663' matched from its first digit
            first -= 1
        while last < len(text) and text[last] in _CLOSERS and _unbalanced(text[first:last]):
            last += 1
        tail: str | None = _TAIL.match(text, last).group()
        if not tail and last == len(text):  # the text ends with the value: what would follow is unknown
            tail = None
        found.append((text[first:last], tail))
        start = haystack.find(needle, start + 1)


@dataclass(frozen=True)
class ModelWriting:
    """What greedy decoding from every item's attack contexts wrote: per (request index, item index), each
    occurrence of the item's value as (spelling, tail)."""

    occurrences: dict[tuple[int, int], list[tuple[str, str | None]]]

    def spellings(self, key: tuple[int, int], typed: str, limit: int) -> list[str]:
        """Up to ``limit`` spellings other than the typed one, in order of first occurrence."""
        out: list[str] = []
        for spelled, _tail in self.occurrences.get(key, []):
            if spelled != typed and spelled not in out and len(out) < limit:
                out.append(spelled)
        return out

    def tails(self, limit: int = 3) -> dict[tuple[int, str], tuple[str, ...]]:
        """(request index, spelling) -> the tails the model writes after it, most frequent first, at most
        ``limit`` ('' for a space); the form ``build_instances`` and the exposure test take."""
        counts: dict[tuple[int, str], Counter[str]] = {}
        for (r_index, _item), occurrences in self.occurrences.items():
            for spelled, tail in occurrences:
                if tail is not None:
                    counts.setdefault((r_index, spelled), Counter())[tail] += 1
        return {key: tuple(tail for tail, _ in c.most_common(limit)) for key, c in counts.items()}


def most_frequent_tail(tails: Mapping[tuple[int, str], Sequence[str]] | None, r_index: int, value: str) -> str:
    """The tail the model writes most often after ``value`` in request ``r_index`` ('' when none is known)."""
    return next(iter((tails or {}).get((r_index, value), ())), "")


@torch.no_grad()
def model_writing(
    model, tokenizer: PreTrainedTokenizerBase, requests: list[ForgetRequest], settings: GateSettings
) -> ModelWriting:
    """Decode the model greedily from every item's attack contexts (the gate's prompts) and collect how it
    writes each value."""
    occurrences: dict[tuple[int, int], list[tuple[str, str | None]]] = {}
    for attack, _context, texts in attack_generations(model, tokenizer, plan_attacks(requests), settings, "greedy"):
        found = occurrences.setdefault((attack.request_index, attack.item_index), [])
        for text in texts:
            found += written_occurrences(text, attack.item.value, attack.item.type)
    return ModelWriting(occurrences)


def with_model_spellings(
    model, tokenizer: PreTrainedTokenizerBase, requests: list[ForgetRequest], settings: GateSettings,
    per_item: int = 3, replace: bool = False, writing: ModelWriting | None = None,
) -> list[ForgetRequest]:
    """Copies of the requests with the other spellings (up to ``per_item`` per item) in which greedy
    decoding from an item's attack contexts writes its value, as further items after the request's own
    (``all_items()`` order and indices kept). With ``replace``, an item's first spelling takes the typed
    value's place instead: an editor then spends nothing on a path the model never takes (pushing it
    down cost the GPT-2 demo's one-subject ROME edit +4.7% held-out perplexity against +2.2%), and the
    verification that follows still judges the typed value. Requests the model writes as typed come back
    unchanged. ``writing`` is ``model_writing``'s result when the caller has it already."""
    writing = writing if writing is not None else model_writing(model, tokenizer, requests, settings)
    out = []
    for r_index, request in enumerate(requests):
        items = request.all_items()
        extra: list[PiiItem] = []
        changed = False
        for i_index, item in enumerate(items):
            found = writing.spellings((r_index, i_index), item.value, per_item)
            changed = changed or bool(found)
            if replace and found:
                items[i_index] = item.model_copy(update={"value": found[0]})
                found = found[1:]
            extra += [PiiItem(value=spelled, type=item.type, contexts=list(item.contexts)) for spelled in found]
        out.append(request.model_copy(update={"pii": items + extra}) if changed else request)
    return out
