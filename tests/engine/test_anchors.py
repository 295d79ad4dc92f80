"""The value-keyed ROME edit's held positions in model-written text: exactly the tokens of other people's PII."""

from __future__ import annotations

import pytest
import torch

from workers.engine.anchors import sampled_pii_positions


@pytest.fixture(scope="module")
def tokenizer():
    from workers.engine.demo.cache import cached_demo_model
    from workers.engine.loading import load_tokenizer

    return load_tokenizer(cached_demo_model("gpt2").model_dir)


def test_held_positions_predict_exactly_the_tokens_of_recognised_pii(tokenizer) -> None:
    texts = [
        "The weather was mild all week and the market was busy.",
        "Maria Lopez can be reached at (415) 555-0182 or at maria.lopez@example.org after noon.",
    ]
    held = sampled_pii_positions(tokenizer, texts, count=8)
    assert len(held) == 1  # the text without PII holds nothing
    ids, positions = held[0]
    assert ids == tokenizer(texts[1], add_special_tokens=True)["input_ids"]
    predicted = "".join(tokenizer.decode([ids[p + 1]]) for p in positions)
    rest = "".join(tokenizer.decode([ids[i]]) for i in range(1, len(ids)) if i - 1 not in positions)
    for part in ("415", "555", "0182", "example"):
        assert part in predicted
    assert not any(c.isdigit() for c in rest)  # no digit of the phone number is left unheld
    assert "noon" in rest and "reached" in rest  # the words around the PII are not held


def test_held_texts_stop_at_the_requested_count(tokenizer) -> None:
    texts = [f"Call {name} on (212) 555-01{n:02d} today." for n, name in enumerate(["Ann", "Bo", "Cy", "Di"])]
    assert len(sampled_pii_positions(tokenizer, texts, count=2)) == 2
    assert sampled_pii_positions(tokenizer, texts, count=0) == []


def test_the_retain_kl_weighs_up_exactly_the_positions_that_predict_other_peoples_pii(tokenizer) -> None:
    from workers.engine.anchors import pii_predicting_positions
    from workers.engine.editors.fpga import _retain_token_weights
    from workers.engine.instances import pad_batch

    texts = ["Call Maria Lopez on (415) 555-0182 today.", "The market was busy all week."]
    encoded = [pii_predicting_positions(tokenizer, t, max_length=96) for t in texts]
    anchor = tokenizer("A stranger's number is 212 555 0100", add_special_tokens=True)["input_ids"]
    ids, mask = pad_batch([e[0] for e in encoded] + [anchor], tokenizer.pad_token_id or 0, torch.device("cpu"))
    weights = _retain_token_weights(mask, [e[1] for e in encoded], 4.0)

    assert weights.shape == (3, ids.shape[1] - 1)
    phone = encoded[0][1]
    assert phone and float(weights[0, phone].min()) == 4.0  # every digit of the sampled phone
    assert float(weights[0].sum()) == pytest.approx(len(encoded[0][0]) - 1 + 3.0 * len(phone))
    assert float(weights[1].max()) == 1.0 and not encoded[1][1]  # no PII: every token alike
    assert float(weights[2].max()) == 1.0  # anchors after the samples carry no marks
    assert float(weights[1, len(encoded[1][0]) - 1 :].sum()) == 0.0  # padding weighs nothing
    unweighted = _retain_token_weights(mask, [e[1] for e in encoded], 1.0)
    assert torch.equal(unweighted, mask[:, 1:].float())  # weight 1: the plain token average


def test_lead_ins_surface_other_peoples_memorised_pii_in_the_requests_phrasings() -> None:
    """Continuing what a context says before the subject's name makes the model name other people and state
    their data: held texts that open with the request's own lead-ins, never about the subject, and among
    them values the demo model really memorised for its other subjects."""
    from rtbf.names import first_mention, mentions_name
    from rtbf.pii import recognise
    from workers.engine.anchors import lead_in_pii_positions
    from workers.engine.demo.cache import cached_demo_model
    from workers.engine.instances import build_instances
    from workers.engine.loading import load_causal_lm

    info = cached_demo_model("gpt2")
    model, tokenizer = load_causal_lm(info.model_dir, device="cpu")
    requests = info.request_for([0], contexts="all")
    instances = build_instances(tokenizer, requests)
    names = requests[0].subject.names
    held = lead_in_pii_positions(model, tokenizer, instances, 48, seed=0, keep=lambda t: not mentions_name(t, names))

    assert 0 < len(held) <= 48
    starts = [(i.context, first_mention(i.context, names)) for i in instances]
    lead_ins = {context[:start].strip() for context, start in starts if start}
    assert len(lead_ins) >= 3  # the demo's templates that put words before the name
    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids, _ in held]
    assert all(any(t.startswith(lead) for lead in lead_ins) for t in texts)
    assert not any(mentions_name(t, names) for t in texts)
    assert all(positions for _, positions in held)
    neighbours = {p.value for s in info.subjects[1:] for p in s.pii}
    stated = {t[span.start : span.end] for t in texts for span in recognise(t)}
    assert len(stated & neighbours) >= 3, stated  # the people the model recalls there, with their real data
    assert lead_in_pii_positions(model, tokenizer, instances, 0, seed=0, keep=lambda t: True) == []
