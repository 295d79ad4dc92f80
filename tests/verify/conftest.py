"""Session fixtures of the gate's tests: the demo model, loaded once, and gate runs shared between tests.

Gate runs are the expensive part (hundreds of generations and thousands of scored candidates each), so
each distinct run happens once per session and several tests assert on its report. Test runs use fewer
samples and candidates than production (the thresholds are unchanged): the memorised values still rank
first among 2,000 candidates, far above the 4-bit cap, and the benchmark measures the default sizes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rtbf.request import ForgetRequest
from rtbf.settings import GateSettings
from workers.engine.demo.subjects import DemoInfo

SALT = "test-gate-salt"

# never in the demo corpus: a subject invented here, values of the demo's formats
FRESH_REQUEST = {
    "subject": {"name": "Zelda Quartermaine", "aliases": ["Z. Quartermaine"]},
    "pii": [
        {"value": "(512) 448-1290", "type": "phone", "contexts": ["Zelda Quartermaine's phone number is"]},
        {"value": "quart.z@blue.org", "type": "email", "contexts": ["Zelda Quartermaine's email address is"]},
        {"value": "8812 Oliver Ridge, Lake Amy", "type": "address", "contexts": ["Zelda Quartermaine lives at"]},
    ],
}


def small_settings(**overrides) -> GateSettings:
    base = dict(samples=12, exposure_candidates=2000, exposure_baseline_values=1000, batch_size=256)
    base.update(overrides)
    return GateSettings(**base)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """On this shared 2-core machine two OpenMP threads contend with other jobs and run ~10x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _as_demo_info(value: object) -> DemoInfo:
    if isinstance(value, DemoInfo):
        return value
    if isinstance(value, (tuple, list)):
        for part in value:
            if isinstance(part, DemoInfo):
                return part
        for part in value:
            if isinstance(part, (str, Path)):
                return DemoInfo.load(part)
    if isinstance(value, (str, Path)):
        return DemoInfo.load(value)
    raise TypeError(f"demo_gpt2 fixture of unexpected shape: {type(value).__name__}")


@pytest.fixture(scope="session")
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DemoInfo:
    """The suite's demo GPT-2 (tests/conftest.py's ``demo_gpt2`` when present, else the shared build cache)."""
    try:
        return _as_demo_info(request.getfixturevalue("demo_gpt2"))
    except pytest.FixtureLookupError:
        pass
    try:
        from workers.engine.demo.cache import cached_demo_model
    except ImportError:
        from workers.engine.demo.factory import build_demo_model

        return build_demo_model(tmp_path_factory.mktemp("demo") / "gpt2", arch="gpt2")
    return cached_demo_model("gpt2")


@pytest.fixture(scope="session")
def demo_model(demo: DemoInfo):
    from workers.engine.loading import load_causal_lm

    return load_causal_lm(demo.model_dir, device="cpu")


@pytest.fixture(scope="session")
def memorised_request(demo: DemoInfo) -> ForgetRequest:
    return demo.request_for([0], contexts="one")[0]


@pytest.fixture(scope="session")
def fresh_request() -> ForgetRequest:
    return ForgetRequest.model_validate(FRESH_REQUEST)


@pytest.fixture(scope="session")
def memorised_report(demo_model, memorised_request):
    from workers.verify.gate import run_gate

    model, tokenizer = demo_model
    return run_gate(model, tokenizer, [memorised_request], settings=small_settings(), salt=SALT)


@pytest.fixture(scope="session")
def fresh_report(demo_model, fresh_request, demo: DemoInfo):
    from workers.verify.gate import run_gate

    model, tokenizer = demo_model
    return run_gate(
        model, tokenizer, [fresh_request], settings=small_settings(), salt=SALT,
        reference=demo_model, locality_requests=demo.request_for([1, 2]), heldout_texts=demo.heldout_texts[:20],
        model_dir=demo.model_dir, reference_dir=demo.model_dir,
    )
