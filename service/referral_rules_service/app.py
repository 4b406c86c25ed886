"""The FastAPI application: routers and dependencies over the ``referral_rules`` library."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from referral_rules import __version__, bundled_rulesets

from .deps import Services
from .docs_ui import add_docs
from .fhir_fetch import Fetcher
from .fhir_map import load_mapping
from .limits import BodyLimit
from .metrics import Metrics, MetricsMiddleware
from .orphan import exit_with_parent
from .problems import problem
from .reload import reload, supervisor_pid
from .routers import admin, api, cds, health, workbench
from .settings import Settings
from .state import Rules
from .store import Store, StoreError

__all__ = ["create_app"]

log = logging.getLogger("referral_rules_service")

DESCRIPTION = """\
Referral advice for tiered care (分级诊疗, 双向转诊): transfer up, down or stay, with urgency,
target level, the records to send, the signed refusal a declined transfer needs, and every
criterion that fired with its guideline clause.

**Decision support for a clinician, not an order**: the treating clinician decides.

* REST: `POST /v1/decisions` with facts named as in `GET /v1/facts`.
* HL7 CDS Hooks 2.0: `GET /cds-services`, `POST /cds-services/{id}` (FHIR R4 prefetch),
  `POST /cds-services/{id}/feedback`.
* Admin and write endpoints need the API key (`X-API-Key` or `Authorization: Bearer`).
"""

_SLUG = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
         405: "method-not-allowed", 409: "conflict", 412: "precondition-failed",
         413: "request-too-large", 415: "unsupported-media-type", 422: "invalid-request",
         503: "unavailable"}


def _on_sighup(services: Services) -> None:
    """SIGHUP: reload in a worker thread (the event loop keeps serving)."""
    loop = asyncio.get_running_loop()

    def handler() -> None:
        loop.run_in_executor(None, lambda: reload(services, tell_siblings=False))

    try:
        loop.add_signal_handler(signal.SIGHUP, handler)
    except (RuntimeError, ValueError, NotImplementedError):
        # signals reach only the main thread's loop: an app run by an in-process test client
        # (lifespan in a helper thread) or on Windows reloads through the API alone
        log.info("SIGHUP reload not available here; use POST /v1/admin/reload")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; with no settings, read them from ``REFERRAL_RULES_*`` variables."""
    settings = settings or Settings.load()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rules = Rules(settings.rules or str(bundled_rulesets()), settings.backend)
        store = Store(settings.database_url, settings.sqlite_synchronous)
        mapping = load_mapping(settings.fhir_mapping or None,
                               vocabulary=rules.current.bundle.vocabulary)
        cpu = anyio.CapacityLimiter(2)
        fetcher = Fetcher(settings.fhir_server_list, timeout=settings.fhir_timeout,
                          max_bytes=settings.fhir_max_response_bytes,
                          max_concurrent=settings.fhir_max_concurrent,
                          max_members=settings.max_json_members, cpu=cpu)
        services = Services(settings, rules, store, metrics, mapping, fetcher, cpu)
        app.state.services = services
        _on_sighup(services)
        parent = supervisor_pid(alive=False)
        if parent is not None:  # a worker of `serve --workers N`: end with the supervisor
            exit_with_parent(parent)
        gc.collect()
        gc.freeze()  # the rulesets and engine live as long as the process: not rescanned
        log.info("serving %d rulesets (generation 1, backend %s)",
                 len(rules.current.bundle.rulesets), rules.current.engine.backend)
        try:
            yield
        finally:
            await fetcher.aclose()
            store.close()
            rules.close()

    app = FastAPI(title="referral-rules", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None,
                  license_info={"name": "Apache-2.0"},
                  openapi_tags=[
                      {"name": "decisions", "description": "Evaluate patients; feedback"},
                      {"name": "rulesets", "description": "What the rules are"},
                      {"name": "CDS Hooks 2.0", "description": "HL7 CDS Hooks services"},
                      {"name": "admin", "description": "Hot reload (API key)"},
                      {"name": "workbench", "description": "The /workbench page's API: "
                       "read and validate only, never audited"},
                      {"name": "health", "description": "Probes and metrics"}])
    for router in (api.router, cds.router, admin.router, health.router):
        app.include_router(router)
    workbench.add_workbench(app)
    add_docs(app, "referral-rules")
    _errors(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.origins,
                           allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Content-Type", "Authorization", "X-API-Key",
                                          "Accept-Language"],
                           expose_headers=["X-Decision-Id"])
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    _openapi_with_vocabulary(app)
    return app


def _openapi_with_vocabulary(app: FastAPI) -> None:
    """The OpenAPI document with the loaded vocabulary as the schema of ``facts`` and the
    loaded ruleset ids as the values of ``conditions`` (rebuilt after each reload)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        services: Services | None = getattr(app.state, "services", None)
        generation = services.rules.current.generation if services else 0
        cached: tuple[int, dict[str, Any]] | None = getattr(app.state, "openapi_cache", None)
        if cached and cached[0] == generation:
            return cached[1]
        app.openapi_schema = None
        spec = plain()
        if services is not None:
            bundle = services.rules.current.bundle
            facts = bundle.vocabulary.json_schema()
            facts["title"] = "PatientFacts"
            facts["description"] = ("One patient's facts: names, types, units, ranges and "
                                    "zh/en labels from rulesets/facts.yaml.")
            schemas = spec["components"]["schemas"]
            schemas["PatientFacts"] = facts
            request = schemas["DecisionRequest"]["properties"]
            request["facts"] = {"$ref": "#/components/schemas/PatientFacts"}
            request["conditions"]["anyOf"][0]["items"] = {"enum": sorted(bundle.rulesets),
                                                          "type": "string"}
        app.state.openapi_cache = (generation, spec)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        issues: list[dict[str, Any]] = []
        for e in exc.errors():
            path = ".".join(str(p) for p in e.get("loc", ()))
            issues.append({"path": path, "code": e.get("type", "invalid"),
                           "message": str(e.get("msg", "invalid"))})
        return problem(422, "invalid-request", "the request is invalid", issues)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = getattr(exc, "error", None) or _SLUG.get(exc.status_code, "error")
        return problem(exc.status_code, error, str(exc.detail),
                       getattr(exc, "issues", ()), exc.headers)

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return problem(503, "unavailable", f"{exc}; nothing was acknowledged, retry")
