"""Fetch what a CDS client did not prefetch from its FHIR server (CDS Hooks 2.0 §FHIR
resource access): ``GET {fhirServer}/{query}`` with the bearer token it gave."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["FetchError", "fetch"]


class FetchError(Exception):
    """The FHIR server could not be asked or did not answer with a resource."""


def fetch(server: str, query: str, authorization: dict[str, Any] | None,
          timeout: float) -> Any:
    if not server.startswith(("https://", "http://")):
        msg = "fhirServer is not an http(s) URL"
        raise FetchError(msg)
    headers = {"Accept": "application/fhir+json"}
    token = (authorization or {}).get("access_token")
    if isinstance(token, str) and token:
        headers["Authorization"] = f"Bearer {token}"
    url = server.rstrip("/") + "/" + query
    try:
        response = httpx.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        msg = f"{type(exc).__name__}"
        raise FetchError(msg) from exc
    if response.status_code != 200:
        msg = f"HTTP {response.status_code}"
        raise FetchError(msg)
    try:
        return response.json()
    except ValueError as exc:
        msg = "the answer is not JSON"
        raise FetchError(msg) from exc
