"""The records store on a real database: SQLite here, and PostgreSQL when
REFERRAL_RULES_TEST_DATABASE_URL names one (e.g. postgresql+psycopg://user@/db)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from referral_rules_service.store import (
    Store,
    StoreError,
    decisions,
    feedback,
    now,
    patient_ref,
    refusals,
)

_URLS = ["sqlite"] + ([os.environ["REFERRAL_RULES_TEST_DATABASE_URL"]]
                      if os.environ.get("REFERRAL_RULES_TEST_DATABASE_URL") else [])


@pytest.fixture(params=_URLS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.param
    s = Store(url)
    yield s
    with s.engine.begin() as conn:  # leave a shared server clean
        for table in (refusals, feedback, decisions):
            conn.execute(delete(table))
    s.close()


def _decision(did: str) -> dict[str, Any]:
    return {"id": did, "created_at": now(), "source": "api", "patient_ref": None,
            "direction": "up", "urgency": "urgent", "current_level": "primary",
            "target_level": "secondary", "complete": True, "fired": ["HTN-U1-SEVERE-BP"],
            "rulesets": [{"id": "hypertension", "version": "1.0.0", "sha256": "ab"}]}


def test_records_round_trip(store: Store) -> None:
    did = str(uuid.uuid4())
    store.write(decisions, _decision(did))
    store.write(feedback, {"received_at": now(), "decision_id": did, "service": "api",
                           "outcome": "declined", "outcome_at": None,
                           "accepted_suggestions": [], "override_system": None,
                           "override_code": None, "override_display": None,
                           "user_comment": "家属要求留院"})
    store.write(refusals, {"id": str(uuid.uuid4()), "created_at": now(), "decision_id": did,
                           "source": "api", "status": "signature_required",
                           "captures": ["reason", "signer"], "reason": None, "signer": None,
                           "signer_relation": None, "signed_at": None})
    record = store.decision(did)
    assert record is not None
    assert record["fired"] == ["HTN-U1-SEVERE-BP"]
    assert record["rulesets"][0]["sha256"] == "ab"
    assert record["feedback"][0]["user_comment"] == "家属要求留院"
    assert record["refusals"][0]["captures"] == ["reason", "signer"]
    assert store.decision("nope") is None


def test_concurrent_writers_all_land_and_one_bad_row_fails_alone(store: Store) -> None:
    ids = [str(uuid.uuid4()) for _ in range(200)]
    errors: list[str] = []

    def write(did: str) -> None:
        try:
            store.write(decisions, _decision(did))
        except StoreError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=write, args=(d,)) for d in [*ids, ids[0]]]  # a duplicate
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == ["could not store the decisions record"]
    assert all(store.decision(d) is not None for d in ids)
    assert store.count(decisions) == 200


def test_async_write_is_acknowledged_after_commit(store: Store) -> None:
    ids = [str(uuid.uuid4()) for _ in range(50)]

    async def main() -> None:
        await asyncio.gather(*(store.write_async(decisions, _decision(d)) for d in ids))
        with pytest.raises(StoreError):
            await store.write_async(decisions, _decision(ids[0]))

    asyncio.run(main())
    assert store.count(decisions) == 50


def test_longest_accepted_values_fit_the_columns(store: Store) -> None:
    # the request models' limits: a card id of 200, a Coding of 500/200/500 characters
    store.write(feedback, {"received_at": now(), "decision_id": "c" * 200, "service": "x" * 80,
                           "outcome": "overridden", "outcome_at": "2" * 40,
                           "accepted_suggestions": [], "override_system": "s" * 500,
                           "override_code": "k" * 200, "override_display": "d" * 500,
                           "user_comment": "u" * 4000})
    assert store.count(feedback) == 1


def test_patient_ref_is_a_keyed_hash() -> None:
    a = patient_ref("key-1", "MRN-1")
    assert a is not None and len(a) == 64 and "MRN" not in a
    assert a == patient_ref("key-1", "MRN-1") != patient_ref("key-2", "MRN-1")
    assert patient_ref(None, "MRN-1") is None and patient_ref("k", None) is None


def test_bad_synchronous_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="full or normal"):
        Store(f"sqlite:///{tmp_path / 'x.db'}", "off")  # type: ignore[arg-type]
