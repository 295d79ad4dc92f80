"""Random values of the same format as a PII value: the candidate space of the exposure test.

Exposure (Carlini et al., The Secret Sharer) ranks the true value among values that *could* have been
the secret. If the candidates are less plausible than any real value (random letters against a real
street name), even a value the model never saw ranks near the top and the test cries wolf. So the
candidates copy the value's shape position by position and keep plausibility:

* digit runs keep their length, their script's digits ('٠٥٥٥') and whether they start with a non-zero
  digit (house and phone numbers rarely start with 0), every digit is otherwise uniform;
* letter runs keep their length and case pattern and are drawn from a pool of real words of that length
  (the tokenizer's vocabulary plus Faker's name, street and lorem lists), random letters only when the
  pool has too few words of that length; a capitalised run is drawn by how common each word is as a
  person's name (Faker's census shares), as real names are: a model ranks 'Miller' above 'Zuniga' whether
  or not it saw the person;
* a letter run of another script (Cyrillic, Greek, Chinese...) is drawn from that script's words and
  characters as the tokenizer knows them (``workers.verify.alphabets``);
* separators and punctuation are kept verbatim;
* in an address, a town (the words after the last comma) named after a name or place word and ending in
  a place-name ending ('Holland' + 'burgh', 'Snow' + 'chester') keeps the ending and draws only its stem:
  towns are mostly named that way, and compounds of two random words are no town a model would rank
  beside one;
* parts that are format rather than identity stay fixed: the domain of an e-mail address and the street
  suffix / unit words of an address ("Street", "Apt"). They are shared by millions of people, and a
  model that learnt what addresses look like must not be mistaken for one that memorised this address;
* a date keeps being a date: in '1985-03-12', '12/03/1985' or 'March 12, 1985' the year is drawn from
  the years people alive now were born in, the month from 1 to 12 (a month's name from the month names,
  written the same way) and the day from 1 to 28. A model that learnt what dates look like ranks '7604-87-74'
  below any real date, so uniform digits would make a date of birth it never saw look memorised;
* parts derived from the subject's own name stay fixed too: the 'chang' and 'r' of chang.r@... for Ryan
  Chang, the 'gmills' of Gerald Mills, the 'quart' of Zelda Quartermaine (a letter run that splits into
  the names' words, their initials and their clipped forms).
  The request states the name, and any model that learnt how e-mail addresses are made ranks the
  name-built local part above random words whether or not it ever saw this person: ranking against
  random words would measure that skill, not memorisation, and fail a model that never saw the value.
  When the whole local part derives from the name, nothing of the value is secret beyond the name and
  a shared domain: the format admits no candidates, the gate reports the item's exposure as not
  measurable, and the item is judged by its generation attacks and memorisation. (Varying the domain
  instead was measured to miscalibrate the same way: a model ranks the domains common in its training
  text above random words of the same length, seen the person or not.)

This works for any value: an unknown type simply gets the generic per-position treatment.
"""

from __future__ import annotations

import datetime
import itertools
import random
import re
import string
import unicodedata
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache

from rtbf.kinds import (
    DATE_WORDS,
    ORDINAL_ENDING,
    WEEKDAY_NAMES,
    ValueKind,
    calendar_list_of,
    is_month_word,
    url_identity,
    value_kinds,
)
from rtbf.pii import normalise
from rtbf.request import PiiType
from workers.verify.alphabets import WORD_START_MARKS, Alphabets, is_latin

_RUN = re.compile(r"\d+|[^\W\d_]+|.", re.DOTALL)
MIN_POOL_WORDS = 30
# Letter runs at least this long may also be drawn as two glued words (place names, e-mail local parts).
COMPOUND_MIN_LENGTH = 8
_ADDRESS_FIXED_EXTRA = {
    "st", "ave", "rd", "blvd", "ln", "dr", "ct", "pl", "sq", "pkwy", "cir", "hwy", "apt", "suite", "unit",
    "floor", "fl", "po", "box", "strasse", "straße", "rue", "via", "calle", "north", "south", "east", "west",
    "n", "s", "e", "w", "ne", "nw", "se", "sw",
}


@dataclass(frozen=True)
class Part:
    """One run of the value: ``kind`` is 'digits', 'letters' or 'fixed' (kept verbatim), or a date's 'year',
    'month', 'day', 'month_name', 'month_word' (an inflected name, kept verbatim), 'weekday_name' or
    (English) 'ordinal' ending."""

    kind: str
    text: str


