"""``rtbf worker``: the GPU worker process (Celery, queue ``gpu``, one edit at a time).

Concurrency 1 runs the ``solo`` pool: the edit runs in the worker's main process, so the Prometheus
metrics it records are the ones the metrics thread serves (``RTBF_WORKER_METRICS_PORT``, what the
container health check and the scrape config use), and that thread keeps answering during a long edit.
More than one slot uses threads (several small GPUs' worth of work in one process, same metrics).
"""

from __future__ import annotations

from typing import Annotated

import typer

from service.celery_app import GPU_QUEUE


def worker_argv(queues: str, concurrency: int, loglevel: str) -> list[str]:
    """The Celery worker command line for these options."""
    pool = "solo" if concurrency == 1 else "threads"
    return ["worker", "--queues", queues, "--concurrency", str(concurrency), "--pool", pool,
            "--loglevel", loglevel.upper(), "--hostname", "gpu@%h", "--without-gossip", "--without-mingle"]


def worker_command(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = GPU_QUEUE,
    concurrency: Annotated[int, typer.Option(min=1, help="Edits at once; keep 1 per GPU.")] = 1,
    loglevel: Annotated[str, typer.Option(help="DEBUG | INFO | WARNING | ERROR")] = "INFO",
    metrics_port: Annotated[
        int, typer.Option(envvar="RTBF_WORKER_METRICS_PORT", help="Serve Prometheus metrics on this port (0: off).")
    ] = 0,
) -> None:
    """Run a GPU worker: erase, verify and publish the tickets sent to the queue."""
    from rtbf.logging import configure_logging
    from rtbf.settings import get_settings

    settings = get_settings()
    configure_logging(loglevel or settings.log_level, settings.log_json)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    from workers.celery_app import app

    app.worker_main(worker_argv(queues, concurrency, loglevel))


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
