"""The phrasing banks the engine edits against and the gate attacks with."""

from __future__ import annotations

import pytest

from rtbf.prompts import EDIT_TEMPLATES, PROBE_TEMPLATES, attack_contexts
from rtbf.request import ForgetRequest, PiiType


@pytest.mark.parametrize("bank", [EDIT_TEMPLATES, PROBE_TEMPLATES], ids=["edit", "probe"])
def test_every_phrasing_names_the_person(bank) -> None:
    """A value written after a prompt that names nobody ('Their name is') is not tied to the subject: a
    common name or number would count as a leak on any model."""
    assert set(bank) == set(PiiType)
    assert all("{name}" in template for templates in bank.values() for template in templates)


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
