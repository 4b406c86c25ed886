"""Against a real uvicorn process on 127.0.0.1: kill -9, reload under load, SIGHUP, workers."""

from __future__ import annotations

import http.client
import shutil
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import HTN_URGENT, RULES
from .server import Server


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


@pytest.fixture
def server(tmp_path: Path, rules: Path) -> Iterator[Server]:
    s = Server(tmp_path, rules)
    yield s
    s.stop()


def _set_version(rules: Path, version: str) -> None:
    path = rules / "hypertension.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("version:"):
            lines[i] = f"version: {version}\n"
            break
    path.write_text("".join(lines), encoding="utf-8")


def _htn_version(body: dict[str, object]) -> str:
    refs = body["rulesets"]
    assert isinstance(refs, list)
    return next(str(r["version"]) for r in refs if r["id"] == "hypertension")


def test_decision_and_no_identifier_in_the_server_log(server: Server) -> None:
    status, body = server.request("POST", "/v1/decisions",
                                  {"facts": HTN_URGENT, "patient_id": "MRN-LOG-0042"})
    assert status == 200 and body["direction"] == "up"
    status, body = server.request("POST", "/v1/decisions",
                                  {"facts": {"care_level": "primary", "sbp": "x"},
                                   "patient_id": "MRN-LOG-0042"})
    assert status == 422
    server.stop()
    log = server.log.read_text(errors="replace")
    assert "POST /v1/decisions" in log  # the access log is there …
    assert "MRN-LOG-0042" not in log  # … without the identifier


@pytest.mark.parametrize("synchronous", ["full", "normal"])
def test_acknowledged_records_survive_kill_9(tmp_path: Path, rules: Path,
                                            synchronous: str) -> None:
    server = Server(tmp_path, rules, REFERRAL_RULES_SQLITE_SYNCHRONOUS=synchronous)
    acked_decisions: list[str] = []
    acked_feedback: list[str] = []
    stop = threading.Event()
    errors: list[str] = []

    def client() -> None:
        conn = server.connection()
        try:
            while not stop.is_set():
                status, body = server.request("POST", "/v1/decisions", {"facts": HTN_URGENT},
                                              conn=conn)
                if status != 200:
                    errors.append(str(status))
                    continue
                acked_decisions.append(body["decision_id"])
                status, _ = server.request("POST", "/v1/feedback", {
                    "decision_id": body["decision_id"], "outcome": "declined"}, conn=conn)
                if status == 201:
                    acked_feedback.append(body["decision_id"])
        except (OSError, http.client.HTTPException):
            pass  # the server is gone: whatever was in flight was never acknowledged
        finally:
            conn.close()  # not left to the garbage collector (a ResourceWarning)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.kill9()  # mid-load, no graceful shutdown
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(acked_decisions) > 20 and acked_feedback
    with sqlite3.connect(server.db) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM decisions")}
        feedback = [row[0] for row in db.execute("SELECT decision_id FROM feedback")]
        refusals = {row[0] for row in db.execute(
            "SELECT decision_id FROM refusals WHERE status = 'signature_required'")}
    assert set(acked_decisions) <= stored
    assert set(acked_feedback) <= set(feedback) and set(acked_feedback) <= refusals