YEARS = (1920, 2020)  # the years drawn for a date's year: birth dates of the living, most dates in records
DATE_RANGES = {"year": YEARS, "month": (1, 12), "day": (1, 28)}
_DATE_SEPARATORS = {"-", "/", "."}
_DATE_KINDS = set(DATE_RANGES) | {"month_name", "month_word"}
_VERBATIM_KINDS = {"fixed", "month_word"}  # kept as written in every candidate
# a date's named parts, by the Faker attribute that lists their names in each language
_NAMED_DATE_PARTS = {"month_name": "MONTH_NAMES", "weekday_name": "DAY_NAMES"}
# English ordinal endings by a day's last digit ('1st', '22nd', '13th')
_ENGLISH_ORDINALS = ("th", "st", "nd", "rd")
_DATE_FILLER_WORDS = DATE_WORDS | {"the"}  # '12th of March', 'Tuesday the 12th'
_EAST_ASIAN_DATE_UNITS = {"年": "year", "月": "month", "日": "day", "년": "year", "월": "month", "일": "day"}


def _names_of(part: Part) -> tuple[str, ...]:
    """The list a named date part's text comes from (its language's months or weekdays)."""
    names = calendar_list_of(part.text, _NAMED_DATE_PARTS[part.kind])
    assert names is not None, "a named date part is made only of a listed name"
    return names


def english_ordinal(day: int) -> str:
    """'st', 'nd', 'rd' or 'th' as English writes it after ``day``."""
    return "th" if 10 <= day % 100 <= 20 else _ENGLISH_ORDINALS[day % 10] if day % 10 < 4 else "th"


# Endings that make a word a place name ('Hollandburgh', 'Snowchester', 'Pittsburgh', 'Bradford'): shared by
# thousands of towns, they are format, not identity. A candidate pool without them ranks a town name the
# model never saw above nearly every candidate: on a GPT-2 demo, '4412 Miller Inlet, Jacobsburgh', never
# seen, ranked 1st of 300 against compounds such as 'Hansenvaughn' (8.2 bits, README).
_PLACE_SUFFIXES_EXTRA = {
    "ford", "field", "wood", "dale", "worth", "wich", "caster", "cester", "minster", "bridge", "brook", "burg",
    "boro", "stead", "hurst", "thorpe",
}
PLACE_STEM_MIN = 3  # a stem shorter than this is no name of its own: the word stays whole


@lru_cache(maxsize=1)
def _place_suffixes() -> tuple[str, ...]:
    """Place-name endings, longest first (so 'chester' is tried before 'ster'-like shorter ones)."""
    from faker.providers.address.en_US import Provider as AddressProvider

    words = {w.casefold() for w in getattr(AddressProvider, "city_suffixes", ())} | _PLACE_SUFFIXES_EXTRA
    return tuple(sorted(words, key=len, reverse=True))


@lru_cache(maxsize=1)
def _place_stems() -> frozenset[str]:
    """Words a town is named after: people's names and place-name words (folded)."""
    return frozenset(w.casefold() for w in _faker_proper_words())


def _split_place_suffix(run: str) -> tuple[str, str] | None:
    """(stem, ending) of a town named after a name: 'Hollandburgh', 'Bradford', not 'Boston' ('Bos' is no
    name) nor a street's 'Stanley' (only the town's words are tried, ``value_parts``)."""
    folded = run.casefold()
    for suffix in _place_suffixes():
        stem = folded[: len(folded) - len(suffix)]
        if folded.endswith(suffix) and len(stem) >= PLACE_STEM_MIN and stem in _place_stems():
            return run[: len(stem)], run[len(stem) :]
    return None


@lru_cache(maxsize=1)
def _address_fixed_words() -> frozenset[str]:
    from faker.providers.address.en_US import Provider as AddressProvider

    words = {w.casefold() for w in AddressProvider.street_suffixes}
    words |= {w.casefold() for w in getattr(AddressProvider, "city_prefixes", ())}
    return frozenset(words | _ADDRESS_FIXED_EXTRA)


