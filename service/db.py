"""Database engine and session factory, built from the one settings object.

The gateway is synchronous SQLAlchemy on psycopg 3: FastAPI runs sync dependencies in its thread pool,
and the Celery workers (which import the repositories in this package) use the same sessions, so one
code path serves both. Engines are cached per URL so tests can point the process at a scratch database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from rtbf.settings import get_settings


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One pooled engine per database URL; pre-ping so a restarted PostgreSQL does not fail the next request."""
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, future=True)


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


def get_sessionmaker() -> sessionmaker[Session]:
    return _sessionmaker_for(get_settings().database_url)


@lru_cache(maxsize=8)
def _sessionmaker_for(url: str) -> sessionmaker[Session]:
    # expire_on_commit=False: response models are built from ORM rows after the commit.
    return sessionmaker(bind=engine_for(url), expire_on_commit=False, autoflush=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error (CLI commands, Celery tasks)."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
