"""The same PII built for a stranger: the never-seen baseline of a value made wholly from the subject's name.

A value such as ``chang.r@example.com`` for Ryan Chang has no secret part once the name is known: any
model that learnt how e-mail addresses are made predicts most of it, whether or not it ever saw Ryan
Chang. Comparing its memorisation with random same-format values (``formats.py``) would therefore fail
a model that never saw the person. The honest comparison is a person the model never saw, whose address
is built *the same way*: the subject's name words are swapped for random other names throughout the
instance (``Ryan Chang's email is`` becomes ``Ada Fenwick's email is``) and the value is rebuilt from the
new name piece by piece (``fenwick.a@example.com``; a clipped name becomes the stranger's whole name). Parts that are not built from the name stay as
they are (the domain is format, not identity).

Works for any value and wording: the rebuild follows the letter-run segmentation of ``NameParts``, the
renaming is whole-word and case-preserving.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from functools import lru_cache

from rtbf.request import PiiType
from workers.verify.formats import NameParts, apply_case

_LETTER_RUN = re.compile(r"[^\W\d_]+")
# Titles in aliases ('Mr. Chang') are not part of anyone's identity: they stay as written.
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "dame", "lord", "lady"})


@lru_cache(maxsize=1)
def _name_pool() -> tuple[str, ...]:
    from faker.providers.person.en_US import Provider as PersonProvider

    names = {n for n in [*PersonProvider.first_names, *PersonProvider.last_names] if n.isalpha() and n.isascii()}
    return tuple(sorted(n.casefold() for n in names if len(n) >= 3))


class Stranger:
    """A random other person standing in for the subject: every name word maps to a different name word."""

    def __init__(self, names: Iterable[str], seed: int) -> None:
        self.parts = NameParts.of(names)
        rng = random.Random(seed)
        pool = [n for n in _name_pool() if n not in self.parts.words]
        words = sorted(w for w in self.parts.words if w not in _TITLES)
        # distinct replacements with distinct initials where possible, so 'gmills' stays two pieces
        self.mapping: dict[str, str] = {}
        used_initials: set[str] = set()
        for word in words:
            choices = [n for n in pool if n[0] not in used_initials and n not in self.mapping.values()] or pool
            self.mapping[word] = rng.choice(choices)
            used_initials.add(self.mapping[word][0])
        self._initials = {w[0]: m[0] for w, m in sorted(self.mapping.items(), key=lambda kv: len(kv[0]))}

    def names(self, names: Iterable[str]) -> list[str]:
        """The stranger's own names, for the subject's ``names``."""
        return [self.rename(name) for name in names]

    def rename(self, text: str) -> str:
        """The text with every name word (and a capital initial such as the 'R.' of 'R. Chang') swapped."""

        def swap(match: re.Match[str]) -> str:
            run = match.group()
            folded = run.casefold()
            if folded in self.mapping:
                return apply_case(self.mapping[folded], run)
            if len(run) == 1 and run.isupper() and folded in self._initials and text[match.end() : match.end() + 1] == ".":
                return self._initials[folded].upper()
            return run

        return _LETTER_RUN.sub(swap, text)

    def rebuild(self, value: str, pii_type: PiiType | str) -> str:
        """The value as it would be built from the stranger's name: each name-built letter run re-derived.

        Of an e-mail address only the local part is rebuilt (the domain is shared by many people)."""
        pii_type = PiiType(pii_type)
        if pii_type is PiiType.email and "@" in value:
            local, _, domain = value.rpartition("@")
            return self._rebuild_runs(local) + "@" + domain
        return self._rebuild_runs(value)

    def _rebuild_runs(self, text: str) -> str:
        def swap(match: re.Match[str]) -> str:
            run = match.group()
            pieces = self.parts.segments(run)
            if not pieces:
                return run
            out, position = [], 0
            for word, taken in pieces:
                new = self.mapping.get(word, word)
                # an initial maps to the new initial, anything longer to the whole new word: no cut of another
                # name is equivalent to a clipped one ('qu|art' of Quartermaine falls on a token boundary, 'br|o|ok'
                # of Brooks does not, and a model completes a name it knows), so the stranger gets the most
                # predictable form, which keeps the baseline on the lenient side rather than failing the unseen
                piece = new[:1] if taken == 1 else new
                out.append(apply_case(piece, run[position : position + taken]))
                position += taken
            return "".join(out)

        return _LETTER_RUN.sub(swap, text)
