"""FHIR R4 -> facts: the project's own fixtures (tests/service/fhir/) and the official HL7
examples in ../shared/interop (skipped, with the reason, where that directory is absent)."""

from __future__ import annotations

import copy
import functools
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_rules import Bundle, Engine, FactsError
from referral_rules_service.fhir_map import (
    FhirInputError,
    Ignored,
    Mapped,
    Mapping,
    MappingError,
    load_mapping,
    map_resources,
)

from . import fhir_build as fhir

ROOT = Path(__file__).resolve().parents[2]
OWN = Path(__file__).resolve().parent / "fhir"
INTEROP = ROOT.parent / "shared" / "interop"
official = pytest.mark.skipif(
    not INTEROP.is_dir(), reason="official examples not found: ../shared/interop beside the repo")
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=CST)  # the time of the own fixtures' visit
LOINC = "http://loinc.org"
UCUM_URI = "http://unitsofmeasure.org"


@pytest.fixture(scope="module")
def mapping(bundle: Bundle) -> Mapping:
    return load_mapping(vocabulary=bundle.vocabulary)


@pytest.fixture(scope="module")
def lab_mapping() -> Mapping:
    """Lab facts facts.yaml does not have: HbA1c (IFCC), potassium, eGFR."""
    return load_mapping(OWN / "lab-mapping.yaml")


def own(name: str) -> Any:
    return json.loads((OWN / name).read_text(encoding="utf-8"))


