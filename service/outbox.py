"""Side effects that must happen only once the database transaction has committed.

Sending a Celery task or a webhook for a change that is later rolled back would announce something
that never happened; sending before the commit lets a worker race ahead of the row it needs. So code
registers callbacks on the session with :func:`after_commit`; they run after a successful commit and
are dropped on rollback. The same hook serves the API and the Celery workers (both use ``Session``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from rtbf.logging import get_logger

_KEY = "rtbf_after_commit"
log = get_logger("rtbf.service.outbox")


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_callbacks(session: Session) -> None:
    callbacks = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception as exc:  # a failed side effect must not undo a committed change
            log.error("after_commit_failed", callback=getattr(callback, "__name__", "?"), error_type=type(exc).__name__)


@event.listens_for(Session, "after_rollback")
def _drop_callbacks(session: Session) -> None:
    session.info.pop(_KEY, None)
