"""Structured logging for every process (API, workers, CLI), with a last line of defence against PII.

Code must never log PII in the first place (log hashes and ids); the scrubber below additionally drops
any event field whose name suggests raw personal data, so a slip in a log call cannot leak a value.
"""

from __future__ import annotations

import logging
import sys

import structlog

_FORBIDDEN_KEYS = {"value", "values", "pii", "text", "secret", "contexts", "documents", "subject", "name", "aliases"}


def _scrub_pii(_logger: object, _method: str, event_dict: dict) -> dict:
    for key in list(event_dict):
        if key.lower() in _FORBIDDEN_KEYS:
            event_dict[key] = "[scrubbed]"
    return event_dict


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    """Configure structlog and the stdlib root logger once per process; output goes to stderr."""
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=getattr(logging, level.upper(), logging.INFO))
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub_pii,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
