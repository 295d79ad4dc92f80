"""FastAPI dependencies: a database session per request and the calling principal with scope checks.

Endpoints declare what they need with ``Annotated`` types (``SessionDep``, ``ReadPrincipal``,
``WritePrincipal``, ``AdminPrincipal``), in the style of the full-stack FastAPI template.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.db import get_sessionmaker
from service.keys.scopes import Scope
from service.keys.service import Principal, authenticate
from service.problems import Problem


def get_session() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="An rtbf API key: `Authorization: Bearer rtbf_<id>_<secret>`.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same API key in `X-API-Key`.")


def get_principal(
    request: Request,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    presented = bearer.credentials if bearer is not None else header_key
    challenge = {"WWW-Authenticate": 'Bearer realm="rtbf"'}
    if not presented:
        raise Problem(401, "unauthenticated", "An API key is required (Authorization: Bearer ...).", headers=challenge)
    principal = authenticate(session, presented)
    if principal is None:
        raise Problem(401, "unauthenticated", "The API key is invalid or revoked.", headers=challenge)
    request.state.principal = principal
    return principal


def require(scope: Scope):
    """A dependency that passes the principal through when it holds ``scope`` (403 otherwise)."""

    # async: a pure check, so FastAPI need not hop to its thread pool for it
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if scope not in principal.scopes:
            raise Problem(403, "forbidden", f"This API key lacks the {scope.value!r} scope.", title="Forbidden")
        return principal

    return check


ReadPrincipal = Annotated[Principal, Depends(require(Scope.tickets_read))]
WritePrincipal = Annotated[Principal, Depends(require(Scope.tickets_write))]
AdminPrincipal = Annotated[Principal, Depends(require(Scope.admin))]
