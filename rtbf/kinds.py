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
from functools import lru_cache

import phonenumbers

from rtbf.faker_locales import locale_providers
from rtbf.pii import HANDLE, HOST, ascii_digits, international_form, recognise
from rtbf.request import PiiType


class ValueKind(StrEnum):
    date = "date"
    iban = "iban"
    payment_card = "payment_card"
    social_security = "social_security"
    ip_address = "ip_address"
    url = "url"
    handle = "handle"  # a social-media or forum handle: '@ada_fenwick'
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
# English month names and abbreviations, by month index ('sept' too)
MONTH_WORDS: dict[str, int] = (
    {name: i for i, name in enumerate(MONTH_NAMES)} | {name[:3]: i for i, name in enumerate(MONTH_NAMES)} | {"sept": 8}
)
_MONTH_STEM = 4  # inflected month names share their first letters: 'сентября' / 'сентябрь', 'września' / 'wrzesień'
_YEAR = re.compile(r"^(1[89]\d\d|20\d\d)$")
_NUMERIC_DATE = re.compile(r"^(\d{1,4})([-/.])(\d{1,2})\2(\d{1,4})$")
_CJK_DATE = re.compile(r"^\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日$|^\d{4}\s*년\s*\d{1,2}\s*월\s*\d{1,2}\s*일$")
_DATE_TOKEN = re.compile(r"\d+|[^\W\d_]+", re.UNICODE)
# what may stand between a date's parts: spaces, commas, full stops, slashes, dashes, 'of', ordinal endings
_DATE_FILLER = re.compile(r"^[\s,./-]*$")
ORDINAL_ENDING = re.compile(r"^(st|nd|rd|th|er|e|o|a|º|ª|г|r)$", re.IGNORECASE)  # NFKC writes 'º' as 'o'; 'г.', 'r.' are 'year'
DATE_WORDS = frozenset({"of", "de", "del", "di", "van"})
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_IBAN_GROUPED = re.compile(r"^[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,4})?$")
_CARD_GROUPS = re.compile(r"^\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}$|^\d{4}([ -]?)\d{6}\2\d{5}$")
_SOCIAL_SECURITY = re.compile(r"^\d{3}([ -])\d{2}\1\d{4}$")
_URL = re.compile(r"^(https?://|www\.)\S+$", re.IGNORECASE)
# a host name without a scheme: with a path ('github.com/ada-fenwick'), or bare under a generic top-level
# domain that no file name ends in ('adafenwick.dev' is a site, 'notes.md' a file)
_HOST_WITH_PATH = re.compile(rf"^{HOST}(?::\d{{1,5}})?/\S*$", re.IGNORECASE)
_GENERIC_TLDS = frozenset({"com", "org", "net", "io", "dev", "info", "blog", "site", "online", "page", "xyz", "app",
                           "tech", "social", "website"})
# a bare host in lower case, its first label three characters or more: 'Dr.Name', 'Tel.info' and 'p.s.me' are none
_BARE_HOST = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.[a-z]{2,24}$")
_HANDLE = re.compile(rf"^{HANDLE}(?:@{HOST})?$", re.IGNORECASE)  # '@ada@mastodon.social' too
_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\W\d_]{2,}$", re.UNICODE)
# a national number as people write one: an area code (bracketed, or two or three digits), then two groups
# of three or four ('(555) 123-4567', '555.123.4567', '020 7946 0958'), perhaps an extension
_NATIONAL_PHONE = re.compile(
    r"^(?:\(\d{2,5}\)\s?|\d{2,3}[ .\-/])\d{3,4}[ .\-]\d{3,4}(?:\s*(?:ext\.?|x|#)\s*\d{1,5})?$", re.IGNORECASE
)
_EXTENSION = re.compile(r"\s*(?:ext\.?|x|#)\s*\d{1,5}$", re.IGNORECASE)
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# English weekday names and their three-letter forms, by weekday index
WEEKDAY_WORDS: dict[str, int] = {name: i for i, name in enumerate(WEEKDAY_NAMES)} | {
    name[:3]: i for i, name in enumerate(WEEKDAY_NAMES)
}


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




