"""Gateway commands of the ``rtbf`` CLI: ``migrate``, ``api``, ``keys create|revoke``, ``purge-pii`` and
``gateway-worker``. SQLAlchemy, uvicorn and Celery are imported inside the command bodies so
``rtbf --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

keys_app = typer.Typer(help="Create and revoke API keys (the secret is shown once).", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def migrate() -> None:
    """Upgrade the database schema to the newest migration (RTBF_DATABASE_URL)."""
    from sqlalchemy.exc import OperationalError

    from service.migrate import upgrade

    try:
        upgrade()
    except OperationalError as exc:
        _fail(f"cannot reach the database: {type(exc.orig).__name__ if exc.orig else 'OperationalError'}")
    typer.echo("database schema is at head")


def api(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.", min=1)] = 1,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    uvicorn.run("service.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to (created on first use).")],
    scope: Annotated[list[str], typer.Option(help="tickets:write, tickets:read or admin (repeatable).")],
    description: Annotated[str | None, typer.Option(help="A note for operators.")] = None,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from service.db import session_scope
    from service.keys.service import KeyCommandError, create_key

    try:
        with session_scope() as session:
            key = create_key(session, tenant, scope, description)
    except KeyCommandError as exc:
        _fail(str(exc), 2)
    typer.echo(f"key id:  {key.key_id}\ntenant:  {key.tenant}\nscopes:  {' '.join(key.scopes)}")
    typer.echo("api key (shown once, store it now):")
    typer.echo(key.secret)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id printed by 'keys create'.")]) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    from service.db import session_scope
    from service.keys.service import KeyCommandError, revoke

    try:
        with session_scope() as session:
            revoke(session, key_id)
    except KeyCommandError as exc:
        _fail(str(exc), 2)
    typer.echo(f"revoked {key_id}")


def purge_pii(
    retention_days: Annotated[int | None, typer.Option(help="Override RTBF_PII_RETENTION_DAYS.", min=0)] = None,
) -> None:
    """Erase the encrypted PII of tickets that ended more than the retention period ago."""
    from service.db import get_sessionmaker
    from service.retention import purge_expired_pii

    with get_sessionmaker()() as session:
        erased = purge_expired_pii(session, retention_days=retention_days)
    typer.echo(f"erased the PII of {erased} ticket(s)")


def gateway_worker(
    concurrency: Annotated[int, typer.Option(min=1)] = 2,
    beat: Annotated[
        bool, typer.Option(help="Also run the periodic scheduler (purge, re-enqueue, webhook re-send).")
    ] = True,
) -> None:
    """Run the service-side Celery worker (webhooks and maintenance queues; no torch)."""
    from service.celery_app import MAINTENANCE_QUEUE, WEBHOOK_QUEUE
    from service.celery_app import app as celery_app

    argv = ["worker", "-Q", f"{WEBHOOK_QUEUE},{MAINTENANCE_QUEUE}", f"--concurrency={concurrency}", "--loglevel=INFO"]
    if beat:
        argv.append("-B")
    celery_app.worker_main(argv)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
    app.command("api")(api)
    app.command("purge-pii")(purge_pii)
    app.command("gateway-worker")(gateway_worker)
    app.add_typer(keys_app, name="keys")
