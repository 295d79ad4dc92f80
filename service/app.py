"""The gateway's FastAPI application: ``create_app()`` wires routers, problem handlers and middleware."""

from __future__ import annotations

from fastapi import FastAPI

from rtbf.logging import configure_logging
from rtbf.settings import get_settings
from service.api import health
from service.api.middleware import BodySizeLimit, RequestMetrics
from service.problems import install_problem_handlers
from service.registry import endpoints as model_endpoints
from service.tickets import endpoints as ticket_endpoints

DESCRIPTION = """Right-to-be-forgotten gateway: file erasure tickets against registered language models,
follow them through localisation, editing and verification, and fetch the certificate of erasure.
Errors are RFC 9457 problem details (`application/problem+json`)."""


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    app = FastAPI(title="rtbf gateway", version="1", description=DESCRIPTION)
    install_problem_handlers(app)
    app.include_router(ticket_endpoints.router)
    app.include_router(model_endpoints.router)
    app.include_router(health.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    return app
