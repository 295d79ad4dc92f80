"""HTTP routes of the model registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from service.api.deps import AdminPrincipal, ReadPrincipal, SessionDep
from service.api.types import NO_NUL
from service.problems import PROBLEM_RESPONSES as _PROBLEMS
from service.registry import repository, service
from service.registry.schemas import ModelCreate, ModelOut, RollbackBody, VersionOut

router = APIRouter(prefix="/v1/models", tags=["models"])
ModelNamePath = Annotated[str, Path(min_length=1, max_length=100, pattern=NO_NUL)]


@router.post("", status_code=201, response_model=ModelOut, responses=_PROBLEMS, summary="Register a base model")
def register_model(body: ModelCreate, principal: AdminPrincipal, session: SessionDep, response: Response) -> ModelOut:
    model = service.register_model(session, principal, body)
    response.headers["Location"] = f"/v1/models/{model.name}/versions"
    return service.model_view(session, model)


@router.get("", response_model=list[ModelOut], responses=_PROBLEMS, summary="Registered models")
def list_models(principal: ReadPrincipal, session: SessionDep) -> list[ModelOut]:
    return [service.model_view(session, m) for m in repository.list_models(session)]


@router.get("/{name}/versions", response_model=list[VersionOut], responses=_PROBLEMS, summary="Versions of a model")
def list_versions(name: ModelNamePath, principal: ReadPrincipal, session: SessionDep) -> list[VersionOut]:
    return service.versions_view(session, principal, service.load_model(session, name))


@router.post("/{name}/rollback", response_model=ModelOut, responses=_PROBLEMS,
             summary="Point 'current' back at an earlier version")
def rollback(name: ModelNamePath, body: RollbackBody, principal: AdminPrincipal, session: SessionDep) -> ModelOut:
    return service.model_view(session, service.rollback(session, principal, name, body))
