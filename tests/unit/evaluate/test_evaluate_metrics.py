"""Metrics: Wilson intervals against worked values, grouping, and the paired bootstrap."""

from __future__ import annotations

import pytest

from medgrpo.evaluate.metrics import (
    answer_status,
    item_scores,
    min_detectable_drop,
    paired_bootstrap_diff,
    proportion,
    summarize,
    wilson_interval,
)


def test_wilson_interval_worked_example() -> None:
    # k=8, n=10, z=1.959964: p=0.8, z²=3.841459
    # denom = 1 + 0.3841459 = 1.3841459
    # center = (0.8 + 0.1920729) / 1.3841459 = 0.7167
    # half = 1.959964 * sqrt(0.016 + 0.0096036) / 1.3841459 = 0.2266
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_edges() -> None:
    # k=0, n=10: low is exactly 0, high = z²/n / (1 + z²/n) = 0.38415/1.38415 = 0.2775
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert low == pytest.approx(1 - 0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="k=5, n=3"):
        wilson_interval(5, 3)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 3, confidence=1.5)


def test_summarize_groups_by_type_and_source() -> None:
    items = [
        {"correct": True, "format_ok": True, "answer_type": "choice", "source": "medqa"},
        {"correct": False, "format_ok": True, "answer_type": "choice", "source": "medqa"},
        {"correct": True, "format_ok": False, "answer_type": "numeric", "source": "synth"},
        {"correct": True, "format_ok": True, "answer_type": "numeric", "source": "synth"},
        {"correct": False, "format_ok": False, "answer_type": "yes_no_maybe", "source": None},
    ]
    m = summarize(items)
    assert (m.n, m.accuracy.k, m.format_rate.k) == (5, 3, 3)
    assert m.accuracy.value == pytest.approx(0.6)
    assert {k: (g.accuracy.k, g.accuracy.n) for k, g in m.by_answer_type.items()} == {
        "choice": (1, 2),
        "numeric": (2, 2),
        "yes_no_maybe": (0, 1),
    }
    assert {k: (g.accuracy.k, g.accuracy.n) for k, g in m.by_source.items()} == {
        "medqa": (1, 2),
        "synth": (2, 2),
        "unknown": (0, 1),
    }
    assert m.by_source["synth"].format_rate.value == 0.5
    flat = m.flat("candidate_")
    assert flat["candidate_accuracy"] == pytest.approx(0.6)
    assert flat["candidate_accuracy_type_numeric"] == 1.0
    assert flat["candidate_format_rate_source_medqa"] == 1.0
    assert flat["candidate_n_items"] == 5.0


def test_sampled_items_are_averaged_and_their_interval_rests_on_items() -> None:
    # two items, 4 samples each: item a right in 3 of 4, item b in 1 of 4 -> accuracy 4/8 = 0.5 on 2 items
    rows = [
        {"id": "a", "correct": c, "format_ok": True, "answer_type": "choice", "source": "medqa", "new_tokens": 10}
        for c in (True, True, True, False)
    ] + [
        {"id": "b", "correct": c, "format_ok": f, "answer_type": "numeric", "source": "synth", "new_tokens": 32}
        for c, f in ((True, True), (False, False), (False, True), (False, False))
    ]
    m = summarize(rows, max_new_tokens=32)
    assert (m.n, m.samples_per_item, m.accuracy.k, m.accuracy.n, m.accuracy.items) == (2, 4, 4, 8, 2)
    assert m.accuracy.value == 0.5
    # the Wilson interval of p = 0.5 on 2 items, not on 8 samples
    assert (m.accuracy.low, m.accuracy.high) == pytest.approx(wilson_interval(1, 2))
    assert m.format_rate.value == pytest.approx(6 / 8)
    assert m.truncated_rate == 0.5 and m.mean_new_tokens == pytest.approx(21.0)
    scores = {s.id: s for s in item_scores(rows)}
    assert scores["a"].correct_rate == 0.75 and scores["a"].correct
    assert scores["b"].correct_rate == 0.25 and not scores["b"].correct


def test_extraction_failures_follow_the_strict_parser() -> None:
    rows = [
        {"id": "1", "correct": False, "format_ok": False, "answer_type": "choice", "answer_status": "missing"},
        {"id": "2", "correct": False, "format_ok": True, "answer_type": "choice", "answer_status": "hedge"},
        {"id": "3", "correct": True, "format_ok": True, "answer_type": "choice", "answer_status": "ok"},
        {"id": "4", "correct": False, "format_ok": True, "answer_type": "numeric", "answer_status": "ok"},
    ]
    m = summarize(rows)
    assert m.extraction_failures == 2
    assert m.by_answer_type["choice"].extraction_failures == 2 and m.by_answer_type["numeric"].extraction_failures == 0
    record = {"answer": "B", "answer_type": "choice", "options": {"A": "x", "B": "y"}}
    assert answer_status("<think>t</think><answer>B</answer>", record) == "ok"
    assert answer_status("<think>t</think><answer>A or B</answer>", record) == "hedge"
    assert answer_status("no tags at all", record) == "missing"


def test_min_detectable_drop_is_none_without_disagreement() -> None:
    assert min_detectable_drop(500, 0.0, 0.05) is None
    assert 0 < min_detectable_drop(500, 0.2, 0.05) < min_detectable_drop(100, 0.2, 0.05)  # type: ignore[operator]


def test_proportion_of_nothing_is_zero_with_full_interval() -> None:
    p = proportion(0, 0)
    assert (p.value, p.low, p.high) == (0.0, 0.0, 1.0)


def test_paired_bootstrap_brackets_observed_difference_and_is_deterministic() -> None:
    candidate = [True] * 30 + [False] * 20
    baseline = [True] * 20 + [False] * 30
    observed, low, high = paired_bootstrap_diff(candidate, baseline, n_boot=500, seed=1)
    assert observed == pytest.approx(0.2)
    assert low <= observed <= high
    # only positive per-item differences (0 or +1): the interval cannot go below 0
    assert low >= 0.0
    assert paired_bootstrap_diff(candidate, baseline, n_boot=500, seed=1) == (observed, low, high)


def test_paired_bootstrap_identical_vectors_has_zero_width() -> None:
    vec = [True, False, True, True]
    assert paired_bootstrap_diff(vec, vec, n_boot=100) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_rejects_misaligned_input() -> None:
    with pytest.raises(ValueError, match="3 vs 2"):
        paired_bootstrap_diff([True] * 3, [True] * 2)
