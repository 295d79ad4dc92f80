"""Candidates of the same format, exposure arithmetic, partial-leak windows and EL overlap: no model needed."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from rtbf.pii import longest_ordered_fraction, normalise
from workers.verify.attacks import _leak_windows
from workers.verify.exposure import exposures_from_scores
from workers.verify.formats import (
    CandidateSampler,
    WordPool,
    free_positions,
    value_parts,
)
from workers.verify.memorisation import overlap_n


@pytest.fixture(scope="module")
def sampler() -> CandidateSampler:
    return CandidateSampler(WordPool.for_tokenizer(None))


def _shape(text: str) -> str:
    return re.sub(r"[a-z]", "a", re.sub(r"[A-Z]", "A", re.sub(r"[0-9]", "9", text)))


@pytest.mark.parametrize(
    "value, pii_type",
    [
        ("(977) 630-0663", "phone"),
        ("+44 20 7946 0958", "phone"),
        ("AB-1234-xY", "id"),
        ("DE89 3704 0044 0532 0130 00", "id"),
        ("Jane.Doe_77@mail.example.org", "other"),
        ("Flat 3b, 17 Quai des Brumes", "other"),
    ],
)
def test_candidates_keep_every_position_class_and_separator(sampler, value, pii_type) -> None:
    candidates = sampler.sample(value, pii_type, 500, seed=1)
    assert len(candidates) == 500
    assert len({normalise(c, pii_type) for c in candidates}) == 500
    assert normalise(value, pii_type) not in {normalise(c, pii_type) for c in candidates}
    for candidate in candidates:
        assert _shape(candidate) == _shape(value)


def test_digit_runs_keep_a_non_zero_lead(sampler) -> None:
    for candidate in sampler.sample("4759 Elm Street", "address", 300, seed=2):
        assert candidate[0] != "0"


def test_email_domain_and_address_suffixes_are_format_not_identity(sampler) -> None:
    emails = sampler.sample("chang.r@green.info", "email", 200, seed=3)
    assert all(e.endswith("@green.info") and re.fullmatch(r"[a-z]{5}\.[a-z]@green\.info", e) for e in emails)
    addresses = sampler.sample("4759 William Haven, Port Cody", "address", 200, seed=3)
    assert all(re.fullmatch(r"[1-9]\d{3} [A-Z][a-z]{6} Haven, Port [A-Z][a-z]{3}", a) for a in addresses)
    # the street name is drawn from real words, not random letters
    assert len({a.split()[1] for a in addresses}) > 50


@pytest.mark.parametrize(
    ("value", "kept", "free"),
    [("DE89 3704 0044 0532 0130 00", "DE", 20), ("GB82WEST12345698765432", "GB", 20), ("4532 7215 6120 9981", "4", 15),
     ("4532721561209981", "4", 15), ("343-45-6789", "", 9)],
)
def test_an_ibans_country_and_a_cards_network_are_format_not_identity(sampler, value, kept, free) -> None:
    """Millions of holders share them: candidates keep them, and only the rest of the number varies."""
    assert free_positions(value, "id") == free
    candidates = sampler.sample(value, "id", 300, seed=4)
    assert len(candidates) == 300 and all(c.startswith(kept) and _shape(c) == _shape(value) for c in candidates)
    if not kept:
        assert len({c[0] for c in candidates}) > 5


@pytest.mark.parametrize(
    ("value", "fixed_head", "fixed_tail"),
    [("github.com/ada-fenwick", "github.com/", ""), ("https://www.adafenwick.dev/", "https://www.", ".dev/"),
     ("adafenwick.dev", "", ".dev"), ("https://example.org/~ada?x=1", "https://example.org/", ""),
     ("https://ada.github.io", "https://", ".github.io"), ("https://x.org:8080/ada", "https://x.org:8080/", ""),
     ("https://adafenwick.dev.", "https://", ".dev."),
     # a site's word for its profiles is shared by every profile on it
     ("https://www.linkedin.com/in/ada-fenwick-8b2", "https://www.linkedin.com/in/", ""),
     ("reddit.com/user/adafenwick", "reddit.com/user/", "")],
)
def test_a_web_addresss_host_is_format_not_identity(sampler, value, fixed_head, fixed_tail) -> None:
    """Millions of profiles share 'github.com/': only the path varies; a bare host keeps its top-level domain."""
    candidates = sampler.sample(value, "other", 100, seed=4)
    assert len(candidates) == 100
    assert all(c.startswith(fixed_head) and c.endswith(fixed_tail) for c in candidates)
    owned = {c[len(fixed_head) : len(c) - len(fixed_tail)] for c in candidates}
    assert len(owned) == 100


def test_a_card_written_with_other_digits_is_sampled_whole(sampler) -> None:
    """NFKC makes '4⁵32' a card's '4532', but the value's own first digit run is '4' alone: nothing to split."""
    candidates = sampler.sample("4⁵32 7215 6120 9981", "id", 50, seed=4)
    assert len(candidates) == 50


def test_small_format_spaces_are_reported_not_padded(sampler) -> None:
    assert len(sampler.sample("12", "id", 10000, seed=4)) == 89  # 10..99 without the value itself
    assert free_positions("@@", "other") == 0
    assert sampler.sample("@@", "other", 10, seed=4) == []


def test_short_letter_parts_fall_back_to_compounds_and_letters(sampler) -> None:
    candidates = sampler.sample("jo.k@green.info", "email", 10000, seed=5)
    assert len(candidates) == 10000


def test_sampling_is_reproducible(sampler) -> None:
    assert sampler.sample("(977) 630-0663", "phone", 50, seed=9) == sampler.sample("(977) 630-0663", "phone", 50, seed=9)
    assert sampler.sample("(977) 630-0663", "phone", 50, seed=9) != sampler.sample("(977) 630-0663", "phone", 50, seed=10)


def test_value_parts_split_runs() -> None:
    kinds = [(p.kind, p.text) for p in value_parts("12 Oak Street", "address")]
    assert kinds == [("digits", "12"), ("fixed", " "), ("letters", "Oak"), ("fixed", " "), ("fixed", "Street")]


def test_exposure_arithmetic() -> None:
    scores = np.array([10.0, *np.linspace(-5, 5, 1023)])
    exposures = exposures_from_scores(scores)
    assert exposures[0] == pytest.approx(math.log2(1024))  # ranked first among 1024
    assert exposures_from_scores(np.array([-100.0, 0.0, 1.0, 2.0]))[0] == pytest.approx(0.0)  # ranked last
    ties = exposures_from_scores(np.zeros(8))
    assert np.allclose(ties, 3 - math.log2(4.5))  # a tie is a coin flip: the average rank among 8


@pytest.mark.parametrize("generated", ["call 555-1234 now", "555 12", "5", "it is 1234", "nothing", "55512345"])
def test_leak_windows_match_the_reference_partial_measure(generated) -> None:
    value = "555-1234"
    windows = _leak_windows(value, "phone", 0.5)
    fast = any(w in normalise(generated, "phone") for w in windows)
    assert fast == (longest_ordered_fraction(generated, value, "phone") >= 0.5)


def test_overlap_n() -> None:
    assert overlap_n([1, 2, 3, 4], [1, 2, 3, 4], 3) == 1.0
    assert overlap_n([1, 2, 3, 9], [1, 2, 3, 4], 3) == 0.5
    assert overlap_n([1, 2], [1, 2, 3], 3) == 0.0


def test_parts_built_from_the_subjects_name_are_fixed(sampler) -> None:
    """A never-seen model ranks a name-built local part above random words (it learnt how addresses are
    made), so the candidates keep it and vary only what the name does not give away."""
    names = ["Ryan Chang", "R. Chang"]
    mixed = sampler.sample("chang.qx@green.info", "email", 200, seed=3, names=names)
    assert len(mixed) == 200 and all(re.fullmatch(r"chang\.[a-z]{2}@green\.info", e) for e in mixed)
    # wholly built from the name (glued words and initials too): nothing secret is left to rank
    assert free_positions("chang.r@green.info", "email", names) == 0
    assert sampler.sample("gmills@orchard.net", "email", 50, seed=3, names=["Gerald Mills"]) == []
    assert free_positions("logan_clayton13@cross.com", "email", ["Logan Clayton"]) == 2
    assert free_positions("quart.z@blue.org", "email", ["Zelda Quartermaine"]) == 0  # a clipped surname
    # without the names the old rule holds; a local part that is not the name's is unaffected
    assert free_positions("chang.r@green.info", "email") == 6
    assert free_positions("xq.z@green.info", "email", names) == 3
    # any type: a house name built from the surname is not the secret, the number is
    parts = value_parts("12 Chang Court", "address", names)
    assert [(p.kind, p.text) for p in parts if p.kind != "fixed"] == [("digits", "12")]


FULL_MONTH_DATE = (
    r"(January|February|March|April|May|June|July|August|September|October|November|December) "
    r"([1-9]|1\d|2[0-8]), (19[2-9]\d|20[01]\d|2020)"
)


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("1985-03-12", r"(19[2-9]\d|20[01]\d|2020)-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])"),
        ("25.03.1985", r"(0[1-9]|1\d|2[0-8])\.(0[1-9]|1[0-2])\.(19[2-9]\d|20[01]\d|2020)"),
        ("03/25/1985", r"(0[1-9]|1[0-2])/(0[1-9]|1\d|2[0-8])/(19[2-9]\d|20[01]\d|2020)"),
        ("March 12, 1985", FULL_MONTH_DATE),
        ("June 12, 1985", FULL_MONTH_DATE),  # a month's whole name is drawn whole, even a short one
        ("12 Mar 1985", r"([1-9]|1\d|2[0-8]|0[1-9]) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (19[2-9]\d|20[01]\d|2020)"),
        # a weekday that leads a date is a weekday's name, in full or short as written
        ("Tuesday, March 12, 1985", r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), " + FULL_MONTH_DATE),
        ("Tue 12 Mar 1985", (r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([1-9]|1\d|2[0-8]|0[1-9]) "
                            r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (19[2-9]\d|20[01]\d|2020)")),
        # filler words and ordinal endings stay words of a date, not letters to draw
        ("Tuesday the 12th of March 1985", (r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) the "
                                            r"([1-9]|1\d|2[0-8])(st|nd|rd|th) of " + FULL_MONTH_DATE.split(" ", 1)[0]
                                            + r" (19[2-9]\d|20[01]\d|2020)")),
        # other languages' months and weekdays are drawn from their own language
        ("12. März 1985", (r"([1-9]|1\d|2[0-8])\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|"
                           r"Oktober|November|Dezember) (19[2-9]\d|20[01]\d|2020)")),
        ("Dienstag, 12. März 1985", (r"(Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag), "
                                     r"([1-9]|1\d|2[0-8])\. [A-ZÄ][a-zä]+ (19[2-9]\d|20[01]\d|2020)")),
        ("12 de marzo de 1985", (r"([1-9]|1\d|2[0-8]) de (enero|febrero|marzo|abril|mayo|junio|julio|agosto|"
                                 r"septiembre|octubre|noviembre|diciembre) de (19[2-9]\d|20[01]\d|2020)")),
        ("1985年3月12日", r"(19[2-9]\d|20[01]\d|2020)年([1-9]|1[0-2])月([1-9]|1\d|2[0-8])日"),
        # an inflected month (no list holds the genitive) stays as written; the day, the year and a year's
        # mark around it are drawn or kept as a date's
        ("12 марта 1985 г.", r"([1-9]|1\d|2[0-8]) марта (19[2-9]\d|20[01]\d|2020) г\."),
        ("12 marca 1985 r.", r"([1-9]|1\d|2[0-8]) marca (19[2-9]\d|20[01]\d|2020) r\."),
        ("1º de enero de 1985", (r"([1-9]|1\d|2[0-8])º de (enero|febrero|marzo|abril|mayo|junio|julio|agosto|"
                                 r"septiembre|octubre|noviembre|diciembre) de (19[2-9]\d|20[01]\d|2020)")),
        ("1985년 3월 12일", r"(19[2-9]\d|20[01]\d|2020)년 ([1-9]|1[0-2])월 ([1-9]|1\d|2[0-8])일"),
    ],
)
def test_a_date_is_ranked_among_dates(sampler, value, pattern) -> None:
    """Uniform digits would rank any real date above '7604-87-74': a date of birth the model never saw would
    look memorised. Years come from 1920-2020, months from 1-12 (or their names, written alike), days 1-28."""
    candidates = sampler.sample(value, "other", 300, seed=4)
    assert len(candidates) == 300
    assert all(re.fullmatch(pattern, c) for c in candidates), [c for c in candidates if not re.fullmatch(pattern, c)][:5]


def test_a_weekday_agrees_with_the_date_it_leads(sampler) -> None:
    """'Tuesday, October 28, 2017' contradicts itself (a Saturday): drawn apart, six in seven candidates would."""
    import datetime

    for value, shape in (("Tuesday, March 12, 1985", "%A, %B %d, %Y"), ("Tue 12 Mar 1985", "%a %d %b %Y")):
        candidates = sampler.sample(value, "other", 200, seed=4)
        assert len(candidates) == 200
        for candidate in candidates:
            weekday, _, date = candidate.partition(" ")
            parsed = datetime.datetime.strptime(candidate, shape)
            assert parsed.strftime("%A" if len(weekday.rstrip(",")) > 3 else "%a") == weekday.rstrip(","), (candidate, date)


def test_an_english_ordinal_ending_agrees_with_the_drawn_day(sampler) -> None:
    """'21th' is no date: the ending follows the day drawn ('1st', '22nd', '13th'), in the value's case."""
    import datetime

    candidates = sampler.sample("March 21ST, 1985", "other", 200, seed=5)
    assert len(candidates) == 200
    for candidate in candidates:
        day = int(re.search(r" (\d+)", candidate).group(1))
        ending = "TH" if 10 <= day <= 20 else {1: "ST", 2: "ND", 3: "RD"}.get(day % 10, "TH")
        assert f" {day}{ending}," in candidate, candidate
        datetime.datetime.strptime(candidate.replace(ending + ",", ","), "%B %d, %Y")