@dataclass(frozen=True)
class NameParts:
    """The words of a subject's names and aliases (two letters or more) and their initials, folded."""

    words: frozenset[str]
    initials: frozenset[str]

    @classmethod
    def of(cls, names: Iterable[str]) -> NameParts:
        words = {w.casefold() for name in names for w in re.findall(r"[^\W\d_]+", name)}
        return cls(frozenset(w for w in words if len(w) >= 2), frozenset(w[0] for w in words))

    def derive(self, run: str) -> bool:
        """True when the letter run splits wholly into name words, their initials and their clipped forms of
        three letters or more ('gmills', 'chang', 'r', 'quart' for Quartermaine)."""
        return self.segments(run) is not None

    def segments(self, run: str) -> list[tuple[str, int]] | None:
        """How the run is built from the names: (name word, letters taken from its start) per piece, left to
        right ('gmills' for Gerald Mills is [('gerald', 1), ('mills', 5)]); None when it is not name-built."""
        folded = run.casefold()
        if not folded or (not self.words and not self.initials):
            return None
        ordered = sorted(self.words)
        # way[end]: how the first `end` letters were reached (previous end, name word, letters taken)
        way: list[tuple[int, str, int] | None] = [None] * (len(folded) + 1)
        reached = [True] + [False] * len(folded)
        for end in range(1, len(folded) + 1):
            if reached[end - 1] and folded[end - 1] in self.initials:
                word = next((w for w in ordered if w[0] == folded[end - 1]), folded[end - 1])
                reached[end], way[end] = True, (end - 1, word, 1)
                continue
            for start in range(end - 2):
                piece = folded[start:end]
                word = next((w for w in ordered if w.startswith(piece)), None) if reached[start] else None
                if word is not None:
                    reached[end], way[end] = True, (start, word, end - start)
                    break
        if not reached[-1]:
            return None
        pieces: list[tuple[str, int]] = []
        end = len(folded)
        while end > 0:
            start, word, taken = way[end]  # type: ignore[misc]
            pieces.append((word, taken))
            end = start
        return pieces[::-1]


def value_parts(value: str, pii_type: PiiType | str, names: Iterable[str] = ()) -> list[Part]:
    """Split a value into digit runs, letter runs and fixed characters, per the rules above."""
    pii_type = PiiType(pii_type)
    name_parts = NameParts.of(names)
    if pii_type is PiiType.email and "@" in value:
        local, _, domain = value.rpartition("@")
        return [*_runs(local, frozenset(), name_parts), Part("fixed", "@" + domain)]
    if pii_type is PiiType.address:
        # the town is what follows the last comma ('..., Apt 38, Snowchester'), or the whole value without one
        town_at = value.rfind(",") + 1
        fixed_words = _address_fixed_words()
        parts = _runs(value[:town_at], fixed_words, name_parts) + _runs(value[town_at:], fixed_words, name_parts, True)
    else:
        parts = _issuer_fixed(_runs(value, frozenset(), name_parts), value, pii_type)
    # a street may be named after a month ('12 March Lane'), a phone number read as a date: neither is one
    if pii_type in (PiiType.phone, PiiType.address):
        return parts
    return _dates(parts, worded_date=ValueKind.date in value_kinds(value, pii_type))


def _issuer_fixed(parts: list[Part], value: str, pii_type: PiiType) -> list[Part]:
    """The runs with an IBAN's country code, a payment card's first digit and all of a web address but its
    owner's part (``rtbf.kinds.url_identity``: the path, or a bare host's own label) kept as written.

    Both are shared by millions of holders (the card's first digit names its network: 4 Visa, 5 Mastercard,
    3 American Express), so they are format, not identity. Drawn at random, they put every candidate below
    any value of the right country or network: on the GPT-2 demo fine-tuned on German IBANs, a German IBAN
    it never saw ranked at 4.4 bits, over the gate's 4-bit cap, and 0.7 bits with the code kept (README).
    """
    if pii_type not in (PiiType.id, PiiType.other):
        return parts
    kinds = value_kinds(value, pii_type)
    if ValueKind.iban in kinds and parts and parts[0].kind == "letters" and len(parts[0].text) == 2:
        return [Part("fixed", parts[0].text), *parts[1:]]
    if ValueKind.payment_card in kinds and parts and parts[0].kind == "digits" and len(parts[0].text) > 1:
        first = parts[0].text
        return [Part("fixed", first[0]), Part("digits", first[1:]), *parts[1:]]
    if ValueKind.url in kinds:
        return _fixed_outside(parts, *url_identity(value))
    return parts


def _fixed_outside(parts: list[Part], start: int, end: int) -> list[Part]:
    """The parts with every run outside characters [start, end) of their text kept as written."""
    out: list[Part] = []
    at = 0
    for part in parts:
        inside = start <= at and at + len(part.text) <= end
        out.append(part if inside else Part("fixed", part.text))
        at += len(part.text)
    return out


def _is_year(part: Part) -> bool:
    return part.kind == "digits" and len(part.text) == 4 and 1000 <= int(part.text) <= 2099


def _is_small(part: Part, top: int) -> bool:
    return part.kind == "digits" and len(part.text) <= 2 and 1 <= int(part.text) <= top


def _joins_date(part: Part) -> bool:
    """What may stand between a month's name and its day or year: spaces, a comma or full stop, the day,
    an ordinal ending or a filler word ('12th of March', '12 de marzo de 1985')."""
    if part.kind == "fixed" and part.text in {" ", ",", "."}:
        return True
    return _is_small(part, 31) or (part.kind == "letters" and _is_date_word(part.text))


