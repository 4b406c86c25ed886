"""Admin endpoints (API key required)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..deps import ApiKey, Services, get_services
from ..jsonbody import StrictJsonRoute
from ..models import Problem, ReloadResult
from ..reload import reload

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[ApiKey],
                   route_class=StrictJsonRoute)


@router.post("/reload", summary="Reload the rulesets from disk", response_model=ReloadResult,
             responses={409: {"model": ReloadResult, "description": "Rejected: the rulesets on "
                              "disk have problems (file:line:column); the old version serves"},
                        401: {"model": Problem}, 403: {"model": Problem}})
def post_reload(services: Annotated[Services, Depends(get_services)]) -> JSONResponse:
    """Validate the rulesets on disk and swap them in atomically. Requests in flight finish on
    the version they started with; a broken ruleset is rejected with every problem as
    ``file:line:column`` while the old version keeps serving. SIGHUP does the same."""
    result = reload(services, tell_siblings=True)
    return JSONResponse(result.model_dump(), 200 if result.ok else 409)
