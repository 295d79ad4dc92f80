"""Street addresses as the rest of the world writes them: 'Hauptstraße 12', '8, rue Jeanne Henry',
'Via Roma, 59', 'ul. Leśna 74/39', 'Storgatan 77', 'пер. Светлый, д. 2'.

The US recogniser in ``rtbf.pii`` wants a house number, capitalised words and an English street suffix
('221B Baker Street'). Across Faker's other locales it found none of 200 addresses for German, French,
Spanish, Italian, Dutch, Brazilian, Polish, Swedish or Russian: there the street type comes first ('Via',
'Calle', 'ulica', 'ул.'), or is glued to the name as an ending ('-straße', '-straat', '-gatan'), and the
number follows the name. A missed address is one the editors neither weight nor hold, and one the
template miner takes for ordinary wording.

The street types are the ones Faker lists for all its locales (prefixes, suffixes, long and short
forms), read once; entries that a locale writes in lower case and glued ('gatan', 'laan', 'straße') also
count as a word's ending. The shapes recognised, the number being '12', '47-26', '74/39', '12a', 'No. 5',
'д. 2':

* type, then one to four words, then the number: 'Calle de Desiderio Valbuena 77', 'Via Roma, 59';
* one to four words the last of which is a type or ends in one, then the number: 'Thomstraat 7',
  'Jens-Drubin-Straße 47-26';
* a number, a comma or not, then a type and one to four words: '8, rue Jeanne Henry'.

A number that reads as a year (1900-2099) is no house number here: 'Spring 2020' is a season.
Without Faker (the gateway's install), only the built-in types are known.
"""

from __future__ import annotations

import re
from functools import lru_cache

_BUILT_IN = ("Straße", "Strasse", "str.", "Weg", "Platz", "Allee", "Gasse", "Via", "Viale", "Piazza", "Calle", "Avenida",
             "Rua", "rue", "avenue", "boulevard", "chemin", "place", "ulica", "ul.", "aleja", "al.", "plac", "straat",
             "laan", "gracht", "plein", "gatan", "vägen", "vej", "gade", "pl.", "os.", "ул.", "пер.", "пр.", "бул.", "ш.",
             "вулиця", "вул.", "провулок", "пров.", "проспект", "просп.", "площа", "бульвар", "набережна")
_TYPE_LISTS = ("street_prefixes", "street_suffixes", "street_suffixes_long", "street_suffixes_short",
               "street_prefixes_long", "street_prefixes_short", "street_prefixes_feminine", "street_prefixes_masculine",
               "street_suffixes_fem", "street_suffixes_masc", "street_suffixes_neu")
# locales whose "suffix" lists hold place names ('Ampang', 'Bangsar', 'Davis'), not street types
_NOT_TYPE_LISTS = frozenset({"en_MS"})
_PARTICLES = r"(?:de|del|della|delle|di|du|des|da|do|dos|das|la|le|los|las|van|von|der|den|het|el)"


@lru_cache(maxsize=1)
def street_types() -> tuple[frozenset[str], frozenset[str]]:
    """(standalone types, glued endings) of every Faker locale, plus the built-in ones."""
    entries: set[str] = set(_BUILT_IN)
    try:
        import importlib
        import pkgutil

        from faker.providers import address
    except ImportError:  # the gateway's install: no Faker
        address = None
    if address is not None:
        for module in pkgutil.iter_modules(address.__path__):
            if module.name in _NOT_TYPE_LISTS:
                continue
            try:
                provider = importlib.import_module(f"{address.__name__}.{module.name}").Provider
            except (ImportError, AttributeError):
                continue
            for name in _TYPE_LISTS:
                listed = getattr(provider, name, ())
                entries.update(str(e).strip() for e in (listed.keys() if isinstance(listed, dict) else listed))
    standalone = frozenset(e for e in entries if e and not e[0].isdigit())
    glued = frozenset(e.lower() for e in standalone if e[:1].islower() and e.rstrip(".").isalpha() and len(e) >= 3)
    return standalone, glued


