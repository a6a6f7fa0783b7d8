"""Surrogate policy: realistic, consistent per patient, never the original; date shifting keeps intervals."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from medgrpo.deid import DeidError, load_deidentifier
from medgrpo.deid.corpus import generate_corpus
from medgrpo.deid.engine import Deidentifier
from medgrpo.deid.policy import DEFAULT_POLICY_PATH
from medgrpo.deid.surrogates import parse_date

SURROGATE_POLICY = DEFAULT_POLICY_PATH.with_name("surrogate_policy.yaml")


@pytest.fixture(scope="module")
def surrogate_deid() -> Iterator[Deidentifier]:
    mp = pytest.MonkeyPatch()
    mp.setenv("MEDGRPO_DEID_SECRET", "unit-test-secret")
    try:
        yield load_deidentifier(SURROGATE_POLICY)
    finally:
        mp.undo()


def test_surrogate_policy_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDGRPO_DEID_SECRET", raising=False)
    with pytest.raises(DeidError, match="MEDGRPO_DEID_SECRET"):
        load_deidentifier(SURROGATE_POLICY)


def test_surrogates_never_reproduce_originals(surrogate_deid: Deidentifier) -> None:
    """Every gold identifier the detector finds is replaced by a value that is not the original (a surrogate that
    happened to equal the original would silently keep the PHI). What the detector misses is recall's business
    (test_deid_quality), so only detected values are checked here."""
    notes = generate_corpus(60, split="dev", seed=7)
    records = [{"id": str(i), "text": n.text} for i, n in enumerate(notes)]
    out = surrogate_deid.deidentify_records(records, ["text"])
    checked = 0
    for note, rec in zip(notes, out, strict=True):
        spans = surrogate_deid.analyze(note.text)
        for start, end, etype in note.phi:
            value = note.text[start:end]
            covered = any(s.start <= start and end <= s.end for s in spans)
            if etype == "AGE" or len(value) < 4 or not covered:
                continue
            checked += 1
            assert value not in rec["text"], (etype, "original survived")
    assert checked > 300


def test_consistent_within_record_and_per_patient(surrogate_deid: Deidentifier) -> None:
    records = [
        {"id": "a", "question": "Patient John Smith was seen by Dr. Alvarez.", "explanation": "Mr. Smith improved.",
         "meta": {"patient_id": "P1"}},
        {"id": "b", "question": "Mr. Smith returned.", "meta": {"patient_id": "P1"}},
        {"id": "c", "question": "Mr. Smith returned.", "meta": {"patient_id": "P2"}},
    ]  # fmt: skip
    out = surrogate_deid.deidentify_records(records, ["question", "explanation"])
    surname = re.search(r"Patient \w+ (\w+) was", out[0]["question"]).group(1)  # type: ignore[union-attr]
    assert surname != "Smith"
    assert out[0]["explanation"] == f"Mr. {surname} improved."
    assert out[1]["question"] == f"Mr. {surname} returned."
    assert "Smith" not in out[2]["question"]
    assert out == surrogate_deid.deidentify_records(records, ["question", "explanation"])  # deterministic


def test_date_shift_preserves_intervals(surrogate_deid: Deidentifier) -> None:
    rec = {"id": "d", "question": "Admitted 03/14/2019, discharged 03/24/2019, seen again 2019-04-30.",
           "meta": {"patient_id": "P9"}}  # fmt: skip
    text = surrogate_deid.deidentify_records([rec], ["question"])[0]["question"]
    m = re.fullmatch(r"Admitted (\S+), discharged (\S+), seen again (\S+)\.", text)
    assert m, text
    d1, d2 = (dt.datetime.strptime(x, "%m/%d/%Y").date() for x in m.groups()[:2])
    d3 = dt.date.fromisoformat(m.group(3))
    assert d1 != dt.date(2019, 3, 14)
    assert (d2 - d1).days == 10 and (d3 - d1).days == 47


@pytest.mark.parametrize(
    ("text", "shifted_by_one_day"),
    [
        ("03/14/2019", "03/15/2019"),
        ("2019-03-14", "2019-03-15"),
        ("March 14, 2019", "March 15, 2019"),
        ("14 March 2019", "15 March 2019"),
        ("Mar 14", "Mar 15"),
        ("14-Mar-19", "15-Mar-19"),
        ("the 14th of March", "the 15th of March"),
        ("Thursday, March 14, 2019", "Friday, March 15, 2019"),
    ],
)
def test_parse_date_keeps_the_format(text: str, shifted_by_one_day: str) -> None:
    parsed = parse_date(text)
    assert parsed is not None
    date, render = parsed
    assert render(date) == text
    assert render(date + dt.timedelta(days=1)) == shifted_by_one_day


def test_policy_hash_ignores_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medgrpo.deid.policy import load_policy

    body = SURROGATE_POLICY.read_text()
    monkeypatch.setenv("MEDGRPO_DEID_SECRET", "one")
    a = load_policy(SURROGATE_POLICY)
    monkeypatch.setenv("MEDGRPO_DEID_SECRET", "two")
    b = load_policy(SURROGATE_POLICY)
    assert a.sha256 == b.sha256 and a.secret != b.secret
    changed = tmp_path / "p.yaml"
    changed.write_text(body.replace("max_days: 365", "max_days: 30"))
    assert load_policy(changed).sha256 != a.sha256


def test_canary_passes_for_any_secret(surrogate_deid: Deidentifier) -> None:
    """Surrogates must never recreate a planted value, whatever the secret (catches lucky collisions)."""
    import dataclasses

    original = surrogate_deid._replacer.policy
    try:
        for k in range(40):
            surrogate_deid._replacer.policy = dataclasses.replace(original, secret=f"secret-{k}".encode())
            surrogate_deid.canary_check()
    finally:
        surrogate_deid._replacer.policy = original
