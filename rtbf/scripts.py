"""Scripts that put spaces between words, and those that do not (Chinese, Japanese, Thai...).

Where a script runs its words together, a name or a value is a stretch of a longer run of word
characters: no word boundary can be asked for around it, and a value may follow its label with no space.
"""

from __future__ import annotations

import unicodedata

# the first word of a character's Unicode name; Korean puts spaces between phrases but glues particles to
# names ('김철수의'), so hangul counts as unspaced, as do Chinese, Japanese, Thai, Lao, Khmer and Myanmar
_SPACED_SCRIPTS = {
    "LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "GEORGIAN", "HEBREW", "ARABIC", "ARABIC-INDIC", "SYRIAC", "THAANA",
    "DEVANAGARI", "BENGALI", "GURMUKHI", "GUJARATI", "ORIYA", "TAMIL", "TELUGU", "KANNADA", "MALAYALAM", "SINHALA",
    "ETHIOPIC", "CHEROKEE", "MONGOLIAN", "TIFINAGH",
}


def spaced_word_char(char: str) -> bool:
    """A letter or digit of a script that puts spaces between words."""
    if not char.isalnum():
        return False
    return char.isascii() or unicodedata.name(char, "").split(" ")[0] in _SPACED_SCRIPTS


def unspaced(char: str) -> bool:
    """A letter or digit of a script that runs its words together (CJK ideographs, kana, hangul, Thai)."""
    return char.isalnum() and not spaced_word_char(char)