_TOKEN = re.compile(r"\S+")
_MARKS = r"(?:д|буд|No|Nr|nº|n°|n|#)"
_NUMBER = re.compile(rf"(?:{_MARKS}\.?)?(\d{{1,5}}(?:[/-]\d{{1,4}})?[^\W\d_]?)[,.;:)]*")
_HOUSE_MARK = re.compile(rf"{_MARKS}\.?")
_MAX_NAME_WORDS = 4
_UNITS = frozenset({"apt", "apartment", "suite", "unit", "flat", "piso", "puerta", "appartamento", "interno", "scala",
                    "piano", "app", "bte", "wohnung", "whg", "lok", "m", "к", "кв", "стр", "корп"})


def _core(token: str) -> str:
    return token.rstrip(",;:)")


def _is_type(token: str, standalone: frozenset[str], glued: frozenset[str], ending_ok: bool) -> bool:
    core = _core(token)
    if core in standalone or core.rstrip(".") in standalone:
        return True
    return ending_ok and _endings(glued).search(core.rstrip(".").lower()) is not None


@lru_cache(maxsize=2)
def _endings(glued: frozenset[str]) -> re.Pattern[str]:
    """A word that ends in a glued type after at least two letters of its own ('Thom' + 'straat')."""
    alternatives = "|".join(re.escape(e.rstrip(".")) for e in sorted(glued, key=len, reverse=True))
    return re.compile(rf"(?:[^\W\d_]{{2}}|-)(?:{alternatives})$")


def _house(token: str) -> bool:
    """A house number ('12', '47-26', '74/39', '12a', 'No.5'), not a year."""
    match = _NUMBER.fullmatch(token)
    if match is None:
        return False
    digits = match.group(1).split("/")[0].split("-")[0].rstrip("abcdefghijklmnopqrstuvwxyz")
    return not (len(digits) == 4 and digits[:2] in ("19", "20"))


def _name_word(token: str) -> bool:
    """A word of a street's name: capitalised (or of a script without case), or a particle ('de', 'van')."""
    core = _core(token).rstrip(".")
    if not core or not core[0].isalpha():
        return False
    return not core[0].islower() or re.fullmatch(_PARTICLES, core) is not None


def street_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the addresses in ``text`` written in the shapes of the module docstring."""
    standalone, glued = street_types()
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    spans: list[tuple[int, int]] = []

    def end_of(token_index: int) -> int:
        start, _, token = tokens[token_index]
        return start + len(token.rstrip(",;:)."))

    def with_unit(j: int) -> int:
        """The house number's token, or the unit's number after it ('10 Apt. 80', 'д. 7/4 к. 770')."""
        if j + 2 < len(tokens) and _core(tokens[j + 1][2]).rstrip(".").casefold() in _UNITS and _house(tokens[j + 2][2]):
            return j + 2
        return j

    for i, (start, _, token) in enumerate(tokens):
        if not _is_type(token, standalone, glued, ending_ok=True):
            continue
        # the number: after the type and up to four name words ('Via Roma, 59'), or right after the type
        # ('Thomstraat 7', 'Straße 12'), possibly after a house mark ('д. 2', 'No. 5')
        j = i + 1
        while j < len(tokens) and j - i <= _MAX_NAME_WORDS and _name_word(tokens[j][2]) and not _house(tokens[j][2]):
            if _core(tokens[j][2]) != tokens[j][2]:  # a comma after the word ends the name
                j += 1
                break
            j += 1
        if j < len(tokens) and _HOUSE_MARK.fullmatch(tokens[j][2]) and j + 1 < len(tokens):
            j += 1
        if j < len(tokens) and _house(tokens[j][2]):
            first = i
            while first > 0 and i - first < _MAX_NAME_WORDS - 1 and _name_word(tokens[first - 1][2]) \
                    and _core(tokens[first - 1][2]) == tokens[first - 1][2]:
                first -= 1
            spans.append((tokens[first][0], end_of(with_unit(j))))
            continue
        # '8, rue Jeanne Henry': a number before the type, name words after it
        if i > 0 and _house(tokens[i - 1][2]):
            j = i + 1
            while j < len(tokens) and j - i <= _MAX_NAME_WORDS and _name_word(tokens[j][2]):
                j += 1
                if _core(tokens[j - 1][2]).rstrip(".") != tokens[j - 1][2]:
                    break
            if j > i + 1:
                spans.append((tokens[i - 1][0], end_of(j - 1)))
    return spans
