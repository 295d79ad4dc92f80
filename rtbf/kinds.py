"""What a value is, read from its shape: a date, an IBAN, a payment card, a social security number, ...

A request's six types are coarse: a date of birth arrives as ``other``, an IBAN or a card number as ``id``,
and a phone number is sometimes typed ``other`` by a portal that does not know better. The prompt banks
(``rtbf.prompts``) ask for a value the way text about a person writes it, and text writes a birth date
after "was born on", not after "About Ada Fenwick:". With only the type's bank, an edit and a gate both
missed a date a model had memorised after "was born on": on the LLaMA demo fine-tuned on birth dates,
IBANs, SSNs and card numbers, a context-free request was edited and passed the engine's checks while
greedy decoding still wrote the date from the phrasings the request did not name (README, "Values the
type does not describe"). So each value's shape adds the phrasings of its kind.

Kinds are decided from the value alone (never from the subject or the model), conservatively: a value
that fits no shape adds nothing, and the type's own bank always stays.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from enum import StrEnum

from rtbf.pii import recognise
from rtbf.request import PiiType


class ValueKind(StrEnum):
    date = "date"
    iban = "iban"
    payment_card = "payment_card"
    social_security = "social_security"
    ip_address = "ip_address"
    url = "url"
    # a value of another type's shape: a phone number, e-mail or street address typed 'other' or 'id'
    phone = "phone"
    email = "email"
    address = "address"


# The kinds that are a PII type of their own: their phrasings are that type's bank.
TYPE_KINDS: dict[ValueKind, PiiType] = {
    ValueKind.phone: PiiType.phone,
    ValueKind.email: PiiType.email,
    ValueKind.address: PiiType.address,
}

MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
               "november", "december")
_ENGLISH_MONTHS = frozenset(MONTH_NAMES) | {name[:3] for name in MONTH_NAMES} | {"sept"}
_YEAR = re.compile(r"^(1[89]\d\d|20\d\d)$")
_NUMERIC_DATE = re.compile(r"^(\d{1,4})([-/.])(\d{1,2})\2(\d{1,4})$")
_CJK_DATE = re.compile(r"^\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日$|^\d{4}\s*년\s*\d{1,2}\s*월\s*\d{1,2}\s*일$")
_DATE_TOKEN = re.compile(r"\d+|[^\W\d_]+", re.UNICODE)
# what may stand between a date's parts: spaces, commas, full stops, slashes, dashes, 'of', ordinal endings
_DATE_FILLER = re.compile(r"^[\s,./-]*$")
_ORDINAL = re.compile(r"^(st|nd|rd|th|er|e|º|ª)$", re.IGNORECASE)
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_CARD_GROUPS = re.compile(r"^\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}$|^\d{4}([ -]?)\d{6}\2\d{5}$")
_SOCIAL_SECURITY = re.compile(r"^\d{3}([ -])\d{2}\1\d{4}$")
_URL = re.compile(r"^(https?://|www\.)\S+$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\W\d_]{2,}$", re.UNICODE)
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")
_LONGEST_MONTH_WORD = 12  # 'septiembre', 'février', 'Października': a date's one word is a month's name


def _is_numeric_date(text: str) -> bool:
    """'1985-03-12', '12/03/1985', '03.12.85': three numbers joined by one repeated separator, one a year
    (or two digits last), the others a month and a day."""
    m = _NUMERIC_DATE.match(text)
    if not m:
        return False
    first, second, third = m.group(1), m.group(3), m.group(4)
    if len(first) == 4:
        return bool(_YEAR.match(first)) and 1 <= int(second) <= 12 and 1 <= int(third) <= 31 and len(third) <= 2
    if len(first) > 2 or len(third) not in (2, 4) or (len(third) == 4 and not _YEAR.match(third)):
        return False
    a, b = int(first), int(second)
    return 1 <= a <= 31 and 1 <= b <= 31 and (a <= 12 or b <= 12)


def _is_worded_date(text: str) -> bool:
    """'March 12, 1985', '12th of March 1985', '12. März 1985', '12 mars 1985': a year, a day and one word
    (a month's name, in whatever language), with only separators, 'of' or an ordinal ending between. Without
    the day ('May 1990') the word must be an English month's name: 'Apt 1985' is no date."""
    tokens = list(_DATE_TOKEN.finditer(text))
    if not 2 <= len(tokens) <= 5 or not _DATE_FILLER.match(_DATE_TOKEN.sub("", text)):
        return False
    numbers = [t.group() for t in tokens if t.group().isdigit()]
    words = [t.group() for t in tokens if not t.group().isdigit()]
    words = [w for w in words if not _ORDINAL.match(w) and w.casefold() not in {"of", "de", "del"}]
    if len(words) != 1 or not 3 <= len(words[0]) <= _LONGEST_MONTH_WORD or not 1 <= len(numbers) <= 2:
        return False
    years = [n for n in numbers if _YEAR.match(n)]
    days = [n for n in numbers if len(n) <= 2 and 1 <= int(n) <= 31]
    if len(years) + len(days) != len(numbers) or len(years) > 1 or len(days) > 1 or not years:
        return False
    return bool(days) or words[0].casefold().rstrip(".") in _ENGLISH_MONTHS


def _is_iban(compact: str) -> bool:
    return bool(_IBAN.match(compact.upper())) and compact[:2].isalpha()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_phone_shaped(text: str) -> bool:
    """Seven to fifteen digits with a phone's separators. A bare run of digits is an account or ID number as
    often as a phone number: only a leading '+' or separators make it a phone's."""
    if not _PHONE_CHARS.match(text) or not 7 <= sum(c.isdigit() for c in text) <= 15:
        return False
    return text.startswith("+") or not text.isdigit()


def _is_address_shaped(text: str) -> bool:
    """A street address from the value's start over at least half of it (the town may follow unrecognised)."""
    return any(r.type is PiiType.address and r.start <= 2 and r.end - r.start >= 0.5 * len(text) for r in recognise(text))


def value_kinds(value: str, pii_type: PiiType | str) -> tuple[ValueKind, ...]:
    """The kinds the value's shape shows, most specific first; none for a value of no particular shape.

    A specific shape (date, IBAN, card, SSN, IP address, URL) rules out the looser phone shape that most
    of them also fit. A phone, e-mail or address shape counts only for a value typed otherwise.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    compact = re.sub(r"[\s-]", "", text)
    kind: ValueKind | None = None
    if _is_numeric_date(text) or _is_worded_date(text) or _CJK_DATE.match(text):
        kind = ValueKind.date
    elif _is_iban(compact):
        kind = ValueKind.iban
    elif _SOCIAL_SECURITY.match(text):
        kind = ValueKind.social_security
    elif _CARD_GROUPS.match(text) and 13 <= sum(c.isdigit() for c in text) <= 19:
        kind = ValueKind.payment_card
    elif _is_ip(text):
        kind = ValueKind.ip_address
    elif _URL.match(text):
        kind = ValueKind.url
    if kind is not None:
        return (kind,)
    own = PiiType(pii_type)
    if own is not PiiType.email and _EMAIL.match(text):
        return (ValueKind.email,)
    if own is not PiiType.phone and _is_phone_shaped(text):
        return (ValueKind.phone,)
    if own is not PiiType.address and _is_address_shaped(text):
        return (ValueKind.address,)
    return ()
