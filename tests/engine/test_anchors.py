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