@lru_cache(maxsize=2)
def calendar_lists(attribute: str) -> tuple[tuple[str, ...], ...]:
    """Each language's month ('MONTH_NAMES', January first) or weekday ('DAY_NAMES', in the locale's own
    order) names, casefolded, English first and each list once.

    A date's drawn month keeps the language of the one it replaces ('12. März 1985' draws 'Januar' to
    'Dezember'): a name from another language, or letters, would rank every candidate below the real date,
    and a date the model never saw would look memorised. Faker numbers weekdays from Sunday in some locales
    and from Monday or Saturday in others, so only the English list says which name is which weekday."""
    lists: list[tuple[str, ...]] = [MONTH_NAMES if attribute == "MONTH_NAMES" else WEEKDAY_NAMES]
    size = len(lists[0])
    # a language's home locale first ('de_DE' before 'de_AT', whose January is 'Jänner')
    home_first = sorted(locale_providers("date_time"), key=lambda pair: not _is_home_locale(pair[0]))
    for _locale, provider in home_first:
        listed = getattr(provider, attribute, None)
        if not isinstance(listed, dict) or len(listed) != size:
            continue
        names = tuple(str(listed[key]).casefold() for key in sorted(listed))
        if names not in lists:
            lists.append(names)
    return tuple(lists)


@lru_cache(maxsize=2)
def _calendar_names(attribute: str) -> frozenset[str]:
    """The casefolded one-word names of every list in ``calendar_lists`` ('january', 'sonntag', ...), beside
    the English words and short forms (which alone remain without Faker, as in the gateway). Casefolding
    writes 'İ' as 'i' and a combining dot ('İyun' -> 'i̇yun'), which leaves the name one word."""
    names = set(MONTH_WORDS if attribute == "MONTH_NAMES" else WEEKDAY_WORDS)
    names.update(
        name for listed in calendar_lists(attribute) for name in listed if name.replace("\u0307", "").isalpha()
    )
    return frozenset(names)


def _is_home_locale(locale: str) -> bool:
    """'de_DE', 'fr_FR' or a bare 'es': the locale of a language's own country."""
    language, _, country = locale.partition("_")
    return not country or country.casefold() == language.casefold()


def calendar_list_of(word: str, attribute: str) -> tuple[str, ...] | None:
    """The names list (``calendar_lists``) that holds ``word`` as written in full, else None; English short
    forms ('Mar', 'Sept', 'Tue') give the English list."""
    folded = word.casefold().rstrip(".")
    if folded in (MONTH_WORDS if attribute == "MONTH_NAMES" else WEEKDAY_WORDS):
        return calendar_lists(attribute)[0]
    return next((names for names in calendar_lists(attribute) if folded in names), None)


def _month_names() -> frozenset[str]:
    return _calendar_names("MONTH_NAMES")


def _weekday_names() -> frozenset[str]:
    return _calendar_names("DAY_NAMES")


def is_month_word(word: str) -> bool:
    word = word.casefold().rstrip(".")
    if word in _month_names():
        return True
    return len(word) >= _MONTH_STEM and any(
        len(name) >= _MONTH_STEM and name[:_MONTH_STEM] == word[:_MONTH_STEM] for name in _month_names()
    )


def _is_worded_date(text: str) -> bool:
    """'March 12, 1985', '12th of March 1985', '12. März 1985', '1º de enero de 1985', '12 марта 1985 г.': a
    year, perhaps a day, and a month's name (in any language Faker knows, inflected forms by their first
    letters), with only separators, 'of' or an ordinal ending between, perhaps led by the weekday ('Tuesday,
    March 12, 1985'). 'Stage 3 2019' is no date."""
    found = list(_DATE_TOKEN.finditer(text))
    if len(found) > 1 and found[0].group().casefold().rstrip(".") in _weekday_names():
        text, found = text[found[1].start() :], list(_DATE_TOKEN.finditer(text[found[1].start() :]))
    tokens = [t.group() for t in found]
    if not 2 <= len(tokens) <= 7 or not _DATE_FILLER.match(_DATE_TOKEN.sub("", text)):
        return False
    numbers = [t for t in tokens if t.isdecimal()]
    words = [t for t in tokens if not t.isdecimal() and not ORDINAL_ENDING.match(t) and t.casefold() not in DATE_WORDS]
    if len(words) != 1 or not 1 <= len(numbers) <= 2 or any(not t.isalpha() for t in words):
        return False
    years = [n for n in numbers if _YEAR.match(n)]
    days = [n for n in numbers if len(n) <= 2 and 1 <= int(n) <= 31]
    if len(years) != 1 or len(years) + len(days) != len(numbers):
        return False
    return is_month_word(words[0])


def _is_iban(text: str) -> bool:
    """Two letters, two check digits and the account, written in groups of four or run together: grouped as
    an IBAN is printed, or with a valid ISO 7064 checksum ('No 45 Gandhi Road Chennai' is neither)."""
    upper = text.upper()
    compact = re.sub(r"[ -]", "", upper)
    if not _IBAN.match(compact):
        return False
    if _IBAN_GROUPED.match(upper) and text == upper and (" " in text or "-" in text):
        return True
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def _is_card(text: str) -> bool:
    """13 to 19 digits in a card's groups, of a network's first digit (2 to 6): '4532 7215 6120 9981'."""
    digits = sum(c.isdigit() for c in text)
    return bool(_CARD_GROUPS.match(text)) and 13 <= digits <= 19 and text[0] in "23456"


