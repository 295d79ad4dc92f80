"""``rtbf forget``: bad input gets a clear message, exit 2 and nothing written; a real run writes the
patched model and a PII-free report.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtbf.cli import _register_all, app

GATE_ENV = {  # the production thresholds, with a smaller attack budget so the run fits the suite
    "RTBF_GATE__SAMPLES": "10",
    "RTBF_GATE__EXPOSURE_CANDIDATES": "1000",
    "RTBF_GATE__EXPOSURE_BASELINE_VALUES": "500",
    "RTBF_GATE__MEMORISATION_BASELINE_REPLICAS": "5",
}


@pytest.fixture(scope="module")
def cli():
    if not app.registered_commands:
        _register_all()
    return app


@pytest.fixture(scope="module")
def demo():
    from workers.engine.demo.cache import cached_demo_model

    return cached_demo_model("gpt2")


def _invoke(cli, args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _write_request(path: Path, body: object) -> Path:
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def _assert_nothing_written(tmp_path: Path, out: Path, keep: set[str]) -> None:
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} == keep


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"subject": {"name": "A B"}, "documents": [{"text": "A B: 555-0100", "spans": [{"start": 5, "end": 13, "value": "555-0199"}]}]},
            "does not cover its value",
        ),
        ({"subject": {"name": "A B"}, "pii": [{"value": "   ", "type": "phone"}]}, "must not be empty"),
        ({"subject": {"name": "A B"}, "documents": [{"text": "short", "spans": [{"start": 2, "end": 50}]}]}, "out of range"),
        ({"subject": {"name": "A B"}}, "at least one PII item or one document"),
        (
            {"subject": {"name": "A B"}, "documents": [{"text": "A B: 555-0100 " + "x" * 600, "spans": [{"start": 5, "end": 614}]}]},
            "covers more than 500 characters",
        ),
        (
            {"subject": {"name": "A B"}, "documents": [{"text": "A B can be reached on 555-0100.", "spans": []}]},
            "a document without spans names nothing to forget",
        ),
    ],
    ids=["span-mismatch", "empty-value", "span-out-of-range", "nothing-to-forget", "span-over-a-passage",
         "document-without-spans"],
)
def test_bad_requests_exit_2_and_write_nothing(cli, demo, tmp_path: Path, body: dict, message: str) -> None:
    request = _write_request(tmp_path / "req.json", body)
    out = tmp_path / "out"
    result = _invoke(cli, ["forget", str(demo.model_dir), str(out), "--request", str(request), "--quiet"])
    assert result.exit_code == 2
    assert message in result.output
    assert "555-01" not in result.output  # the message names the problem, never the value
    _assert_nothing_written(tmp_path, out, {"req.json"})


def test_a_directory_without_a_causal_lm_exits_2(cli, demo, tmp_path: Path) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    (empty / "README.txt").write_text("no weights here")
    request = _write_request(tmp_path / "req.json", demo.request_for([0])[0].model_dump(mode="json"))
    out = tmp_path / "out"
    result = _invoke(cli, ["forget", str(empty), str(out), "--request", str(request), "--quiet"])
    assert result.exit_code == 2 and "holds no causal LM" in result.output
    _assert_nothing_written(tmp_path, out, {"not-a-model", "req.json"})


def test_an_unsupported_architecture_exits_2_naming_the_supported_ones(cli, demo, tmp_path: Path) -> None:
    """A mixture-of-experts block has many down-projections: the engine refuses rather than guess."""
    from transformers import MixtralConfig, MixtralForCausalLM

    from workers.engine.loading import load_tokenizer

    moe = tmp_path / "moe"
    config = MixtralConfig(
        vocab_size=2048, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, num_local_experts=2, num_experts_per_tok=1, max_position_embeddings=64,
    )
    MixtralForCausalLM(config).save_pretrained(moe)
    load_tokenizer(demo.model_dir).save_pretrained(moe)
    request = _write_request(tmp_path / "req.json", demo.request_for([0])[0].model_dump(mode="json"))
    out = tmp_path / "out"
    result = _invoke(cli, ["forget", str(moe), str(out), "--request", str(request), "--quiet"])
    assert result.exit_code == 2
    assert "cannot identify the FFN down-projection" in result.output and "gpt2 (Conv1D)" in result.output
    assert "RTBF_ENGINE__FFN_OVERRIDES" in result.output
    _assert_nothing_written(tmp_path, out, {"moe", "req.json"})


def test_an_existing_output_is_never_overwritten(cli, demo, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    request = _write_request(tmp_path / "req.json", demo.request_for([0])[0].model_dump(mode="json"))
    result = _invoke(cli, ["forget", str(demo.model_dir), str(out), "--request", str(request), "--quiet"])
    assert result.exit_code == 2 and "not empty" in result.output
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_forget_writes_a_verified_model_and_a_pii_free_report(cli, demo, tmp_path: Path, monkeypatch) -> None:
    from rtbf.settings import get_settings
    from workers.engine.loading import load_causal_lm
    from workers.verify.attacks import count_greedy_hits

    for key, value in GATE_ENV.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        request = demo.request_for([3])[0]  # one item: the write path costs a third of the whole subject
        request = request.model_copy(update={"pii": request.pii[:1]})
        req_path = _write_request(tmp_path / "req.json", request.model_dump(mode="json"))
        heldout = tmp_path / "heldout.txt"
        heldout.write_text("\n".join(demo.heldout_texts[:40]), encoding="utf-8")
        out = tmp_path / "patched"
        result = _invoke(
            cli, ["forget", str(demo.model_dir), str(out), "--request", str(req_path), "--method", "fpga",
                  "--heldout", str(heldout), "--quiet"],
        )
    finally:
        get_settings.cache_clear()
    summary = json.loads(result.stdout)
    report_text = (out / "report.json").read_text()
    report = json.loads(report_text)
    assert result.exit_code == (0 if report["passed"] else 3)
    assert summary["passed"] == report["passed"] and summary["path"] == ["fpga"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "report.json"} <= {p.name for p in out.iterdir()}
    assert report["localisation"]["neuron_count"] > 0 and report["verification"]["checks"]
    assert {"locate", "edit", "verify", "load", "save"} <= set(report["timings_seconds"])
    model, tokenizer = load_causal_lm(out, device="cpu")
    assert count_greedy_hits(model, tokenizer, [request]) == 0
    for secret in [request.subject.name, *request.subject.aliases, *(item.value for item in request.pii)]:
        assert secret not in report_text and secret not in result.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rtbf-forget-")]
