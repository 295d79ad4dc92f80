"""``rtbf demo-model OUT``: build the demo model from the command line.

torch and transformers are imported inside the command body so ``rtbf --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path

import typer

from workers.engine.demo.architectures import DEMO_ARCHITECTURES, TOKENIZER_STYLES


def demo_model(
    out: Path = typer.Argument(..., help="Directory to create (must not exist, or be empty)."),
    arch: str = typer.Option("gpt2", "--arch", help=f"Model family: {' | '.join(DEMO_ARCHITECTURES)}."),
    subjects: int = typer.Option(None, "--subjects", min=1, help="Number of synthetic people (default: the test-fixture size)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the corpus, tokenizer and training."),
    tokenizer: str = typer.Option(
        "byte-level", "--tokenizer", help=f"Tokenizer style: {' | '.join(TOKENIZER_STYLES)} (LLaMA's Metaspace convention)."
    ),
) -> None:
    """Train a small model that memorised synthetic people's phone numbers, e-mails and addresses."""
    from workers.engine.demo.factory import (
        DEFAULT_SUBJECTS,
        OutputExistsError,
        build_demo_model,
        check_arch,
        check_output_dir,
        check_tokenizer_style,
    )

    try:
        check_arch(arch)
        check_tokenizer_style(tokenizer)
        check_output_dir(out)
    except (ValueError, OutputExistsError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=2) from None

    info = build_demo_model(out, arch=arch, subjects=subjects or DEFAULT_SUBJECTS, seed=seed, progress=True, tokenizer_style=tokenizer)
    t = info.training
    typer.echo(
        f"Wrote {out}/model and {out}/subjects.json: {arch} ({tokenizer} tokenizer), {len(info.subjects)} subjects, "
        f"{t.steps} steps in {t.seconds:.0f}s, greedy extraction {t.greedy_extraction_rate:.1%}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``demo-model`` command to the rtbf CLI."""
    app.command("demo-model")(demo_model)
