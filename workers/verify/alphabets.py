"""Letters and words of scripts other than Latin, as the model's tokenizer knows them.

The exposure test ranks a value among candidates of its format (``workers.verify.formats``). A value
written in Cyrillic, Greek, Arabic, Devanagari, Chinese or Japanese ranked among candidates made of
Latin words ranks first in any model that reads that script, seen the person or not: the test would fail
every such value and an engine chasing it would keep editing. So a letter run of another script is drawn
from that script:

* a word of a script that puts spaces between words ('Ленина', 'Αθήνα') from the word-initial tokens of
  the tokenizer's vocabulary in that script and of that length, when it has enough of them;
* a capitalised run of a script with case ('Петрова', 'Παπαδάκης') from the person names Faker lists in
  that script for all its locales, of that length: names, street and town names are named after people,
  and a model ranks a real name above a common word of its length whether or not it saw the person (the
  Latin runs are drawn by name frequency for the same reason);
* otherwise (scripts without spaces, '東京都港区', and words longer than the vocabulary's) character by
  character, each from the characters of its own script that the vocabulary holds, so a run that mixes
  kanji and kana keeps its mixture.

Neither list comes with frequencies, and a uniform draw over thousands of ideographs puts rare ones next
to common ones, which makes any real value look memorised. A BPE vocabulary adds its tokens in merge
order and a unigram (SentencePiece) one sorts them by likelihood: either way a lower id is a more common
piece. Words and characters are therefore drawn with Zipf weights over their id rank (the k-th gets 1/k),
the distribution of word and character frequencies in natural text.

When the vocabulary holds too few characters of a script (a tokenizer trained on English text writes
Cyrillic in byte pieces), the characters are the script's basic alphabet ('а'-'я', 'α'-'ω', the CJK
unified ideographs; for a script not in the table, its letters near the value's own in Unicode), drawn
uniformly. Marks that are letters only by category ('ー', '々', 'ʻ') stay as they are.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from rtbf.faker_locales import listed, locale_providers

MIN_CHARACTERS = 20  # fewer characters of a script in the vocabulary than this: use its basic alphabet
MIN_WORDS = 30  # word-initial tokens of a script and length below which a word is drawn letter by letter
# byte-level BPE marks a token that starts a word with 'Ġ' (a space once decoded), SentencePiece with '▁'
WORD_START_MARKS = ("Ġ", "▁")
_NEAR = 32  # a script without a basic range: its letters this many code points either side of the value's
# The basic alphabets of the scripts most PII is written in, as inclusive code-point ranges.
_BASIC: dict[str, tuple[tuple[int, int], ...]] = {
    "CYRILLIC": ((0x430, 0x44F), (0x451, 0x451)), "GREEK": ((0x3B1, 0x3C9),), "ARMENIAN": ((0x561, 0x586),),
    "GEORGIAN": ((0x10D0, 0x10F0),), "HEBREW": ((0x5D0, 0x5EA),), "ARABIC": ((0x621, 0x64A),),
    "DEVANAGARI": ((0x905, 0x939),), "BENGALI": ((0x985, 0x9B9),), "TAMIL": ((0xB85, 0xBB9),),
    "THAI": ((0xE01, 0xE2E),), "HANGUL": ((0xAC00, 0xD7A3),), "HIRAGANA": ((0x3041, 0x3096),),
    "KATAKANA": ((0x30A1, 0x30FA),), "CJK": ((0x4E00, 0x9FFF),),
}


def script_of(char: str) -> str:
    """The script of a letter, the first word of its Unicode name ('CYRILLIC', 'CJK', 'HIRAGANA'); ASCII and
    accented Latin letters, and the ordinal indicators 'ª' 'º', are 'LATIN'."""
    if char.isascii():
        return "LATIN"
    first = unicodedata.name(char, "UNKNOWN").split(" ")[0]
    return "LATIN" if first in ("FEMININE", "MASCULINE") else first


def varies(char: str) -> bool:
    """A letter a candidate draws anew: cased or caseless, keeping its length when its case changes (not
    'ΰ', whose capital is two characters), and no modifier or iteration mark ('ʻ', 'ー', '々')."""
    return unicodedata.category(char) in ("Ll", "Lu", "Lt", "Lo") and len(char.upper()) == len(char.lower()) == 1


def is_latin(run: str) -> bool:
    return all(script_of(c) == "LATIN" for c in run if varies(c))


@dataclass
class _Ranked:
    """Items in id order, drawn with Zipf weights over that order (or uniformly)."""

    items: list[str] = field(default_factory=list)
    uniform: bool = False
    _cumulative: list[float] | None = None

    def draw(self, rng: random.Random) -> str:
        if self._cumulative is None:
            weights = (1.0 if self.uniform else 1.0 / (k + 1) for k in range(len(self.items)))
            self._cumulative = list(itertools.accumulate(weights))
        return rng.choices(self.items, cum_weights=self._cumulative)[0]


@lru_cache(maxsize=4096)
def _basic_letters(char: str) -> _Ranked:
    """The lower-case letters of ``char``'s script that a vocabulary without it falls back to, by code point."""
    script = script_of(char)
    ranges = _BASIC.get(script) or ((max(0, ord(char) - _NEAR), ord(char) + _NEAR),)
    letters = [
        chr(point) for low, high in ranges for point in range(low, high + 1)
        if varies(chr(point)) and chr(point) == chr(point).lower() and script_of(chr(point)) == script
    ]
    return _Ranked(letters, uniform=True)


