"""FPGA's value targets: which tokens are pushed, and how the targets move when the stop check still fails.

Small, exact cases on hand-built plans (token ids stand in for any tokenizer's): the rules must hold for
any value format, so they are checked on the arithmetic itself rather than through one demo model.
"""

from __future__ import annotations

import torch

from rtbf.request import PiiItem, PiiType
from workers.engine.editors.fpga import (
    HANDOVER_MAX_NATS,
    TARGET_MET_NATS,
    NeverSeen,
    WeightedText,
    _Deepening,
    _value_targets,
    _ValuePlan,
)
from workers.engine.instances import PiiInstance


def _plan(rows: list[int], items: list[tuple[int, int]]) -> _ValuePlan:
    n = len(rows)
    return _ValuePlan(
        rows=torch.tensor(rows), positions=torch.arange(n), tokens=torch.arange(n), drop=torch.zeros(n),
        text_rows=torch.tensor(sorted(set(rows))), items=items,
    )


def test_a_stalled_item_hands_its_stuck_tokens_distance_to_its_met_ones_text_by_text() -> None:
    # item (0,0): text 0 has tokens met, stuck 6 nats, met; text 1 has two stuck tokens and none met
    plan = _plan([0, 0, 0, 1, 1], [(0, 0)] * 5)
    deepening = _Deepening(plan, patience=1)
    hinges = torch.tensor([0.0, 6.0, 0.0, 3.0, 2.0])
    deepening.after_failed_check(hinges.clone(), {(0, 0)})  # first sight: the distance is the best so far
    assert torch.equal(deepening.deepen, torch.zeros(5))
    seen = hinges.clone()
    deepening.after_failed_check(seen, {(0, 0)})  # no 5% fall in one check: stalled
    assert deepening.deepen.tolist() == [3.0, -6.0, 3.0, 0.0, 0.0]
    # text 0's total target is unchanged (what exposure ranks); text 1 had nothing to hand over to
    assert float(deepening.deepen[:3].sum()) == 0.0
    assert torch.isinf(seen).all()  # every position is judged anew before the next move
    assert deepening.items_deepened() == 1


def test_small_distances_still_move_the_met_targets_by_a_nat_and_unnamed_items_stay() -> None:
    plan = _plan([0, 0, 1, 1], [(0, 0), (0, 0), (0, 1), (0, 1)])
    deepening = _Deepening(plan, patience=1)
    hinges = torch.tensor([0.0, 0.25, 0.0, 5.0])
    deepening.after_failed_check(hinges.clone(), {(0, 0)})
    deepening.after_failed_check(hinges.clone(), {(0, 0)})
    assert deepening.deepen.tolist() == [1.0, -0.25, 0.0, 0.0]  # (0,1) is not named: its targets stay


def test_a_handover_moves_a_met_target_at_most_a_few_nats_and_raises_the_stuck_one_by_as_much() -> None:
    plan = _plan([0, 0], [(0, 0)] * 2)
    deepening = _Deepening(plan, patience=1)
    hinges = torch.tensor([0.0, 20.0])
    deepening.after_failed_check(hinges.clone(), {(0, 0)})
    deepening.after_failed_check(hinges.clone(), {(0, 0)})
    assert deepening.deepen.tolist() == [HANDOVER_MAX_NATS, -HANDOVER_MAX_NATS]


def test_an_item_whose_targets_are_all_met_aims_one_nat_lower_everywhere() -> None:
    plan = _plan([0, 0, 1], [(1, 2)] * 3)
    deepening = _Deepening(plan, patience=5)
    met = torch.full((3,), TARGET_MET_NATS / 2)
    deepening.after_failed_check(met, None)  # no item named yet: every item counts as named
    assert deepening.deepen.tolist() == [1.0, 1.0, 1.0]


def _text(ids: list[int], value_start: int) -> WeightedText:
    item = PiiItem(value="x", type=PiiType.phone)
    return WeightedText(ids, [1.0] * len(ids), PiiInstance(0, 0, item, "ctx", ids, value_start))


def test_the_leading_tokens_most_strangers_share_are_not_pushed() -> None:
    # context [1, 2]; value [40, 7, 8, 9]: most strangers open with 40 too (a phone's "("), none with 40 7
    forget = [_text([1, 2, 40, 7, 8, 9], 2)]
    strangers = [[1, 2, 40, 5, 6, 3], [1, 2, 40, 8, 8, 1], [1, 2, 41, 7, 6, 2], [1, 2, 40, 9, 9, 9]]
    never_seen = NeverSeen(levels=[-20.0], anchors=[], candidates=[(0, s, 2) for s in strangers], count=4)
    shared = never_seen.shared_prefix(forget)
    assert shared == [1]
    base_lp = torch.zeros(1, 5)  # the model is sure of every token: log P = 0
    plan = _value_targets(forget, never_seen.levels, base_lp, margin=0.0, device=torch.device("cpu"),
                          shared_prefix=shared)
    # positions 2, 3, 4 predict 7, 8, 9; position 1 (predicting the shared 40) is left alone
    assert plan.positions.tolist() == [2, 3, 4] and plan.tokens.tolist() == [7, 8, 9]
    assert torch.allclose(plan.drop, torch.full((3,), 20.0 / 3))  # the whole gap, on the tokens that differ


