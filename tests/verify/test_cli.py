"""``rtbf audit``: exit 0 when nothing is extractable, 1 when something is, 2 on bad input; JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.verify.conftest import FRESH_REQUEST
from workers.verify.cli import register


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer in multi-command mode, as in the real root
        """Placeholder."""

    return app


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture()
def cheap_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    from rtbf.settings import get_settings

    for key, value in {"SAMPLES": "4", "EXPOSURE_CANDIDATES": "1000", "EXPOSURE_BASELINE_VALUES": "500", "EL_NS": "[3]"}.items():
        monkeypatch.setenv(f"RTBF_GATE__{key}", value)
    monkeypatch.setenv("RTBF_HASH_SALT", "cli-test-salt")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_audit_exit_1_for_memorised_and_0_for_never_seen(app, runner, demo, tmp_path, cheap_gate) -> None:
    memorised = demo.request_for([0])[0]
    req = _write(tmp_path / "memorised.json", memorised.model_dump(mode="json"))
    out_file = tmp_path / "report.json"
    result = runner.invoke(app, ["audit", str(demo.model_dir), "--request", str(req), "--output", str(out_file)])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert report["thresholds"]["samples"] == 4 and report["thresholds"]["exposure_candidates"] == 1000
    assert json.loads(out_file.read_text()) == report
    for value in [memorised.subject.name, *[i.value for i in memorised.pii]]:
        assert value not in result.stdout

    fresh = _write(tmp_path / "fresh.json", FRESH_REQUEST)
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("\n".join(demo.heldout_texts[:10]), encoding="utf-8")
    others = _write(tmp_path / "others.json", [r.model_dump(mode="json") for r in demo.request_for([1, 2])])
    result = runner.invoke(
        app,
        ["audit", str(demo.model_dir), "--request", str(fresh), "--reference", str(demo.model_dir),
         "--heldout", str(heldout), "--locality", str(others)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["utility"]["heldout_texts"] == 10
    assert report["utility"]["locality"] == 1.0 and report["utility"]["locality_items"] == 6
    assert report["reference"]["files"] == report["model"]["files"]

    # the same never-seen request, but an earlier erasure of the lineage is extractable again: exit 1
    prior = _write(tmp_path / "prior.json", [memorised.model_dump(mode="json")])
    result = runner.invoke(app, ["audit", str(demo.model_dir), "--request", str(fresh), "--prior", str(prior)])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [r["role"] for r in report["requests"]] == ["current", "prior"]
    assert report["requests"][0]["passed"] is True and report["requests"][1]["passed"] is False
    assert "Zelda" not in result.stdout and "448-1290" not in result.stdout


def test_audit_exit_2_on_bad_input(app, runner, demo, tmp_path) -> None:
    good = _write(tmp_path / "good.json", FRESH_REQUEST)
    cases = [
        ["audit", str(demo.model_dir), "--request", str(tmp_path / "missing.json")],
        ["audit", str(tmp_path / "no-model"), "--request", str(good)],
        ["audit", str(tmp_path), "--request", str(good)],  # a directory without a model
        ["audit", str(demo.model_dir), "--request", str(good), "--heldout", str(tmp_path / "none.txt")],
    ]
    cases.append(["audit", str(demo.model_dir), "--request", str(good), "--prior", str(tmp_path / "nope.json")])
    cases.append(["audit", str(demo.model_dir), "--request", str(good), "--reference", str(tmp_path / "nothing")])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    cases.append(["audit", str(demo.model_dir), "--request", str(broken)])
    secret = dict(FRESH_REQUEST, pii=[{"value": "(512) 448-1290", "type": "telepathy"}])
    cases.append(["audit", str(demo.model_dir), "--request", str(_write(tmp_path / "bad.json", secret))])
    for args in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Error:" in result.stderr
        assert "448-1290" not in result.output and "Zelda" not in result.output
        assert result.stdout == ""
