"""The blind nursing-note probe (``data/probe_blind.jsonl``): 116 hand-written ICU nursing notes in styles the
corpus generator lacks (ALL CAPS run-on text with run-together punctuation, lower case without punctuation,
heavy shorthand, misspellings, common-word surnames, facilities by abbreviation, pagers, ages over 89, and the
usual traps: ``1/2 NS``, ``5/5 strength``, ``A FIB``, ``SEEN BY RENAL``, eponyms, device brands).

Written before the detector's code was read (issue #11 robustness pass); gold spans are character offsets,
kept readable in ``probe_blind_marked.txt`` (``{TYPE|value}``). Names and places were invented or chosen
freely; most turned out to be in the census/Faker lists anyway (real surnames), a few are out of lexicon.

Two parts, fixed by id before any tuning: ``heldout`` = ids divisible by 3 (38 notes), never looked at while
tuning (its misses are never printed, here or anywhere); ``tune`` = the rest (78 notes), used to find general
rules. Floors sit a little under the figures measured at the end of that pass (README).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from medgrpo.deid.corpus import Note
from medgrpo.deid.engine import Deidentifier
from medgrpo.deid.evaluate import evaluate

DATA = Path(__file__).parent / "data"
_MARK = re.compile(r"\{([A-Z_]+)\|([^}]*)\}")
_STYLE = {"U": "upper", "L": "lower", "M": "mixed"}


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / "probe_blind.jsonl").read_text(encoding="utf-8").splitlines()]


def _notes(part: str) -> list[Note]:
    return [
        Note(r["text"], [(a, b, t) for a, b, t in r["phi"]], r["kind"], r["style"])
        for r in _rows()
        if r["part"] == part
    ]


def test_probe_offsets_match_the_marked_source() -> None:
    """Every gold span is exactly the marked value; the held-out rule (id divisible by 3) is what the file says."""
    marked = [
        line
        for line in (DATA / "probe_blind_marked.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    rows = _rows()
    assert len(rows) == len(marked) == 116
    for n, (row, line) in enumerate(zip(rows, marked, strict=True), start=1):
        style, source = line.split("|", 1)
        assert row["id"] == f"p{n:03d}" and row["style"] == _STYLE[style]
        assert row["part"] == ("heldout" if n % 3 == 0 else "tune")
        assert _MARK.sub(lambda m: m.group(2), source) == row["text"]
        values = [(m.group(1), m.group(2)) for m in _MARK.finditer(source)]
        assert [(t, row["text"][a:b]) for a, b, t in row["phi"]] == values


@pytest.fixture(scope="module")
def probe_results(deid: Deidentifier) -> dict[str, dict[str, Any]]:
    return {part: evaluate(_notes(part), deid.analyze) for part in ("tune", "heldout")}


def test_tuned_part_of_the_probe(probe_results: dict[str, dict[str, Any]]) -> None:
    """The part general rules were derived from: regression material (measured 1.000 / 1.000 / 0.000)."""
    r = probe_results["tune"]
    assert r["recall"] >= 0.98, r["misses"]
    assert r["over_redaction"] <= 0.002, r["false_hits"]


def test_held_out_part_of_the_probe(probe_results: dict[str, dict[str, Any]]) -> None:
    """The held-out third, never tuned on (measured recall 0.951, precision 1.000, over-redaction 0.000); figures
    only in the message, so it stays unseen."""
    r = probe_results["heldout"]
    figures = f"recall {r['recall']:.4f} precision {r['precision']:.4f} over-redaction {r['over_redaction']:.4f}"
    assert r["recall"] >= 0.93, figures
    assert r["over_redaction"] <= 0.003, figures