def _is_date_word(text: str) -> bool:
    return text.casefold() in _DATE_FILLER_WORDS or bool(ORDINAL_ENDING.match(text))


def _dates(parts: list[Part], worded_date: bool = False) -> list[Part]:
    """The runs with every date found among them re-kinded as year, month, day, month name, weekday name and
    ordinal ending.

    Numeric dates are three digit runs joined by one repeated separator ('-', '/' or '.'): year first
    (ISO) or last. With the year last, a first number above 12 is a day (day-month-year) and a second one
    above 12 makes it month-day-year; where both could be months, both are drawn as months, which reads as
    a date either way. A month's name (in full or, in English, short; in any language Faker lists) takes the
    day and the year written next to it, separated only by spaces, commas, full stops, ordinal endings and
    filler words ('of', 'de'): those are kept as written, except an English ordinal ending, which follows
    the drawn day ('1st', '2nd', '13th'); drawn as words, they would put every candidate below a real date.
    With ``worded_date`` (the whole value reads as one, ``rtbf.kinds``), a month's name no list holds as
    written (inflected: 'марта', 'marca') is a 'month_word', kept as written, with the day and year drawn.
    """
    out = list(parts)
    kinds = [p.kind for p in parts]
    for i in range(len(parts) - 4):
        a, s1, b, s2, c = parts[i : i + 5]
        if kinds[i : i + 5] != ["digits", "fixed", "digits", "fixed", "digits"]:
            continue
        if s1.text != s2.text or s1.text not in _DATE_SEPARATORS:
            continue
        if _is_year(a) and _is_small(b, 12) and _is_small(c, 31):
            out[i], out[i + 2], out[i + 4] = Part("year", a.text), Part("month", b.text), Part("day", c.text)
        elif _is_year(c) and _is_small(a, 31) and _is_small(b, 31) and (int(a.text) <= 12 or int(b.text) <= 12):
            first = "day" if int(a.text) > 12 else "month"
            second = "day" if first == "month" and int(b.text) > 12 else "month"
            out[i], out[i + 2], out[i + 4] = Part(first, a.text), Part(second, b.text), Part("year", c.text)
    for i, part in enumerate(parts):
        listed = part.kind == "letters" and calendar_list_of(part.text, "MONTH_NAMES") is not None
        if part.kind != "letters" or not (listed or (worded_date and is_month_word(part.text))):
            continue
        near = [j for j in range(max(0, i - 8), min(len(parts), i + 9)) if j != i]
        joined = [j for j in near if all(_joins_date(p) for p in parts[min(i, j) + 1 : max(i, j)])]
        years = [j for j in joined if _is_year(parts[j])]
        days = [j for j in joined if _is_small(parts[j], 31) and out[j].kind == "digits"]
        if not (years or days):
            continue
        # an inflected name ('12 марта 1985', genitive) has no list to draw from: it stays as written, and
        # the day and year are drawn around it
        out[i] = Part("month_name" if listed else "month_word", part.text)
        for j in years[:1]:
            out[j] = Part("year", parts[j].text)
        for j in days[:1]:
            out[j] = Part("day", parts[j].text)
        for j in years[:1] + days[:1]:
            for k in range(min(i, j) + 1, max(i, j)):
                if out[k].kind == "letters":
                    out[k] = _filler_or_ordinal(parts, k, days[:1])
    # a year's or day's mark after the date ('12 марта 1985 г.', '12 marca 1985 r.') is the date's word too
    for k in range(1, len(parts)):
        before = next((j for j in range(k - 1, -1, -1) if out[j].kind != "fixed"), None)
        if (
            out[k].kind == "letters" and _is_date_word(parts[k].text) and before is not None
            and out[before].kind in _DATE_KINDS
            and all(p.kind == "fixed" and not p.text.strip() for p in parts[before + 1 : k])
        ):
            out[k] = Part("fixed", parts[k].text)
    _east_asian_dates(parts, out)
    # a weekday's name that leads a date ('Tuesday, March 12, 1985') is drawn as a weekday: as a word it would
    # put every candidate below any real date
    for i, part in enumerate(parts):
        if part.kind != "letters" or calendar_list_of(part.text, "DAY_NAMES") is None:
            continue
        after = next((j for j in range(i + 1, len(parts)) if out[j].kind not in ("fixed", "letters")), None)
        between = parts[i + 1 : after] if after is not None else []
        if after is not None and all(_joins_date(p) for p in between) and out[after].kind in _DATE_KINDS:
            out[i] = Part("weekday_name", part.text)
            for k in range(i + 1, after):
                if out[k].kind == "letters":
                    out[k] = Part("fixed", parts[k].text)
    return out