def test_a_phone_number_or_an_address_is_never_read_as_a_date(sampler) -> None:
    assert {p.kind for p in value_parts("1985-03-12", "phone")} == {"digits", "fixed"}
    assert {p.kind for p in value_parts("12 March Lane", "address")} == {"digits", "letters", "fixed"}
    assert {p.kind for p in value_parts("123-45-6789", "id")} == {"digits", "fixed"}
    assert {p.kind for p in value_parts("Sunday School 12", "other")} == {"digits", "letters", "fixed"}
    # a word that only starts like a month ('Mayor', 'Marchant') is none unless the whole value reads as a date
    assert {p.kind for p in value_parts("Mayor Street 12 1985", "other")} == {"digits", "letters", "fixed"}
    # one East Asian unit after a number is no date; two are
    assert {p.kind for p in value_parts("Room 12日", "other")} == {"digits", "letters", "fixed"}


def test_el_generates_from_every_position_of_a_short_value_and_sixteen_of_a_long_one() -> None:
    from workers.verify.memorisation import MAX_EL_POSITIONS, _el_positions
    from workers.verify.scoring import Encoded

    short = Encoded(tuple(range(20)), 5, 15, frozenset({7}))
    assert _el_positions(short) == [5, 6, 8, 9, 10, 11, 12, 13, 14]
    long = Encoded(tuple(range(200)), 10, 130)
    spread = _el_positions(long)
    assert len(spread) == MAX_EL_POSITIONS and spread[0] == 10 and spread[-1] == 129
    assert spread == sorted(set(spread))


