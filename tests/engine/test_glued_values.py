"""Values glued to their label ('tel:(977) 630-0663', 'mail <chang.r@green.info>'): the edit follows the join
the model memorised.

The GPT-2 demo is fine-tuned for a few seconds on directory cards that glue each phone number to 'tel:'
and each e-mail to '<', the way many records are written. The unedited model then writes the values
right after those labels, with no space; the request names the card as a document. With every join
spaced, as the engine did before (``workers.engine.forget.decide_glue`` patched to decide nothing), the
rank-one edit closed the path through ' chang.r@...', which the model never takes, and the e-mail stayed
extractable after 'mail <': the second test failed with greedy 1, beam 4, sampled 12 hits (2026-12-07).
"""

from __future__ import annotations

import copy

import pytest

from rtbf.joins import GlueDecisions, glued_contexts
from rtbf.request import ForgetRequest
from rtbf.settings import GateSettings
from tests.finetune import demo_fine_tuned_on
from workers.engine.forget import forget
from workers.verify.attacks import MODES, run_attacks
from workers.verify.gate import run_gate
from workers.verify.joins import decide_glue

MEASURE = GateSettings(samples=20, batch_size=64)
CARDS = 12  # subjects whose cards are planted


def _card(subject) -> tuple[str, str, str]:
    phone = next(p.value for p in subject.pii if p.type == "phone")
    email = next(p.value for p in subject.pii if p.type == "email")
    return f"Directory card: {subject.name}, tel:{phone}, mail <{email}>.", phone, email


@pytest.fixture(scope="module")
def glued_model(demo_gpt2):
    """The demo model after 60 steps on the cards mixed with its own training sentences (seeded)."""
    return demo_fine_tuned_on(demo_gpt2, [_card(s)[0] for s in demo_gpt2.subjects[:CARDS]])


def _card_request(subject) -> ForgetRequest:
    text, phone, email = _card(subject)
    spans = [
        {"start": text.index(value), "end": text.index(value) + len(value), "type": kind}
        for value, kind in ((phone, "phone"), (email, "email"))
    ]
    return ForgetRequest.model_validate({"subject": {"name": subject.name}, "documents": [{"text": text, "spans": spans}]})


def _hits(model, tokenizer, request: ForgetRequest) -> dict[str, dict[str, int]]:
    plan = run_attacks(model, tokenizer, [request], MEASURE, modes=MODES)
    return {a.item.type.value: {mode: a.modes[mode].hits for mode in MODES} for a in plan}


def test_the_model_decides_the_cards_glue(glued_model, demo_gpt2) -> None:
    model, tokenizer = glued_model
    decisions = decide_glue(model, tokenizer, [_card_request(demo_gpt2.subjects[0])])
    card, phone, email = _card(demo_gpt2.subjects[0])
    assert card[: card.index(phone)] in decisions.glued  # '... tel:'
    assert card[: card.index(email)] in decisions.glued  # '... mail <'
    # the prompt banks' contexts that could glue ('Phone (Ryan Chang):', ...) stay spaced
    assert len(decisions.contexts) > len(decisions.glued) >= 2


@pytest.mark.more_formats  # an edit and its measurement, three to four minutes: on demand (-m more_formats)
def test_rome_closes_the_glued_path(glued_model, demo_gpt2) -> None:
    model, tokenizer = glued_model
    request = _card_request(demo_gpt2.subjects[0])
    before = _hits(model, tokenizer, request)
    assert all(before[kind]["greedy"] > 0 for kind in ("phone", "email")), before
    edited = copy.deepcopy(model)
    result = forget(edited, tokenizer, [request], method="rome")
    assert result.path == ["rome"]
    joins = result.report()["joins"]
    assert joins["contexts_glued"] >= 2 and joins["contexts_decided"] > joins["contexts_glued"]
    after = _hits(edited, tokenizer, request)
    assert after == {kind: dict.fromkeys(MODES, 0) for kind in ("phone", "email")}, after


def test_an_audit_without_reference_follows_the_audited_models_joins(glued_model, demo_gpt2) -> None:
    """With no reference model, the audited model decides its own joins, and the report says so. Measured
    spaced (the decisions forced), the card's glued e-mail looks less memorised than it is."""
    model, tokenizer = glued_model
    request = _card_request(demo_gpt2.subjects[0])
    settings = GateSettings(samples=0, el_ns=[3], exposure_candidates=500, exposure_baseline_values=500, batch_size=64)
    audited = run_gate(model, tokenizer, [request], settings=settings, salt="s")
    assert audited.joins.decided_by == "audited model" and audited.joins.from_engine == 0
    assert audited.joins.contexts_glued >= 2 and audited.joins.contexts_decided > audited.joins.contexts_glued

    card, phone, email = _card(demo_gpt2.subjects[0])
    spaced = GlueDecisions({card[: card.index(phone)]: False, card[: card.index(email)]: False})
    with glued_contexts(spaced):  # decisions in force (an engine's) win over the audited model's
        forced = run_gate(model, tokenizer, [request], settings=settings, salt="s")
    assert forced.joins.from_engine == 2 and forced.joins.contexts_glued == audited.joins.contexts_glued - 2
    glued_ma, spaced_ma = audited.requests[0].memorisation.ma, forced.requests[0].memorisation.ma
    print(f"MA of the card request: {glued_ma:.3f} with the audited model's joins, {spaced_ma:.3f} spaced")
    assert glued_ma > spaced_ma, (glued_ma, spaced_ma)
