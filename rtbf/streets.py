"""Street addresses as the rest of the world writes them: 'Hauptstraße 12', '8, rue Jeanne Henry',
'Via Roma, 59', 'ul. Leśna 74/39', 'Storgatan 77', 'пер. Светлый, д. 2'.

The US recogniser in ``rtbf.pii`` wants a house number, capitalised words and an English street suffix
('221B Baker Street'). Across Faker's other locales it found none of 200 addresses for German, French,
Spanish, Italian, Dutch, Brazilian, Polish, Swedish or Russian: there the street type comes first ('Via',
'Calle', 'ulica', 'ул.'), or is glued to the name as an ending ('-straße', '-straat', '-gatan'), and the
number follows the name. A missed address is one the editors neither weight nor hold, and one the
template miner takes for ordinary wording.

The street types are those Faker lists for its locales, read once, but the English-speaking ones':
'Park', 'Point', 'Gate' or 'Route' before a number is mostly no street ('Gate 12', 'Route 66'), and the
US pattern covers how those locales write. A locale's types are prefixes or suffixes as its street-name
formats place them; a locale whose formats glue the suffix to the name ('{{first_name}}{{street_suffix}}')
gives endings, of five letters or more ('lia', 'ring' and 'gade' end 'Julia', 'During' and 'Brigade'),
plus a few short built-in ones ('weg', 'laan', 'vej', 'str.'), and a few that count only after a stem of
five letters or more ('Blegdamsgade', 'Porkkalantie'). The shapes recognised, the number being '12',
'47-26', '74/39', '12a', 'No. 5', 'д. 2', optionally with a unit after it ('Apt. 80', 'к. 770'):

* a prefix, one to four name words (at least one capitalised; particles such as 'de' and 'van' between),
  then the number: 'Calle de Desiderio Valbuena 77', 'Via Roma, 59';
* a capitalised word that ends in a glued type, or a hyphenated name ending in a suffix, then the number:
  'Thomstraat 7', 'Mentzelstr. 32', 'Utz-Sölzer-Ring 9';
* one capitalised word on the same line, a suffix, then the number: 'Berliner Straße 12';
* a number, a comma or not, then a type and name words: '8, rue Jeanne Henry'.

A name never reaches across a comma, a sentence's end or a line break, and a number that reads as a year
(1900-2099) is no house number here ('Spring 2020'). Without Faker (the gateway's install) only the
built-in types are known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from rtbf.faker_locales import listed, locale_providers

_BUILT_IN_PREFIXES = ("Via", "Viale", "Piazza", "Calle", "Avenida", "Rua", "rue", "avenue", "boulevard", "chemin",
                      "place", "ulica", "ul.", "aleja", "al.", "plac", "pl.", "os.", "ул.", "пер.", "пр.", "бул.", "ш.",
                      "наб.", "алл.",
                      "вулиця", "вул.", "провулок", "пров.", "проспект", "просп.", "площа", "бульвар", "набережна")
_BUILT_IN_SUFFIXES = ("Straße", "Strasse", "Str.", "Weg", "Platz", "Allee", "Gasse", "Ring", "Damm", "Ufer")
_BUILT_IN_ENDINGS = ("straße", "strasse", "str.", "weg", "platz", "allee", "gasse", "straat", "laan", "baan",
                     "gracht", "plein", "gatan", "vägen", "vej", "veien", "gata")
_PREFIX_LISTS = ("street_prefixes", "street_prefixes_long", "street_prefixes_short", "street_prefixes_feminine",
                 "street_prefixes_masculine")
_SUFFIX_LISTS = ("street_suffixes", "street_suffixes_long", "street_suffixes_short", "street_suffixes_fem",
                 "street_suffixes_masc", "street_suffixes_neu")
# English-speaking locales write '221B Baker Street' (the US pattern of rtbf.pii); their suffixes ('Park',
# 'Point', 'Route', 'Gate') before a number are mostly no street ('Gate 12', 'Route 66'). en_MS lists place
# names ('Ampang', 'Davis') as suffixes.
_SKIPPED_LOCALES = ("en", "fr_CA")
_PARTICLES = r"(?:de|del|della|delle|di|du|des|da|do|dos|das|la|le|los|las|van|von|der|den|het|el)"
_MIN_ENDING_LETTERS = 5  # Faker's shorter glued endings ('lia', 'hof', 'ring', 'gade') end ordinary words too
# ('Julia', 'During', 'Brigade'); the built-in short ones ('weg', 'laan', 'vej') rarely do
# Short endings that name a street only after a long stem: Danish 'Blegdamsgade', Finnish 'Porkkalantie' and
# 'Aleksanterinkatu', Norwegian 'Drammensvei'. 'Brigade' and 'Auntie' have stems of three or four letters.
# Finnish streets are named in the genitive ('Porkkalan-', 'Osuuskunnan-'): their stem ends in 'n' or a vowel,
# which 'Christie' does not.
_LONG_STEM_ENDINGS = r"[^\W\d_]{5}(?:gade|vei)|[^\W\d_]{4}[naeiouyäö](?:tie|katu|kuja)"


@dataclass(frozen=True)
class StreetTypes:
    prefixes: frozenset[str]  # written before the name: 'Via', 'rue', 'ul.'
    suffixes: frozenset[str]  # written after it as a word: 'Straße' in 'Berliner Straße'
    endings: frozenset[str]  # glued to it: 'straat' in 'Thomstraat'

    @cached_property
    def ending_pattern(self) -> re.Pattern[str]:
        alternatives = "|".join(re.escape(e.rstrip(".")) for e in sorted(self.endings, key=len, reverse=True))
        return re.compile(rf"(?:(?:[^\W\d_]{{2}}|-)(?:{alternatives})|{_LONG_STEM_ENDINGS})$")


def _listed(provider: type, names: tuple[str, ...]) -> set[str]:
    out = {word.strip() for name in names for word in listed(provider, name)}
    return {e for e in out if sum(c.isalpha() for c in e) >= 2 and "{" not in e}


@lru_cache(maxsize=1)
def street_types() -> StreetTypes:
    """The street types of Faker's non-English locales, plus built-in ones: prefixes, suffixes (a suffix that
    a locale's formats write first, '{{street_suffix}} {{last_name}}', is a prefix too) and glued endings
    (from locales whose formats glue the suffix to the name, '{{first_name}}{{street_suffix}}')."""
    prefixes, suffixes, endings = set(_BUILT_IN_PREFIXES), set(_BUILT_IN_SUFFIXES), set(_BUILT_IN_ENDINGS)
    providers = locale_providers("address")
    # many locales keep the English 'Street' as a placeholder suffix
    english = frozenset(word for locale, provider in providers if locale == "en_US"
                        for word in listed(provider, "street_suffixes"))
    for locale, provider in providers:
        if locale.startswith(_SKIPPED_LOCALES):
            continue
        prefixes |= _listed(provider, _PREFIX_LISTS)
        locale_suffixes = _listed(provider, _SUFFIX_LISTS) - english
        formats = " ".join(getattr(provider, "street_name_formats", ()))
        if re.search(r"\}\}\{\{street_suffix", formats):  # '{{first_name}}{{street_suffix}}': glued
            endings |= {e.lower() for e in locale_suffixes if e.isalpha() and len(e) >= _MIN_ENDING_LETTERS}
        if re.search(r"\{\{street_suffix\w*\}\} ", formats):  # '{{street_suffix}} {{last_name}}': first
            prefixes |= locale_suffixes
        suffixes |= {e for e in locale_suffixes if e[:1].isupper()}
    return StreetTypes(frozenset(prefixes), frozenset(suffixes), frozenset(endings))


_TOKEN = re.compile(r"\S+")
_OPENING = "([\"'„“«‚‘"
_CLOSING = ",;:)]\"'”“»’!?"
_MARKS = r"(?:д|буд|No|Nr|nº|n°|n|#)"
_NUMBER = re.compile(rf"(?:{_MARKS}\.?)?(\d{{1,5}}(?:[/-]\d{{1,4}})?[^\W\d_]?)")
_HOUSE_MARK = re.compile(rf"{_MARKS}\.?")
_MAX_NAME_WORDS = 4
_UNITS = frozenset({"apt", "apartment", "suite", "unit", "flat", "piso", "puerta", "appartamento", "interno", "scala",
                    "piano", "app", "bte", "wohnung", "whg", "lok", "m", "к", "кв", "стр", "корп"})


@dataclass(frozen=True)
class _Token:
    start: int
    end: int  # of the core: opening and closing punctuation off
    core: str
    closed: bool  # punctuation after it (a comma or a full stop ends a street's name)
    sentence_end: bool


def _tokens(text: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(text):
        raw = m.group()
        lead = len(raw) - len(raw.lstrip(_OPENING))
        core = raw[lead:]
        # a full stop ends a sentence unless it is an abbreviation's ('ul.', 'Str.'): kept on the core when
        # the token is a known type, else taken off with the closing punctuation
        while core and (core[-1] in _CLOSING or (core[-1] == "." and core not in _abbreviations())):
            core = core[:-1]
        tail = raw[lead + len(core):]
        out.append(_Token(m.start() + lead, m.start() + lead + len(core), core, bool(tail), bool(set(tail) & set(".!?"))))
    return out


@lru_cache(maxsize=1)
def _abbreviations() -> frozenset[str]:
    types = street_types()
    return frozenset(t for t in types.prefixes | types.suffixes if t.endswith("."))


def _house(token: _Token) -> bool:
    """A house number ('12', '47-26', '74/39', '12a', 'No.5'), not a year (1900-2099)."""
    match = _NUMBER.fullmatch(token.core)
    if match is None:
        return False
    digits = re.split(r"[/-]", match.group(1))[0].rstrip("abcdefghijklmnopqrstuvwxyz")
    return not (len(digits) == 4 and digits[:2] in ("19", "20"))


def _capitalised(token: _Token) -> bool:
    first = token.core[:1]
    return first.isalpha() and not first.islower()


def _name_word(token: _Token) -> bool:
    """A word of a street's name: capitalised (or of a script without case), or a particle ('de', 'van')."""
    return _capitalised(token) or re.fullmatch(_PARTICLES, token.core) is not None


