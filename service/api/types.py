"""Shared field types of the HTTP API.

PostgreSQL text and JSONB cannot hold the NUL character, so every free-text field that is stored in
clear (references, reasons, URIs) refuses it up front with a 422 instead of failing in the driver.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

NO_NUL = r"^[^\x00]*$"


def text(min_length: int = 1, max_length: int = 1000) -> type[str]:
    """A stored free-text string: length-limited, no NUL characters."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length, pattern=NO_NUL)]  # type: ignore[return-value]
