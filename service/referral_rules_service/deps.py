"""FastAPI dependencies: the service's state and the API-key check (both ``async``: FastAPI
would run plain functions in its thread pool, a hop per request for nothing)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from .fhir_fetch import Fetcher
from .fhir_map import Mapping
from .metrics import Metrics
from .settings import Settings
from .state import Rules
from .store import Store

__all__ = ["ApiKey", "Services", "get_services", "has_api_key", "require_api_key"]


@dataclass
class Services:
    """What every request may use; built once per process in the app's lifespan."""

    settings: Settings
    rules: Rules
    store: Store
    metrics: Metrics
    mapping: Mapping
    fetcher: Fetcher
    #: CPU-heavy work moved off the event loop (big bodies, FHIR parsing, error reports) runs
    #: here, not in the pool the sync endpoints share, so it cannot starve them
    cpu: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(2))


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="The service's API key (REFERRAL_RULES_API_KEY).")


def _presented_key(request: Request, key: str | None) -> str | None:
    if key is None:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
    return key


async def has_api_key(request: Request) -> bool:
    """Whether the request carries the configured key (never true when none is configured)."""
    expected = (await get_services(request)).settings.api_key
    key = _presented_key(request, request.headers.get("x-api-key"))
    return bool(expected) and key is not None and hmac.compare_digest(
        key.encode(), str(expected).encode())


async def require_api_key(request: Request,
                          key: Annotated[str | None, Security(_key_header)] = None) -> None:
    """Admin and write endpoints: the configured key, compared in constant time.

    ``Authorization: Bearer <key>`` is accepted too (CDS clients send that header).
    """
    expected = (await get_services(request)).settings.api_key
    if not expected:
        raise HTTPException(403, "this endpoint is disabled: no API key is configured "
                                 "(set REFERRAL_RULES_API_KEY)")
    key = _presented_key(request, key)
    if key is None or not hmac.compare_digest(key.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong API key", {"WWW-Authenticate": "ApiKey"})


ApiKey = Depends(require_api_key)
