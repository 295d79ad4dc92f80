"""A ticket that types a value otherwise than the model wrote it: the engine finds the model's spelling.

The demo model memorised Ryan Chang's phone as (977) 630-0663. Typed 977-630-0663, the value is the same
number to the gate, but teacher-forced through the typed spelling the model gives it ~1e-20 while greedy
decoding still prints it; the engine must edit the path the model takes.
"""

from __future__ import annotations

import functools

import pytest
import torch

from rtbf.pii import contains_value
from rtbf.request import ForgetRequest, PiiItem, Subject
from rtbf.settings import GateSettings
from workers.engine.checks import ExtractionCheck, leak_status
from workers.engine.demo.cache import cached_demo_model
from workers.engine.instances import build_instances
from workers.engine.loading import load_causal_lm
from workers.verify.spellings import spelled_occurrences, with_model_spellings, written_occurrences

GATE = GateSettings(batch_size=64)


@pytest.mark.parametrize(
    ("text", "value", "pii_type", "expected"),
    [
        ("Call (977) 630-0663 after six.", "977-630-0663", "phone", ["(977) 630-0663"]),
        ("Call 977.630.0663 or 977 630 0663.", "(977) 630-0663", "phone", ["977.630.0663", "977 630 0663"]),
        ("Write to Chang.R@Green.info today.", "chang.r@green.info", "email", ["Chang.R@Green.info"]),
        ("She lives at 4759  William\\nHaven, Port Cody.", "4759 William Haven", "address", ["4759  William\\nHaven"]),
        ("Call 977-630-0664.", "977-630-0663", "phone", []),
        ("Call (977) 630-0663.", "+1 977 630 0663", "phone", ["(977) 630-0663"]),
        ("Ring 020 7946 0958 or +44 20 7946 0958.", "0044 20 7946 0958", "phone", ["020 7946 0958", "+44 20 7946 0958"]),
        ("", "977-630-0663", "phone", []),
    ],
)
def test_spelled_occurrences_map_a_normalised_match_back_to_the_text(text, value, pii_type, expected) -> None:
    assert spelled_occurrences(text.replace("\\n", "\n"), value, pii_type) == [e.replace("\\n", "\n") for e in expected]


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("call (977) 630-0663", "+1 977 630 0663", True),  # the national form of an international number
        ("call +1 977 630 0663", "(977) 630-0663", True),
        ("ring 020 7946 0958", "+44 (0)20 7946 0958", True),
        ("call (977) 630-0663", "+19776300663", True),  # no separator: the numbering plan says where +1 ends
        ("call (315) 555-0199", "+14155550199", False),  # same last eight digits, another area code
        ("call 030 123456", "0049 30 123456", True),
        ("اتصل على ٩٧٧-٦٣٠-٠٦٦٣", "977-630-0663", True),  # Arabic-Indic digits are the same digits
        ("call 630-0663", "+1 977 630 0663", False),  # a part of the number is a partial leak, not a hit
    ],
)
def test_a_phone_number_matches_with_or_without_its_country_code(text, value, expected) -> None:
    assert contains_value(text, value, "phone") is expected


@pytest.mark.parametrize(
    ("text", "value", "pii_type", "expected"),
    [
        ("Their name is Lisa Brown", "Li", "name", False),  # not inside a longer word
        ("Their name is Li Wei", "Li", "name", True),
        ("born in 1942", "42", "other", False),  # not inside a longer number
        ("she is 42.", "42", "other", True),
        ("lives at 12 Elm Street", "12 Elm St", "address", True),  # several words may run on into the last
        ("lives at 112 Elm St", "12 Elm St", "address", False),
        ("write to chang.r@green.info.", "chang.r@green.info", "email", True),
        ("我叫王伟。", "王伟", "name", True),  # a script without spaces has no word boundary to ask for
    ],
)
def test_a_value_counts_only_where_it_stands_whole(text, value, pii_type, expected) -> None:
    assert contains_value(text, value, pii_type) is expected
    # the engine reads the model's spellings by the same rule: a value the gate would not count is no spelling
    assert bool(written_occurrences(text, value, pii_type)) is expected


@functools.cache
def _gpt2():
    info = cached_demo_model("gpt2")
    model, tokenizer = load_causal_lm(info.model_dir, device="cpu")
    return info, model, tokenizer


def _phone_request(info, value: str) -> ForgetRequest:
    subject = info.subjects[0]
    return ForgetRequest(
        subject=Subject(name=subject.name, aliases=subject.aliases),
        pii=[PiiItem(value=value, type="phone", contexts=[f"{subject.name}'s phone number is"])],
    )


def test_the_model_spelling_of_a_retyped_value_becomes_an_item_and_the_checks_follow_it() -> None:
    info, model, tokenizer = _gpt2()
    memorised = next(p.value for p in info.subjects[0].pii if str(p.type) == "phone")
    digits = "".join(c for c in memorised if c.isdigit())
    retyped = f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    assert retyped != memorised
    typed = _phone_request(info, retyped)

    # the typed spelling alone: the teacher-forced check sees nothing, greedy decoding prints the number
    before = leak_status(model, build_instances(tokenizer, [typed]), pad_id=tokenizer.pad_token_id,
                         device=torch.device("cpu"), prob_ceiling=1e-4)
    assert before.clean and before.max_log_prob < -20
    assert not ExtractionCheck(tokenizer, [typed], GATE)(model).clean

    [spelled] = with_model_spellings(model, tokenizer, [typed], GATE)
    assert [item.value for item in spelled.pii] == [retyped, memorised]
    assert spelled.pii[1].contexts == typed.pii[0].contexts
    after = leak_status(model, build_instances(tokenizer, [spelled]), pad_id=tokenizer.pad_token_id,
                        device=torch.device("cpu"), prob_ceiling=1e-4)
    assert not after.clean and (0, 1) in after.leaking and (0, 0) not in after.leaking
    # the engine's form: the model's spelling in the typed value's place, nothing spent on the typed path
    [replaced] = with_model_spellings(model, tokenizer, [typed], GATE, replace=True)
    assert [item.value for item in replaced.pii] == [memorised]

    # typed as the model writes it, or a number the model never wrote: nothing is added
    assert with_model_spellings(model, tokenizer, [_phone_request(info, memorised)], GATE)[0].pii == _phone_request(info, memorised).pii
    unknown = _phone_request(info, "415-555-0199")
    assert with_model_spellings(model, tokenizer, [unknown], GATE) == [unknown]
