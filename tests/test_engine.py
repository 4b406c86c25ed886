"""durable_rules against the plain-Python oracle, threads, and recovery from engine errors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import durable_rules_engine
import pytest

from referral_rules import Bundle, Engine
from referral_rules.compiler import kleene
from referral_rules.engine import DurableMatcher
from referral_rules.oracle import PythonMatcher
from referral_rules.synthetic import patients

N_DIFFERENTIAL = 100_000


def test_durable_matches_oracle_on_100k_seeded_patients(bundle: Bundle) -> None:
    """Same fired *and* undetermined sets from durable_rules (the condition and its negation in
    one assertion) as from the generated Python classifier, for every ruleset, on 100,000
    seeded patients (derived and computed values worked out first); 0 mismatches."""
    durable = Engine(bundle, "durable")
    python = Engine(bundle, "python")
    mismatches = []
    fired_rules: set[int] = set()
    undetermined_rules: set[int] = set()
    try:
        for i, record in enumerate(patients(bundle, N_DIFFERENTIAL, seed=20261122)):
            facts = python.prepare(record)
            for rs in bundle.rulesets:
                want = python._parts[rs].python.classify(facts)
                got = durable._parts[rs].classify(facts)
                fired_rules.update(want[0])
                undetermined_rules.update(want[1])
                if got != want:
                    mismatches.append((i, rs, record, got, want))
    finally:
        durable.close()
    assert mismatches == []
    # the generated patients exercise (almost) every rule both ways, so this means something
    assert len(fired_rules) >= 0.9 * len(bundle.rules)
    assert len(undetermined_rules) >= 0.9 * len(bundle.rules)


def test_generated_preparation_equals_the_interpreted_derivations(bundle: Bundle) -> None:
    """The generated prepare() (derived facts, computed values, scopes, bypass) against the
    interpreted derive.py and kleene(), on 20,000 seeded patients, dense and sparse."""
    from referral_rules.derive import derive, derive_facts
    from referral_rules.errors import FactsError

    engine = Engine(bundle, "python")
    computed = tuple(c for rs in bundle.rulesets.values() for c in rs.computed)
    values = {rs.id: dict(rs.values) for rs in bundle.rulesets.values()}
    derivations = 0
    for present in (0.2, 0.6):
        for record in patients(bundle, 10_000, seed=7, present=present):
            valid = bundle.vocabulary.validate(record)
            try:
                want, want_derived = derive_facts(bundle.derived, valid)
                want = derive(computed, want, values)
            except FactsError:
                with pytest.raises(FactsError):
                    engine.prepare(record)
                continue
            got, got_derived, scopes, bypass = engine._prepare_record(valid)
            assert got == want and list(got_derived) == list(want_derived)
            assert scopes == tuple(
                {True: "applies", None: "unknown", False: "not_applicable"}[kleene(rs.scope, want)]
                for rs in bundle.rulesets.values())
            assert bypass == (kleene(bundle.policy.bypass, want) is True)
            derivations += len(got_derived)
    assert derivations > 10_000


def test_oracle_agrees_with_three_valued_logic(bundle: Bundle) -> None:
    """fired = Kleene true; possible - fired = Kleene unknown, for every rule."""
    oracle = PythonMatcher(bundle.rules)
    engine = Engine(bundle, "python")
    for record in patients(bundle, 3_000, seed=7, present=0.3):
        facts = engine.prepare(record)
        fired, possible = set(oracle.match(facts)), set(oracle.possible(facts))
        for rule in bundle.rules:
            verdict = kleene(rule.expr, facts)
            assert (rule.index in fired) == (verdict is True), rule.id
            assert (rule.index in possible) == (verdict is not False), rule.id


def test_eight_threads_give_sequential_results(bundle: Bundle) -> None:
    """8 threads × 10k evaluations on one Engine: byte-identical to a sequential run."""
    engine = Engine(bundle, "durable")
    records = list(patients(bundle, 10_000, seed=99))
    try:
        expected = [engine.evaluate(r).to_json() for r in records]
        barrier = threading.Barrier(8)

        def work(offset: int) -> list[str]:
            barrier.wait()
            order = records[offset * 1250:] + records[:offset * 1250]
            out = [engine.evaluate(r).to_json() for r in order]
            return out[-offset * 1250:] + out[:-offset * 1250] if offset else out

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(8)))
    finally:
        engine.close()
    for result in results:
        assert result == expected


def test_backends_give_identical_decisions(bundle: Bundle, durable: Engine,
                                           python_engine: Engine) -> None:
    for record in patients(bundle, 5_000, seed=3):
        assert durable.evaluate(record).to_json() == python_engine.evaluate(record).to_json()


def test_engine_rebuilds_a_broken_handle(bundle: Bundle) -> None:
    """A handle broken under it (here: its ruleset deleted) is rebuilt, not repaired."""
    matcher = DurableMatcher(bundle.rules)
    oracle = PythonMatcher(bundle.rules)
    record = {"care_level": "primary", "sbp": 190.0, "dbp": 95.0}
    try:
        before = matcher.match(record)
        handle = matcher._handle()
        durable_rules_engine.delete_ruleset(handle)  # break it behind the matcher's back
        after = matcher.match(record)
        assert after == before == oracle.match(record)
        assert matcher._handle() != handle
    finally:
        matcher.close()


def test_one_handle_per_thread(bundle: Bundle) -> None:
    matcher = DurableMatcher(bundle.rules)
    handles: list[int] = []
    try:
        threads = [threading.Thread(target=lambda: handles.append(matcher._handle()))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(handles)) == 3
        assert matcher._handle() not in handles
    finally:
        matcher.close()


def test_many_evaluations_do_not_exhaust_sessions(bundle: Bundle, durable: Engine) -> None:
    """durable_rules caps live sessions at 1,024: one fixed session per handle, retracted."""
    record = {"care_level": "secondary", "sbp": 185.0}
    first = durable.evaluate(record).to_json()
    for _ in range(3_000):
        durable.evaluate(record)
    assert durable.evaluate(record).to_json() == first


def test_fast_json_equals_model_dump_json_on_many_patients(bundle: Bundle,
                                                           python_engine: Engine) -> None:
    for present in (0.1, 0.5, 0.9):
        for record in patients(bundle, 3_000, seed=11, present=present):
            decision = python_engine.evaluate(record)
            assert decision.to_json() == decision.model_dump_json()


def test_full_caches_change_no_decision(bundle: Bundle, python_engine: Engine,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolver caches are bounded. With tiny caches nearly every pattern is built afresh
    (and the objects of earlier ones freed, their ids reused): each decision must still be
    byte-identical to a roomy engine's and to pydantic's own serialisation, the second time
    round as the first."""
    from referral_rules import resolve

    records = list(patients(bundle, 600, seed=5, present=0.4))
    expected = [python_engine.evaluate(r).to_json() for r in records]
    monkeypatch.setattr(resolve, "CACHE_LIMIT", 3)
    for backend in ("python", "durable"):
        small = Engine(bundle, backend=backend)
        for _ in range(2):
            for record, want in zip(records, expected, strict=True):
                decision = small.evaluate(record)
                assert decision.to_json() == want
                assert decision.model_dump_json() == want
        # the caches really were full (3 entries; 12 for serialised parts)
        full = [k for k, v in vars(small._resolver).items()
                if isinstance(v, dict) and len(v) in (3, 12)]
        assert len(full) >= 5, full


