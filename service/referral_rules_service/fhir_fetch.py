"""Fetch what a CDS client did not prefetch from its FHIR server (CDS Hooks 2.0 §FHIR resource
access), within bounds: ``GET {fhirServer}/{query}`` with the bearer token the client gave.

Only servers on the configured allowlist are ever asked (none configured: nothing is fetched);
the base URL must match an entry exactly (scheme, host, port and path), redirects are not
followed and proxy variables and ``.netrc`` are ignored, so neither a caller nor the environment
can point the service, or the caller's token, anywhere else. Each request's fetches share one
deadline, each answer is read up to a size limit, and a process-wide semaphore caps the fetches
in flight. Everything is asynchronous: a slow FHIR server holds no thread and delays no other
client. Failures carry one generic message (what failed is logged, never sent back), so callers
cannot use the service to tell open ports from closed ones.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from referral_rules import ReferralRulesError

from .jsonbody import JsonBodyError, parse_json

__all__ = ["FetchError", "Fetcher", "normalise_base"]

log = logging.getLogger("referral_rules_service.fhir_fetch")


class FetchError(ReferralRulesError, RuntimeError):
    """The FHIR server could not be asked, or did not answer with a resource."""


def normalise_base(url: str) -> str | None:
    """``scheme://host[:port]/path`` of an http(s) base URL, lower-cased where URLs are
    case-insensitive and without a default port or trailing slash; None if it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username is not None \
            or parts.password is not None or parts.query or parts.fragment:
        return None
    default = {"http": 80, "https": 443}[scheme]
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


class Fetcher:
    """Bounded GETs to allowlisted FHIR servers; one per worker process (built in the app's
    lifespan, closed at its end)."""

    def __init__(self, servers: list[str], *, timeout: float, max_bytes: int,
                 max_concurrent: int, max_members: int,
                 cpu: anyio.CapacityLimiter | None = None) -> None:
        self.allowed = frozenset(b for b in map(normalise_base, servers) if b)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_members = max_members
        self._cpu = cpu
        self._slots = anyio.Semaphore(max_concurrent)
        self._client = httpx.AsyncClient(
            follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_concurrent,
                                max_keepalive_connections=max_concurrent))

    def allows(self, server: str) -> bool:
        """Whether ``server`` is on the allowlist."""
        base = normalise_base(server)
        return base is not None and base in self.allowed

    async def get(self, server: str, query: str, token: str | None) -> Any:
        """One FHIR read or search, parsed; raises FetchError. The whole call, waiting for a
        slot included, ends within ``timeout`` seconds."""
        base = normalise_base(server)
        if base is None or base not in self.allowed:
            msg = "not an allowed FHIR server"
            raise FetchError(msg)
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            with anyio.fail_after(self.timeout):
                async with self._slots:
                    body = await self._read(f"{base}/{query}", headers)
        except (TimeoutError, httpx.HTTPError, FetchError) as exc:
            # the kind of failure goes to the log with the configured base (never the query,
            # which holds the patient id); the caller hears only that the fetch failed
            log.warning("FHIR fetch from %s failed: %s", base, type(exc).__name__)
            msg = "the FHIR server could not be queried"
            raise FetchError(msg) from None
        try:
            value = await anyio.to_thread.run_sync(parse_json, body, self.max_members,
                                                   limiter=self._cpu)
        except (JsonBodyError, ValueError):
            log.warning("FHIR fetch from %s: the answer is not strict JSON", base)
            msg = "the FHIR server could not be queried"
            raise FetchError(msg) from None
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            msg = "the FHIR server did not answer with a resource"
            raise FetchError(msg)
        return value

    async def _read(self, url: str, headers: dict[str, str]) -> bytes:
        async with self._client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                msg = f"HTTP {response.status_code}"
                raise FetchError(msg)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                msg = "answer too large"
                raise FetchError(msg)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    msg = "answer too large"
                    raise FetchError(msg)
                chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        await self._client.aclose()
