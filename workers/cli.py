"""Worker-side commands of the ``rtbf`` CLI: the demo model, offline forgetting and the Celery worker.

Heavy imports (torch, transformers) happen inside command bodies so ``rtbf --help`` stays instant.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from workers.engine.demo.cli import register as register_demo

    register_demo(app)