def example(rel: str) -> Any:
    return json.loads((INTEROP / rel).read_text(encoding="utf-8"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def visit(mapping: Mapping) -> Mapped:
    return map_resources(mapping, own("visit-prefetch.json"), now=NOW)


# --- the project's own fixtures: one realistic visit ----------------------------------------

def test_visit_gives_exactly_these_facts(mapping: Mapping) -> None:
    """Every mapped fact, converted and rounded, from a prefetch object of three keys."""
    assert visit(mapping).facts == {
        "age": 64, "sex": "female", "sbp": 168, "dbp": 98, "heart_rate": 104,
        "respiratory_rate": 22, "body_temperature": 37.8, "spo2": 93, "blood_glucose": 12.8,
        "fasting_glucose": 7.8, "urine_ketones_plus": 2, "venous_ph": 7.28,
        "serum_bicarbonate": 17.0, "has_hypertension": True, "hba1c": 8.1,
        "serum_potassium": 3.1,
    }


def test_newest_reading_wins_and_an_old_one_is_reported(mapping: Mapping) -> None:
    mapped = visit(mapping)
    assert mapped.sources["sbp"] == mapped.sources["dbp"] == "Observation/bp-today"
    assert Ignored("Observation/bp-last-week", "older-than-1-days",
                   f"{LOINC}|8480-6") in mapped.ignored


def test_glucose_unit_without_code_is_converted(mapping: Mapping) -> None:
    """230 mg/dL sent with only ``unit`` (no system/code) -> 230 / 18.016 = 12.8 mmol/L."""
    mapped = visit(mapping)
    assert mapped.facts["blood_glucose"] == 12.8
    assert mapped.sources["blood_glucose"] == "Observation/glu-random"
    assert mapped.facts["fasting_glucose"] == 7.8  # 140 mg/dL


def test_a_comparator_is_never_an_exact_value(mapping: Mapping) -> None:
    """The newer glucometer 'HI' (> 600 mg/dL) is reported, not read as 33.3 mmol/L."""
    mapped = visit(mapping)
    assert Ignored("Observation/glu-meter-hi", "comparator", f"{LOINC}|41653-7") in mapped.ignored
    assert mapped.facts["blood_glucose"] == 12.8


def test_entered_in_error_is_ignored(mapping: Mapping) -> None:
    mapped = visit(mapping)
    assert Ignored("Observation/temp-wrong", "entered-in-error",
                   f"{LOINC}|8310-5") in mapped.ignored
    assert mapped.sources["body_temperature"] == "Observation/temp-axillary"


def test_components_are_read_by_their_own_code(mapping: Mapping) -> None:
    mapped = visit(mapping)
    assert mapped.facts["spo2"] == 93
    assert Ignored("Observation/spo2", "unknown-code", f"{LOINC}|3151-8") in mapped.ignored


def test_conditions_only_count_when_active_and_confirmed(mapping: Mapping) -> None:
    """A suffixed ICD-10 code matches its category; provisional, resolved, refuted and
    text-only diagnoses give nothing, and nothing ever becomes false."""
    mapped = visit(mapping)
    assert mapped.facts["has_hypertension"] is True
    assert mapped.sources["has_hypertension"] == "Condition/htn"
    for fact in ("known_diabetes", "acute_kidney_injury", "chronic_kidney_disease"):
        assert fact not in mapped.facts
    icd = "http://hl7.org/fhir/sid/icd-10"
    assert {Ignored("Condition/t2dm", "verification-provisional", f"{icd}|E11.900"),
            Ignored("Condition/aki-2024", "abated", f"{icd}|N17.9"),
            Ignored("Condition/ckd-ruled-out", "refuted", f"{icd}|N18.3"),
            Ignored("Condition/note-only", "unknown-code", None)} <= set(mapped.ignored)


def test_known_but_unmapped_and_unknown_codes_are_reported(mapping: Mapping) -> None:
    reasons = {(i.reference, i.reason) for i in visit(mapping).ignored}
    assert {("Observation/egfr", "comparator"), ("Observation/poct-local", "unknown-code"),
            ("OperationOutcome/search-warning", "unsupported-type")} <= reasons
    assert not {r for r in reasons if r[0] in ("Observation/k", "Observation/hba1c")}


def test_facts_are_valid_for_the_engine(mapping: Mapping, bundle: Bundle,
                                        python_engine: Engine) -> None:
    """The facts pass facts.yaml as they are, and a DKA picture is sent up."""
    facts = {"care_level": "primary", **visit(mapping).facts}
    assert bundle.vocabulary.validate(facts) == facts
    assert python_engine.evaluate(facts).direction == "up"


def test_output_is_deterministic_and_independent_of_order(mapping: Mapping) -> None:
    data = own("visit-prefetch.json")
    shuffled = copy.deepcopy(data)
    shuffled["observations"]["entry"].reverse()
    shuffled = {k: shuffled[k] for k in reversed(list(shuffled))}
    first = map_resources(mapping, data, now=NOW)
    assert map_resources(mapping, data, now=NOW) == first
    assert map_resources(mapping, shuffled, now=NOW) == first
    assert first.ignored == tuple(sorted(first.ignored,
                                         key=lambda i: (i.reference, i.reason, i.code or "")))


def test_date_only_values_count_from_midnight_and_future_values_are_left_out(
        mapping: Mapping) -> None:
    def hr(oid: str, when: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": oid, "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
                "effectiveDateTime": when, "valueQuantity": {"value": 70, "unit": "/min"}}
    mapped = map_resources(mapping, [hr("today", "2026-11-20"), hr("yesterday", "2026-11-19"),
                                     hr("tomorrow", "2026-11-21T09:00:00+08:00")], now=NOW)
    assert mapped.sources == {"heart_rate": "Observation/today"}
    assert {(i.reference, i.reason) for i in mapped.ignored} == {
        ("Observation/yesterday", "older-than-1-days"), ("Observation/tomorrow", "future-date")}


def test_patient_id_leaves_out_other_patients(mapping: Mapping) -> None:
    data = own("visit-prefetch.json")
    stray = copy.deepcopy(data["observations"]["entry"][0]["resource"])
    stray.update(id="bp-other", subject={"reference": "Patient/p-999"})
    mapped = map_resources(mapping, [data["patient"], stray], now=NOW, patient_id="p-001")
    assert "sbp" not in mapped.facts and mapped.facts["age"] == 64
    assert mapped.ignored == (Ignored("Observation/bp-other", "other-patient",
                                      "http://loinc.org|85354-9"),)


def test_garbage_and_null_values(mapping: Mapping) -> None:
    mapped = map_resources(mapping, [None, "123", 42, {"foo": 1}], now=NOW)
    assert mapped == Mapped({}, {}, tuple(Ignored(f"resources[{i}]", "not-a-resource", None)
                                          for i in (1, 2, 3)))


def test_malformed_resources_raise_with_paths(mapping: Mapping) -> None:
    with pytest.raises(FhirInputError) as caught:
        map_resources(mapping, {"obs": own("malformed-bundle.json")}, now=NOW)
    assert [i["path"] for i in caught.value.issues] == [
        "prefetch.obs.entry[1].resource.valueQuantity.value",
        "prefetch.obs.entry[2].resource.valueQuantityy",
    ]
    assert "not an element" in caught.value.issues[1]["message"]


def test_now_must_be_timezone_aware(mapping: Mapping) -> None:
    with pytest.raises(ValueError, match="timezone"):
        map_resources(mapping, [], now=datetime(2026, 11, 20, 10, 0))


def test_implausible_values_are_not_clamped(mapping: Mapping, bundle: Bundle) -> None:
    """The range check belongs to facts.yaml: 1800 mmHg reaches it and is rejected there."""
    reading = own("visit-prefetch.json")["observations"]["entry"][0]["resource"]
    reading["component"][0]["valueQuantity"]["value"] = 1800
    reading["component"][1]["valueQuantity"]["value"] = 1e300
    facts = map_resources(mapping, [reading], now=NOW).facts
    assert facts == {"sbp": 1800, "dbp": 1e300}
    with pytest.raises(FactsError, match="sbp"):
        bundle.vocabulary.validate({"care_level": "primary", **facts})


_codes = st.sampled_from(["8480-6", "8462-4", "2339-0", "2514-8", "2746-6", "4548-4", "x"])
_noise = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid nine times in ten, anything JSON-like otherwise."""
    return st.integers(0, 9).flatmap(lambda i: valid if i else _noise)


_quantities = st.fixed_dictionaries({}, optional={
    "value": _mostly(st.integers(-10**30, 10**30) | st.floats(allow_nan=False,
                                                              allow_infinity=False)),
    "unit": _mostly(st.sampled_from(["mg/dL", "mmol/L", "", "%", "C", "mmHg"])),
    "system": _mostly(st.sampled_from([UCUM_URI, "http://snomed.info/sct"])),
    "code": _mostly(st.sampled_from(["mg/dL", "mm[Hg]", "[pH]", "%"])),
    "comparator": _mostly(st.sampled_from(["<", ">"]))})
_values = st.one_of(
    st.builds(lambda q: {"valueQuantity": q}, _mostly(_quantities)),
    st.builds(lambda c: {"valueCodeableConcept": {"coding": [
        {"system": "http://snomed.info/sct", "code": c}]}},
              st.sampled_from(["260348001", "77386006", "1"])),
    st.just({"dataAbsentReason": {"text": "not done"}}), st.just({}))
_readings = st.builds(lambda c, v: {"code": {"coding": [{"system": LOINC, "code": c}]}, **v},
                      _codes, _values)
_observations = st.builds(lambda top, comps, status, when: {
    **top, "resourceType": "Observation", "status": status, "component": comps,
    "effectiveDateTime": when}, _readings, st.lists(_readings, max_size=2),
    _mostly(st.sampled_from(["final", "preliminary", "cancelled"])),
    _mostly(st.sampled_from(["2026-11-20", "2026-11-20T09:00:00+08:00", "2026", "1999-01-01"])))


@functools.cache
def _bundled() -> Mapping:
    return load_mapping()


@given(st.lists(_observations, max_size=3))
def test_any_observation_maps_or_is_rejected_cleanly(observations: list[Any]) -> None:
    """Never another exception: the service answers every input with facts or a 4xx."""
    mapping = _bundled()
    try:
        mapped = map_resources(mapping, observations, now=NOW)
    except FhirInputError as exc:
        assert exc.issues and all(i["path"].startswith("resources[") for i in exc.issues)
    else:
        assert set(mapped.facts) <= set(mapping.facts)


def test_hba1c_ifcc_conversion(lab_mapping: Mapping) -> None:
    """53 mmol/mol -> 0.09148 * 53 + 2.152 = 7.0 % (IFCC -> NGSP master equation)."""
    mapped = map_resources(lab_mapping, [own("hba1c-ifcc.json")], now=NOW)
    assert mapped.facts == {"hba1c": 7.0}


# --- the mapping file ---------------------------------------------------------------------

def test_bundled_mapping_matches_facts_yaml(mapping: Mapping, bundle: Bundle) -> None:
    assert set(mapping.facts) <= set(bundle.vocabulary.facts)
    assert {"sbp", "dbp", "age", "sex", "blood_glucose", "has_hypertension"} <= set(
        mapping.facts)
    assert f"{LOINC}|85354-9" in mapping.observation_codes()  # BP panels for prefetch queries


def _broken(tmp_path: Path, text: str, bundle: Bundle) -> list[str]:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_mapping(path, vocabulary=bundle.vocabulary)
    return [i.replace(f"{path}:", "", 1) for i in caught.value.issues]


def test_schema_errors_have_file_line_column(tmp_path: Path, bundle: Bundle) -> None:
    issues = _broken(tmp_path, """\
version: "1"
systems:
  snomed: {uri: "http://snomed.info/sct"}
conditions:
  has_hypertension:
    codes: {snomed: [38341003]}
    sorce: typo
""", bundle)
    assert issues == [
        "5:3: conditions.has_hypertension: missing required key 'source' "
        "(add 'source:' here) [schema]",
        "6:22: conditions.has_hypertension.codes.snomed.0: input should be a valid string "
        "(got 38341003) (quote it: \"38341003\") [schema]",
        "7:5: conditions.has_hypertension.sorce: unknown key 'sorce' "
        "(did you mean 'source'?) [schema]",
    ]


def test_cross_checks_have_file_line_column(tmp_path: Path, bundle: Bundle) -> None:
    issues = _broken(tmp_path, """\
version: "1"
systems:
  loinc: {uri: "http://loinc.org"}
observations:
  sbp_mmhg:
    codes: {lonc: ["8480-6"]}
    units:
      - {ucum: "mm[Hg]", convert: "x ** 2"}
    max_age_days: 1
    source: test
  heart_rate:
    codes: {loinc: ["8867-4"]}
    units: [{ucum: /min}]
    max_age_days: 1
    source: test
""", bundle)
    assert issues == [
        "5:3: observations.sbp_mmhg: unknown fact 'sbp_mmhg' (did you mean 'sbp'?) "
        "[unknown-fact]",
        "6:13: observations.sbp_mmhg.codes.lonc: unknown code system 'lonc' "
        "(did you mean 'loinc'?) [unknown-name]",
        "8:36: observations.sbp_mmhg.units.0.convert: 'x ** 2' is not allowed in a formula "
        "(only numbers, x, + - * / and ( )) [syntax]",
        "11:3: observations.heart_rate: 'heart_rate' is a whole number in facts.yaml "
        "(add 'decimals: 0') [type-mismatch]",
    ]


def test_yaml_syntax_and_missing_file(tmp_path: Path, bundle: Bundle) -> None:
    issues = _broken(tmp_path, "version: '1'\nsystems: {loinc: [\n", bundle)
    assert len(issues) == 1 and issues[0].startswith("3:1: YAML syntax error")
    with pytest.raises(MappingError, match=r"nowhere\.yaml:1:1: cannot read the mapping"):
        load_mapping(tmp_path / "nowhere.yaml")


# --- the official HL7 examples (../shared/interop) ------------------------------------------

@official
def test_bp_panel_components_107_over_60(mapping: Mapping) -> None:
    """Date-only effectiveDateTime; values only in components 8480-6 / 8462-4."""
    r4 = "fhir-r4/core-4.0.1/"
    mapped = map_resources(mapping, [example(r4 + "observation-example-bloodpressure.json")],
                           now=at("2012-09-17T15:00:00+00:00"))
    assert mapped.facts == {"sbp": 107, "dbp": 60}
    assert mapped.ignored == ()


@official
def test_bp_data_absent_and_cancelled(mapping: Mapping) -> None:
    r4 = "fhir-r4/core-4.0.1/"
    mapped = map_resources(mapping, [example(r4 + "observation-example-bloodpressure-dar.json"),
                                     example(r4 + "observation-example-bloodpressure-cancel.json")],
                           now=at("2012-09-17T15:00:00+00:00"))
    assert mapped.facts == {"sbp": 107}
    assert mapped.ignored == (
        Ignored("Observation/blood-pressure-cancel", "cancelled", f"{LOINC}|85354-9"),
        Ignored("Observation/blood-pressure-dar", "data-absent", f"{LOINC}|8462-4"))


@official
def test_glucose_76_mg_dl_is_4_2_mmol_l(mapping: Mapping) -> None:
    for rel in ("fhir-r4/us-core-9.0.0/observation-serum-glucose.json",
                "fhir-r4/us-core-4.0.0/blood-glucose.json"):  # the second has no unit code
        mapped = map_resources(mapping, [example(rel)], now=at("2005-07-05T12:00:00+00:00"))
        assert mapped.facts == {"blood_glucose": 4.2}, rel


@official
def test_glucose_with_open_period_and_display_unit(mapping: Mapping) -> None:
    """effectivePeriod with only a start; display unit 'mmol/l'."""
    mapped = map_resources(mapping, [example(
        "fhir-r4/core-4.0.1/observation-example-f001-glucose.json")],
        now=at("2013-04-02T18:00:00+01:00"))
    assert mapped.facts == {"blood_glucose": 6.3}


@official
def test_report_members_take_the_panel_time_and_units_without_code(
        mapping: Mapping, lab_mapping: Mapping) -> None:
    """In the R4 lab report Bundle, members have no time of their own and glucose and
    potassium carry only a written unit."""
    ghp = example("fhir-r4/core-4.0.1/diagnosticreport-example-ghp.json")
    now = at("2015-08-16T12:00:00+00:00")
    mapped = map_resources(mapping, [ghp], now=now)
    assert mapped.facts == {"blood_glucose": 7.4, "serum_bicarbonate": 26.0,
                            "serum_potassium": 4.2}
    assert map_resources(lab_mapping, [ghp], now=now).facts == {"potassium": 4.2}


@official
def test_spo2_is_95_not_the_oxygen_flow_6(mapping: Mapping) -> None:
    mapped = map_resources(mapping, [example("fhir-r4/us-core-9.0.0/observation-satO2-fiO2.json")],
                           now=at("2014-12-05T12:00:00+01:00"))
    assert mapped.facts == {"spo2": 95}
    assert mapped.ignored == (
        Ignored("Observation/satO2-fiO2", "unknown-code", f"{LOINC}|3151-8"),)


@official
def test_egfr_comparator(mapping: Mapping, lab_mapping: Mapping) -> None:
    """The R4 eGFR example: the MDRD panel code (33914-3) carries no value of its own and its
    values are race-specific components (not used, said so); "> 60" is still not 60."""
    egfr = example("fhir-r4/core-4.0.1/observation-example-f205-egfr.json")
    now = at("2013-04-04T18:00:00+01:00")  # the example has only `issued`
    mapped_own = map_resources(mapping, [egfr], now=now)
    assert mapped_own.facts == {}
    assert {(i.reason, i.code) for i in mapped_own.ignored} == {
        ("no-value", f"{LOINC}|33914-3"), ("not-mapped", f"{LOINC}|48642-3"),
        ("not-mapped", f"{LOINC}|48643-1")}
    mapped = map_resources(lab_mapping, [egfr], now=now)
    assert mapped.facts == {}
    assert Ignored("Observation/f205", "comparator", f"{LOINC}|48643-1") in mapped.ignored


@official
def test_entered_in_error_temperature(mapping: Mapping) -> None:
    mapped = map_resources(mapping, [example(
        "fhir-r4/core-4.0.1/observation-example-f202-temperature.json")], now=NOW)
    assert mapped == Mapped({}, {}, (
        Ignored("Observation/f202", "entered-in-error", f"{LOINC}|8310-5"),))


@official
def test_window_and_excess_precision(mapping: Mapping) -> None:
    """36.55556 Cel -> 36.6; two days later the same value is too old."""
    temp = example("fhir-r4/us-core-9.0.0/temperature.json")
    assert map_resources(mapping, [temp], now=at("1999-07-02T16:00:00+00:00")).facts == {
        "body_temperature": 36.6}
    old = map_resources(mapping, [temp], now=at("1999-07-04T16:00:00+00:00"))
    assert old == Mapped({}, {}, (
        Ignored("Observation/temperature", "older-than-1-days", f"{LOINC}|8310-5"),))


@official
def test_vital_sign_units(mapping: Mapping) -> None:
    r4 = "fhir-r4/core-4.0.1/"
    mapped = map_resources(mapping, [example(r4 + f"observation-example-{n}.json") for n in (
        "heart-rate", "respiratory-rate", "body-temperature")],
        now=at("1999-07-02T16:00:00+00:00"))
    assert mapped.facts == {"heart_rate": 44, "respiratory_rate": 26, "body_temperature": 36.5}
    assert isinstance(mapped.facts["heart_rate"], int)


@official
def test_unknown_codes_panels_and_averages_give_nothing(mapping: Mapping) -> None:
    r4, us9 = "fhir-r4/core-4.0.1/", "fhir-r4/us-core-9.0.0/"
    mapped = map_resources(mapping, [
        example(r4 + "observation-example-f204-creatinine.json"),  # local code only
        example(r4 + "condition-example2.json"),  # code.text only
        example(r4 + "observation-example-vitals-panel.json"),  # hasMember only
        example(us9 + "Observation-average-blood-pressure.json"),  # mean BP, not clinic BP
        example(us9 + "condition-encounter-diagnosis-example1.json"),  # burn, SNOMED + ICD-10-CM
    ], now=at("2023-08-06T16:00:00+00:00"))
    assert mapped.facts == {}
    assert [(i.reference, i.reason) for i in mapped.ignored] == [
        ("Condition/encounter-diagnosis-example1", "unknown-code"),
        ("Condition/example2", "unknown-code"),
        ("Observation/average-blood-pressure", "not-mapped"),
        ("Observation/f204", "unknown-code"),
        ("Observation/vitals-panel", "members-only"),
    ]


@official
def test_coded_values_never_read_the_text(mapping: Mapping) -> None:
    """Pregnancy status 'Pregnant' counts; the intention Observation whose text says
    'Pregnant' does not; a Negative urine ketone strip is 0."""
    us9 = "fhir-r4/us-core-9.0.0/"
    mapped = map_resources(mapping, [example(us9 + "observation-pregnancy-status.json"),
                                     example(us9 + "observation-pregnancy-intent.json")],
                           now=at("2022-09-23T10:00:00+00:00"))  # status: 29.98 days old
    assert mapped.facts == {"pregnant_or_breastfeeding": True}
    assert mapped.sources == {"pregnant_or_breastfeeding": "Observation/pregnancy-status"}
    ketone = map_resources(mapping, [example("fhir-r4/us-core-4.0.0/urine-ketone.json")],
                           now=at("2005-07-05T12:00:00+00:00"))
    assert ketone.facts == {"urine_ketones_plus": 0}


@official
def test_patient_age_from_birth_date(mapping: Mapping) -> None:
    """1974-12-25 (with a _birthDate extension): 51 the day before the birthday, 52 on it."""
    pat = example("fhir-r4/core-4.0.1/patient-example.json")
    before = map_resources(mapping, [pat], now=datetime(2026, 12, 24, 23, 0, tzinfo=UTC))
    on = map_resources(mapping, [pat], now=datetime(2026, 12, 25, 0, 30, tzinfo=CST))
    assert before.facts == {"age": 51, "sex": "male"}
    assert on.facts == {"age": 52, "sex": "male"}
    assert on.sources == {"age": "Patient/example", "sex": "Patient/example"}


@official
def test_spec_prefetch_example(mapping: Mapping) -> None:
    """CDS Hooks 2.0 example: snipped members are dropped, the snipped HbA1c (no status left)
    is not used, and "user": "123" is not a resource."""
    prefetch = example("cds-hooks/spec-2.0/prefetch-data.json")["prefetch"]
    mapped = map_resources(mapping, prefetch, now=datetime(2026, 11, 20, tzinfo=UTC))
    assert mapped == Mapped({"age": 51, "sex": "male"},
                            {"age": "prefetch.patient", "sex": "prefetch.patient"}, (
        Ignored("prefetch.hemoglobin-a1c.entry[0].resource", "snipped-incomplete", None),
        Ignored("prefetch.patient", "snipped", None),
        Ignored("prefetch.user", "not-a-resource", None)))


@official
def test_real_world_prefetch_shapes(mapping: Mapping) -> None:
    """Da Vinci CRD: null prefetch values and administrative Bundles; a paginated searchset."""
    crd = example("cds-hooks/davinci-crd/CRDServiceRequest.json")
    mapped = map_resources(mapping, crd["prefetch"], now=datetime(2026, 2, 20, tzinfo=UTC),
                           patient_id=crd["context"]["patientId"])
    assert mapped.facts == {"age": 39, "sex": "female"}
    # its Encounter is finished: no visit type from it (the patient is no longer there)
    assert {i.reason for i in mapped.ignored} == {"unsupported-type", "status-finished"}
    paged = example("cds-hooks/spec-current-build/request-order-sign-paginated-prefetch.json")
    reasons = {(i.reference, i.reason) for i in map_resources(
        mapping, paged["prefetch"], now=NOW).ignored}
    assert ("prefetch.orders", "bundle-has-more-pages") in reasons


# --- issue 11 items 4 and 5: units FHIR allows, and the visit type from the Encounter -------

def _obs(code: str, value: float, unit: str, ucum: str, oid: str = "o1",
         subject: str = "Patient/p1", when: str = "2026-11-20T09:30:00+08:00") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": subject}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM_URI, "code": ucum}}


def _bp_panel(sbp: float, dbp: float, unit: str, ucum: str) -> dict[str, Any]:
    def part(code: str, value: float) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": value, "unit": unit, "system": UCUM_URI,
                                  "code": ucum}}
    return {"resourceType": "Observation", "id": "bp", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2026-11-20T09:30:00+08:00",
            "component": [part("8480-6", sbp), part("8462-4", dbp)]}


@pytest.mark.parametrize(("resource", "facts"), [
    (_bp_panel(24.7, 14.9, "kPa", "kPa"), {"sbp": 185, "dbp": 112}),
    (_bp_panel(185, 112, "mmHg", "mm[Hg]"), {"sbp": 185, "dbp": 112}),
    (_obs("8867-4", 72, "beats/min", "{beats}/min"), {"heart_rate": 72}),
    (_obs("9279-1", 18, "breaths/min", "{breaths}/min"), {"respiratory_rate": 18}),
    (_obs("8310-5", 310.15, "K", "K"), {"body_temperature": 37.0}),
    (_obs("2345-7", 0.76, "g/L", "g/L"), {"blood_glucose": 4.2}),
])
def test_units_fhir_allows_are_converted(mapping: Mapping, resource: dict[str, Any],
                                         facts: dict[str, Any]) -> None:
    mapped = map_resources(mapping, [resource], now=NOW, patient_id="p1")
    assert mapped.facts == facts and mapped.ignored == ()


def test_a_unit_that_is_not_listed_is_reported_not_guessed(mapping: Mapping) -> None:
    mapped = map_resources(mapping, [_bp_panel(185, 112, "cmHg", "cm[Hg]")], now=NOW)
    assert mapped.facts == {}
    assert {(i.reason, i.fact) for i in mapped.ignored} == {
        ("unit-not-convertible", "sbp"), ("unit-not-convertible", "dbp")}


def test_future_and_other_patient_readings_are_reported_with_their_path(
        mapping: Mapping) -> None:
    later = _obs("8867-4", 72, "/min", "/min", oid="later", when="2026-11-21T09:30:00+08:00")
    other = _obs("8867-4", 80, "/min", "/min", oid="other", subject="Patient/p2")
    mapped = map_resources(mapping, {"observations": {"resourceType": "Bundle",
                                                      "type": "searchset",
                                                      "entry": [{"resource": later},
                                                                {"resource": other}]}},
                           now=NOW, patient_id="p1")
    assert mapped.facts == {}
    found = {(i.reference, i.reason, i.path, i.fact) for i in mapped.ignored}
    assert found == {
        ("Observation/later", "future-date", "prefetch.observations.entry[0].resource",
         "heart_rate"),
        ("Observation/other", "other-patient", "prefetch.observations.entry[1].resource", None)}


def _encounter(klass: str, eid: str = "e1", status: str = "in-progress",
               subject: str = "Patient/p1", types: list[tuple[str, str]] | None = None,
               ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Encounter", "id": eid, "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
        "subject": {"reference": subject}}
    if types:
        out["type"] = [{"coding": [{"system": s, "code": c}]} for s, c in types]
    return out


@pytest.mark.parametrize(("encounters", "encounter_id", "visit", "reason"), [
    ([_encounter("IMP")], "e1", "inpatient", None),
    ([_encounter("ACUTE")], None, "inpatient", None),  # a lone Encounter
    ([_encounter("AMB")], "e1", None, "visit-type-not-coded"),  # first visit or follow-up?
    ([_encounter("EMER")], "e1", None, "visit-type-not-coded"),
    ([_encounter("IMP", status="finished")], "e1", None, "status-finished"),
    ([_encounter("IMP", status="entered-in-error")], "e1", None, "entered-in-error"),
    ([_encounter("IMP", eid="e2")], "e1", None, "other-encounter"),
    ([_encounter("IMP", subject="Patient/p2")], "e1", None, "other-patient"),
    ([_encounter("IMP"), _encounter("AMB", eid="e2")], None, None, "several-encounters"),
])
def test_visit_type_comes_from_the_encounter_class_only_when_it_can_tell(
        mapping: Mapping, encounters: list[dict[str, Any]], encounter_id: str | None,
        visit: str | None, reason: str | None) -> None:
    mapped = map_resources(mapping, encounters, now=NOW, patient_id="p1",
                           encounter_id=encounter_id)
    assert mapped.facts.get("visit_type") == visit
    assert {i.reason for i in mapped.ignored} == ({reason} if reason else set())


def test_site_encounter_types_win_and_a_disagreement_is_not_used(bundle: Bundle) -> None:
    text = (ROOT / "service" / "referral_rules_service" / "fhir_mapping.yaml").read_text(
        encoding="utf-8")
    text = text.replace('  v3act: {uri: "http://terminology.hl7.org/CodeSystem/v3-ActCode"}',
                        '  v3act: {uri: "http://terminology.hl7.org/CodeSystem/v3-ActCode"}\n'
                        '  hisvisit: {uri: "urn:his:visit"}')
    text = text.replace("  types: {}", '  types: {hisvisit: {"01": first_visit, '
                                       '"02": follow_up}}')
    from referral_rules_service.fhir_mapping_model import parse_mapping

    site = parse_mapping(text, "site.yaml", bundle.vocabulary)
    follow_up = _encounter("AMB", types=[("urn:his:visit", "02")])
    assert map_resources(site, [follow_up], now=NOW).facts == {"visit_type": "follow_up"}
    clash = _encounter("IMP", types=[("urn:his:visit", "01")])
    mapped = map_resources(site, [clash], now=NOW)
    assert mapped.facts == {} and mapped.ignored[0].reason == "encounter-types-disagree"


def test_an_encounter_value_not_in_the_vocabulary_is_a_mapping_error(bundle: Bundle) -> None:
    from referral_rules_service.fhir_mapping_model import parse_mapping

    text = (ROOT / "service" / "referral_rules_service" / "fhir_mapping.yaml").read_text(
        encoding="utf-8").replace("IMP: inpatient", "IMP: admitted", 1)
    with pytest.raises(MappingError, match="'admitted' is not a valid enum value of "
                                           "'visit_type'"):
        parse_mapping(text, "site.yaml", bundle.vocabulary)


# --- laboratory facts (issue 10 item 6) -----------------------------------------------------

def _troponin(value: float, unit: str, ucum: str, high: float | None, high_ucum: str,
              code: str = "89579-7") -> dict[str, Any]:
    obs = fhir.quantity(code, value, unit, ucum, oid="trop")
    if high is not None:
        obs["referenceRange"] = [{"high": {"value": high, "unit": high_ucum,
                                           "system": "http://unitsofmeasure.org",
                                           "code": high_ucum}}]
    return obs


@pytest.mark.parametrize(("value", "unit", "high", "high_unit", "ratio"), [
    (42.0, "ng/L", 14.0, "ng/L", 3.0),            # hs-cTnT three times its 99th percentile
    (0.03, "ng/mL", 40.0, "ng/L", 0.75),          # value in ng/mL, limit in ng/L
    (26.0, "pg/mL", 26.0, "pg/mL", 1.0),          # exactly at the limit
])
def test_troponin_is_read_as_a_multiple_of_its_upper_reference_limit(
        mapping: Mapping, value: float, unit: str, high: float, high_unit: str,
        ratio: float) -> None:
    mapped = map_resources(mapping, [_troponin(value, unit, unit, high, high_unit)],
                           now=datetime.now(UTC))
    assert mapped.facts == {"troponin_ratio_url": ratio}


def test_troponin_without_a_reference_limit_is_not_used_and_says_why(mapping: Mapping) -> None:
    mapped = map_resources(mapping, [_troponin(42.0, "ng/L", "ng/L", None, "ng/L")],
                           now=datetime.now(UTC))
    assert mapped.facts == {}
    assert [(i.reference, i.reason) for i in mapped.ignored] == [
        ("Observation/trop", "no-reference-high")]


def test_hba1c_potassium_and_egfr_are_mapped(mapping: Mapping, bundle: Bundle) -> None:
    resources = [fhir.quantity("4548-4", 7.9, "%", "%", oid="a1c"),
                 fhir.quantity("59261-8", 64, "mmol/mol", "mmol/mol", oid="ifcc"),
                 fhir.quantity("2823-3", 3.3, "mEq/L", "meq/L", oid="k"),
                 fhir.quantity("98979-8", 48, "mL/min/1.73m2", "mL/min/{1.73_m2}", oid="gfr")]
    mapped = map_resources(mapping, resources, now=datetime.now(UTC))
    assert mapped.facts == {"hba1c": 7.9, "hba1c_mmol_mol": 64, "serum_potassium": 3.3,
                            "egfr": 48}
    decision = Engine(bundle, "python").evaluate(
        {"care_level": "primary", "known_diabetes": True, "dm_treatment_months": 6,
         **mapped.facts})
    assert "DM-U6-NOT-AT-TARGET" in decision.fired_ids  # HbA1c 7.9 % is not at target
