"""PII helpers shared by the gateway, the engine and the gate: normalise, hash, recognise.

Normalisation decides what counts as the same value in generated text (a phone number printed with other
separators is still the phone number). Hashes stand in for values everywhere PII must not appear (logs,
reports, certificates). Recognisers are offline regular expressions that flag PII-looking tokens the
request did not name, so the FPGA editor can weight them as sensitive.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

from rtbf.request import PiiType
from rtbf.scripts import spaced_word_char
from rtbf.streets import street_spans

_DIGITS_ONLY = {PiiType.phone, PiiType.id}


def normalise(text: str, pii_type: PiiType | str) -> str:
    """Canonical form used to decide whether generated text contains a value.

    phone / id: digits (and letters, for alphanumeric IDs) only; email: case-folded, no spaces;
    everything else: NFKC, case-folded, whitespace folded to single spaces, punctuation around words kept.
    """
    t = PiiType(pii_type)
    text = ascii_digits(unicodedata.normalize("NFKC", text))
    if t in _DIGITS_ONLY:
        return re.sub(r"[^0-9A-Za-z]", "", text).casefold()
    if t is PiiType.email:
        return re.sub(r"\s+", "", text).casefold()
    return re.sub(r"\s+", " ", text).strip().casefold()


_NATIONAL_MIN_DIGITS = 6


def ascii_digits(text: str) -> str:
    """Decimal digits of every script as ASCII ('٠٥٥٥' is '0555'): NFKC leaves Arabic-Indic or Devanagari
    digits as they are, and a number written in them would otherwise normalise to nothing."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text)


def value_needles(value: str, pii_type: PiiType | str) -> list[str]:
    """The normal forms whose presence in a text means the value is there.

    The normalised value itself, and for a phone number written with its country code ('+1 977 630 0663',
    '+14155550199', '0044 20 7946 0958', '+44 (0)20 7946 0958') also the number without it: text about the
    person usually gives the national form, '(977) 630-0663' or '020 7946 0958', which the full normal form
    would not match. Where the code ends is the numbering plan's business, not the separators'
    (``phonenumbers``); a number it cannot parse falls back to the first digit group after the '+' or '00'.
    """
    needle = normalise(value, pii_type)
    needles = [needle] if needle else []
    if PiiType(pii_type) is PiiType.phone:
        national = _national_number(unicodedata.normalize("NFKC", value).strip())
        if national and len(national) >= _NATIONAL_MIN_DIGITS and national not in needles:
            needles.append(national)
    return needles


def international_form(text: str) -> str | None:
    """A number written with its country code ('+44 ...', '0044 ...') as ``phonenumbers`` parses it ('+44 ...'),
    or None for a number without one."""
    if not text.startswith(("+", "00")):
        return None
    return "+" + text.removeprefix("00") if text.startswith("00") else text


def _national_number(text: str) -> str | None:
    """The digits after the country code of a number written with one ('+' or '00' first), else None."""
    international = international_form(text)
    if international is None:
        return None
    try:
        return str(phonenumbers.parse(international, None).national_number)
    except phonenumbers.NumberParseException:
        groups = re.findall(r"[0-9]+", text)
        rest = groups[2:] if text.startswith("00") and groups[0] == "00" else groups[1:]
        return "".join(rest) or None


def contains_value(generated: str, value: str, pii_type: PiiType | str) -> bool:
    """True when the value occurs in the generated text, up to normalisation (``value_needles``).

    Outside phone and ID numbers and e-mail addresses (whose normal forms drop separators or spaces), a value
    counts only where it stands as written, not inside a longer word or number: the name 'Li' is not in
    'Lisa', the value '42' not in '1942' (``stands_whole``).
    """
    needles = value_needles(value, pii_type)
    if not needles:
        return False
    haystack = normalise(generated, pii_type)
    whole = matches_whole_words(pii_type)
    for needle in needles:
        start = haystack.find(needle)
        while start != -1:
            if not whole or stands_whole(haystack, start, start + len(needle)):
                return True
            start = haystack.find(needle, start + 1)
    return False


def matches_whole_words(pii_type: PiiType | str) -> bool:
    """Whether a value of this type must stand as a whole word: not phone and ID numbers, compared as runs of
    digits and letters with the separators dropped, nor e-mail addresses, whose normal form drops spaces."""
    return PiiType(pii_type) not in (PiiType.phone, PiiType.id, PiiType.email)


