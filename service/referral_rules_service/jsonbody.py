"""Strict JSON request bodies for every JSON endpoint.

The standard parser takes the last of two equal keys (``"sbp": 185, …, "sbp": 120`` is a silent
120), accepts ``NaN`` and lone UTF-16 surrogates (``"\\ud800"``, which cannot be encoded again and
broke later stages with a 500), and has no bound on the work a body may cause. Here a body must be
I-JSON (RFC 7493): UTF-8, no duplicate member names, no lone surrogates, no NaN or Infinity, and at
most ``max_members`` object members in all. Every problem is a 422 in the one problem shape, with
the JSON path of the offending key or string. Large bodies are parsed in a worker thread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import anyio
from fastapi import Request, Response
from fastapi.routing import APIRoute

from .problems import ProblemError

__all__ = ["JsonBodyError", "StrictJsonRoute", "parse_json"]

#: bodies above this size are parsed off the event loop
_THREAD_ABOVE = 64_000
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_FALLBACK_MEMBERS = 50_000


class JsonBodyError(ProblemError):
    """A body that is not strict JSON; ``issues`` say where (answered as 422)."""

    def __init__(self, message: str, issues: list[dict[str, Any]]) -> None:
        super().__init__(422, "invalid-request", message, issues)


class _Dup(dict[str, Any]):
    """An object that had a member name twice (the name is kept for the report)."""

    duplicate: str = ""


class _TooMany(Exception):
    pass


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise JsonBodyError(msg, [
        {"path": "body", "code": "not-a-number", "message": f"{name} is not a JSON number"}])


def parse_json(body: bytes, max_members: int) -> Any:
    """Parse a request body strictly; raises ``JsonBodyError`` naming where the problem is."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = "the body is not UTF-8"
        raise JsonBodyError(msg, [
            {"path": "body", "code": "not-utf-8",
             "message": f"invalid UTF-8 at byte {exc.start}"}]) from None
    members = 0
    duplicated = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal members, duplicated
        members += len(pairs)
        if members > max_members:
            raise _TooMany
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        dup = _Dup(obj)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                dup.duplicate = key
                break
            seen.add(key)
        duplicated = True
        return dup

    try:
        value = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_reject_constant)
    except _TooMany:
        msg = "the body has too many members"
        raise JsonBodyError(msg, [
            {"path": "body", "code": "too-many-members",
             "message": f"more than {max_members} object members in all"}]) from None
    except RecursionError:
        msg = "the body is nested too deeply"
        raise JsonBodyError(msg, [
            {"path": "body", "code": "too-deep", "message": "nested too deeply"}]) from None
    # json.JSONDecodeError propagates: FastAPI answers it as json_invalid (422)
    if duplicated:
        path, name = next((p, o.duplicate) for p, o in _walk(value, "body")
                          if isinstance(o, _Dup))
        where = f"{path}.{name}"
        msg = f"duplicate key '{name}' at {where}"
        raise JsonBodyError(msg, [
            {"path": where, "code": "duplicate-key",
             "message": f"'{name}' appears more than once in this object; send it once"}])
    if _MAYBE_SURROGATE.search(text):
        bad = [p for p, s in _strings(value, "body") if _SURROGATE.search(s)][:20]
        if bad:
            msg = "the body has a lone UTF-16 surrogate"
            raise JsonBodyError(msg, [
                {"path": p, "code": "lone-surrogate",
                 "message": "a \\uD800–\\uDFFF escape without its pair is not a character"}
                for p in bad])
    return value


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every object and array with its path (depth-first, document order)."""
    stack = [(path, value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict):
            yield where, node
            stack.extend(reversed([(f"{where}.{k}", v) for k, v in node.items()]))
        elif isinstance(node, list):
            yield where, node
            stack.extend(reversed([(f"{where}[{i}]", v) for i, v in enumerate(node)]))


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string, object keys included, with its path."""
    for where, node in _walk(value, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str):
                    yield f"{where}.{k}", k
                if isinstance(v, str):
                    yield f"{where}.{k}", v
        else:
            for i, v in enumerate(node):
                if isinstance(v, str):
                    yield f"{where}[{i}]", v
    if isinstance(value, str):
        yield path, value


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            services = getattr(self.app.state, "services", None)
            limit = services.settings.max_json_members if services else _FALLBACK_MEMBERS
            if len(body) > _THREAD_ABOVE:
                self._json = await anyio.to_thread.run_sync(
                    parse_json, body, limit, limiter=services.cpu if services else None)
            else:
                self._json = parse_json(body, limit)
        return self._json


class StrictJsonRoute(APIRoute):
    """An APIRoute whose request bodies are parsed by ``parse_json``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictRequest(request.scope, request.receive))

        return strict
