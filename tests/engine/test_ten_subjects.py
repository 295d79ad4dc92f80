"""Ten subjects in one request, edited in one pass: the issue's figures at the scale of a batch of tickets.

One ten-subject edit costs 8 to 17 minutes per architecture on this machine's two cores, more than the
whole default suite, so these tests are left out of it (``-m "not ten_subjects"`` in pyproject.toml) and
run on demand: ``python -m pytest -m ten_subjects -n 3 --dist loadgroup``. They assert what
``tests/engine/test_forget.py`` asserts for one subject: no hit in any decoding mode from any phrasing
(the demo's training sentences and paraphrases the model never saw), at least 95% of the other 22
subjects' items still extracted, held-out perplexity within +3%. ``benchmarks/erasure_figures.py``
prints the same figures with the items behind them.
"""

from __future__ import annotations

import pytest

from tests.engine.test_forget import _baseline, assert_erased, run_forget
from workers.engine.demo.architectures import ARCHITECTURES

pytestmark = pytest.mark.ten_subjects
TEN = list(range(10))


# Measured with benchmarks/erasure_figures.py (README, "Ten subjects in one pass") with the default settings
# (mined templates, namesakes held, retain PII weight 4): GPT-2 0/0/0 hits and 64/65 kept; LLaMA 0/0/0 and 65/65
# (PII weight 1). NeoX was 0/1/0 and 64/64 before the templates and has not been re-measured with them.
KNOWN_SHORT: dict[str, str] = {}


def _marks(arch: str) -> list:
    marks = [pytest.mark.xdist_group(f"ten-{arch}")]
    if arch in KNOWN_SHORT:
        marks.append(pytest.mark.xfail(reason=KNOWN_SHORT[arch], strict=False))
    return marks


@pytest.mark.parametrize("arch", [pytest.param(arch, marks=_marks(arch)) for arch in ARCHITECTURES])
def test_fpga_erases_ten_subjects_in_one_pass(arch: str) -> None:
    outcome = run_forget(_baseline(arch), TEN, "fpga")
    result = outcome.result
    print(f"{arch}/fpga/10: hits {outcome.target.hits} (before {outcome.target_before.hits}), locality "
          f"{outcome.locality:.3f}, perplexity {outcome.perplexity_rise:+.2%}, {result.leak_after}")
    assert result.path == ["fpga"] and len(result.edits) == 1  # one edit for the ten, not one per subject
    assert_erased(outcome, f"{arch}/fpga/10", stop_rule=False)