def stands_whole(haystack: str, start: int, end: int) -> bool:
    """Whether ``haystack[start:end]`` is not glued to a longer word or number: no word character before it,
    nor after it where it is one word or ends in a digit (a value of several words may run on into a longer
    last word: '12 Elm St' in '12 Elm Street' reveals the address)."""
    found = haystack[start:end]
    if not found:
        return False
    if spaced_word_char(found[0]) and start > 0 and spaced_word_char(haystack[start - 1]):
        return False
    glued_end = found[-1].isdigit() or (found[-1].isalnum() and not any(c.isspace() for c in found))
    return not (glued_end and spaced_word_char(found[-1]) and end < len(haystack) and spaced_word_char(haystack[end]))


def longest_ordered_fraction(generated: str, value: str, pii_type: PiiType | str) -> float:
    """Share of the value's characters that appear in order as one contiguous run (partial leak measure).

    Phone and ID numbers compare digits only, so '555 12' leaks 5 of the digits of '555-1234'. The run must
    start at the value's beginning or anywhere inside it; the longest common substring is what counts.
    """
    a = normalise(value, pii_type)
    b = normalise(generated, pii_type)
    if not a or not b:
        return 0.0
    # longest common substring, O(len(a) * len(b)); both are short
    best = 0
    prev = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        cur = [0] * (len(b) + 1)
        ai = a[i - 1]
        for j in range(1, len(b) + 1):
            if ai == b[j - 1]:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best / len(a)


def pii_hash(value: str, salt: str, pii_type: PiiType | str | None = None) -> str:
    """Salted HMAC-SHA256 of the normalised value: stable for duplicate detection, useless without the salt."""
    norm = normalise(value, pii_type) if pii_type is not None else value
    digest = hmac.new(salt.encode(), norm.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:32]}"


@dataclass(frozen=True)
class Recognised:
    start: int
    end: int
    type: PiiType


# Street-name suffixes: the USPS Publication 28 standard suffixes and their common abbreviations, plus the
# usual British and continental ones. With only the twenty most familiar ('Street', 'Road', ...) the
# recogniser found 5 of the 32 addresses of a Faker-built population ('Barton Station', 'Keller Squares',
# 'Jones Cliffs' were missed), and a missed address is one the editors neither weight nor hold.
_STREET_SUFFIXES: tuple[str, ...] = (
    "Alley", "Aly", "Annex", "Arcade", "Avenue", "Ave", "Bayou", "Beach", "Bend", "Bluff", "Bottom", "Boulevard",
    "Blvd", "Branch", "Bridge", "Brook", "Burg", "Bypass", "Camp", "Canyon", "Cape", "Causeway", "Center", "Centre",
    "Circle", "Cir", "Cliff", "Club", "Common", "Corner", "Course", "Court", "Ct", "Cove", "Creek", "Crescent",
    "Crest", "Crossing", "Crossroad", "Curve", "Dale", "Dam", "Divide", "Drive", "Dr", "Estate", "Expressway",
    "Extension", "Fall", "Ferry", "Field", "Flat", "Ford", "Forest", "Forge", "Fork", "Fort", "Freeway", "Garden",
    "Gateway", "Glen", "Green", "Grove", "Harbor", "Harbour", "Haven", "Heights", "Highway", "Hwy", "Hill", "Hollow",
    "Inlet", "Island", "Isle", "Junction", "Key", "Knoll", "Lake", "Land", "Landing", "Lane", "Ln", "Light", "Loaf",
    "Lock", "Lodge", "Loop", "Mall", "Manor", "Meadow", "Mews", "Mill", "Mission", "Motorway", "Mount", "Mountain",
    "Neck", "Orchard", "Oval", "Overpass", "Park", "Parkway", "Pkwy", "Pass", "Passage", "Path", "Pike", "Pine",
    "Place", "Pl", "Plain", "Plaza", "Point", "Port", "Prairie", "Radial", "Ramp", "Ranch", "Rapid", "Rest", "Ridge",
    "River", "Road", "Rd", "Route", "Row", "Rue", "Run", "Shoal", "Shore", "Skyway", "Spring", "Spur", "Square", "Sq",
    "Station", "Stravenue", "Stream", "Street", "St", "Summit", "Terrace", "Throughway", "Trace", "Track",
    "Trafficway", "Trail", "Trailer", "Tunnel", "Turnpike", "Underpass", "Union", "Valley", "Viaduct", "View",
    "Village", "Ville", "Vista", "Walk", "Wall", "Way", "Well", "Close", "Gate", "Strasse", "Straße", "Via", "Calle",
)

