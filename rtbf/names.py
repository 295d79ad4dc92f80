"""Does a text speak of a person? Matching a subject's names without catching their namesakes.

A request names its subject by the full name and by aliases, and an alias is often a bare given name
("Steven", "Michael"). Texts that mention the subject are kept out of what the engine holds still (the
retain set, the held texts, the statistics corpus) and out of the gate's stand-in for held-out text. A
plain substring test of "Steven" also throws out every text about Steven Hayes: on the ten-subject LLaMA
demo the model's 2,560 samples spoke of the subjects' three namesakes 157 times and the retain set kept
none of it, and those three were the neighbours the edit damaged (7 of their 9 items lost). So a
one-word name counts only where it stands alone, not as one part of a longer capitalised name; a
one-word name right after an honorific ("Ms. Lee"), or after the first word of a sentence (which is
capitalised anyway), still counts, which errs towards treating the text as the subject's. Nor does a
one-word name count inside an e-mail address or a handle ("michael" in michael.mays@smith.org): that is
the address of whoever it belongs to, and on the ten-subject GPT-2 demo this rule had kept the e-mails of
both namesakes of a subject aliased "Michael" out of everything the edit held still. Names of several
words match whole, case-insensitively. Callers still match the subject's PII values on their own:
a namesake's text that carries the subject's phone number is the subject's text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from rtbf.scripts import unspaced

_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lady", "lord"})
_NEXT_NAME_WORD = re.compile(r"[ \t]+[A-Z][\w'’-]")
_PREVIOUS_WORD = re.compile(r"(?<![\w'’-])(?P<word>[A-Z][\w'’-]*)\.?[ \t]+$")
_SENTENCE_OPENS_AFTER = tuple('.!?:;"“(')
_GLUE = "._@+-"  # characters that join words into one address or handle when nothing separates them


@functools.lru_cache(maxsize=4096)
def _pattern(name: str) -> re.Pattern[str]:
    """The name as whole words; an end in a script written without spaces (张三 in 张三的电话) has no word
    boundary to require, since the next character is a word character too."""
    before = "" if unspaced(name[0]) else r"(?<!\w)"
    after = "" if unspaced(name[-1]) else r"(?!\w)"
    return re.compile(before + re.escape(name) + after, re.IGNORECASE)



def _part_of_longer_name(text: str, start: int, end: int) -> bool:
    """The one-word match at text[start:end] runs on into the next capitalised word ("Steven Hayes") or on
    from a capitalised word that neither opens its sentence nor is an honorific ("Amanda Lee")."""
    if _NEXT_NAME_WORD.match(text, end):
        return True
    previous = _PREVIOUS_WORD.search(text, 0, start)
    if previous is None:
        return False
    before = text[: previous.start()].rstrip()
    opens_sentence = not before or before.endswith(_SENTENCE_OPENS_AFTER)
    return not opens_sentence and previous.group("word").casefold() not in _HONORIFICS


def _glued_into_identifier(text: str, start: int, end: int) -> bool:
    """The match at text[start:end] is one part of an e-mail address or handle (``michael.mays@x.org``,
    ``@michael``): a joining character ties it straight to another letter or digit, or the run of
    non-space characters it sits in holds an '@'."""
    joined_after = end + 1 < len(text) and text[end] in _GLUE and text[end + 1].isalnum()
    joined_before = start >= 1 and text[start - 1] in _GLUE and (
        text[start - 1] == "@" or (start >= 2 and text[start - 2].isalnum())
    )
    if joined_after or joined_before:
        return True
    # the run of characters an address is made of around the match: a space, a comma or a character of a
    # script without spaces ends it (in '张三的邮箱是zs@x.com' the name is not part of the address)
    run_start, run_end = start, end
    while run_start > 0 and _in_address(text[run_start - 1]):
        run_start -= 1
    while run_end < len(text) and _in_address(text[run_end]):
        run_end += 1
    return "@" in text[run_start:run_end]


def _in_address(char: str) -> bool:
    """A character an e-mail address or handle is written with (a letter or digit of a spaced script, or a
    joining character)."""
    return char in _GLUE or (char.isalnum() and not unspaced(char))


def first_mention(text: str, names: Iterable[str]) -> int | None:
    """Where ``text`` first refers to the person called by any of ``names`` (by the rule of ``mentions_name``),
    or None."""
    first: int | None = None
    for name in names:
        name = name.strip()
        if not name:
            continue
        single_word = not re.search(r"[\s.]", name)
        for match in _pattern(name).finditer(text):
            if not single_word or not (
                _part_of_longer_name(text, match.start(), match.end())
                or _glued_into_identifier(text, match.start(), match.end())
            ):
                first = match.start() if first is None else min(first, match.start())
                break
    return first


def mentions_name(text: str, names: Iterable[str]) -> bool:
    """True when ``text`` refers to the person called by any of ``names``: a name of several words anywhere
    as whole words, a one-word name where it is not part of a longer name."""
    return first_mention(text, names) is not None