def _east_asian_dates(parts: list[Part], out: list[Part]) -> None:
    """Re-kind, in ``out``, the numbers of a Chinese, Japanese or Korean date ('1985年3月12日', '1985년 3월 12일'):
    each number is told by the unit that follows it, which stays as written. Two units at least, so that a
    lone '日' or '일' after a number is not read as a date."""
    marked: list[tuple[int, int, str]] = []  # (number's index, unit's index, date kind)
    for i, part in enumerate(parts):
        unit = _EAST_ASIAN_DATE_UNITS.get(part.text) if part.kind == "letters" else None
        number = i - 1 if i and parts[i - 1].kind == "digits" else i - 2
        if unit is None or number < 0 or parts[number].kind != "digits" or parts[number + 1 : i] not in ([], [Part("fixed", " ")]):
            continue
        low, high = (1000, 2099) if unit == "year" else (1, 12 if unit == "month" else 31)
        if low <= int(parts[number].text) <= high:
            marked.append((number, i, unit))
    if len({unit for _, _, unit in marked}) < 2:
        return
    for number, unit_at, unit in marked:
        out[number], out[unit_at] = Part(unit, parts[number].text), Part("fixed", parts[unit_at].text)


def _filler_or_ordinal(parts: list[Part], k: int, days: list[int]) -> Part:
    """A letter run inside a date: an English ordinal ending right after the day follows the drawn day, any
    other (a filler word, another language's ordinal) stays as written."""
    text = parts[k].text
    if days and k == days[0] + 1 and text.casefold() in _ENGLISH_ORDINALS:
        return Part("ordinal", text)
    return Part("fixed", text)


def _runs(text: str, fixed_words: frozenset[str], name_parts: NameParts, place_names: bool = False) -> list[Part]:
    """The text's digit runs, letter runs and fixed characters; with ``place_names``, a word ending in a
    place-name ending ('Hollandburgh') is its stem as letters and the ending fixed."""
    parts = []
    for match in _RUN.finditer(text):
        run = match.group()
        if run.isdecimal():  # in any script's digits ('٠٥٥٥', '०९८'): the candidates keep them
            parts.append(Part("digits", run))
        elif run.isalpha() and run.casefold() not in fixed_words and not name_parts.derive(run):
            split = _split_place_suffix(run) if place_names else None
            if split is not None:
                parts += [Part("letters", split[0]), Part("fixed", split[1])]
            else:
                parts.append(Part("letters", run))
        else:
            parts.append(Part("fixed", run))
    return parts


def name_built_spans(value: str, pii_type: PiiType | str, names: Iterable[str]) -> list[tuple[int, int]]:
    """Character ranges of the value's letter runs built from the names (the 'chang' and 'r' of chang.r@...)."""
    name_parts = NameParts.of(names)
    spans, position = [], 0
    for part in value_parts(value, pii_type, names):
        for run in _RUN.finditer(part.text) if part.kind == "fixed" else ():
            if run.group().isalpha() and name_parts.derive(run.group()):
                spans.append((position + run.start(), position + run.end()))
        position += len(part.text)
    return spans


def free_positions(value: str, pii_type: PiiType | str, names: Iterable[str] = ()) -> int:
    """How many characters vary between candidates (0 means the format admits no other value)."""
    return sum(len(p.text) for p in value_parts(value, pii_type, names) if p.kind not in _VERBATIM_KINDS)


def has_name_built_part(value: str, pii_type: PiiType | str, names: Iterable[str]) -> bool:
    """Whether some of the value is built from the names (fewer positions vary once they are known)."""
    return free_positions(value, pii_type, names) < free_positions(value, pii_type)


def _in_digits_of(drawn: str, pattern: str) -> str:
    """ASCII digits ``drawn`` written in the digits of ``pattern``'s script ('٠٥٥٥', '०९८')."""
    if pattern.isascii():
        return drawn
    zero = ord(pattern[0]) - unicodedata.decimal(pattern[0])
    return "".join(chr(zero + int(d)) for d in drawn)


def apply_case(word: str, pattern: str) -> str:
    """The word written in the case pattern of ``pattern`` (all caps, lower, Capitalised or mixed)."""
    if pattern.isupper():
        return word.upper()
    if pattern.islower():
        return word.lower()
    if pattern[0].isupper() and pattern[1:].islower():
        return word[:1].upper() + word[1:].lower()
    if len(word) != len(pattern):
        return word[:1].upper() + word[1:].lower() if pattern[:1].isupper() else word.lower()
    return "".join(c.upper() if p.isupper() else c.lower() for c, p in zip(word, pattern))


