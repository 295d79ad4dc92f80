"""Alembic is the only way the schema is made: head from empty, every migration down, and up again."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy import create_engine, pool

from tests.service.conftest import PG_ADMIN_DSN

SCRATCH = f"rtbf_test_gw_migrate_{os.getpid()}"
SCRATCH_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{SCRATCH}"


@pytest.fixture
def scratch_db():
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SCRATCH}"')
    yield SCRATCH_URL
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def _functions(url: str) -> set[str]:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        return {r[0] for r in conn.execute(
            "SELECT proname FROM pg_proc JOIN pg_namespace n ON n.oid = pronamespace WHERE nspname = 'public'")}


def test_upgrade_downgrade_upgrade_and_models_match(scratch_db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from service.migrate import alembic_config, downgrade, upgrade
    from service.models import Base

    upgrade(scratch_db)
    expected = set(Base.metadata.tables) | {"alembic_version"}
    assert _tables(scratch_db) == expected
    engine = create_engine(scratch_db, poolclass=pool.NullPool)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"the ORM models and the migrations disagree: {diff}"

    # step down one revision at a time, so every migration's downgrade runs on its own
    script = ScriptDirectory.from_config(alembic_config(scratch_db))
    revisions = [r.revision for r in script.walk_revisions()]  # newest first
    for _ in revisions:
        downgrade(scratch_db, "-1")
    assert _tables(scratch_db) == {"alembic_version"}
    assert "rtbf_reject_changes" not in _functions(scratch_db)

    upgrade(scratch_db)
    assert _tables(scratch_db) == expected
    assert "rtbf_reject_changes" in _functions(scratch_db)
    engine.dispose()


def test_migrate_command(scratch_db, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from rtbf.settings import get_settings
    from service.cli import register

    monkeypatch.setenv("RTBF_DATABASE_URL", scratch_db)
    get_settings.cache_clear()
    try:
        app = typer.Typer()
        register(app)
        r = CliRunner().invoke(app, ["migrate"])
        assert r.exit_code == 0 and "database schema is at head" in r.output
        assert "tickets" in _tables(scratch_db)
        monkeypatch.setenv("RTBF_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/none")
        get_settings.cache_clear()
        r = CliRunner().invoke(app, ["migrate"])
        assert r.exit_code == 1 and "cannot reach the database" in r.output
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
