"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from ..deps import Services, get_services
from ..jsonbody import StrictJsonRoute
from ..metrics import CONTENT_TYPE_LATEST

__all__ = ["router"]

router = APIRouter(tags=["health"], route_class=StrictJsonRoute)
Svc = Annotated[Services, Depends(get_services)]


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    # async: answered on the event loop, never queued behind the thread pool
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: rulesets loaded and the database answers",
            responses={503: {"description": "Not ready"}})
def readyz(services: Svc) -> JSONResponse:
    current = services.rules.current
    db = services.store.ping()
    body: dict[str, Any] = {"status": "ok" if db else "unavailable", "database": db,
                            "generation": current.generation, "rulesets": current.versions,
                            "backend": current.engine.backend}
    return JSONResponse(body, 200 if db else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(services: Svc) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
