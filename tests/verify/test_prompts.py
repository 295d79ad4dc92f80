"""The phrasing banks the engine edits against and the gate attacks with."""

from __future__ import annotations

import pytest

from rtbf.kinds import TYPE_KINDS, ValueKind, value_kinds
from rtbf.prompts import (
    EDIT_TEMPLATES,
    KIND_EDIT_TEMPLATES,
    KIND_PROBE_TEMPLATES,
    PROBE_TEMPLATES,
    attack_contexts,
    edit_contexts,
)
from rtbf.request import ForgetRequest, PiiType


@pytest.mark.parametrize(
    "bank", [EDIT_TEMPLATES, PROBE_TEMPLATES, KIND_EDIT_TEMPLATES, KIND_PROBE_TEMPLATES], ids=["edit", "probe", "kind-edit", "kind-probe"]
)
def test_every_phrasing_names_the_person(bank) -> None:
    """A value written after a prompt that names nobody ('Their name is') is not tied to the subject: a
    common name or number would count as a leak on any model."""
    assert set(bank) in (set(PiiType), set(ValueKind) - set(TYPE_KINDS))
    assert all("{name}" in template for templates in bank.values() for template in templates)


KINDS_OF_VALUES = [
    ("March 12, 1985", "other", ValueKind.date),
    ("12th of March 1985", "other", ValueKind.date),
    ("Mar. 12, 1985", "other", ValueKind.date),
    ("12. März 1985", "other", ValueKind.date),
    ("May 1990", "other", ValueKind.date),
    ("1985-03-12", "other", ValueKind.date),
    ("12/03/1985", "id", ValueKind.date),
    ("03.12.85", "other", ValueKind.date),
    ("1985年3月12日", "other", ValueKind.date),
    ("12 марта 1985 г.", "other", ValueKind.date),
    ("1º de enero de 1985", "other", ValueKind.date),
    ("Tuesday, March 12, 1985", "other", ValueKind.date),
    ("Dienstag, 12. März 1985", "other", ValueKind.date),
    ("DE46 5001 0517 5407 3249 31", "id", ValueKind.iban),
    ("GB82WEST12345698765432", "id", ValueKind.iban),
    ("de89370400440532013000", "id", ValueKind.iban),  # run together and lower-case: by its checksum
    ("4532 7215 6120 9981", "id", ValueKind.payment_card),
    ("4532-7215-6120-9981", "other", ValueKind.payment_card),
    ("3782 822463 10005", "id", ValueKind.payment_card),
    ("343-45-6789", "id", ValueKind.social_security),
    ("203.0.113.42", "other", ValueKind.ip_address),
    ("2001:db8::1", "other", ValueKind.ip_address),
    ("https://example.org/~ada", "other", ValueKind.url),
    ("github.com/ada-fenwick", "other", ValueKind.url),
    ("linkedin.com/in/ada", "id", ValueKind.url),
    ("adafenwick.dev", "other", ValueKind.url),
    ("@ada_fenwick", "other", ValueKind.handle),
    ("@_ada", "other", ValueKind.handle),
    ("@ada@mastodon.social", "other", ValueKind.handle),
    ("https://mastodon.social/@ada_fenwick", "other", ValueKind.url),
    ("medium.com/@ada", "other", ValueKind.url),
    ("ada.fenwick@example.org", "other", ValueKind.email),
    ("(977) 630-0663", "other", ValueKind.phone),
    ("+14155550199", "id", ValueKind.phone),
    ("0049 30 123456", "id", ValueKind.phone),
    ("(555) 123-4567 ext. 12", "other", ValueKind.phone),
    ("12 Elm Street, Springfield", "other", ValueKind.address),
    ("Hauptstraße 12, Berlin", "id", ValueKind.address),
]


@pytest.mark.parametrize(("value", "pii_type", "kind"), KINDS_OF_VALUES, ids=[v for v, _, _ in KINDS_OF_VALUES])
def test_a_values_shape_shows_its_kind(value: str, pii_type: str, kind: ValueKind) -> None:
    assert value_kinds(value, pii_type) == (kind,)