class WordPool:
    """Real words grouped by length, lower-cased; letter runs of candidates are drawn from it.

    Capitalised runs in PII are mostly proper nouns (the street and city in an address, a name), so
    they draw from the ``proper`` words (written capitalised in the sources: person names, place-name
    parts, capitalised vocabulary tokens); lower-case runs draw from every word.
    """

    def __init__(self, words: Iterable[str], proper: Iterable[str] = (), frequencies: Mapping[str, float] | None = None) -> None:
        self.by_length = self._group(words)
        self.proper_by_length = self._group(proper)
        # how often a proper word is a person's name (Faker's census shares): a capitalised run is drawn by
        # it, so 'Miller' comes up as often among the candidates as among real people, and 'Zuniga' as rarely
        self.frequencies = {w.casefold(): f for w, f in (frequencies or {}).items() if f > 0}
        self._floor = min(self.frequencies.values(), default=1.0)
        self._cumulative: dict[tuple[int, bool], list[float]] = {}

    @staticmethod
    def _group(words: Iterable[str]) -> dict[int, list[str]]:
        by_length: dict[int, set[str]] = {}
        for word in words:
            word = word.strip().casefold()
            if word.isalpha() and word.isascii() and len(word) >= 1:
                by_length.setdefault(len(word), set()).add(word)
        return {n: sorted(ws) for n, ws in by_length.items()}

    def __len__(self) -> int:
        return sum(len(ws) for ws in self.by_length.values())

    def words_of_length(self, length: int, proper: bool = False) -> list[str]:
        if proper:
            words = self.proper_by_length.get(length, [])
            if len(words) >= MIN_POOL_WORDS:
                return words
        words = self.by_length.get(length, [])
        return words if len(words) >= MIN_POOL_WORDS else []

    def pick(self, length: int, proper: bool, rng: random.Random, by_frequency: bool = False) -> str:
        """One word of ``length`` letters; ``by_frequency``, by the words' name frequencies (words that are no
        name count as the rarest name), else uniformly."""
        words = self.words_of_length(length, proper)
        if not by_frequency or not self.frequencies:
            return rng.choice(words)
        key = (length, proper)
        cumulative = self._cumulative.get(key)
        if cumulative is None:
            cumulative = self._cumulative[key] = list(itertools.accumulate(
                self.frequencies.get(w, self._floor) for w in words
            ))
        return rng.choices(words, cum_weights=cumulative)[0]

    @classmethod
    def for_tokenizer(cls, tokenizer: object | None = None) -> WordPool:
        """Faker's word lists plus every word-initial alphabetic token of the tokenizer's vocabulary."""
        vocabulary = _vocabulary_words(tokenizer) if tokenizer is not None else []
        words = _faker_words() + [w.casefold() for w in vocabulary]
        proper = list(_faker_proper_words()) + [w for w in vocabulary if w[:1].isupper()]
        return cls(words, proper, _faker_name_frequencies())


@lru_cache(maxsize=1)
def _faker_proper_words() -> tuple[str, ...]:
    from faker.providers.address.en_US import Provider as AddressProvider
    from faker.providers.person.en_US import Provider as PersonProvider

    words = list(PersonProvider.first_names) + list(PersonProvider.last_names)
    words += list(AddressProvider.street_suffixes) + list(getattr(AddressProvider, "city_suffixes", ()))
    words += list(getattr(AddressProvider, "city_prefixes", ()))
    return tuple(words)


@lru_cache(maxsize=1)
def _faker_name_frequencies() -> dict[str, float]:
    """Faker's US census shares of first and last names (a name that is both keeps the larger share)."""
    from faker.providers.person.en_US import Provider as PersonProvider

    shares: dict[str, float] = {}
    for table in (PersonProvider.first_names, PersonProvider.last_names):
        for name, share in table.items() if isinstance(table, Mapping) else ():  # older Faker: plain tuples
            key = name.casefold()
            shares[key] = max(shares.get(key, 0.0), float(share))
    return shares


@lru_cache(maxsize=1)
def _faker_words_cached() -> tuple[str, ...]:
    from faker.providers.lorem.en_US import Provider as LoremProvider

    return (*_faker_proper_words(), *LoremProvider.word_list)


def _faker_words() -> list[str]:
    return list(_faker_words_cached())


def _vocabulary_words(tokenizer: object) -> list[str]:
    vocab = getattr(tokenizer, "get_vocab", dict)()
    words = []
    for token in vocab:
        if token[:1] in WORD_START_MARKS:
            word = token[1:]
            if len(word) >= 2 and word.isalpha() and word.isascii():
                words.append(word)
    return words


