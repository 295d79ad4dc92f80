"""Strangers' values: the never-seen baseline of PII built wholly from the subject's name. No model needed."""

from __future__ import annotations

import re

import pytest

from workers.verify.formats import NameParts, free_positions
from workers.verify.strangers import Stranger

RYAN = ["Ryan Chang", "Mr. Chang", "R. Chang"]


@pytest.mark.parametrize(
    ("names", "run", "pieces"),
    [
        (RYAN, "chang", [("chang", 5)]),
        (RYAN, "rchang", [("ryan", 1), ("chang", 5)]),
        (["Gerald Mills"], "gmills", [("gerald", 1), ("mills", 5)]),
        (["Zelda Quartermaine"], "quartz", [("quartermaine", 5), ("zelda", 1)]),
        (["Zelda Quartermaine"], "zq", [("zelda", 1), ("quartermaine", 1)]),
    ],
)
def test_name_built_runs_split_into_the_pieces_they_were_built_from(names, run, pieces) -> None:
    assert NameParts.of(names).segments(run) == pieces
    assert NameParts.of(names).derive(run)


@pytest.mark.parametrize("run", ["kaiser", "chan", "xchang", "changx", ""])
def test_runs_not_built_from_the_name_have_no_segmentation(run) -> None:
    # 'chan' is a clipped 'chang' only from three letters on, and only when every letter is accounted for
    expected = run == "chan"
    assert (NameParts.of(RYAN).segments(run) is not None) is expected


def test_a_stranger_rebuilds_the_value_the_same_way_from_other_names() -> None:
    seen = set()
    for seed in range(20):
        stranger = Stranger(RYAN, seed)
        assert set(stranger.mapping) == {"ryan", "chang"}  # the title 'Mr' is nobody's identity
        new_last, new_first = stranger.mapping["chang"], stranger.mapping["ryan"]
        value = stranger.rebuild("chang.r@example.com", "email")
        assert value == f"{new_last}.{new_first[0]}@example.com"  # same construction, same domain
        assert "chang" not in value and new_first[0] != new_last[0]
        prompt = stranger.rename("R. Chang's e-mail, says Mr. Chang (Ryan to friends), is")
        assert prompt == (
            f"{new_first[0].upper()}. {new_last.capitalize()}'s e-mail, says Mr. {new_last.capitalize()} "
            f"({new_first.capitalize()} to friends), is"
        )
        seen.add(value)
    assert len(seen) == 20  # reproducible per seed, different across seeds


def test_a_stranger_keeps_case_digits_and_the_unrelated_text() -> None:
    stranger = Stranger(["Gerald Mills"], 3)
    rebuilt = stranger.rebuild("GMills.1987@Mail.com", "email")
    assert re.fullmatch(r"[A-Z][A-Z][a-z]+\.1987@Mail\.com", rebuilt), rebuilt
    assert stranger.rename("the mill in Millsboro by GERALD") == f"the mill in Millsboro by {stranger.mapping['gerald'].upper()}"
    assert Stranger(["Gerald Mills"], 3).rebuild("GMills.1987@Mail.com", "email") == rebuilt


def test_a_clipped_name_becomes_the_strangers_whole_name() -> None:
    stranger = Stranger(["Zelda Quartermaine"], 0)
    assert stranger.rebuild("quart.z@blue.org", "email") == f"{stranger.mapping['quartermaine']}.{stranger.mapping['zelda'][0]}@blue.org"


def test_only_wholly_name_built_values_need_strangers() -> None:
    assert free_positions("chang.r@example.com", "email", RYAN) == 0 < free_positions("chang.r@example.com", "email")
    assert free_positions("chang.rocket@example.com", "email", RYAN) == len("rocket")
