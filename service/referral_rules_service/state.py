"""The rulesets being served, swapped in atomically on reload."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from referral_rules import Bundle, Engine, RulesetError, load_rulesets
from referral_rules.evaluate import Backend

__all__ = ["Current", "Rules"]

log = logging.getLogger("referral_rules_service.rules")


@dataclass(frozen=True)
class Current:
    """One loaded version: the bundle, its engine and when it was loaded."""

    bundle: Bundle
    engine: Engine
    generation: int
    loaded_at: float

    @property
    def versions(self) -> list[dict[str, str]]:
        b = self.bundle
        out = [{"id": "facts", "version": b.vocabulary.spec.version,
                "sha256": b.vocabulary_sha256},
               {"id": "policy", "version": b.policy.spec.version, "sha256": b.policy.sha256}]
        out += [{"id": rs.id, "version": rs.version, "sha256": rs.sha256}
                for rs in b.rulesets.values()]
        return out


class Rules:
    """Holds the current rulesets. Readers take ``current`` once per request; a reload builds
    the new version completely (load, validate, compile) before one assignment swaps it in, so
    a request sees either the old or the new version, never a mixture, and a broken directory
    leaves the old version serving."""

    def __init__(self, directory: str | Path, backend: Backend = "auto") -> None:
        self.directory = Path(directory)
        self.backend: Backend = backend
        self._lock = threading.Lock()
        self.reloads = 0
        self.failed_reloads = 0
        self._users: dict[int, int] = {}
        self._retired: list[Current] = []
        self.current = self._build(1)

    @contextmanager
    def lease(self) -> Iterator[Current]:
        """The current version, kept open until the block ends (a reload may happen meanwhile:
        the old engine is closed when its last request is done)."""
        with self._lock:
            cur = self.current
            self._users[cur.generation] = self._users.get(cur.generation, 0) + 1
        try:
            yield cur
        finally:
            with self._lock:
                self._users[cur.generation] -= 1
                done = self._collect()
            for old in done:
                old.engine.close()

    def _collect(self) -> list[Current]:
        """Retired versions no request uses any more (call with the lock held)."""
        done = [c for c in self._retired if not self._users.get(c.generation)]
        for c in done:
            self._retired.remove(c)
            self._users.pop(c.generation, None)
        return done

    def _build(self, generation: int) -> Current:
        bundle = load_rulesets(self.directory)
        return Current(bundle, Engine(bundle, self.backend), generation, time.time())

    def reload(self) -> Current:
        """Load the directory again and swap it in; raises RulesetError and keeps the old one."""
        with self._lock:
            old = self.current
            try:
                new = self._build(old.generation + 1)
            except RulesetError as exc:
                self.failed_reloads += 1
                log.error("reload rejected, still serving generation %d: %d problem(s)",
                          old.generation, len(exc.issues))
                for issue in exc.issues:
                    log.error("  %s", issue)
                raise
            self.current = new
            self._retired.append(old)
            self.reloads += 1
            done = self._collect()
            log.info("reloaded rulesets: generation %d", new.generation)
        # requests still holding ``old`` finish on it; its engine closes after the last one
        for c in done:
            c.engine.close()
        return new

    def close(self) -> None:
        with self._lock:
            everything = [*self._retired, self.current]
            self._retired = []
        for c in everything:
            c.engine.close()
