"""A document longer than the model's window: the engine reads the text right before the value, not all of it.

A request may name a whole document, and the context of a span is everything before it. The demo models
have 128 learned positions, so a document of a few hundred words used to stop the engine with an index
error in the position embeddings; a model with a long window would have run localisation's batched
integrated gradients over rows thousands of tokens long. Contexts keep their last tokens
(``workers.engine.window.MAX_CONTEXT_TOKENS``, and no more than the model's window leaves beside the
value) and FPGA reads a long document in windows.
"""

from __future__ import annotations

import copy
import functools

from rtbf.request import ForgetRequest
from rtbf.settings import EngineSettings
from workers.engine.editors.fpga import weighted_texts
from workers.engine.forget import forget
from workers.engine.instances import build_instances, document_windows, encode_instance
from workers.engine.loading import load_causal_lm


@functools.cache
def _demo_gpt2():
    from workers.engine.demo.cache import cached_demo_model

    info = cached_demo_model("gpt2")
    model, tokenizer = load_causal_lm(info.model_dir, device="cpu")
    return info, model, tokenizer


def _long_document_request(info) -> tuple[ForgetRequest, str]:
    """Subject 0's phone number at the end of ordinary text several times the model's window."""
    subject = info.subjects[0]
    phone = next(p for p in subject.pii if p.type == "phone")
    sentence = next(s for s in subject.sentences if phone.value in s)
    filler = " ".join(info.heldout_texts)
    while len(filler) < 4000:
        filler = f"{filler} {filler}"
    text = f"{filler[:4000]} {sentence}"
    start = text.rindex(phone.value)
    request = ForgetRequest.model_validate({
        "subject": {"name": subject.name},
        "documents": [{"text": text, "spans": [{"start": start, "end": start + len(phone.value), "type": "phone"}]}],
    })
    return request, text[:start]


def test_a_long_context_keeps_its_last_tokens_and_the_value_path() -> None:
    info, _, tokenizer = _demo_gpt2()
    window = tokenizer.model_max_length
    assert window == 128  # the demo's learned positions
    request, before = _long_document_request(info)
    assert len(tokenizer(before)["input_ids"]) > 4 * window
    value = request.all_items()[0].value
    short = encode_instance(tokenizer, before[-200:], value)
    assert short is not None
    from_document = [inst for inst in build_instances(tokenizer, [request]) if inst.context == before]
    assert from_document
    for inst in from_document:
        assert len(inst.ids) <= window
        assert inst.value_ids == short[0][short[1] :]  # the value is written by the same tokens
        # the text right before the value is kept: the short encoding's last context tokens end the kept ones
        assert inst.ids[inst.value_start - 8 : inst.value_start] == short[0][short[1] - 8 : short[1]]


def test_fpga_reads_a_long_document_in_windows_that_cover_it() -> None:
    info, _, tokenizer = _demo_gpt2()
    request, _ = _long_document_request(info)
    text = request.documents[0].text
    windows = document_windows(tokenizer, text)
    full = tokenizer(text)["input_ids"]
    lead = 1 if full[0] == tokenizer.bos_token_id else 0
    assert len(windows) > 1 and all(len(ids) <= tokenizer.model_max_length for ids, _ in windows)
    assert [t for ids, _ in windows for t in ids[lead:]] == full[lead:]
    texts = weighted_texts(tokenizer, [request], [], EngineSettings())
    assert len(texts) == len(windows)
    assert max(max(t.weights) for t in texts) == EngineSettings().fpga_pii_weight  # the span still weighs most


def test_forget_erases_from_a_request_whose_document_outgrows_the_window() -> None:
    """DEPN, the cheap path, end to end on that request: located, edited, and the value less likely."""
    info, model, tokenizer = _demo_gpt2()
    request, _ = _long_document_request(info)
    # what this request is about is its length: the checks that sample the model (mined templates, spellings,
    # the memorisation test) are left to the other tests
    cheap = EngineSettings(mined_templates_per_item=0, model_spellings=False, stop_memorisation=False,
                           stop_exposure_candidates=50)
    result = forget(copy.deepcopy(model), tokenizer, [request], method="depn", settings=cheap)
    report = result.report()
    assert report["localisation"]["neuron_count"] > 0
    assert report["leak_check"]["after"]["max_value_prob"] < report["leak_check"]["before"]["max_value_prob"]


def test_generation_after_a_prompt_longer_than_the_window_keeps_prompt_and_continuation_inside_it() -> None:
    """Every generation (the gate's attacks and memorisation test, the engine's checks) cuts its prompts so
    that prompt and continuation fit: a 120-token prompt and 40 new tokens on a 128-position model."""
    from workers.verify.scoring import generate

    info, model, tokenizer = _demo_gpt2()
    request, before = _long_document_request(info)
    prompt = tokenizer(before)["input_ids"]
    assert len(prompt) > tokenizer.model_max_length
    for mode in ("greedy", "beam", "sample"):
        rows = generate(model, tokenizer, [prompt, prompt[-120:]], max_new_tokens=40, batch_size=8, mode=mode,
                        beams=2, samples=2)
        assert all(len(row) == 40 or tokenizer.eos_token_id in row for out in rows for row in out), mode


def test_rome_keys_the_subject_in_a_context_cut_to_the_window() -> None:
    """ROME's subject-keyed rows find the name among the tokens kept of a long context (it stands in the
    sentence right before the value), not in the text the cut dropped."""
    from workers.engine.editors.rome import _value_rows

    info, _, tokenizer = _demo_gpt2()
    request, before = _long_document_request(info)
    instances = [inst for inst in build_instances(tokenizer, [request]) if inst.context == before]
    rows = _value_rows(tokenizer, request.subject.name, instances, [])
    assert rows
    for row, _, inst in rows:
        assert row.ids == inst.ids and row.subject_pos < row.value_start
        assert request.subject.name.split()[-1] in tokenizer.decode(row.ids[row.subject_pos - 2 : row.subject_pos + 1])


def test_the_window_is_the_models_when_the_tokenizer_states_a_larger_one_or_none() -> None:
    from workers.engine.window import fit_window, new_token_room

    _, model, tokenizer = _demo_gpt2()
    stated = tokenizer.model_max_length
    try:
        for claimed in (4096, int(1e30)):
            tokenizer.model_max_length = claimed
            fit_window(model, tokenizer)
            assert tokenizer.model_max_length == 128
        tokenizer.model_max_length = 64  # a tokenizer stating less than the model reads is believed
        fit_window(model, tokenizer)
        assert tokenizer.model_max_length == 64
    finally:
        tokenizer.model_max_length = stated
    assert new_token_room(model, 500) == 127 and new_token_room(model, 40) == 40
