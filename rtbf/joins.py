"""How a PII value is joined to the text before it: with a space, or glued on.

Every measure of the engine and the gate tokenises 'context + value', and the tokens depend on the join:
GPT-2's BPE spells 'Tel:+44' and 'Tel: +44' with different tokens, so an edit that closes the path
through ' +44' leaves a model that memorised 'Tel:+44' writing the number as before. Running text puts a
space between 'is' and a phone number, but not between 'Tel:', '<' or 'mailto:' and what follows them in
many records, nor between words in scripts written without spaces (Chinese, Japanese, Thai).

The default is one space, unless the context is empty or already ends in whitespace. A context whose
last character is punctuation or a symbol, or from a script without spaces (or whose value starts with
such a character), *can* glue; whether it does is for the model to say: the unedited model is asked which
of the two texts it finds more likely (``workers.verify.joins``), and the contexts it glues are set here,
for the duration of one forget call or one gate run (``glued_contexts``), so that every tokenisation
made meanwhile follows the same join without each caller carrying the decision along.

Contexts derived from a decided one keep its decision: one with a prefix put before it (ROME's random
prefixes) by its ending, one with another name in it (strangers' phrasings, never-seen replicas) by its
shape, the context with its capitalised words after the first masked ('Phone (Ann Lee):' and 'Phone
(Omar Delacroix):' are both 'Phone (*):'). A context like none decided takes the majority of those that
end in the same punctuation (``junction``): after '<' a model that glues one value glues the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property

from rtbf.scripts import unspaced


def can_glue(context: str, value: str) -> bool:
    """Whether the model may write ``value`` right after ``context`` with no space (see the module docstring).

    Not after a letter or digit of a spaced script before a letter or digit ('is' + '555'): that would be
    one word. Not when the context is empty or ends in whitespace, nor when the value starts with it.
    """
    if not context or not value or context[-1].isspace() or value[0].isspace():
        return False
    last, first = context[-1], value[0]
    return not last.isalnum() or unspaced(last) or unspaced(first)


_CAPITALISED_RUN = re.compile(r"[A-Z][\w'’.-]*(?:[ \t]+[A-Z][\w'’.-]*)*")


def shape(context: str) -> str:
    """The context with every run of capitalised words but a leading one masked: what a renamed copy keeps."""
    first = _CAPITALISED_RUN.match(context)
    head = first.end() if first else 0
    return context[:head] + _CAPITALISED_RUN.sub("*", context[head:])


def junction(context: str) -> str:
    """The characters a join decision depends on: the trailing run of punctuation and symbols ('):', '<'),
    else the last character (an ideograph)."""
    end = len(context)
    while end > 0 and not context[end - 1].isalnum() and not context[end - 1].isspace():
        end -= 1
    return context[end:] or context[-1:]


@dataclass(frozen=True)
class GlueDecisions:
    """The model's join decisions: per decided context, glued or not; per shape and per junction, the majority."""

    contexts: Mapping[str, bool] = field(default_factory=dict)
    _by_shape: dict[str, bool] = field(init=False, repr=False, compare=False)
    _by_junction: dict[str, bool] = field(init=False, repr=False, compare=False)
    _answers: dict[str, bool] = field(init=False, repr=False, compare=False)  # exposure joins one context 1000s of times

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_shape", _majorities(self.contexts, shape))
        object.__setattr__(self, "_by_junction", _majorities(self.contexts, junction))
        object.__setattr__(self, "_answers", {})

    def over(self, other: GlueDecisions) -> GlueDecisions:
        """These decisions, and ``other``'s for the contexts these do not decide."""
        return GlueDecisions({**other.contexts, **self.contexts})

    @cached_property
    def glued(self) -> frozenset[str]:
        return frozenset(c for c, glued in self.contexts.items() if glued)

    def glues(self, context: str) -> bool:
        """The decision for ``context``: its own, else that of the longest decided context it ends with, else
        its shape's majority, else its junction's; False when none of these was decided."""
        if not self.glued:  # nothing glued (and nothing cached: a worker's default decisions live for its lifetime)
            return False
        if context not in self._answers:
            self._answers[context] = self._decide(context)
        return self._answers[context]

    def _decide(self, context: str) -> bool:
        if context in self.contexts:
            return self.contexts[context]
        endings = [c for c in self.contexts if context.endswith(c)]
        if endings:
            return self.contexts[max(endings, key=len)]
        renamed = self._by_shape.get(shape(context))
        if renamed is not None:
            return renamed
        return self._by_junction.get(junction(context), False)


def _majorities(contexts: Mapping[str, bool], key) -> dict[str, bool]:
    """Per key of the decided contexts, whether most of them glue (a tie does not)."""
    votes: dict[str, int] = {}
    for context, glued in contexts.items():
        k = key(context)
        votes[k] = votes.get(k, 0) + (1 if glued else -1)
    return {k: vote > 0 for k, vote in votes.items()}


_NO_DECISIONS = GlueDecisions()
_ACTIVE: ContextVar[GlueDecisions | None] = ContextVar("rtbf_glue_decisions", default=None)


@contextmanager
def glued_contexts(decisions: GlueDecisions) -> Iterator[GlueDecisions]:
    """Make ``decisions`` the join of every 'context + value' text built in this block (this thread or task)."""
    token = _ACTIVE.set(decisions)
    try:
        yield decisions
    finally:
        _ACTIVE.reset(token)


def active_decisions() -> GlueDecisions:
    """The decisions ``glued_contexts`` set for this block; none decided (every join spaced) outside one."""
    return _ACTIVE.get() or _NO_DECISIONS


def join_value(context: str, value: str) -> tuple[str, int]:
    """The text 'context value' (or 'contextvalue' where the active decisions glue) and where the value starts.

    The one join of the engine and the gate, so both measure the same token path.
    """
    if not context or context[-1].isspace():
        return context + value, len(context)
    if can_glue(context, value) and active_decisions().glues(context):
        return context + value, len(context)
    return context + " " + value, len(context) + 1
