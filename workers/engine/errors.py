"""Engine errors: each names what is wrong in words an operator can act on, and never quotes PII."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of errors the CLI turns into a message and exit code 2."""


class ModelLoadError(EngineError):
    """The path does not hold a loadable causal language model."""


class UnsupportedArchitectureError(EngineError):
    """The model's FFN layers could not be discovered."""


class NothingToEditError(EngineError):
    """The request yields no usable instance on this model (e.g. every value tokenises to nothing)."""