@pytest.mark.parametrize(
    ("value", "stem", "ending"),
    [
        ("28657 Taylor Inlet, Hollandburgh", "Holland", "burgh"),
        ("868 Dougherty Drive, Apt 38, Snowchester", "Snow", "chester"),
        ("4 Elm Road, Bradford", "Brad", "ford"),
    ],
)
def test_a_town_keeps_its_place_name_ending_and_draws_its_stem(sampler, value, stem, ending) -> None:
    """A candidate town glued from two random words ('Hansenvaughn') is no town: against such candidates a
    GPT-2 demo ranked '4412 Miller Inlet, Jacobsburgh', never seen, 1st of 300 (8.2 bits); 10th (4.9 bits)
    once the ending stayed (README)."""
    parts = value_parts(value, "address")
    at = [p.text for p in parts].index(stem)
    assert (parts[at].kind, parts[at + 1].kind, parts[at + 1].text) == ("letters", "fixed", ending)
    candidates = sampler.sample(value, "address", 200, seed=3)
    assert len(candidates) == 200
    assert all(c.endswith(ending) for c in candidates)
    assert len({c.rsplit(" ", 1)[-1] for c in candidates}) > 20  # the stems vary


def test_place_name_endings_split_only_a_town_named_after_a_name() -> None:
    letters = lambda value: [p.text for p in value_parts(value, "address") if p.kind == "letters"]
    assert letters("12 Stanley Ave, Boston") == ["Stanley", "Boston"]  # 'Bos' is no name; a street is no town
    assert letters("4 Graham Rd, Shelby") == ["Graham", "Shelby"]
    assert letters("5 Main Road, Rye") == ["Main", "Rye"]
    assert [p.kind for p in value_parts("Hollandburgh", "other")] == ["letters"]  # addresses only


