"""Letters and words of scripts other than Latin, as the model's tokenizer knows them.

The exposure test ranks a value among candidates of its format (``workers.verify.formats``). A value
written in Cyrillic, Greek, Arabic, Devanagari, Chinese or Japanese ranked among candidates made of
Latin words ranks first in any model that reads that script, seen the person or not: the test would fail
every such value and an engine chasing it would keep editing. So a letter run of another script is drawn
from that script:

* a word of a script that puts spaces between words ('Ленина', 'Αθήνα') from the word-initial tokens of
  the tokenizer's vocabulary in that script and of that length, when it has enough of them;
* otherwise (scripts without spaces, '東京都港区', and words longer than the vocabulary's) character by
  character, each from the characters of its own script that the vocabulary holds, so a run that mixes
  kanji and kana keeps its mixture.

Neither list comes with frequencies, and a uniform draw over thousands of ideographs puts rare ones next
to common ones, which makes any real value look memorised. A BPE vocabulary adds its tokens in merge
order and a unigram (SentencePiece) one sorts them by likelihood: either way a lower id is a more common
piece. Words and characters are therefore drawn with Zipf weights over their id rank (the k-th gets 1/k),
the distribution of word and character frequencies in natural text.

When the vocabulary holds too few characters of a script (a tokenizer trained on English text writes
Cyrillic in byte pieces), the characters are the letters of that script in Unicode near the value's own
(its basic alphabet), drawn uniformly.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from dataclasses import dataclass, field

MIN_CHARACTERS = 20  # fewer characters of a script in the vocabulary than this: use its Unicode blocks
MIN_WORDS = 30  # word-initial tokens of a script and length below which a word is drawn letter by letter
_NEAR = 32  # code points either side of a value's character searched for its script's letters


def script_of(char: str) -> str:
    """The script of a letter, the first word of its Unicode name ('CYRILLIC', 'CJK', 'HIRAGANA'); ASCII and
    accented Latin letters are 'LATIN'."""
    if char.isascii():
        return "LATIN"
    return unicodedata.name(char, "UNKNOWN").split(" ")[0]


def _letter(char: str) -> bool:
    """A lower-case or caseless letter that keeps its length when capitalised (not 'ΰ', whose capital is two
    characters, nor a modifier such as 'ʹ')."""
    return unicodedata.category(char) in ("Ll", "Lo") and len(char.upper()) == 1


def is_latin(run: str) -> bool:
    return all(script_of(c) == "LATIN" for c in run if c.isalpha())


@dataclass
class _Ranked:
    """Items in id order, drawn with Zipf weights over that order."""

    items: list[str] = field(default_factory=list)
    _cumulative: list[float] | None = None

    def draw(self, rng: random.Random) -> str:
        if self._cumulative is None:
            self._cumulative = list(itertools.accumulate(1.0 / (k + 1) for k in range(len(self.items))))
        return rng.choices(self.items, cum_weights=self._cumulative)[0]


class Alphabets:
    """Per script, the tokenizer's characters and its word-initial words by length, in id order."""

    def __init__(self, tokenizer: object | None) -> None:
        self._characters: dict[str, _Ranked] = {}
        self._words: dict[tuple[str, int], _Ranked] = {}
        self._fallback: dict[str, _Ranked] = {}
        self._asked: set[str] = set()
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
                if char not in seen and not char.isascii() and _letter(char):
                    seen.add(char)
                    self._characters.setdefault(script_of(char), _Ranked()).items.append(char)
            # byte-level BPE marks a word's start with 'Ġ' (a space once decoded), SentencePiece with '▁'
            word = text.strip()
            if token[:1] in ("Ġ", "▁") and word.isalpha() and word == word.lower():
                scripts = {script_of(c) for c in word}
                if len(scripts) == 1:
                    self._words.setdefault((scripts.pop(), len(word)), _Ranked()).items.append(word)

    def space(self, run: str) -> float:
        """How many distinct runs like ``run`` can be drawn (an upper bound)."""
        scripts = {script_of(c) for c in run}
        words = self._words.get((next(iter(scripts)), len(run))) if len(scripts) == 1 else None
        if words is not None and len(words.items) >= MIN_WORDS:
            return float(len(words.items))
        total = 1.0
        for char in run:
            total *= len(self._letters_of(char).items)
        return total

    def draw(self, run: str, rng: random.Random) -> str:
        """A run of the same length and scripts as ``run`` (its case pattern is the caller's to apply)."""
        scripts = {script_of(c) for c in run}
        if len(scripts) == 1:
            words = self._words.get((next(iter(scripts)), len(run)))
            if words is not None and len(words.items) >= MIN_WORDS:
                return words.draw(rng)
        return "".join(self._letters_of(char).draw(rng) for char in run)

    def _letters_of(self, char: str) -> _Ranked:
        script = script_of(char)
        known = self._characters.get(script)
        if known is not None and len(known.items) >= MIN_CHARACTERS:
            return known
        return self._block_letters(char, script)

    def _block_letters(self, char: str, script: str) -> _Ranked:
        """The lower-case letters of ``script`` within ``_NEAR`` code points of ``char`` (and of the other
        characters asked about before), uniformly: no ranks to go by. A script's basic alphabet is one
        contiguous stretch ('а'-'я', 'α'-'ω'), its rarer letters further off."""
        ranked = self._fallback.setdefault(script, _Ranked())
        if char not in self._asked:
            self._asked.add(char)
            known = set(ranked.items)
            for point in range(max(0, ord(char) - _NEAR), ord(char) + _NEAR + 1):
                letter = chr(point)
                if letter not in known and _letter(letter) and script_of(letter) == script:
                    known.add(letter)
                    ranked.items.append(letter)
            ranked._cumulative = list(itertools.accumulate(1.0 for _ in ranked.items))  # uniform
        return ranked
