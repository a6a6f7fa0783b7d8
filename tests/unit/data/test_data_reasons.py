"""Quarantine reasons and ingest errors never repeat a raw value (they are published and logged).

Each example plants one distinctive value (a name-like token, a long number) in one place of an
otherwise valid row of each format (a field, an option key, a meta key, a row key) and checks that
no reason and no one-line error contains it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medgrpo.data.ingest import IngestError, prepare
from medgrpo.data.schema import RecordError, describe, short, validate_record

GOOD: dict[str, dict[str, Any]] = {
    "medqa": {"question": "Which nerve?", "options": {"A": "Axillary", "B": "Radial"}, "answer_idx": "A"},
    "medmcqa": {"question": "Which nerve?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1},
    "pubmedqa": {"QUESTION": "Does it work?", "CONTEXTS": ["x"], "final_decision": "yes"},
    "canonical": {"source": "clinic", "question": "Is it?", "answer": "yes", "answer_type": "yes_no_maybe"},
}

NAMES = st.sampled_from(["Smith", "MRN", "Jones", "Ward"])
secret_text = st.builds(lambda a, n: f"Zq{a}{n}", NAMES, st.integers(10, 99))
secret_number = st.integers(10**9, 10**12)
secret = st.one_of(secret_text, secret_number)


def _plant(fmt: str, where: str, value: Any) -> dict[str, Any]:
    row = json.loads(json.dumps(GOOD[fmt]))
    if where == "every field":
        return {k: value for k in row}
    if where == "extra key":
        return {**row, str(value): 1}
    if where == "option key" and fmt in ("medqa", "canonical"):
        return {**row, "options": {str(value): "x", "B": "y"}, "answer_type": "choice", "answer": "B"}
    if where == "meta key":
        return {**row, "meta": {str(value): {"x": [float("nan")]}}}
    if where == "answer":
        key = {"medqa": "answer_idx", "medmcqa": "cop", "pubmedqa": "final_decision", "canonical": "answer"}[fmt]
        return {**row, key: value}
    first = next(iter(row))
    return {**row, first: value}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=secret,
    fmt=st.sampled_from(sorted(GOOD)),
    where=st.sampled_from(["every field", "extra key", "option key", "meta key", "answer", "first field"]),
)
def test_reasons_never_repeat_a_raw_value(tmp_path: Path, value: Any, fmt: str, where: str) -> None:
    src = tmp_path / f"{fmt}.jsonl"
    rows = [GOOD[fmt], _plant(fmt, where, value)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    try:
        prepare([str(src)], str(tmp_path / "staging"), fmt=fmt)
    except IngestError as err:  # nothing usable: the one line must not carry it either
        assert str(value) not in str(err)
        return
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "staging" / "quarantine.raw.jsonl").open()]
    for reason in reasons:
        assert str(value) not in reason, reason


@pytest.mark.parametrize(
    ("value", "shown"),
    [("A", "'A'"), (3, "3"), ("MRN1234", "a string of 7 characters"), (42, "an integer of 2 digits"),
     (7730021, "an integer of 7 digits"), (97.5, "a number"), ("Zoe", "a string of 3 characters")],
)  # fmt: skip
def test_short_shows_only_one_character_tokens(value: Any, shown: str) -> None:
    assert short(value) == shown
    assert describe(7730021) == "an integer of 7 digits"


def test_unknown_row_keys_are_counted_not_named(tmp_path: Path) -> None:
    src = tmp_path / "x.jsonl"
    src.write_text(json.dumps({"John Smith": "seen 03/04", "question": "q"}) + "\n")
    with pytest.raises(IngestError) as err:
        prepare([str(src)], str(tmp_path / "staging"))
    assert "John Smith" not in str(err.value) and "keys [question] and 1 other keys" in str(err.value)


def test_option_keys_in_validation_paths_are_not_shown() -> None:
    record = {"id": "x", "source": "s", "question": "q", "answer": "A", "answer_type": "choice",
              "options": {"A": "a", "Mr Smith": 5}}  # fmt: skip
    with pytest.raises(RecordError) as err:
        validate_record(record)
    assert "Smith" not in str(err.value) and "options.<key>" in str(err.value)