def street_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the addresses in ``text`` written in the shapes of the module docstring."""
    types = street_types()
    tokens = _tokens(text)
    spans: list[tuple[int, int]] = []

    def house_at(j: int) -> int | None:
        """The index of the house number's last token from ``j`` on ('д. 2', '10 Apt. 80'), or None."""
        if j < len(tokens) and _HOUSE_MARK.fullmatch(tokens[j].core) and j + 1 < len(tokens):
            j += 1
        if j >= len(tokens) or not _house(tokens[j]):
            return None
        unit = j + 1
        if unit + 1 < len(tokens) and tokens[unit].core.rstrip(".").casefold() in _UNITS and _house(tokens[unit + 1]):
            return unit + 1
        return j

    def name_after(i: int) -> int:
        """Index past the street's name words after token ``i`` (at least one capitalised, else ``i + 1``)."""
        j = i + 1
        while j < len(tokens) and j - i <= _MAX_NAME_WORDS and _name_word(tokens[j]) and not tokens[j - 1].closed:
            j += 1
        return j if any(_capitalised(t) for t in tokens[i + 1 : j]) else i + 1

    for i, token in enumerate(tokens):
        core = token.core
        if core in types.prefixes and not token.closed:
            # 'Via Roma, 59', 'ul. Leśna 74/39', 'пер. Светлый, д. 2'
            j = name_after(i)
            end = house_at(j) if j > i + 1 else None
            if end is not None:
                spans.append((token.start, tokens[end].end))
                continue
        glued = types.ending_pattern.search(core.lower()) or ("-" in core and core.rsplit("-", 1)[1] in types.suffixes)
        abbreviated = glued and any(f"{core.lower()}.".endswith(e) for e in types.endings if e.endswith("."))
        if _capitalised(token) and glued and core not in types.suffixes:
            # 'Mentzelstr. 3287': the full stop of an abbreviated ending is no sentence's end
            end = house_at(i + 1) if abbreviated or not token.sentence_end else None
            if end is not None:  # 'Thomstraat 7', 'Jens-Drubin-Straße 47-26'
                spans.append((token.start, tokens[end].end))
                continue
        if core in types.suffixes and i > 0 and not token.sentence_end:
            before = tokens[i - 1]
            same_line = "\n" not in text[before.end : token.start]
            end = house_at(i + 1)
            if end is not None and same_line and _capitalised(before) and not before.closed:
                spans.append((before.start, tokens[end].end))  # 'Berliner Straße 12'
                continue
        if i > 0 and _house(tokens[i - 1]) and core in types.prefixes | types.suffixes and not token.closed:
            j = name_after(i)  # '8, rue Jeanne Henry'
            if j > i + 1:
                spans.append((tokens[i - 1].start, tokens[j - 1].end))
    return list(dict.fromkeys(spans))
