"""The model's own phrasings: contexts in which the unedited demo model writes a requested value.

The request names one training phrasing per item; the demo learnt four per item. Prompted with the
subject's names and sampled, the model must give back wordings the request did not name, each one a
context after which the value really follows in the model's own writing, and nothing for a value it
never saw.
"""

from __future__ import annotations

import pytest

from rtbf.request import ForgetRequest, PiiItem, Subject
from workers.engine.instances import build_instances, value_log_probs
from workers.engine.loading import load_causal_lm
from workers.engine.phrasings import model_phrasings, value_starts, with_model_phrasings

OPTIONS = dict(samples_per_name=16, max_new_tokens=48, per_item=3)


@pytest.fixture(scope="module")
def demo(demo_gpt2):
    model, tokenizer = load_causal_lm(demo_gpt2.model_dir, device="cpu")
    return demo_gpt2, model, tokenizer


def test_a_value_is_found_verbatim_or_written_with_other_separators() -> None:
    item = PiiItem(value="(977) 630-0663", type="phone", contexts=[])
    assert value_starts("Call (977) 630-0663 now.", item) == [5]
    assert value_starts("Call 977.630.0663 now.", item) == [5]
    assert value_starts("Call 977.630.0664 now.", item) == []


def test_the_model_gives_back_phrasings_the_request_did_not_name(demo) -> None:
    info, model, tokenizer = demo
    requests = info.request_for([0, 1, 2], contexts="one")
    training = {context for index in (0, 1, 2) for _, _, context in info.training_prompts(index)}
    found = [model_phrasings(model, tokenizer, r, seed=k, **OPTIONS) for k, r in enumerate(requests)]
    added = [c for per_request in found for per_item in per_request for c in per_item]
    print(f"{len(added)} contexts found for {sum(len(r.all_items()) for r in requests)} items")
    assert len(added) >= 6
    for request, per_request in zip(requests, found):
        for item, contexts in zip(request.all_items(), per_request):
            assert len(contexts) <= OPTIONS["per_item"]
            assert not set(contexts) & set(item.contexts) and len(set(contexts)) == len(contexts)
    # most are the demo's own training phrasings the request left out (the model learnt them verbatim)
    assert len(set(added) & training) >= len(added) // 2
    # after each, the unedited model gives the value a high probability: it is where the model writes it
    augmented = with_model_phrasings(model, tokenizer, requests, seed=0, **OPTIONS)
    instances = [i for i in build_instances(tokenizer, augmented, lambda r, item: item.contexts) if i.context in added]
    log_probs = value_log_probs(model, instances, tokenizer.pad_token_id or 0, model.device)
    assert len(instances) == len(set(added)) and float(log_probs.exp().median()) > 0.5
    # the items keep their order and their own contexts first
    for before, after in zip(requests, augmented):
        assert [i.value for i in before.all_items()] == [i.value for i in after.all_items()]
        assert all(a.contexts[: len(b.contexts)] == b.contexts for a, b in zip(after.all_items(), before.all_items()))


def test_a_value_the_model_never_saw_yields_no_phrasing(demo) -> None:
    info, model, tokenizer = demo
    subject = info.subjects[0]
    request = ForgetRequest(
        subject=Subject(name=subject.name, aliases=subject.aliases),
        pii=[PiiItem(value="(212) 555-0187", type="phone", contexts=[]), PiiItem(value="q.zed@nowhere.example", type="email", contexts=[])],
    )
    assert model_phrasings(model, tokenizer, request, seed=0, **OPTIONS) == [[], []]
    assert with_model_phrasings(model, tokenizer, [request], seed=0, **OPTIONS) == [request]
