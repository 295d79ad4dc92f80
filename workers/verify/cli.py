"""``rtbf audit MODEL_DIR --request REQ.json``: run the verification gate from the command line.

Prints the JSON report on stdout. Exit codes: 0 the gate passed (nothing extractable, utility intact),
1 it failed, 2 bad input (unreadable request, missing or unloadable model). Error messages never quote
PII. torch and transformers are imported inside the command so ``rtbf --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path

import typer

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=EXIT_BAD_INPUT)


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise _fail(f"held-out text file not found: {path}")
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise _fail(f"held-out text file is not UTF-8 text: {path}") from None


def audit(
    model_dir: Path = typer.Argument(..., help="Directory of the model to audit (config, weights, tokenizer)."),
    request: Path = typer.Option(..., "--request", "-r", help="REQ.json: one erasure request or a list of them."),
    reference: Path | None = typer.Option(None, "--reference", help="The model before the edit: enables utility and locality checks."),
    prior: Path | None = typer.Option(None, "--prior", help="JSON list of earlier requests of the same lineage, re-checked."),
    locality: Path | None = typer.Option(None, "--locality", help="JSON list of other subjects' requests whose PII must stay."),
    heldout: Path | None = typer.Option(None, "--heldout", help="Text file, one held-out text per line, for perplexity."),
    samples: int | None = typer.Option(None, "--samples", min=0, help="Top-k samples per prompt (default: settings)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the report to this file."),
    progress: bool = typer.Option(False, "--progress", help="Log each phase's duration to stderr."),
) -> None:
    """Judge whether a model still yields a person's data: prints the gate's JSON report."""
    from rtbf.request import RequestError, load_requests
    from rtbf.settings import get_settings

    try:
        requests = load_requests(request)
        prior_requests = load_requests(prior) if prior is not None else []
        locality_requests = load_requests(locality) if locality is not None else []
    except RequestError as exc:
        raise _fail(str(exc)) from None
    heldout_texts = _read_lines(heldout) if heldout is not None else []

    from workers.engine.errors import ModelLoadError
    from workers.engine.loading import load_causal_lm
    from workers.verify.gate import run_gate

    settings = get_settings()
    gate_settings = settings.gate if samples is None else settings.gate.model_copy(update={"samples": samples})
    try:
        model, tokenizer = load_causal_lm(model_dir, device=settings.engine.device)
        ref = load_causal_lm(reference, device=settings.engine.device) if reference is not None else None
    except ModelLoadError as exc:
        raise _fail(str(exc)) from None
    if progress:
        from rtbf.logging import configure_logging

        configure_logging(settings.log_level, settings.log_json)
    report = run_gate(
        model, tokenizer, requests,
        settings=gate_settings, salt=settings.hash_salt, reference=ref,
        prior_requests=prior_requests, locality_requests=locality_requests, heldout_texts=heldout_texts,
        model_dir=model_dir, reference_dir=reference, progress=progress,
    )
    text = report.model_dump_json(indent=2)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)
    raise typer.Exit(code=EXIT_PASSED if report.passed else EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to the rtbf CLI."""
    app.command("audit")(audit)
