"""Measured quality on the labelled corpus: the frozen test split (issue #11's done criteria) and the dev split.

The test split was generated once (``generate_corpus(300, split="test", seed=FROZEN_TEST_SEED)``), committed
as ``data/deid_test_split.jsonl.gz`` and never used while tuning; its checksum is pinned here so it cannot
drift. Names come from a source the detector never reads (see ``medgrpo.deid.corpus``).
"""

from __future__ import annotations

from typing import Any

import pytest

from medgrpo.deid.corpus import FROZEN_TEST, FROZEN_TEST_SEED, Note, generate_corpus, overlap_report, read_split
from medgrpo.deid.engine import Deidentifier
from medgrpo.deid.evaluate import evaluate
from medgrpo.deid.types import Span

FROZEN_SHA256 = "2ca4d7300f01e02b2c6fab4a7e79bcb4473af7f37686794d193b5e7562e308d9"


@pytest.fixture(scope="module")
def test_split() -> list[Note]:
    notes, sha = read_split(FROZEN_TEST)
    assert sha == FROZEN_SHA256, "the frozen test split changed"
    return notes


def test_frozen_split_is_what_the_generator_wrote_once(test_split: list[Note]) -> None:
    again = generate_corpus(300, split="test", seed=FROZEN_TEST_SEED)
    assert [n.text for n in again] == [n.text for n in test_split]


@pytest.fixture(scope="module")
def test_result(deid: Deidentifier, test_split: list[Note]) -> dict[str, Any]:
    return evaluate(test_split, deid.analyze)


def test_frozen_test_split_recall_and_precision(test_result: dict[str, Any]) -> None:
    # figures only: the frozen split's misses and false hits are never printed (nobody may tune on them)
    assert test_result["recall"] >= 0.99, f"recall {test_result['recall']:.4f} (misses not shown: frozen split)"
    assert test_result["precision"] >= 0.85, f"precision {test_result['precision']:.4f} (false hits not shown)"


def test_frozen_test_split_every_style_and_kind(test_result: dict[str, Any]) -> None:
    for group, row in test_result["per_group"].items():
        assert row["recall"] >= 0.98, group
        assert row["precision"] >= 0.85, group


def test_corpus_names_are_not_the_detector_lexicon(test_split: list[Note]) -> None:
    """The overlap check: a real share of the gold names and towns is in no detector lexicon."""
    overlap = overlap_report(test_split)
    assert overlap["NAME"] < 0.9 and overlap["LOCATION"] < 0.5, overlap


def test_dev_and_test_splits_share_no_note() -> None:
    dev = {n.text for n in generate_corpus(60, split="dev", seed=0)}
    assert not dev & {n.text for n in generate_corpus(60, split="test", seed=0)}


def test_evaluator_counts_by_hand() -> None:
    # "Ann Lee saw Bob." gold: Ann Lee (0-7), Bob (12-15); detections: "Ann" and "saw" (wrong)
    note = Note(text="Ann Lee saw Bob.", phi=[(0, 7, "NAME"), (12, 15, "NAME")])
    result = evaluate([note], lambda text: [Span(0, 3, "NAME", 1.0), Span(8, 11, "NAME", 1.0)])
    assert result["recall"] == pytest.approx(1 / 3)  # Ann of (Ann, Lee, Bob)
    assert result["precision"] == pytest.approx(1 / 2)  # Ann right, saw wrong
    assert result["over_redaction"] == pytest.approx(1 / 1)  # the only non-PHI token, saw, was redacted