def test_capitalised_runs_are_drawn_as_often_as_the_names_are_borne(sampler) -> None:
    """A street or town named after a person is named after a common name more often than a rare one, and a
    model knows the common ones better whether or not it saw the person: uniform draws made a never-seen
    '4412 Miller Inlet, Jacobsburgh' rank 10th of 300 on a GPT-2 demo, drawn by the names' census shares
    28th (3.4 bits, under the gate's 4-bit cap; README)."""
    streets = [a.split()[1] for a in sampler.sample("4759 Taylor Haven", "address", 3000, seed=5)]
    assert streets.count("Miller") > 5 * max(1, streets.count("Zuniga"))
    assert len(set(streets)) > 100  # still a broad pool, not the few commonest names
    # lower-case runs (an e-mail's local part) stay uniform over the pool
    locals_ = [e.split("@")[0] for e in sampler.sample("dolor@green.info", "email", 3000, seed=5)]
    assert max(locals_.count(w) for w in set(locals_)) < 30


def test_a_weighted_draw_that_repeats_itself_still_fills_the_count(sampler) -> None:
    """'Amy Lee' admits about 2 x 900 single-word names if all were equally likely, so compounds stay off;
    drawn by census share, the common names repeat and the single words ran dry at 862 of 900 (seed 0)."""
    assert sampler.space(value_parts("Amy Lee", "name")) >= 2 * 900
    candidates = sampler.sample("Amy Lee", "name", 900, seed=0)
    assert len(candidates) == len({normalise(c, "name") for c in candidates}) == 900
