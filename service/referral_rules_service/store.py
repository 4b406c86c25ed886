"""Records that must not be lost: the decision audit, feedback and refusal records.

Stored through SQLAlchemy: a SQLite file by default (WAL, ``synchronous=FULL`` unless told
``normal``), any database
URL (PostgreSQL) when several instances share it. Writes go through one writer thread per
process that commits whatever is queued in one transaction (group commit) and only then
acknowledges each caller, so an acknowledged record is on disk before the HTTP answer leaves.
Patient identifiers are never stored: only a keyed hash (HMAC-SHA256) when a key is configured.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, Literal

from referral_rules import ReferralRulesError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["Store", "StoreError", "decisions", "feedback", "patient_ref", "refusals"]

log = logging.getLogger("referral_rules_service.store")

metadata = MetaData()

decisions = Table(
    "decisions", metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("source", String(80), nullable=False),  # "api" or "cds:<service id>"
    Column("patient_ref", String(64), index=True),  # HMAC-SHA256 hex, never the identifier
    Column("direction", String(8), nullable=False),
    Column("urgency", String(16)),
    Column("current_level", String(16), nullable=False),
    Column("target_level", String(16)),
    Column("complete", Boolean, nullable=False),
    Column("fired", JSON, nullable=False),  # rule ids
    Column("rulesets", JSON, nullable=False),  # [{id, version, sha256}]
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("decision_id", String(200), index=True),  # the card uuid is the decision id
    Column("service", String(80), nullable=False),
    Column("outcome", String(16), nullable=False),  # accepted | overridden | declined
    Column("outcome_at", String(40)),
    Column("accepted_suggestions", JSON, nullable=False),
    Column("override_system", String(500)),  # sizes: the request models' limits
    Column("override_code", String(200)),
    Column("override_display", String(500)),
    Column("user_comment", Text),
)

refusals = Table(
    "refusals", metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decision_id", String(200), index=True),
    Column("source", String(80), nullable=False),
    Column("status", String(24), nullable=False),  # signature_required | signed
    Column("captures", JSON, nullable=False),  # what the signed form must capture
    Column("reason", Text),
    Column("signer", Text),
    Column("signer_relation", String(80)),
    Column("signed_at", String(40)),
)


class StoreError(ReferralRulesError, RuntimeError):
    """A record could not be written; the caller must not acknowledge it."""


def patient_ref(key: str | None, patient_id: str | None) -> str | None:
    """The audit's pseudonym for a patient: HMAC-SHA256(key, id), or nothing without a key."""
    if not key or not patient_id:
        return None
    return hmac.new(key.encode(), patient_id.encode(), hashlib.sha256).hexdigest()


def _sqlite_pragmas(synchronous: str) -> Callable[[DBAPIConnection, ConnectionPoolEntry], None]:
    def on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
    return on_connect


_Done = Callable[[BaseException | None], None]
_Item = tuple[Table, dict[str, Any], _Done]