class CandidateSampler:
    """Draws distinct same-format candidates for a value, reproducibly from a seed."""

    def __init__(self, pool: WordPool, tokenizer: object | None = None) -> None:
        self.pool = pool
        self._tokenizer = tokenizer

    @cached_property
    def alphabets(self) -> Alphabets:
        """Other scripts' letters and words, read from the vocabulary on the first value that needs them."""
        return Alphabets(self._tokenizer)

    def _splits(self, length: int) -> list[tuple[int, int]]:
        return [
            (k, length - k) for k in range(3, length - 2)
            if self.pool.words_of_length(k) and self.pool.words_of_length(length - k)
        ]

    def _part_space(self, part: Part, compose: bool) -> float:
        n = len(part.text)
        if part.kind in DATE_RANGES:
            low, high = DATE_RANGES[part.kind]
            return float(high - low + 1)
        if part.kind == "weekday_name":
            return 1.0  # told by the date it leads
        if part.kind in _NAMED_DATE_PARTS:
            return float(len(_names_of(part)))
        if part.kind == "ordinal":
            return 1.0  # told by the day
        if part.kind == "digits":
            return (9 if unicodedata.decimal(part.text[0]) else 10) * 10.0 ** (n - 1)
        if part.kind in _VERBATIM_KINDS:
            return 1.0
        if not is_latin(part.text):
            return self.alphabets.space(part.text, compose)
        words = len(self.pool.words_of_length(n, part.text[:1].isupper()))
        if not compose:
            return float(words or 26.0**n)
        return 26.0**n + words + sum(len(self.pool.words_of_length(a)) * len(self.pool.words_of_length(b)) for a, b in self._splits(n))

    def space(self, parts: list[Part], compose: bool = False) -> float:
        """Number of distinct candidates the format admits under the chosen rules (an upper bound)."""
        total = 1.0
        for part in parts:
            total *= self._part_space(part, compose)
        return total

    def _letters(self, pattern: str, rng: random.Random, compose: bool) -> str:
        if not is_latin(pattern):  # Cyrillic, Greek, CJK...: drawn from that script (workers.verify.alphabets)
            return apply_case(self.alphabets.draw(pattern, rng, compose), pattern)
        proper = pattern[:1].isupper()
        words = self.pool.words_of_length(len(pattern), proper)
        forms = ["word"] if words else []
        if compose or not words:
            forms.append("letters")
        # glued words ('Gonzalezton', 'jsmith') are as common in PII as single ones once a run is long
        splits = self._splits(len(pattern)) if compose or len(pattern) >= COMPOUND_MIN_LENGTH else []
        if splits:
            forms.append("compound")
        form = rng.choice(forms)
        # a Capitalised run (a name, a street or town named after one) by how common the names are; an
        # all-caps code ('XQZ') or a lower-case run uniformly
        named = proper and not pattern.isupper()
        if form == "word":
            word = self.pool.pick(len(pattern), proper, rng, by_frequency=named)
        elif form == "compound":
            a, b = rng.choice(splits)
            word = self.pool.pick(a, proper, rng, by_frequency=named) + rng.choice(self.pool.words_of_length(b))
        else:
            word = "".join(rng.choice(string.ascii_lowercase) for _ in pattern)
        return apply_case(word, pattern)

    @staticmethod
    def _digits(pattern: str, rng: random.Random) -> str:
        """Digits in the pattern's own script (its zero is the first digit's code point minus its value)."""
        first = rng.choice("123456789") if unicodedata.decimal(pattern[0]) else rng.choice(string.digits)
        return _in_digits_of(first + "".join(rng.choice(string.digits) for _ in pattern[1:]), pattern)

    @staticmethod
    def _named(part: Part, index: int) -> str:
        """The month or weekday ``index`` of the part's own list, written as ``part`` writes its own: a whole
        name ('March', 'May', 'Tuesday', 'März') whole, an English short form ('Mar', 'Sept', 'Tue') short,
        in the part's case."""
        names = _names_of(part)
        name = names[index]
        stem = part.text.rstrip(".")
        if stem.casefold() in names:
            word = name
        else:
            word = "sept" if (name, stem.casefold()) == ("september", "sept") else name[:3]
        return apply_case(word, stem) + part.text[len(stem):]

    @classmethod
    def _date_part(cls, part: Part, rng: random.Random, padded: bool) -> tuple[str, int]:
        """A drawn date part: its text and its number (a month's name: 1 to 12)."""
        if part.kind in _NAMED_DATE_PARTS:
            index = rng.randrange(len(_names_of(part)))
            return cls._named(part, index), index + 1
        low, high = DATE_RANGES[part.kind]
        number = rng.randint(low, high)
        return _in_digits_of(f"{number:02d}" if padded and len(part.text) == 2 else str(number), part.text), number

    @classmethod
    def _weekday_of(cls, part: Part, drawn: dict[str, list[int]], rng: random.Random) -> str:
        """A weekday's name that agrees with the drawn date ('Tuesday, October 28, 2017' is no date: that day
        was a Saturday, and every candidate that contradicts itself would rank below the true value); drawn at
        random where the parts do not tell the date (a numeric date whose day and month both read as months)
        or the name is not English (Faker's locales do not agree on which day their lists start with)."""
        months = drawn.get("month", []) + drawn.get("month_name", [])
        told = len(drawn.get("year", [])) == 1 and len(drawn.get("day", [])) == 1 and len(months) == 1
        if told and _names_of(part) == WEEKDAY_NAMES:
            weekday = datetime.date(drawn["year"][0], months[0], drawn["day"][0]).weekday()
        else:
            weekday = rng.randrange(len(_names_of(part)))
        return cls._named(part, weekday)

    @staticmethod
    def _ordinal_of(part: Part, drawn: dict[str, list[int]]) -> str:
        """An English ordinal ending that agrees with the drawn day ('21st', not '21th'), in the part's case."""
        days = drawn.get("day", [])
        return apply_case(english_ordinal(days[0]), part.text) if len(days) == 1 else part.text

    @staticmethod
    def _pads_dates(parts: list[Part]) -> bool:
        """Whether the value writes days and months with two digits ('03'): told by a leading zero, or, where
        none has one, in a numeric date, by none being written with one digit ('March 12' says nothing: a
        month's name is rarely followed by '09')."""
        small = [p.text for p in parts if p.kind in ("month", "day")]
        if any(unicodedata.decimal(t[0]) == 0 for t in small):
            return True
        return not any(p.kind in ("month_name", "month_word") for p in parts) and not any(len(t) == 1 for t in small)

    def one(self, parts: list[Part], rng: random.Random, compose: bool = False) -> str:
        out = []
        padded = self._pads_dates(parts)
        drawn: dict[str, list[int]] = {}  # a date's drawn numbers by part kind
        told: list[int] = []  # where a weekday's name or an ordinal ending goes, filled once the date is drawn
        for part in parts:
            if part.kind in ("weekday_name", "ordinal"):
                told.append(len(out))
                out.append("")
            elif part.kind in DATE_RANGES or part.kind in _NAMED_DATE_PARTS:
                text, number = self._date_part(part, rng, padded)
                drawn.setdefault(part.kind, []).append(number)
                out.append(text)
            elif part.kind == "digits":
                out.append(self._digits(part.text, rng))
            elif part.kind == "letters":
                out.append(self._letters(part.text, rng, compose))
            else:
                out.append(part.text)
        for at in told:
            part = parts[at]
            out[at] = self._weekday_of(part, drawn, rng) if part.kind == "weekday_name" else self._ordinal_of(part, drawn)
        return "".join(out)

    def sample(
        self, value: str, pii_type: PiiType | str, count: int, seed: int, exclude: Iterable[str] = (),
        names: Iterable[str] = (),
    ) -> list[str]:
        """Up to ``count`` distinct candidates, never equal (after normalisation) to the value or ``exclude``.

        ``names`` are the subject's name and aliases: the parts of the value built from them stay fixed.

        Word parts are single pool words; only when that leaves too few distinct values (a short e-mail
        local part) are two-word compounds ('annford') and random letters mixed in. The space is counted as if
        every word were equally likely, but names are drawn by frequency, which repeats the common ones: when
        the single words run dry before ``count`` (near the switch), the rest are drawn with compounds too.
        Fewer than ``count`` are returned only when the format's space is too small; the caller reports the
        real count.
        """
        parts = value_parts(value, pii_type, names)
        rng = random.Random(seed)
        taken = {normalise(value, pii_type)} | {normalise(v, pii_type) for v in exclude}
        out: list[str] = []
        first = self.space(parts) < 2 * count
        for compose in (first,) if first else (False, True):
            attempts = 0
            max_attempts = (count - len(out)) * 4 + 100
            while len(out) < count and attempts < max_attempts:
                attempts += 1
                candidate = self.one(parts, rng, compose)
                key = normalise(candidate, pii_type)
                if key not in taken:
                    taken.add(key)
                    out.append(candidate)
        return out


_SAMPLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sampler_for(tokenizer: object) -> CandidateSampler:
    """The candidate sampler of a tokenizer's word pool, built once per tokenizer: the pool scans the whole
    vocabulary, and the gate and each of the engine's checks would otherwise repeat that scan."""
    try:
        sampler = _SAMPLERS.get(tokenizer)
    except TypeError:  # an object that cannot be weakly referenced: no cache
        return CandidateSampler(WordPool.for_tokenizer(tokenizer), tokenizer)
    if sampler is None:
        sampler = _SAMPLERS[tokenizer] = CandidateSampler(WordPool.for_tokenizer(tokenizer), tokenizer)
    return sampler