def _is_ip(text: str) -> bool:
    """An IPv4 address, or an IPv6 one with digits in it ('cafe::' is a word to ``ipaddress``)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return ":" not in text or any(c.isdigit() for c in text)


def _is_url(text: str) -> bool:
    """A web address: with a scheme or 'www.', a host name with a path, or a bare host name under a generic
    top-level domain. An '@' before the path makes an e-mail address or a handle, not a web address."""
    if _URL.match(text):
        return True
    if "@" in text.split("/", 1)[0]:  # an e-mail address or a handle; 'medium.com/@ada' is a web address
        return False
    if _HOST_WITH_PATH.match(text):
        return True
    return bool(_BARE_HOST.match(text)) and text.rsplit(".", 1)[-1] in _GENERIC_TLDS


# Path segments that sites put before a person's own part: shared by every profile on the site.
_PROFILE_PATH_WORDS = frozenset({
    "in", "pub", "u", "user", "users", "c", "channel", "people", "person", "profile", "profiles", "member",
    "members", "author", "authors", "staff", "team", "~",
})


def url_identity(url: str) -> tuple[int, int]:
    """Where a web address names its owner: its path ('github.com/**ada-fenwick**', past a site's word for
    its profiles: 'linkedin.com/in/**ada-fenwick**'), or for a bare host the
    labels before its last two ('**ada**.github.io'; with two labels, the first: '**adafenwick**.dev'). The
    scheme, a shared host, a port and the top-level domain are format, as an e-mail address's domain is."""
    start = url.find("://") + 3 if "://" in url else 0
    if url[start:].lower().startswith("www."):
        start += 4
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    authority_end = min(ends, default=len(url))
    if url.startswith("/", authority_end) and url[authority_end + 1 :].strip("/"):
        path_start = authority_end + 1
        # a site's own word for its profiles ('linkedin.com/in/', 'reddit.com/user/') is format too
        while True:
            segment, slash, rest = url[path_start:].partition("/")
            if not (slash and rest.strip("/") and segment.casefold() in _PROFILE_PATH_WORDS):
                return path_start, len(url)
            path_start += len(segment) + 1
    port = url.find(":", start, authority_end)
    host_end = port if port >= 0 else authority_end
    labels = url[start:host_end].rstrip(".").split(".")
    if len(labels) < 2:
        return start, host_end
    # a bare host names its owner before its last two labels ('ada.github.io', 'example.co.uk'), or, with
    # two, in the first ('adafenwick.dev')
    owner = labels[: len(labels) - 2] if len(labels) > 2 else labels[:1]
    return start, start + len(".".join(owner))


def _is_phone_shaped(text: str) -> bool:
    """A number with its country code that the numbering plan deems possible, or a national number in one of
    the layouts people write. A bare run of digits, or an ID in groups ('2345 6789 0123', '850312-1234'), is
    not one: an account or ID number is as likely."""
    international = international_form(text)
    if international is not None:
        try:
            return phonenumbers.is_possible_number(phonenumbers.parse(_EXTENSION.sub("", international), None))
        except phonenumbers.NumberParseException:
            return False
    return bool(_NATIONAL_PHONE.match(text))


def _is_address_shaped(text: str) -> bool:
    """A street address from the value's start over at least half of it (the town may follow unrecognised)."""
    return any(r.type is PiiType.address and r.start <= 2 and r.end - r.start >= 0.5 * len(text) for r in recognise(text))


def value_kinds(value: str, pii_type: PiiType | str) -> tuple[ValueKind, ...]:
    """The kinds the value's shape shows, most specific first; none for a value of no particular shape.

    A specific shape (date, IBAN, card, SSN, IP address, URL, handle) rules out the looser phone shape that most
    of them also fit. A phone, e-mail or address shape counts only for a value typed otherwise.
    """
    text = ascii_digits(unicodedata.normalize("NFKC", value).strip())
    kind: ValueKind | None = None
    if _is_numeric_date(text) or _is_worded_date(text) or _CJK_DATE.match(text):
        kind = ValueKind.date
    elif _is_iban(text):
        kind = ValueKind.iban
    elif _SOCIAL_SECURITY.match(text):
        kind = ValueKind.social_security
    elif _is_card(text):
        kind = ValueKind.payment_card
    elif _is_ip(text):
        kind = ValueKind.ip_address
    elif _is_url(text):
        kind = ValueKind.url
    elif _HANDLE.match(text):
        kind = ValueKind.handle
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