class Store:
    """The service's records. ``write`` blocks until the record is committed."""

    def __init__(self, url: str, sqlite_synchronous: Literal["full", "normal"] = "full") -> None:
        """``sqlite_synchronous``: ``full`` (the default) syncs each commit to disk, so an
        acknowledged record survives a power cut; ``normal`` (WAL) survives the process being
        killed (``kill -9``) but not the machine losing power, and is faster on slow disks."""
        if sqlite_synchronous not in ("full", "normal"):
            msg = f"sqlite_synchronous must be full or normal, not {sqlite_synchronous!r}"
            raise ValueError(msg)
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        self._file_lock: int | None = None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas(sqlite_synchronous.upper()))
            database = self.engine.url.database
            if database and database != ":memory:" and fcntl is not None:
                # Worker processes take turns at the SQLite file through a lock the kernel
                # hands over at once; SQLite's own busy handler would sleep (up to 100 ms).
                self._file_lock = os.open(database + ".writer-lock", os.O_RDWR | os.O_CREAT,
                                          0o600)
        if self._file_lock is not None and fcntl is not None:
            # workers starting together: one creates the tables, the others then find them
            # (without the lock the second CREATE TABLE failed and stopped the server)
            fcntl.flock(self._file_lock, fcntl.LOCK_EX)
            try:
                metadata.create_all(self.engine)
            finally:
                fcntl.flock(self._file_lock, fcntl.LOCK_UN)
        else:
            metadata.create_all(self.engine)
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._writer = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._writer.start()

    # writes --------------------------------------------------------------------------------
    def write(self, table: Table, values: Mapping[str, Any], timeout: float = 30.0) -> None:
        """Queue one row and wait until its transaction has committed (from a thread)."""
        done: Future[None] = Future()

        def finish(exc: BaseException | None) -> None:
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

        self._queue.put((table, dict(values), finish))
        try:
            done.result(timeout)
        except Exception as exc:
            msg = f"could not store the {table.name} record"
            raise StoreError(msg) from exc

    async def write_async(self, table: Table, values: Mapping[str, Any],
                          timeout: float = 30.0) -> None:
        """The same from the event loop: awaits the commit without holding a thread."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(exc: BaseException | None) -> None:
            if done.done():
                return
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

        def finish(exc: BaseException | None) -> None:
            loop.call_soon_threadsafe(settle, exc)

        self._queue.put((table, dict(values), finish))
        try:
            await asyncio.wait_for(done, timeout)
        except Exception as exc:
            msg = f"could not store the {table.name} record"
            raise StoreError(msg) from exc

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < 500:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: Sequence[_Item]) -> None:
        try:
            self._transaction([(table, values) for table, values, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                log.error("store: a %s record failed: %s", batch[0][0].name,
                          type(exc).__name__)
                batch[0][2](exc)
                return
            # one bad row must not fail the others: each gets its own transaction
            for table, values, finish in batch:
                self._commit([(table, values, finish)])
            return
        for *_, finish in batch:
            finish(None)

    def _transaction(self, rows: Sequence[tuple[Table, dict[str, Any]]]) -> None:
        """Insert ``rows`` in one transaction (one executemany per table)."""
        by_table: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
        for table, values in rows:
            by_table.setdefault(table.name, (table, []))[1].append(values)
        if self._file_lock is not None and fcntl is not None:
            fcntl.flock(self._file_lock, fcntl.LOCK_EX)
        try:
            with self.engine.begin() as conn:
                for table, values_list in by_table.values():
                    conn.execute(insert(table), values_list)
        finally:
            if self._file_lock is not None and fcntl is not None:
                fcntl.flock(self._file_lock, fcntl.LOCK_UN)

    def close(self) -> None:
        """Finish queued writes and stop the writer."""
        self._queue.put(None)
        self._writer.join(timeout=30)
        self.engine.dispose()
        if self._file_lock is not None:
            os.close(self._file_lock)
            self._file_lock = None

    # reads ---------------------------------------------------------------------------------
    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except Exception:
            return False
        return True

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        """The audit record of one decision with its feedback and refusal records."""
        with self.engine.connect() as conn:
            row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).first()
            if row is None:
                return None
            out = _plain(row._asdict())
            out["feedback"] = [_plain(r._asdict()) for r in conn.execute(
                select(feedback).where(feedback.c.decision_id == decision_id)
                .order_by(feedback.c.id))]
            out["refusals"] = [_plain(r._asdict()) for r in conn.execute(
                select(refusals).where(refusals.c.decision_id == decision_id)
                .order_by(refusals.c.created_at, refusals.c.id))]
        return out

    def count(self, table: Table) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(table.c[table.primary_key.columns.keys()[0]])).all())


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            value = value.isoformat()
        elif isinstance(value, str) and key in ("fired", "rulesets", "captures"):
            value = json.loads(value)
        out[key] = value
    return out


def now() -> datetime:
    return datetime.now(UTC)
