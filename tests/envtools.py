"""Environment helpers shared by the suites that point the process at their own scratch resources."""

from __future__ import annotations

import os


def restore_env(saved: dict[str, str | None]) -> None:
    """Put back the variables a suite overrode (None: the variable was unset before)."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
