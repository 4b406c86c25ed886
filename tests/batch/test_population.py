"""The synthetic population: columns, determinism, deliberate bad values, joint distributions."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from referral_rules import Bundle, FactsError
from referral_rules.batch.population import (
    ASSESSED,
    BAD_SHARE,
    BAD_VALUES,
    CHUNK_ROWS,
    METADATA_KEY,
    population_batches,
    population_schema,
    population_table,
    write_population,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rulesets"
CONDITIONS = ("hypertension", "diabetes", "chest_pain", "post_operative")


@pytest.fixture(scope="module")
def table(bundle: Bundle) -> pa.Table:
    return population_table(12_000, seed=11, rules=bundle)


@pytest.fixture(scope="module")
def rows(table: pa.Table) -> list[dict[str, object]]:
    return list(table.to_pylist())


def _bad_rows(bundle: Bundle, rows: list[dict[str, object]]) -> list[int]:
    bad = []
    for i, row in enumerate(rows):
        facts = {k: v for k, v in row.items()
                 if k not in ("patient_id", "conditions", "actual_transfer")}
        try:
            bundle.vocabulary.validate(facts)
        except FactsError:
            bad.append(i)
    return bad


def test_population_columns_follow_the_vocabulary(bundle: Bundle, table: pa.Table) -> None:
    """Ids, conditions and actual_transfer first, then every fact typed as the vocabulary says."""
    vocab = bundle.vocabulary.facts
    assert table.column_names == ["patient_id", "conditions", "actual_transfer", *vocab]
    kinds = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(),
             "enum": pa.string()}
    for name, spec in vocab.items():
        assert table.schema.field(name).type == kinds[spec.type], name
        assert table.column(name).null_count < table.num_rows, f"{name} is never recorded"
    assert table.schema == population_schema(bundle).with_metadata(table.schema.metadata)


def test_population_ids_conditions_and_outcomes(rows: list[dict[str, object]]) -> None:
    """Synthetic ids in order; one to four known conditions in canonical order; transfers that
    respect the care level (nothing above tertiary, nothing below primary)."""
    assert rows[0]["patient_id"] == "SYN-0000001"
    assert rows[-1]["patient_id"] == f"SYN-{len(rows):07d}"
    assert len({r["patient_id"] for r in rows}) == len(rows)
    for r in rows:
        conds = str(r["conditions"]).split(",")
        assert conds and conds == [c for c in CONDITIONS if c in conds]
        assert r["actual_transfer"] in ("up", "down", "none")
        if r["care_level"] == "tertiary":
            assert r["actual_transfer"] != "up"
        if r["care_level"] == "primary":
            assert r["actual_transfer"] != "down"


def test_population_bad_values_are_seeded_and_counted(
        bundle: Bundle, table: pa.Table, rows: list[dict[str, object]]) -> None:
    """About BAD_SHARE of rows fail validation, exactly the ones the metadata counts; all others
    are valid records."""
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    assert meta["synthetic"] is True and meta["seed"] == 11 and meta["rows"] == len(rows)
    assert set(meta["bad_values"]) == set(BAD_VALUES)
    bad = _bad_rows(bundle, rows)
    assert len(bad) == sum(meta["bad_values"].values())
    assert 0.4 * BAD_SHARE < len(bad) / len(rows) < 2 * BAD_SHARE
    assert all(n > 0 for n in meta["bad_values"].values())


def test_population_same_seed_same_bytes(bundle: Bundle, tmp_path: Path) -> None:
    """Parquet and CSV are byte-identical for a seed, and differ for another seed."""
    paths = [tmp_path / name for name in ("a.parquet", "b.parquet", "c.parquet", "a.csv",
                                          "b.csv")]
    for path, seed in zip(paths, (5, 5, 6, 5, 5), strict=True):
        write_population(path, 1500, seed, rules=bundle)
    a, b, c, csv_a, csv_b = (p.read_bytes() for p in paths)
    assert a == b and a != c and csv_a == csv_b
    assert pq.read_table(paths[0]).num_rows == 1500


def test_population_csv_has_text_in_a_number_column(bundle: Bundle, tmp_path: Path) -> None:
    """In CSV the bp_as_text bad value is the text '142/88' in sbp; Parquet cannot hold it."""
    counts: Counter[str] = Counter()
    for _ in population_batches(6000, 3, rules=bundle, text_values=True, bad_counts=counts):
        pass
    assert counts["bp_as_text"] > 0
    path = tmp_path / "p.csv"
    write_population(path, 6000, 3, rules=bundle)
    text = path.read_text(encoding="utf-8")
    assert text.count("142/88") == counts["bp_as_text"]
    assert text.splitlines()[0].startswith('"patient_id","conditions","actual_transfer"')


def test_population_writes_in_chunks(bundle: Bundle) -> None:
    """Rows come in batches of at most CHUNK_ROWS, so memory is bounded for any n."""
    sizes = [b.num_rows for b in population_batches(CHUNK_ROWS + 7, rules=bundle)]
    assert sizes == [CHUNK_ROWS, 7]
    assert list(population_batches(0, rules=bundle)) == []


def test_write_population_rejects_unknown_suffix(bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.parquet, \.pq or \.csv"):
        write_population(tmp_path / "p.json", 10, rules=bundle)
    with pytest.raises(ValueError, match="at least 0"):
        population_table(-1, rules=bundle)


def test_population_only_loaded_conditions(tmp_path: Path) -> None:
    """Only the rules directory's rulesets become conditions (the cross-cutting critical
    ruleset, which hypertension's cases refer to, is not a condition)."""
    for name in ("facts.yaml", "policy.yaml", "hypertension.yaml", "critical.yaml"):
        shutil.copy(RULES / name, tmp_path / name)
    t = population_table(300, rules=tmp_path)
    assert set(t.column("conditions").to_pylist()) == {"hypertension"}