def test_reload_under_load_fails_no_request(server: Server, rules: Path) -> None:
    original = _htn_version(server.request("POST", "/v1/decisions", {"facts": HTN_URGENT})[1])
    statuses: list[int] = []
    failures: list[str] = []
    versions: set[str] = set()
    stop = threading.Event()
    lock = threading.Lock()

    def client() -> None:
        conn = server.connection()
        try:
            while not stop.is_set():
                try:
                    status, body = server.request("POST", "/v1/decisions",
                                                  {"facts": HTN_URGENT}, conn=conn)
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        statuses.append(-1)
                        failures.append(repr(exc))
                    return
                with lock:
                    statuses.append(status)
                    if status == 200:
                        versions.add(_htn_version(body))
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    valid: list[str] = []
    broken_answers = []

    def wait_for_generation(generation: int) -> None:
        deadline = time.monotonic() + 20  # a SIGHUP reload runs in the background
        while server.request("GET", "/readyz")[1]["generation"] < generation:
            assert time.monotonic() < deadline, "no reload"
            time.sleep(0.05)

    try:
        for i in range(6):
            time.sleep(0.3)
            if i % 3 == 2:  # a broken file: rejected, the old version keeps serving
                path = rules / "hypertension.yaml"
                good = path.read_text(encoding="utf-8")
                path.write_text(good.replace("rules:", "rulez:", 1), encoding="utf-8")
                broken_answers.append(server.request("POST", "/v1/admin/reload"))
                path.write_text(good, encoding="utf-8")
                continue
            version = f"7.0.{i}"
            _set_version(rules, version)
            valid.append(version)
            if i == 4:
                server.proc.send_signal(signal.SIGHUP)  # the same as the endpoint
            else:
                status, body = server.request("POST", "/v1/admin/reload")
                assert status == 200, body
            wait_for_generation(1 + len(valid))
        deadline = time.monotonic() + 20
        while valid[-1] not in versions and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(statuses) > 50
    assert set(statuses) == {200}, f"failed: {[s for s in statuses if s != 200]} {failures}"
    assert all(status == 409 and body["issues"] for status, body in broken_answers), broken_answers
    assert valid[-1] in versions and versions <= {original, *valid}
    status, ready = server.request("GET", "/readyz")
    assert ready["generation"] == 1 + len(valid)


def test_two_workers_reload_together(tmp_path: Path, rules: Path) -> None:
    s = Server(tmp_path, rules, workers=2)
    try:
        _set_version(rules, "8.0.0")
        status, body = s.request("POST", "/v1/admin/reload")
        assert status == 200, body
        time.sleep(1.5)  # the supervisor forwards SIGHUP to the other worker
        seen = {_htn_version(s.request("POST", "/v1/decisions", {"facts": HTN_URGENT})[1])
                for _ in range(30)}
        assert seen == {"8.0.0"}
        _set_version(rules, "8.0.1")
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        seen = {_htn_version(s.request("POST", "/v1/decisions", {"facts": HTN_URGENT})[1])
                for _ in range(30)}
        assert seen == {"8.0.1"}
        metrics = s.request("GET", "/metrics")[1]
        assert "referral_decisions_total" in metrics
    finally:
        s.stop()


def _reloads_ok(s: Server) -> float:
    metrics = s.request("GET", "/metrics")[1]
    for line in str(metrics).splitlines():
        if line.startswith('referral_reloads_total{result="ok"}'):
            return float(line.split()[-1])
    return 0.0


def test_an_api_reload_reloads_each_of_two_workers_once(tmp_path: Path, rules: Path) -> None:
    """Issue 11 item 8: the worker that took the API call reloaded, then got the broadcast too:
    generation +2 and a second stall in that worker."""
    s = Server(tmp_path, rules, workers=2)
    try:
        for round_ in (1, 2):
            _set_version(rules, f"9.0.{round_}")
            status, body = s.request("POST", "/v1/admin/reload")
            assert status == 200 and body["generation"] == 1 + round_, body
            deadline = time.monotonic() + 20
            while _reloads_ok(s) < 2 * round_ and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2.0)  # a duplicate reload would arrive in this time
            assert _reloads_ok(s) == 2 * round_  # two workers, one reload each
            generations = {s.request("GET", "/readyz")[1]["generation"] for _ in range(40)}
            assert generations == {1 + round_}
    finally:
        s.stop()


def _descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split()
            out |= {int(c) for c in children}
            todo += [int(c) for c in children]
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_kill_9_of_the_supervisor_leaves_no_worker(tmp_path: Path, rules: Path) -> None:
    """Issue 11 item 9: the workers of a killed supervisor went on serving and held the port."""
    s = Server(tmp_path, rules, workers=2)
    workers = _descendants(s.proc.pid)
    assert len(workers) >= 2
    assert s.request("POST", "/v1/decisions", {"facts": HTN_URGENT})[0] == 200
    s.kill9()
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)], "workers outlived their supervisor"
    with socket.socket() as probe:  # the port is free again: a restart can bind it
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", s.port))