@pytest.mark.parametrize(
    ("value", "pii_type"),
    [("123456789", "id"), ("X12345678", "id"), ("diabetes", "other"), ("Route 66", "other"), ("Apt 1985", "other"),
     ("Stage 3 2019", "other"), ("Room 12, 1985", "other"), ("12 May", "other"), ("March ፩, 1985", "other"),
     ("No 45 Gandhi Road Chennai", "other"), ("mk85johnsonfamily", "other"), ("2345 6789 0123", "id"),
     ("850312-1234", "id"), ("123.456.789-09", "id"), ("3.14159265", "other"), ("1234 5678 9012 3456", "id"),
     ("cafe::", "other"), ("977-630-0663", "phone"), ("ada@example.org", "email"), ("12 Elm Street, Springfield", "address"),
     ("Ada Lovelace Fenwick", "name"), ("Tuesday 12", "other"), ("Sunday School 1985", "other"), ("notes.md", "other"),
     ("and/or", "other"), ("v1.2/3", "other"), ("@a", "other"), ("Dr.Name", "other"), ("Tel.info", "other"),
     ("p.s.me", "other")],
)
def test_a_value_of_no_other_shape_adds_no_kind(value: str, pii_type: str) -> None:
    """A bare run of digits, or an ID number in groups, is as often an account number as a phone number; a
    date needs a month's name ('Stage 3 2019' is none); an IBAN its groups or its checksum; a card its network's
    first digit; a value already typed by its shape adds nothing; a digit of another numeral system ('፩') is
    no day; a weekday leads a date but makes none; a host name without a path needs a top-level domain that
    no file name ends in."""
    assert value_kinds(value, pii_type) == ()


def test_a_birth_date_typed_other_is_asked_for_as_a_birth_date() -> None:
    """The type's bank stays first; the kind's phrasings follow, for every name, in the edit and the attack."""
    request = ForgetRequest.model_validate({
        "subject": {"name": "Ada Fenwick", "aliases": ["Ada"]}, "pii": [{"value": "March 3, 1970", "type": "other"}],
    })
    item = request.pii[0]
    edit = edit_contexts(request, item)
    assert edit[:4] == ["Ada Fenwick's", "Ada's", "About Ada Fenwick:", "About Ada:"]
    assert {"Ada Fenwick was born on", "Ada was born on", "Ada's date of birth is"} <= set(edit)
    attack = attack_contexts(request, item)
    assert attack[: len(edit)] == edit and {"Date of birth (Ada Fenwick):", "Ada's birthday is"} <= set(attack)
    assert len(attack) == len(set(attack)) == 2 * sum(
        len(bank[key]) for bank, key in ((EDIT_TEMPLATES, PiiType.other), (PROBE_TEMPLATES, PiiType.other),
                                         (KIND_EDIT_TEMPLATES, ValueKind.date), (KIND_PROBE_TEMPLATES, ValueKind.date))
    )


def test_a_phone_number_typed_other_takes_the_phone_banks() -> None:
    request = ForgetRequest.model_validate({"subject": {"name": "Ada Fenwick"}, "pii": [{"value": "(977) 630-0663", "type": "other"}]})
    contexts = attack_contexts(request, request.pii[0])
    assert "Ada Fenwick's phone number is" in contexts and "To speak with Ada Fenwick, dial" in contexts


def test_the_gate_attacks_with_every_phrasing_for_every_alias() -> None:
    request = ForgetRequest.model_validate({
        "subject": {"name": "Ada Fenwick", "aliases": ["A. Fenwick"]},
        "pii": [{"value": "Ada Lovelace Fenwick", "type": "name"}],
    })
    item = request.pii[0]
    contexts = attack_contexts(request, item)
    assert any("A. Fenwick" in c for c in contexts) and any(c.startswith("Ada Fenwick") for c in contexts)
    assert len(contexts) == len(set(contexts)) == (len(EDIT_TEMPLATES[PiiType.name]) + len(PROBE_TEMPLATES[PiiType.name])) * 2


def test_an_item_every_name_holds_is_still_attacked() -> None:
    """'Fenwick' of Ada Fenwick: every named phrasing holds the value and is left out; the unnamed ones remain."""
    from workers.verify.attacks import item_contexts

    request = ForgetRequest.model_validate({"subject": {"name": "Ada Fenwick"}, "pii": [{"value": "Fenwick", "type": "name"}]})
    contexts = item_contexts(request, request.pii[0])
    assert contexts and all("Fenwick" not in c for c in contexts)