_NAME_LISTS = ("first_names", "last_names", "first_names_male", "first_names_female", "last_names_male",
               "last_names_female")


@lru_cache(maxsize=1)
def _faker_names() -> dict[tuple[str, int], tuple[str, ...]]:
    """Person names of every Faker locale outside the Latin script, lower-cased, by (script, length)."""
    names: dict[tuple[str, int], set[str]] = {}
    for _, provider in locale_providers("person"):
        for attribute in _NAME_LISTS:
            for name in listed(provider, attribute):
                scripts = {script_of(c) for c in name}
                if name.isalpha() and all(varies(c) for c in name) and len(scripts) == 1 and "LATIN" not in scripts:
                    names.setdefault((scripts.pop(), len(name)), set()).add(name.lower())
    return {key: tuple(sorted(found)) for key, found in names.items()}


class Alphabets:
    """Per script, the tokenizer's characters and its word-initial words by length, in id order."""

    def __init__(self, tokenizer: object | None) -> None:
        self._characters: dict[str, _Ranked] = {}
        self._words: dict[tuple[str, int], _Ranked] = {}
        if tokenizer is not None:
            self._read_vocabulary(tokenizer)

    def _read_vocabulary(self, tokenizer: object) -> None:
        vocab: dict[str, int] = getattr(tokenizer, "get_vocab", dict)()
        to_text = getattr(tokenizer, "convert_tokens_to_string", None)
        if to_text is None:
            return
        seen: set[str] = set()
        for token, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
            text = to_text([token])
            if not text or text.isascii() or "\ufffd" in text:  # a piece of a multi-byte character
                continue
            for char in text.lower():
                if char not in seen and not char.isascii() and varies(char):
                    seen.add(char)
                    self._characters.setdefault(script_of(char), _Ranked()).items.append(char)
            word = text.strip()
            if token[:1] in WORD_START_MARKS and word and all(varies(c) for c in word) and word == word.lower():
                scripts = {script_of(c) for c in word}
                if len(scripts) == 1:
                    self._words.setdefault((scripts.pop(), len(word)), _Ranked()).items.append(word)

    def _words_like(self, run: str) -> _Ranked | None:
        scripts = {script_of(c) for c in run}
        if len(scripts) != 1 or not all(varies(c) for c in run):
            return None
        words = self._words.get((scripts.pop(), len(run)))
        return words if words is not None and len(words.items) >= MIN_WORDS else None

    @staticmethod
    def _names_like(run: str) -> tuple[str, ...]:
        """Faker's names of ``run``'s script and length when ``run`` is capitalised in a script with case."""
        if not (run[:1].isupper() and run[1:].islower()) or len({script_of(c) for c in run}) != 1:
            return ()
        names = _faker_names().get((script_of(run[0]), len(run)), ())
        return names if len(names) >= MIN_WORDS else ()

    def space(self, run: str, compose: bool = False) -> float:
        """How many distinct runs like ``run`` can be drawn (an upper bound)."""
        names = self._names_like(run)
        if names and not compose:
            return float(len(names))
        words = self._words_like(run)
        if words is not None and not compose:
            return float(len(words.items))
        total = 1.0
        for char in run:
            if varies(char):
                total *= max(1, len(self._letters_of(char).items))
        return total + (len(words.items) if words is not None else 0) + len(names)

    def draw(self, run: str, rng: random.Random, compose: bool = False) -> str:
        """A run of the same length and scripts as ``run`` (its case pattern is the caller's to apply): a
        word of the vocabulary where it has enough of that length, and with ``compose`` (too few distinct
        words for the count asked) letter by letter half of the time."""
        names = self._names_like(run)
        if names and not (compose and rng.random() < 0.5):
            return rng.choice(names)
        words = self._words_like(run)
        if words is not None and not (compose and rng.random() < 0.5):
            return words.draw(rng)
        out = []
        for char in run:
            letters = self._letters_of(char) if varies(char) else None
            out.append(letters.draw(rng) if letters is not None and letters.items else char)
        return "".join(out)

    def _letters_of(self, char: str) -> _Ranked:
        known = self._characters.get(script_of(char))
        if known is not None and len(known.items) >= MIN_CHARACTERS:
            return known
        return _basic_letters(char)
