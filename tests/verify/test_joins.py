"""How a value is joined to its context: the rule, the decisions' reach, and the model's decision.

The rule and lookups are pure string logic; the decision is the GPT-2 demo's, which always saw a space
before a value, so it must keep every context of the prompt banks spaced (a glued join there would move
every measure of the gate off the path the model takes). The other direction, a model that glues, is
tested end to end in ``tests/engine/test_glued_values.py``.
"""

from __future__ import annotations

import pytest

from rtbf.joins import (
    GlueDecisions,
    active_decisions,
    can_glue,
    glued_contexts,
    join_value,
    junction,
)
from workers.verify.joins import decide_glue


@pytest.mark.parametrize(
    ("context", "value", "expected"),
    [
        ("Ann's phone number is", "555-0100", False),  # one word if glued
        ("You can reach Ann at", "(977) 630-0663", False),  # a letter before a bracket: running text
        ("Tel:", "+44 20 7946 0958", True),
        ("Ann Lee <", "ann@lee.org", True),
        ("张三的电话是", "13812345678", True),  # no spaces in the script
        ("Phone:", " 555", False),  # the value brings its own space
        ("Phone: ", "555", False),  # the context ends in one
        ("", "555", False),
    ],
)
def test_which_joins_the_model_may_glue(context: str, value: str, expected: bool) -> None:
    assert can_glue(context, value) is expected


def test_junction_is_the_trailing_punctuation_or_the_last_ideograph() -> None:
    assert junction("Phone (Ann Lee):") == "):"
    assert junction("Ann Lee <") == "<"
    assert junction("张三的电话是") == "是"


def test_spaced_unless_decided_and_decisions_reach_prefixed_and_renamed_contexts() -> None:
    decisions = GlueDecisions({"Card: Ann Lee, tel:": True, "Phone (Ann Lee):": False})
    assert join_value("Card: Ann Lee, tel:", "(977) 630") == ("Card: Ann Lee, tel: (977) 630", 20)
    with glued_contexts(decisions):
        assert active_decisions() is decisions
        assert join_value("Card: Ann Lee, tel:", "(977) 630") == ("Card: Ann Lee, tel:(977) 630", 19)
        assert join_value("Once upon a time. Card: Ann Lee, tel:", "(977)")[0].endswith("tel:(977)")  # a prefix
        assert join_value("Card: Bo Chen, tel:", "(977)")[0].endswith("tel:(977)")  # a stranger: the junction ':'
        assert join_value("Phone (Bo Chen):", "(977)")[0].endswith("): (977)")  # '):' was decided spaced
        assert join_value("Ann Lee's phone number is", "(977)")[0].endswith("is (977)")  # never glued
    assert active_decisions().contexts == {}


def test_a_renamed_context_takes_its_sources_decision_not_the_junctions_majority() -> None:
    decisions = GlueDecisions({
        "Phone (Ann Lee):": True, "Email (Ann Lee):": False, "Address (Ann Lee):": False, "ID (Ann Lee):": False,
    })
    with glued_contexts(decisions):
        assert join_value("Phone (Omar Delacroix):", "+44")[0].endswith("):+44")  # same shape: 'Phone (*):'
        assert join_value("Email (Omar Delacroix):", "+44")[0].endswith("): +44")
        assert join_value("Fax (Omar Delacroix):", "+44")[0].endswith("): +44")  # no shape: '):' mostly spaced


def test_decisions_in_force_win_over_new_ones() -> None:
    engine = GlueDecisions({"Tel:": True})
    gate = GlueDecisions({"Tel:": False, "Fax:": True})
    assert engine.over(gate).contexts == {"Tel:": True, "Fax:": True}


def test_nothing_decided_glues_nothing() -> None:
    with glued_contexts(GlueDecisions({"Tel:": False})):
        assert join_value("Tel:", "+44") == ("Tel: +44", 5)
        assert join_value("Fax:", "+44") == ("Fax: +44", 5)


def test_the_demo_model_keeps_every_prompt_bank_context_spaced(demo_model, memorised_request) -> None:
    model, tokenizer = demo_model
    decisions = decide_glue(model, tokenizer, [memorised_request])
    # the banks' contexts that end in ':' or '(name):' are the candidates; the model saw a space before every value
    assert len(decisions.contexts) >= 6
    assert decisions.glued == frozenset()
