"""Worker-side commands of the ``rtbf`` CLI: the demo model, offline forgetting and the Celery worker.

Heavy imports (torch, transformers) happen inside command bodies so ``rtbf --help`` stays instant.
Exit codes of ``rtbf forget``: 0 verification passed, 3 it did not (the patched model is still written,
with the failing report, for inspection), 2 bad input (nothing written).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

EXIT_OK, EXIT_BAD_INPUT, EXIT_NOT_VERIFIED = 0, 2, 3


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise _fail(f"output directory {out_dir} already exists and is not empty; choose a new path")


def _read_lines(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    if not path.is_file():
        raise _fail(f"file not found: {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class _StageProgress:
    """One tqdm bar per stage on stderr; quiet when stderr is not a terminal and --quiet is given."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[str, object] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=True)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def forget_command(
    model_dir: Annotated[Path, typer.Argument(help="Directory of the model to patch (save_pretrained layout).")],
    out_dir: Annotated[Path, typer.Argument(help="Where the patched model and report.json are written (new or empty).")],
    request: Annotated[Path, typer.Option("--request", "-r", help="REQ.json: one request or a list of them.")],
    method: Annotated[str, typer.Option(help="auto | rome | fpga | depn")] = "auto",
    heldout: Annotated[Path | None, typer.Option(help="Held-out text (one per line) for the perplexity check.")] = None,
    locality: Annotated[Path | None, typer.Option(help="REQ.json of other subjects whose PII must stay extractable.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Erase the request's PII from a model, verify it, and write the patched copy and report.json."""
    from rtbf.request import RequestError, load_requests
    from workers.engine.forget import METHODS

    if method not in METHODS:
        raise _fail(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    try:
        requests = load_requests(request)
        locality_requests = load_requests(locality) if locality else []
    except RequestError as exc:
        raise _fail(str(exc)) from None
    heldout_texts = _read_lines(heldout)
    _check_out_dir(out_dir)

    from workers.engine.errors import EngineError
    from workers.offline import forget_offline

    progress = _StageProgress(enabled=not quiet)
    tmp_root = Path(tempfile.mkdtemp(prefix=".rtbf-forget-", dir=out_dir.parent if out_dir.parent.exists() else None))
    try:
        try:
            outcome = forget_offline(
                model_dir,
                tmp_root / "out",
                requests,
                method=method,
                heldout_texts=heldout_texts,
                locality_requests=locality_requests,
                device=device,
                progress=progress,
            )
        except EngineError as exc:
            raise _fail(str(exc)) from None
        finally:
            progress.close()
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        (tmp_root / "out").rename(out_dir)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    summary = {
        "passed": outcome["passed"],
        "method": outcome["method"],
        "path": outcome["path"],
        "kept": outcome.get("kept"),
        "report": str(out_dir / "report.json"),
        "timings_seconds": outcome["timings_seconds"],
    }
    typer.echo(json.dumps(summary, indent=2))
    raise typer.Exit(EXIT_OK if outcome["passed"] else EXIT_NOT_VERIFIED)


def register(app: typer.Typer) -> None:
    from workers.engine.demo.cli import register as register_demo
    from workers.worker_cli import register as register_worker

    register_demo(app)
    app.command("forget")(forget_command)
    register_worker(app)
