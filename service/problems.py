"""RFC 9457 problem details for every error the gateway returns.

Clients get ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` and
``instance``; validation problems add ``errors`` (location and message of each, never the offending
input, because inputs are PII). Malformed JSON is a 400, an invalid body a 422, anything unexpected a
500 whose body says nothing about the request.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rtbf.logging import get_logger

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "urn:rtbf:problem:"
log = get_logger("rtbf.service.problems")


class Problem(Exception):
    """An error meant for the client: raise it anywhere below an endpoint."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers
        self.extra = extra


def problem_response(
    request: Request | None,
    status: int,
    slug: str | None,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"{_TYPE_BASE}{slug}" if slug else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def describe_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Location and message of each pydantic error; inputs and contexts are dropped (they may be PII)."""
    out = []
    for err in errors:
        loc = ".".join(str(part) for part in err.get("loc", ()) if part not in ("body",)) or "body"
        msg = str(err.get("msg", "invalid"))
        out.append({"location": loc, "message": msg, "kind": str(err.get("type", "invalid"))})
    return out


async def _on_problem(request: Request, exc: Problem) -> JSONResponse:
    return problem_response(
        request, exc.status, exc.slug, exc.detail, title=exc.title, headers=exc.headers, **exc.extra
    )


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        where = next((e.get("ctx", {}).get("error", "") for e in errors if e.get("type") == "json_invalid"), "")
        detail = "The request body is not valid JSON" + (f" ({where})." if where else ".")
        return problem_response(request, 400, "malformed-json", detail, title="Malformed JSON")
    described = describe_errors(errors)
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in described[:5])
    return problem_response(
        request, 422, "validation", f"The request is invalid: {summary}", title="Invalid request", errors=described
    )


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(request, exc.status_code, None, detail, headers=getattr(exc, "headers", None))


async def _on_data_error(request: Request, exc: DataError) -> JSONResponse:
    # The driver refused a value (e.g. a NUL character inside JSON); its message may quote the value.
    return problem_response(
        request, 422, "unstorable-value",
        "A value in the request cannot be stored (for example it contains a NUL character).", title="Invalid request",
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Only the class name: exception messages (e.g. from the database driver) may quote request values.
    log.error("unhandled_error", error_type=type(exc).__name__, path=request.url.path, method=request.method)
    return problem_response(
        request, 500, "internal", "The server failed to handle the request; it has been logged.",
        title="Internal Server Error",
    )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {PROBLEM_JSON: {}}}
    for code, text in {
        400: "Malformed JSON or cursor", 401: "Missing or invalid API key", 403: "Missing scope",
        404: "Not found (or not visible to this tenant)", 409: "Conflict with the current state",
        413: "Body too large", 422: "Invalid request",
    }.items()
}
"""OpenAPI ``responses=`` entry documenting the problem+json errors of an endpoint."""


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _on_data_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", f"{what} was not found.", title="Not Found")
