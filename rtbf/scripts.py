"""Scripts written without spaces between words (Chinese, Japanese, and others the Unicode standard marks
wide): where text has no word boundaries, neither names nor values can be told apart by spaces."""

from __future__ import annotations

import unicodedata


def unspaced(char: str) -> bool:
    """A character of a script written without spaces (CJK ideographs, kana, hangul, full-width forms)."""
    return unicodedata.east_asian_width(char) in ("W", "F")