def test_population_joint_distributions(rows: list[dict[str, object]]) -> None:
    """Plausible joint structure: hypertension common and rising with age, most diabetics
    hypertensive, post-operative patients mostly hospital inpatients, correlated BP,
    glucose values that agree, realistic missingness, down-transfers of ready inpatients."""
    conds = [set(str(r["conditions"]).split(",")) for r in rows]
    htn = np.array(["hypertension" in c for c in conds])
    dm = np.array(["diabetes" in c for c in conds])
    po = np.array(["post_operative" in c for c in conds])
    age = np.array([r["age"] if isinstance(r["age"], int) else -1 for r in rows])
    assert 0.4 < htn.mean() < 0.8
    assert htn[dm].mean() > 0.5  # most diabetics also have hypertension
    assert htn[age >= 70].mean() > htn[(age >= 18) & (age < 50)].mean()
    ward = np.array([r["visit_type"] == "inpatient" and r["care_level"] != "primary"
                     for r in rows])
    assert ward[po].mean() > 0.7
    sbp, dbp = (np.array([r[k] if isinstance(r[k], float) else np.nan for r in rows])
                for k in ("sbp", "dbp"))
    both = ~np.isnan(sbp) & ~np.isnan(dbp) & (sbp < 300)
    assert np.corrcoef(sbp[both], dbp[both])[0, 1] > 0.5
    assert 0.02 < np.isnan(sbp[htn]).mean() < 0.3  # not every fact is recorded
    fpg = [(r["fasting_glucose"], r["blood_glucose"]) for r in rows
           if isinstance(r["fasting_glucose"], float) and isinstance(r["blood_glucose"], float)]
    assert 6.0 < float(np.median([f for f, _ in fpg])) < 8.5
    assert np.mean([g >= f for f, g in fpg]) > 0.9  # this visit's glucose ≥ fasting, mostly
    down = np.array([r["actual_transfer"] == "down" for r in rows])
    assert 0.05 < down[ward].mean() < 0.4
    assert down[~ward & (age >= 0)].mean() < down[ward].mean()


def test_population_documents_by_exception(bundle: Bundle, table: pa.Table) -> None:
    """Like an HIS export: a finding (symptom, danger sign, complication, condition flag) is
    recorded only when present; false only for the items clinicians chart either way; lab
    values only for the patients who had the test; most booleans are absent."""
    booleans = [n for n, s in bundle.vocabulary.facts.items() if s.type == "boolean"]
    for name in booleans:
        column = table.column(name)
        falses = int(pa.compute.sum(pa.compute.invert(column)).as_py() or 0)
        if name in ASSESSED:
            assert falses > 0, f"{name} is charted either way"
        else:
            assert falses == 0, f"{name} is recorded as false {falses} times"
    for name in ("severe_systemic_anaphylaxis", "has_hypertension", "known_diabetes",
                 "post_operative", "consciousness_impaired"):
        assert name not in ASSESSED
    recorded = sum(table.num_rows - table.column(n).null_count for n in booleans)
    assert recorded / (table.num_rows * len(booleans)) < 0.1  # booleans: mostly absent
    rows = table.select(["visit_type", "blood_ketones", "venous_ph", "conditions"]).to_pylist()
    tested = [r for r in rows if r["blood_ketones"] is not None]
    assert tested and all("diabetes" in r["conditions"] for r in tested)
    clinic = [r for r in rows if "diabetes" in r["conditions"] and r["visit_type"] != "inpatient"]
    assert sum(r["blood_ketones"] is not None for r in clinic) < 0.3 * len(clinic)
    assert "not_asked" not in table.column("accepts_transfer").to_pylist()


def test_population_laboratory_values_agree_with_what_they_derive(
        rows: list[dict[str, object]]) -> None:
    """The laboratory facts of issue 10 are recorded for some patients and agree with the
    facts derived from them: an HbA1c in one unit only; a recorded low-potassium flag with a
    low potassium; a recurrent-hypoglycaemia flag with two or more episodes; a troponin ratio
    in the band of the HEART troponin points; no PCI at a primary clinic."""
    a1c = [r for r in rows if r["hba1c"] is not None or r["hba1c_mmol_mol"] is not None]
    assert a1c and not [r for r in a1c if r["hba1c"] is not None
                        and r["hba1c_mmol_mol"] is not None]
    assert any(r["hba1c_mmol_mol"] is not None for r in a1c)
    low = [r for r in rows if r["hypokalaemia_not_diuretic"] and r["serum_potassium"] is not None]
    assert low and all(float(str(r["serum_potassium"])) < 3.5 for r in low)
    hypo = [r for r in rows if r["recurrent_hypoglycaemia"]
            and r["severe_hypoglycaemia_episodes_12_months"] is not None]
    assert hypo and all(int(str(r["severe_hypoglycaemia_episodes_12_months"])) >= 2
                        for r in hypo)
    bands = {0: (0, 1), 1: (1, 3), 2: (3, 10_000)}
    both = [r for r in rows if r["troponin_ratio_url"] is not None
            and r["heart_troponin_points"] is not None]
    assert both
    for r in both:
        lo, hi = bands[int(str(r["heart_troponin_points"]))]
        assert lo <= float(str(r["troponin_ratio_url"])) <= hi
    assert not [r for r in rows if r["care_level"] == "primary" and r["facility_pci_capable"]]
    assert {r["facility_pci_capable"] for r in rows} == {True, False, None}
