"""Pipeline errors, and the one place that turns any exception into a PII-free code and message.

Exception texts can quote what they were handed (a path, a value from a request, a tokenizer's input),
so they never reach the database, the logs or a webhook: only the class decides what the client reads.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of the workers' own errors."""


class LeaseLost(PipelineError):
    """The lineage's edit lease expired during the edit; publishing now could race another worker."""


_FIXED: dict[str, tuple[str, str]] = {
    "PiiPurgedError": ("pii-purged", "The ticket's request was erased at the end of its retention period before "
                                     "it could be processed; file it again."),
    "ModelLoadError": ("model-load-error", "The model version to edit could not be loaded from its storage location."),
    "UnsupportedArchitectureError": ("unsupported-architecture",
                                     "The model's feed-forward layers could not be found; register FFN overrides "
                                     "in the model's engine settings."),
    "NothingToEditError": ("nothing-to-edit", "None of the request's values produces any token on this model, so "
                                              "there is nothing to edit."),
    "StoreError": ("store-error", "The new model version could not be written to the model store."),
    "LeaseLost": ("lease-lost", "The model's edit lease expired during the edit; the result was not published."),
    "CryptoError": ("decryption-failed", "The ticket's encrypted request could not be decrypted with the configured keys."),
}


def describe(exc: BaseException) -> tuple[str, str]:
    """(code, message) for the ticket's error, chosen by the exception's class only (never its text)."""
    for cls in type(exc).__mro__:
        if cls.__name__ in _FIXED:
            return _FIXED[cls.__name__]
    if isinstance(exc, OSError):
        return "io-error", f"The worker hit an I/O error ({type(exc).__name__}) while processing the ticket."
    return "internal-error", (f"The worker failed while processing the ticket ({type(exc).__name__}); operators "
                              "can find the worker's log lines by ticket id.")
