"""Fetching what was not prefetched (issue 11 item 3, SSRF): allowlist, authentication, FHIR
ids, bounded time, size and count, one error text, and health kept fast. Real loopback HTTP
servers stand in for the FHIR servers; the last test runs the real service."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referral_rules_service.fhir_fetch import normalise_base

from ..processes import free_port
from . import fhir_build as fhir
from .conftest import KEY, RULES, make_client
from .server import Server

PID = "pat-5"


class Loopback:
    """A real HTTP server on 127.0.0.1 in a thread, answering like a FHIR server (or badly)."""

    def __init__(self, mode: str = "fhir", delay: float = 0.0) -> None:
        self.mode, self.delay = mode, delay
        self.hits: list[tuple[str, str]] = []  # (path?query, Authorization)
        self.active = 0
        self.peak = 0
        self.port = free_port()
        app = Starlette(routes=[Route("/{path:path}", self.answer)])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def answer(self, request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        self.hits.append((request.url.path + query, request.headers.get("authorization", "")))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            end = time.monotonic() + self.delay
            while time.monotonic() < end:  # counted as active until the caller hangs up
                if await request.is_disconnected():
                    return Response(status_code=499)
                await asyncio.sleep(0.05)
            if self.mode == "huge":
                return Response(b'{"resourceType": "Bundle", "x": "' + b"a" * 3_000_000 + b'"}',
                                media_type="application/fhir+json")
            if self.mode == "error":
                return JSONResponse({"resourceType": "OperationOutcome"}, 500)
            if self.mode == "redirect":
                return Response(status_code=302, headers={"Location": "http://127.0.0.1:1/"})
            if request.url.path.startswith("/Patient/"):
                return JSONResponse(fhir.patient(PID))
            if request.url.path == "/Observation":
                return JSONResponse(fhir.searchset(fhir.bp(190, 115, PID)))
            return JSONResponse(fhir.searchset(fhir.condition("I10", PID)))
        finally:
            self.active -= 1

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def ehr() -> Iterator[Loopback]:
    server = Loopback()
    yield server
    server.stop()


def _call(pid: str = PID, server: str | None = None, token: str = "tok-123") -> dict[str, Any]:
    body: dict[str, Any] = {"hook": "patient-view", "hookInstance": "d1577c69",
                            "context": {"userId": "Practitioner/example", "patientId": pid},
                            "prefetch": {}}
    if server is not None:
        body["fhirServer"] = server
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer",
                                     "expires_in": 300, "scope": "patient/*.read",
                                     "subject": "cds-service"}
    return body


_URL = "/cds-services/referral-advice"
_KEY = {"X-API-Key": KEY}


def test_normalise_base() -> None:
    assert normalise_base("HTTPS://FHIR.example:443/r4/") == "https://fhir.example/r4"
    assert normalise_base("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    for bad in ("ftp://x", "http://user:pw@x", "http://x/?q=1", "http://x/#f", "x", "",
                "http://x:99999"):
        assert normalise_base(bad) is None, bad


def test_allowlisted_server_is_queried_with_the_callers_token(tmp_path: Path,
                                                              ehr: Loopback) -> None:
    with make_client(tmp_path, fhir_servers=ehr.url + "/") as c:
        before = len(ehr.hits)
        r = c.post(_URL, json=_call(server=ehr.url), headers=_KEY)
        assert r.status_code == 200, r.text
        (card,) = r.json()["cards"]
        assert "上转" in card["summary"]  # 190/115 from the fetched panel: transfer up
        hits = ehr.hits[before:]
        assert len(hits) == 3 and {auth for _, auth in hits} == {"Bearer tok-123"}
        assert {path.split("?")[0] for path, _ in hits} == {
            f"/Patient/{PID}", "/Observation", "/Condition"}


def test_without_an_allowlist_nothing_is_fetched(tmp_path: Path, ehr: Loopback) -> None:
    with make_client(tmp_path) as c:
        before = len(ehr.hits)
        r = c.post(_URL, json=_call(server=ehr.url), headers=_KEY)
        assert r.status_code == 412
        assert "not a server this service is configured to query" in r.json()["message"]
        assert len(ehr.hits) == before


def test_without_the_key_nothing_is_fetched_and_no_token_leaves(tmp_path: Path,
                                                                ehr: Loopback) -> None:
    with make_client(tmp_path, fhir_servers=ehr.url) as c:
        before = len(ehr.hits)
        r = c.post(_URL, json=_call(server=ehr.url))
        assert r.status_code == 412
        assert "only for calls that carry the API key" in r.json()["message"]
        assert len(ehr.hits) == before


@pytest.mark.parametrize("named", [
    "http://127.0.0.1:{other}",  # another port on the same host
    "http://127.0.0.1:{port}@127.0.0.1:{other}",  # user-info trick
    "http://127.0.0.1:{port}/../",  # a different path
    "http://localhost:{port}",  # another name for the same host is another server
])
def test_a_server_not_on_the_allowlist_is_never_asked(tmp_path: Path, ehr: Loopback,
                                                      named: str) -> None:
    other = Loopback()
    try:
        with make_client(tmp_path, fhir_servers=ehr.url) as c:
            before = len(ehr.hits)
            server = named.format(port=ehr.port, other=other.port)
            r = c.post(_URL, json=_call(server=server), headers=_KEY)
            assert r.status_code == 412, server
            assert other.hits == [] and len(ehr.hits) == before
    finally:
        other.stop()


@pytest.mark.parametrize("pid", ["../../admin/secret?x=", "a/b", "x" * 65, "", "pat 5", 5])
def test_patient_id_must_be_a_fhir_id(tmp_path: Path, ehr: Loopback, pid: object) -> None:
    with make_client(tmp_path, fhir_servers=ehr.url) as c:
        before = len(ehr.hits)
        body = _call(server=ehr.url)
        body["context"]["patientId"] = pid
        r = c.post(_URL, json=body, headers=_KEY)
        assert r.status_code == 422, r.text
        assert r.json()["issues"][0]["path"] == "body.context.patientId"
        assert len(ehr.hits) == before


def test_failures_look_the_same_whatever_the_network_did(tmp_path: Path) -> None:
    """Closed port, server error, redirect, oversized answer, timeout: one message, so the
    service cannot be used to map ports or hosts."""
    closed = f"http://127.0.0.1:{free_port()}"
    servers = {"error": Loopback("error"), "redirect": Loopback("redirect"),
               "huge": Loopback("huge"), "slow": Loopback(delay=10)}
    try:
        allow = ",".join([closed, *(s.url for s in servers.values())])
        with make_client(tmp_path, fhir_servers=allow, fhir_timeout=1.0,
                         fhir_max_response_bytes=1_000_000) as c:
            messages = set()
            for url in [closed, *(s.url for s in servers.values())]:
                start = time.monotonic()
                r = c.post(_URL, json=_call(server=url), headers=_KEY)
                assert r.status_code == 412, (url, r.text)
                assert time.monotonic() - start < 5  # the 1 s deadline, with room to spare
                messages.add(r.json()["message"])
            assert messages == {"prefetch 'patient', 'observations', 'conditions' not sent, "
                                "and the FHIR server could not be queried"}
            assert all(s.hits for s in servers.values())  # each was really asked
    finally:
        for s in servers.values():
            s.stop()


def test_healthz_stays_fast_while_100_slow_fetches_are_pending(tmp_path: Path) -> None:
    """Issue 11 item 3: 120 calls to a slow FHIR server made /healthz take 6.7 s (the calls held
    the thread pool). Now fetches are asynchronous and capped per process."""
    slow = Loopback(delay=30)
    service = Server(tmp_path, RULES, REFERRAL_RULES_FHIR_SERVERS=slow.url,
                     REFERRAL_RULES_FHIR_TIMEOUT="6", REFERRAL_RULES_FHIR_MAX_CONCURRENT="8")
    statuses: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
        try:
            conn.request("POST", _URL, json.dumps(_call(server=slow.url)),
                         {"Content-Type": "application/json", "X-API-Key": KEY})
            status = conn.getresponse().status
        finally:
            conn.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=call) for _ in range(100)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while slow.active < 8 and time.monotonic() < deadline:  # the slots are taken
            time.sleep(0.05)
        latencies = []
        for _ in range(10):
            start = time.monotonic()
            assert service.request("GET", "/healthz")[0] == 200
            latencies.append(time.monotonic() - start)
            time.sleep(0.1)
        start = time.monotonic()
        status, _ = service.request("POST", "/v1/decisions",
                                    {"facts": {"care_level": "primary", "sbp": 120}})
        decision_seconds = time.monotonic() - start
        # before the first deadline (6 s) no fetch has ended: the peak so far is the cap at work
        # (later, fetches timing out and waiters taking their slots overlap by the few ms the
        # loopback server takes to notice a hang-up, which says nothing about the service)
        peak = slow.peak
        for t in threads:
            t.join(60)
        assert max(latencies) < 1.0, latencies
        assert status == 200 and decision_seconds < 1.0
        assert peak == 8  # 100 calls, 300 fetches wanted: 8 in flight, the process-wide cap
        assert len(statuses) == 100 and set(statuses) == {412}
    finally:
        service.stop()
        slow.stop()
