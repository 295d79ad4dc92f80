"""Scripts that put spaces between words, and those that do not (Chinese, Japanese, Thai...).

Where a script runs its words together, a name or a value is a stretch of a longer run of word
characters: no word boundary can be asked for around it, and a value may follow its label with no space.
"""

from __future__ import annotations

import unicodedata

_SPACED_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "GEORGIAN", "HEBREW", "ARABIC", "DEVANAGARI"}


def spaced_word_char(char: str) -> bool:
    """A letter or digit of a script that puts spaces between words."""
    if not char.isalnum():
        return False
    return char.isascii() or unicodedata.name(char, "").split(" ")[0] in _SPACED_SCRIPTS


def unspaced(char: str) -> bool:
    """A letter or digit of a script that runs its words together (CJK ideographs, kana, hangul, Thai)."""
    return char.isalnum() and not spaced_word_char(char)
