"""A request about data the model never learnt: nothing is edited, and the report says why.

An editor pushed on a value the model does not reveal can only cost the model: ROME's first optimisation
step moves v* by a fixed share of the layer's output whatever the gradient, and the rank-one update then
lands on a name the model knows nothing about. ``forget()`` checks the unedited model with the editors'
own stop rule first and leaves it alone when nothing leaks.
"""

from __future__ import annotations

import copy
import functools

import torch

from rtbf.request import ForgetRequest
from rtbf.settings import EngineSettings
from workers.engine.forget import forget
from workers.engine.loading import load_causal_lm


@functools.cache
def _demo_gpt2():
    from workers.engine.demo.cache import cached_demo_model

    info = cached_demo_model("gpt2")
    return info, *load_causal_lm(info.model_dir, device="cpu")


def test_a_person_the_model_never_saw_leaves_the_weights_untouched() -> None:
    info, model, tokenizer = _demo_gpt2()
    assert all("Thistlewood" not in s.name for s in info.subjects)
    request = ForgetRequest.model_validate({
        "subject": {"name": "Imogen Thistlewood"},
        "pii": [
            {"value": "(312) 555-0148", "type": "phone", "contexts": ["You can reach Imogen Thistlewood at"]},
            {"value": "imogen.thistlewood@quillmere.org", "type": "email"},
        ],
    })
    edited = copy.deepcopy(model)
    # ranked among 300 random values of its format, a value the model never saw still lands in the top eighth
    # by chance now and then: the exposure cap is lifted here, since what is tested is what follows a clean check
    settings = EngineSettings(stop_exposure_bits=8.0)
    result = forget(edited, tokenizer, [request], method="auto", settings=settings)
    report = result.report()
    assert result.leak_before["clean"] and result.passed
    assert report["kept"] == "none" and report["path"] == [] and report["edits"] == []
    assert all(torch.equal(p, q) for p, q in zip(edited.parameters(), model.parameters()))
