"""The issue's one-subject figures on families the engine was not developed on: GPT-J, OPT and Qwen2, and on
a LLaMA demo whose tokenizer follows SentencePiece's Metaspace convention instead of byte-level BPE.

The engine's defaults were worked out on the GPT-2, LLaMA and GPT-NeoX demos. These three families differ
again where an editor could have assumed one layout: GPT-J runs attention and the FFN in parallel from one
layer norm and has an untied head; OPT keeps ``fc1``/``fc2`` directly in the block (no MLP module to train),
uses ReLU and learned positions that start at an offset; Qwen2 has grouped-query attention with biased
q/k/v projections. The SentencePiece LLaMA keeps punctuation in the word, so the path a value is written
by depends on what follows it (``workers/engine/instances.py``). Each demo is built on first use (one or
two minutes), then every method erases subject 0
and the same assertions as ``tests/engine/test_forget.py`` hold: no hit in any decoding mode from any
phrasing, at least 95% of the other subjects' items kept, held-out perplexity within +3%.

A run per method and family costs minutes, twelve in all, so the module is left out of the default run
(``-m "not more_architectures"`` in pyproject.toml): ``python -m pytest -m more_architectures -n 2 --dist
loadgroup -rA`` (the figures are in each test's captured output).
"""

from __future__ import annotations

import pytest

from tests.engine.test_forget import _baseline, assert_erased, run_forget
from workers.engine.demo.architectures import MORE_ARCHITECTURES

pytestmark = pytest.mark.more_architectures
METHODS = ("rome", "fpga", "auto")
# Measured by this module (README, "Families the engine was not developed on"): every run reached 0 / 0 / 0
# hits within the perplexity budget. ROME's edit of the Qwen2 demo built on an earlier machine kept 87 of 92
# neighbours' items, and on the SentencePiece LLaMA one value path kept 4.8e-4 against the engine's 1e-4
# ceiling; since the value-keyed edit holds the lead-ins' continuations (2026-12-07) both meet every figure
# on this machine's demos (Qwen2 92 of 93 kept, SentencePiece LLaMA 100%).
KNOWN_SHORT: dict[tuple[str, str], str] = {}


def _param(family: str, method: str, *values: str):
    """A test parameter in its family's xdist group, an expected failure where KNOWN_SHORT says so."""
    marks = [pytest.mark.xdist_group(f"more-{family}")]
    if (family, method) in KNOWN_SHORT:
        marks.append(pytest.mark.xfail(reason=KNOWN_SHORT[(family, method)], strict=False))
    return pytest.param(*values, marks=marks)


def _erases_subject_0(label: str, base, method: str) -> None:
    outcome = run_forget(base, [0], method)
    print(f"{label}/{method}: path {outcome.result.path}, hits {outcome.target.hits} (before "
          f"{outcome.target_before.hits}), locality {outcome.locality:.3f}, perplexity {outcome.perplexity_rise:+.2%}")
    assert outcome.result.path[-1 if method == "auto" else 0] in ({"rome", "fpga"} if method == "auto" else {method})
    assert_erased(outcome, f"{label}/{method}", stop_rule=False)


@pytest.mark.parametrize(("arch", "method"), [_param(a, m, a, m) for m in METHODS for a in MORE_ARCHITECTURES])
def test_each_method_erases_one_subject_on_another_family(arch: str, method: str) -> None:
    _erases_subject_0(arch, _baseline(arch), method)


@pytest.mark.parametrize("method", [_param("llama-sentencepiece", m, m) for m in METHODS])
def test_each_method_erases_one_subject_with_a_sentencepiece_tokenizer(method: str) -> None:
    _erases_subject_0("llama-sentencepiece", _baseline("llama", "sentencepiece"), method)
