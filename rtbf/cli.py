"""The ``rtbf`` console script: one entry point for the gateway, the workers, the engine and the gate.

Each side registers its own commands (``register(app)`` in ``service.cli``, ``workers.cli`` and
``workers.verify.cli``). Those modules import torch or the database only inside the command bodies,
so ``rtbf --help`` stays fast and the API image can run ``rtbf api`` without torch installed.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="rtbf",
    help="Make language models forget a person: tickets, localisation, editing, verification.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_COMMAND_MODULES = ("service.cli", "workers.cli", "workers.verify.cli")


def _register_all() -> None:
    for module_name in _COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(app)


def main() -> None:
    _register_all()
    app()