def test_a_value_the_strangers_share_whole_is_pushed_whole() -> None:
    forget = [_text([1, 2, 40, 7], 2)]
    never_seen = NeverSeen(levels=[-4.0], anchors=[], candidates=[(0, [1, 2, 40, 7], 2)] * 3, count=3)
    plan = _value_targets(forget, never_seen.levels, torch.zeros(1, 3), margin=0.0, device=torch.device("cpu"),
                          shared_prefix=never_seen.shared_prefix(forget))
    assert plan.tokens.tolist() == [40, 7]


def test_a_value_built_wholly_from_the_name_is_levelled_on_strangers_built_the_same_way() -> None:
    """The never-seen level of ``chang.r@green.info`` after "Ryan Chang's email address is" comes from
    strangers' addresses rebuilt from their names after their names (the gate's memorisation replicas),
    not from the leak ceiling alone; a phone number keeps its random same-format values after the
    subject's own phrasing."""
    from workers.engine.demo.cache import cached_demo_model
    from workers.engine.editors.fpga import never_seen_levels
    from workers.engine.instances import encode_instance
    from workers.engine.loading import load_causal_lm

    model, tokenizer = load_causal_lm(cached_demo_model("gpt2").model_dir, device="cpu")
    names = ["Ryan Chang", "Ryan", "R. Chang"]
    texts = []
    for context, value, pii_type in [
        ("Ryan Chang's email address is", "chang.r@green.info", PiiType.email),
        ("Ryan Chang's phone number is", "(977) 630-0663", PiiType.phone),
    ]:
        ids, start = encode_instance(tokenizer, context, value)
        item = PiiItem(value=value, type=pii_type)
        texts.append(WeightedText(ids, [1.0] * len(ids), PiiInstance(0, len(texts), item, context, ids, start, names)))
    fallback = -12.0
    never_seen = never_seen_levels(model, tokenizer, texts, count=8, seed=3, device=torch.device("cpu"),
                                   anchors=4, fallback_level=fallback)
    emails = [tokenizer.decode(ids) for index, ids, _ in never_seen.candidates if index == 0]
    phones = [tokenizer.decode(ids) for index, ids, _ in never_seen.candidates if index == 1]
    assert len(emails) == 8 and len(phones) == 8
    assert all("Chang" not in t and "Ryan" not in t and t.endswith("@green.info") for t in emails)
    assert all("'s email address is" in t for t in emails)
    assert all("Ryan Chang's phone number is" in t and "977) 630-0663" not in t for t in phones)
    # the level: the lower of the strangers' median and the ceiling's
    strangers_only = never_seen.measure(model, tokenizer.pad_token_id or 0, torch.device("cpu"), 2)
    assert strangers_only[0] is not None and never_seen.levels[0] == min(strangers_only[0], fallback)
    assert never_seen.levels[1] == strangers_only[1]  # random values of the format: no ceiling applied
    assert len(never_seen.anchors) == 4 and any("@green.info" in tokenizer.decode(a) for a in never_seen.anchors)
    # ROME's value-keyed edit on an uncrowded layer (value_keys.crowding): the e-mail gets the ceiling's
    # level, not the strangers', and the phone keeps its random values' level
    ceiling_only = never_seen_levels(model, tokenizer, texts, count=8, seed=3, device=torch.device("cpu"),
                                     fallback_level=fallback, name_built_strangers=False)
    assert ceiling_only.levels[0] == fallback and ceiling_only.levels[1] == never_seen.levels[1]
    assert not [index for index, _, _ in ceiling_only.candidates if index == 0]


def test_tokens_left_unpushed_keep_their_level_and_the_gap_goes_to_the_others() -> None:
    # value [40, 7, 41, 9]: 40 and 41 stand for a format's punctuation ('(' and ')' of a phone number)
    forget = [_text([1, 2, 40, 7, 41, 9], 2)]
    plan = _value_targets(forget, [-12.0], torch.zeros(1, 5), margin=0.0, device=torch.device("cpu"),
                          unpushed_tokens=frozenset({40, 41}))
    assert plan.tokens.tolist() == [40, 7, 41, 9]  # still in the plan: held where they are, not left free
    assert plan.drop.tolist() == [0.0, 6.0, 0.0, 6.0]


def test_a_value_of_punctuation_alone_is_pushed_whole() -> None:
    forget = [_text([1, 2, 40, 41], 2)]
    plan = _value_targets(forget, [-8.0], torch.zeros(1, 3), margin=0.0, device=torch.device("cpu"),
                          unpushed_tokens=frozenset({40, 41}))
    assert plan.drop.tolist() == [4.0, 4.0]
