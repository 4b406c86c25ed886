"""Worker processes end with their parent (issue 11, item 16): kill -9, kill -TERM, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from referral_rules import Bundle
from referral_rules.batch.population import population_table

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rulesets"
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")


def _state(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0]


def _descendants(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _state(int(entry.name))) is not None:
            parents[int(entry.name)] = st[0]
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _running(pids: set[int]) -> set[int]:
    """The processes still running (a zombie has exited: it only waits to be reaped)."""
    return {p for p in pids if (st := _state(p)) is not None and st[1] != "Z"}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, bundle: Bundle) -> Path:
    path = tmp_path_factory.mktemp("kill") / "pop.parquet"
    pq.write_table(population_table(40_000, seed=2, rules=bundle), path)
    return path


def _start(source: Path, output: Path) -> tuple[subprocess.Popen[str], set[int]]:
    """A batch on two workers, once both are screening; its worker processes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "referral_rules", "batch", str(source), "-o", str(output),
         "--rules", str(RULES), "--workers", "2", "--chunk-rows", "500", "--no-progress",
         "--backend", "python"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    parts = output.with_name(output.name + ".parts")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(parts.glob("part-*.arrow"))) < 2:
        time.sleep(0.05)
    workers = _descendants(proc.pid)
    assert len(workers) >= 2, "the workers did not start"  # the forkserver and its workers
    return proc, workers


def _gone_within(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while _running(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _running(pids)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "kill-TERM"])
def test_no_worker_outlives_the_parent(tmp_path: Path, source: Path,
                                       sig: signal.Signals) -> None:
    output = tmp_path / "out.parquet"
    proc, workers = _start(source, output)
    try:
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert _gone_within(workers, 5.0) == set()  # the bound the issue sets
    assert not output.exists()
    if sig == signal.SIGTERM:
        assert proc.returncode == 3
        assert "rerun the same command to resume" in err and "Traceback" not in err
        assert list(output.with_name("out.parquet.parts").glob("part-*.arrow"))  # kept


def test_ctrl_c_stops_without_traceback(tmp_path: Path, source: Path) -> None:
    """SIGINT to the whole process group, as a terminal sends it."""
    output = tmp_path / "out.parquet"
    proc, workers = _start(source, output)
    try:
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert "rerun the same command to resume" in err
    assert _gone_within(workers, 5.0) == set()
