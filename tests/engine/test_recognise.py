"""The offline PII recogniser finds street addresses in the forms people and address generators write."""

from __future__ import annotations

import random

import pytest
from faker import Faker

from rtbf.pii import recognise
from rtbf.request import PiiType


def _address_spans(text: str) -> list[str]:
    return [text[r.start : r.end] for r in recognise(text) if r.type is PiiType.address]


def test_addresses_of_every_street_suffix_are_found_whole() -> None:
    fake = Faker("en_US")
    fake.seed_instance(7)
    rng = random.Random(7)
    addresses = []
    for _ in range(300):
        street = fake.street_address()  # '9606 Barton Station Apt. 39', '63812 Richard Springs', ...
        addresses.append(f"{street}, {fake.city()}" if rng.random() < 0.5 else f"{street}, {fake.city()}, {fake.state_abbr()} {fake.postcode()}")
    found = sum(1 for a in addresses if f"{a}" in _address_spans(f"She lives at {a}."))
    assert found >= 0.95 * len(addresses), f"{found} of {len(addresses)} addresses found whole"


@pytest.mark.parametrize(
    "text, address",
    [
        ("Letters go to 221B Baker Street, London.", "221B Baker Street, London"),
        ("The house at 96947 Keller Squares, Suite 33, Christopherville was sold.", "96947 Keller Squares, Suite 33, Christopherville"),
        ("Deliver to 12 Harbour View Close, Flat 4, Bristol.", "12 Harbour View Close, Flat 4, Bristol"),
        ("Ship it to 500 Oak Ridge Pkwy, Austin, TX 78701.", "500 Oak Ridge Pkwy, Austin, TX 78701"),
    ],
)
def test_written_addresses_are_found(text: str, address: str) -> None:
    assert address in _address_spans(text)


@pytest.mark.parametrize(
    "text",
    [
        "In 2019 the council approved a new bridge.",
        "The train from Paris leaves at 9 every Monday.",
        "She bought 3 green apples at the market.",
    ],
)
def test_ordinary_sentences_hold_no_address(text: str) -> None:
    assert _address_spans(text) == []