def test_tiny_and_huge_numbers_reach_durable_rules(durable: Engine, python_engine: Engine) -> None:
    """Issue 11 item 1: Python writes 1e-05 and 5e-324 in exponent form without a decimal
    point, which durable_rules could not parse (error 204, a 500 in the service). Every
    float the vocabulary allows must give the oracle's answer."""
    for value in (0.00001, 5e-324, 1e-4, 1.5e-7, 2.2250738585072014e-308):
        facts = {"care_level": "primary", "chest_pain_complaint": True, "suspected_acs": True,
                 "hours_since_chest_pain": value, "ecg_result": "normal"}
        assert durable.evaluate(facts).to_json() == python_engine.evaluate(facts).to_json()
        assert durable.evaluate(facts).fired_ids == ("CP-U1-NORMAL-ECG",)


def test_exponent_numbers_are_rewritten_for_durable_rules_only_where_they_are_numbers() -> None:
    from referral_rules.engine import durable_json

    text = '{"care_level":"tertiary","a":1e-05,"b":-1e+22,"c":1.5e-07,"d":[3e2],"e":12}'
    assert durable_json(text) == (
        '{"care_level":"tertiary","a":1.0e-05,"b":-1.0e+22,"c":1.5e-07,"d":[3.0e2],"e":12}')
    handle = durable_rules_engine.create_ruleset(
        "exponent_check", '{"r": {"all": [{"m": {"$lt": {"x": 0.0001}}}]}}')
    assert durable_rules_engine.assert_fact(handle, durable_json('{"id":"p","x":1e-05}'))[0] == 0
