"""medgrpo.data.synth: every calculator's answer checked against an independent computation."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from medgrpo.data import synth
from medgrpo.data.schema import validate_record


def _independent(calc: str, x: dict[str, Any]) -> float:
    """Each formula written again from its textbook definition (not from synth's code)."""
    female = x.get("sex") == "woman"
    if calc == "anion_gap":
        return x["sodium"] - x["chloride"] - x["bicarbonate"]
    if calc == "corrected_calcium":
        return x["calcium"] + 0.8 * (4 - x["albumin"])
    if calc == "cockcroft_gault":
        return (140 - x["age"]) * x["weight_kg"] / (72 * x["creatinine"]) * (0.85 if female else 1)
    if calc == "bmi":
        return x["weight_kg"] / (x["height_cm"] / 100) ** 2
    if calc == "bsa_mosteller":
        return math.sqrt(x["height_cm"] * x["weight_kg"] / 3600)
    if calc == "mean_arterial_pressure":
        return x["diastolic"] + (x["systolic"] - x["diastolic"]) / 3
    if calc == "qtc_bazett":
        return x["qt_ms"] / math.sqrt(60 / x["heart_rate"])
    if calc == "qtc_fridericia":
        return x["qt_ms"] / math.pow(60 / x["heart_rate"], 1 / 3)
    if calc == "aa_gradient":
        return x["fio2"] * 713 - x["paco2"] * 1.25 - x["pao2"]
    if calc == "corrected_sodium":
        return x["sodium"] + 0.016 * (x["glucose_mgdl"] - 100)
    if calc == "free_water_deficit":
        tbw = {("man", False): 0.6, ("woman", False): 0.5, ("man", True): 0.5, ("woman", True): 0.45}
        return x["weight_kg"] * tbw[(x["sex"], x["age"] >= 65)] * (x["sodium"] - 140) / 140
    if calc == "weight_based_dose":
        return min(x["dose_mg_per_kg"] * x["weight_kg"], x["max_mg"])
    if calc == "infusion_rate":
        mcg_per_hour = x["dose_mcg_kg_min"] * x["weight_kg"] * 60
        return mcg_per_hour / x["concentration_mcg_ml"]
    if calc == "serum_osmolality":
        return 2 * x["sodium"] + x["glucose_mgdl"] / 18 + x["bun"] / 2.8
    if calc == "ldl_friedewald":
        return x["total_cholesterol"] - x["hdl"] - x["triglycerides"] / 5
    if calc == "maintenance_fluids":
        w = x["weight_kg"]
        return 40 + 20 + (w - 20) if w > 20 else (40 + 2 * (w - 10) if w > 10 else 4 * w)
    if calc == "parkland":
        return 4 * x["weight_kg"] * x["tbsa_percent"] / 16
    if calc == "fena":
        return 100 * x["urine_sodium"] / x["plasma_sodium"] * x["plasma_creatinine"] / x["urine_creatinine"]
    raise AssertionError(f"no independent formula for {calc}")


def test_at_least_twelve_calculators_with_documented_formulas() -> None:
    assert len(synth.CALCULATORS) >= 12
    for name, fn in synth.CALCULATORS.items():
        (record,) = synth.generate(1, kinds=[name])
        assert record["meta"]["unit"] in (fn.__doc__ or ""), f"{name}: docstring should state the output unit"
        assert f"- {name}:" in (synth.__doc__ or ""), f"{name} missing from the module's formula list"


@pytest.mark.parametrize("difficulty", synth.DIFFICULTIES)
@pytest.mark.parametrize("kind", sorted(synth.CALCULATORS))
def test_answers_match_an_independent_computation(kind: str, difficulty: str) -> None:
    for record in synth.generate(25, seed=11, kinds=[kind], difficulty=difficulty):
        validate_record(record)
        meta = record["meta"]
        assert meta["calculator"] == kind and meta["difficulty"] == difficulty
        expected = _independent(kind, meta["inputs"])
        got = float(record["answer"])
        # the answer is the exact value rounded to meta.decimals, so it is within half a unit of the
        # last place and within the stated relative tolerance
        assert abs(got - expected) <= 0.5 * 10 ** -meta["decimals"] + 1e-9, (record["question"], expected)
        assert abs(got - expected) <= meta["tolerance"] * abs(expected) + 0.5 * 10 ** -meta["decimals"]
        assert record["answer"] == f"{got:.{meta['decimals']}f}"
        assert meta["unit"] in record["question"]


def test_records_are_canonical_and_reproducible() -> None:
    a = list(synth.generate(60, seed=3))
    b = list(synth.generate(60, seed=3))
    c = list(synth.generate(60, seed=4))
    assert a == b
    assert a != c
    assert len({r["id"] for r in a}) == 60
    for record in a:
        assert record["source"] == "synth" and record["answer_type"] == "numeric"
        assert record["id"].startswith("synth-")
        assert isinstance(record["meta"]["tolerance"], float)
    assert {r["meta"]["difficulty"] for r in a} == set(synth.DIFFICULTIES)
    assert len({r["meta"]["calculator"] for r in a}) == len(synth.CALCULATORS)


def test_hard_vignettes_need_unit_conversion() -> None:
    texts = [r["question"] for r in synth.generate(200, seed=5, difficulty="hard")]
    assert any(" lb" in t for t in texts)
    assert any("inches" in t for t in texts)
    assert any("mmol/L" in t for t in texts)
    easy = [r["question"] for r in synth.generate(100, seed=5, difficulty="easy")]
    assert not any(" lb" in t for t in easy)
    assert sum(len(t) for t in texts) / len(texts) > sum(len(t) for t in easy) / len(easy)


def test_format_answer_rounds_half_up() -> None:
    for value, places in [(2.675, 2), (0.5, 0), (1.05, 1), (-3.25, 1), (123.456, 1)]:
        expected = str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
        assert synth.format_answer(value, places) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": ["nope"]}, "unknown calculator"),
        ({"difficulty": "extreme"}, "difficulty"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        list(synth.generate(1, **kwargs))


def test_cli_synth_writes_jsonl(tmp_path: Any) -> None:
    import json

    from medgrpo.cli import main

    out = tmp_path / "s.jsonl"
    assert main(["synth", str(out), "-n", "12", "--seed", "2", "--kinds", "bmi,anion_gap", "--difficulty", "easy"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12
    assert {r["meta"]["calculator"] for r in rows} == {"bmi", "anion_gap"}
    assert rows == list(synth.generate(12, seed=2, kinds=["bmi", "anion_gap"], difficulty="easy"))
    assert main(["synth", str(out), "--kinds", "nope"]) == 2
