"""Documents in a request: their spans become items, the text before a value becomes an attack prompt, and
the text after it lets EL_10 be measured."""

from __future__ import annotations

import pytest

from rtbf.request import ForgetRequest
from tests.verify.conftest import SALT, small_settings
from workers.verify.attacks import item_contexts, plan_attacks
from workers.verify.gate import run_gate
from workers.verify.memorisation import memorisation_instances


def _document_request(demo) -> ForgetRequest:
    subject = demo.subjects[0]
    phone = next(p for p in subject.pii if p.type == "phone")
    sentence = next(s for s in subject.sentences if phone.value in s)
    text = f"Notes from the front desk. {sentence} Please keep this number private."
    start = text.index(phone.value)
    return ForgetRequest.model_validate({
        "subject": {"name": subject.name},
        "documents": [{"text": text, "spans": [{"start": start, "end": start + len(phone.value), "type": "phone"}]}],
    })


def test_document_spans_give_items_prompts_and_suffixes(demo) -> None:
    request = _document_request(demo)
    item = request.all_items()[0]
    text = request.documents[0].text
    before = text[: text.index(item.value)].rstrip()
    assert item_contexts(request, item)[0] == before
    assert all(item.value not in c for c in item_contexts(request, item))
    prefix, suffix = memorisation_instances(request, item, limit=3)[0]
    assert prefix == before and suffix.startswith(". Please keep")
    assert [a.item.value for a in plan_attacks([request])] == [item.value]


def test_gate_on_a_document_request_measures_el10_and_fails(demo_model, demo) -> None:
    model, tokenizer = demo_model
    request = _document_request(demo)
    report = run_gate(model, tokenizer, [request], settings=small_settings(samples=0), salt=SALT)
    memo = report.requests[0].memorisation
    assert memo.el["10"] is not None and memo.el["3"] is not None
    assert report.requests[0].items[0].attacks["greedy"].hits > 0
    assert report.passed is False
    assert request.all_items()[0].value not in report.model_dump_json()


def test_a_second_mention_never_becomes_a_context_of_its_own_value(demo) -> None:
    """Before the value's second mention the value stands in the text: a model could copy it from there, and
    its never-seen replicas could not be, so no context, attack prompt or memorisation prefix holds it."""
    request = _document_request(demo)
    doc = request.documents[0]
    value = request.all_items()[0].value
    text = f"{doc.text} Again: {value}."
    second = text.rindex(value)
    request = ForgetRequest.model_validate({
        "subject": request.subject.model_dump(),
        # the span marks the second mention; the first is a verbatim mention the engine finds by itself
        "documents": [{"text": text, "spans": [{"start": second, "end": second + len(value), "type": "phone"}]}],
    })
    item = request.all_items()[0]
    assert item.contexts == [text[: text.index(value)]]
    assert all(value not in c for c in item_contexts(request, item))
    prefixes = [prefix for prefix, _ in memorisation_instances(request, item, limit=10)]
    assert prefixes and all(value not in prefix for prefix in prefixes)


@pytest.mark.parametrize(
    ("text", "value", "kind", "context"),
    [
        ("Lisa met Li at noon. Li lives here.", "Li", "name", "Lisa met "),  # not the 'Li' of 'Lisa'
        ("Born in 1942, he is 42 now.", "42", "other", "Born in 1942, he is "),  # not the '42' of '1942'
    ],
)
def test_a_spans_context_starts_at_its_values_first_whole_mention(text, value, kind, context) -> None:
    start = text.rindex(value)
    request = ForgetRequest.model_validate({
        "subject": {"name": "A B"}, "documents": [{"text": text, "spans": [{"start": start, "end": start + len(value), "type": kind}]}],
    })
    assert request.all_items()[0].contexts == [context]