# a handle as social networks and forges allow one ('@ada_fenwick', '@_ada', '@ada-fenwick', '@Åsa')
HANDLE = r"@\w[\w.-]{0,38}\w"
# a host name: dotted labels of letters, digits and inner hyphens, then a top-level domain (case-insensitive)
HOST = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}"
_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
# Offline recognisers: deliberately broad. A false positive only means a slightly larger weight on an
# ordinary token in gradient ascent; a miss means a PII token treated as an ordinary word.
_RECOGNISERS: list[tuple[PiiType, re.Pattern[str]]] = [
    # (the local part starts where its run starts: tried from inside a long run without '@' it was quadratic;
    # letters of any script, as internationalised addresses write them: 'jürgen@bücher.de', '用户@例子.广告')
    (PiiType.email, re.compile(r"(?<![\w.%+\-])[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}")),
    # IBAN: two letters, two digits, then 11-30 alphanumerics possibly grouped by spaces
    (PiiType.id, re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")),
    # payment cards: 13-19 digits in groups
    (PiiType.id, re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    # phone numbers: optional +country, groups of digits with separators, at least 7 digits in all
    (PiiType.phone, re.compile(r"(?<![\w])(?:\+?\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-x]\d{2,5}){1,4}(?![\w])")),
    # national ID shapes: SSN-like and letter+digit mixes
    (PiiType.id, re.compile(r"\b\d{3}-\d{2}-\d{4}\b|\b[A-Z]{1,3}\d{5,10}\b")),
    # street addresses: house number, capitalised words, a street suffix (singular or plural), then an
    # optional unit, town and state/ZIP
    (
        PiiType.address,
        re.compile(
            r"\b\d{1,6}[A-Za-z]?\s+(?:[A-Z][a-z]+\s){1,4}(?:" + "|".join(_STREET_SUFFIXES) + r")s?\b"
            r"(?:[ ,]+(?:Apt\.?|Suite|Unit|Flat)\s*\w+)?(?:,\s*[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*)?(?:,?\s*[A-Z]{2}\s*\d{5})?"
        ),
    ),
    # long digit runs of any other shape (account numbers, postcodes glued to IDs)
    (PiiType.other, re.compile(r"\b\d{6,}\b")),
    # web addresses (with a scheme, 'www.' or a path after the host) and handles ('@ada_fenwick')
    # (a host's match starts only where its dotted run starts: from every inner boundary it was quadratic)
    (PiiType.other, re.compile(
        r"(?:\b(?:https?://|www\.)|(?<![a-z0-9.-])" + HOST + r"/)[^\s<>\"']*[^\s<>\"'.,;:!?)]",
        re.IGNORECASE,
    )),
    (PiiType.other, re.compile(rf"(?<![\w@.]){HANDLE}")),
    # dates written with an English month's name, perhaps led by the weekday ('Tuesday, March 12, 1985',
    # '12th of March 1985'): a date of birth is PII of its own
    (
        PiiType.other,
        re.compile(
            r"\b(?:(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\.?,?\s+)?"
            r"(?:\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+" + _MONTHS + r"\.?,?\s+\d{4}"
            r"|" + _MONTHS + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})\b"
        ),
    ),
]


def recognise(text: str) -> list[Recognised]:
    """All PII-looking spans in text, by offline patterns; overlaps are kept (weights take the max).
    Addresses in the shapes of other countries ('Hauptstraße 12', 'Via Roma, 59') by ``rtbf.streets``."""
    found: list[Recognised] = [Recognised(start, end, PiiType.address) for start, end in street_spans(text)]
    for pii_type, pattern in _RECOGNISERS:
        for m in pattern.finditer(text):
            digits = sum(c.isdigit() for c in m.group())
            if pii_type is PiiType.phone and digits < 7:
                continue
            found.append(Recognised(m.start(), m.end(), pii_type))
    return found


def value_spans(text: str, value: str) -> list[tuple[int, int]]:
    """Every occurrence of value in text (exact), as character spans."""
    spans = []
    start = text.find(value)
    while start != -1:
        spans.append((start, start + len(value)))
        start = text.find(value, start + 1)
    return spans
