"""Gates: exact McNemar tails worked by hand, paired counts, and every gate's pass/fail edge."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medgrpo.evaluate.gates import (
    GateThresholds,
    apply_gates,
    binomial_upper_tail,
    compare_paired,
    mcnemar_regression_p_value,
)
from medgrpo.evaluate.metrics import Metrics, summarize


def _metrics(correct: list[bool], formatted: list[bool] | None = None) -> Metrics:
    formatted = formatted if formatted is not None else [True] * len(correct)
    return summarize(
        [
            {"correct": c, "format_ok": f, "answer_type": "choice", "source": "medqa"}
            for c, f in zip(correct, formatted, strict=True)
        ]
    )


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        # P(X >= 7), X ~ Bin(8, 1/2) = (C(8,7) + C(8,8)) / 2^8 = (8 + 1) / 256
        (7, 8, 9 / 256),
        # P(X >= 5), X ~ Bin(6, 1/2) = (6 + 1) / 64
        (5, 6, 7 / 64),
        # P(X >= 0) = 1 for any n
        (0, 5, 1.0),
        # P(X >= 10), X ~ Bin(10, 1/2) = 1 / 1024
        (10, 10, 1 / 1024),
        # P(X >= 3), X ~ Bin(4, 1/2) = (4 + 1) / 16
        (3, 4, 5 / 16),
        # k above n is impossible
        (4, 3, 0.0),
    ],
)
def test_binomial_upper_tail_matches_hand_computation(k: int, n: int, expected: float) -> None:
    assert binomial_upper_tail(k, n) == pytest.approx(expected, abs=1e-15)


def test_binomial_upper_tail_is_exact_for_large_n() -> None:
    # symmetric: P(X >= 51) for n=100 equals (1 - P(X = 50)) / 2
    p50 = math.comb(100, 50) / 2**100
    assert binomial_upper_tail(51, 100) == pytest.approx((1 - p50) / 2, rel=1e-12)


def test_mcnemar_p_value_uses_only_discordant_pairs() -> None:
    # b=7 (champion-only correct), c=1: n=8 discordant, p = P(X >= 7) = 9/256 = 0.03515625
    assert mcnemar_regression_p_value(7, 1) == pytest.approx(0.03515625)
    # candidate better (b=1, c=7): p = P(X >= 1) = 1 - 1/256
    assert mcnemar_regression_p_value(1, 7) == pytest.approx(255 / 256)
    # nothing discordant: no evidence of regression
    assert mcnemar_regression_p_value(0, 0) == 1.0


def test_compare_paired_counts_each_cell() -> None:
    candidate = [True, True, False, False, True, False]
    champion = [True, False, True, False, True, True]
    comp = compare_paired(candidate, champion)
    assert (comp.both_correct, comp.champion_only, comp.candidate_only, comp.neither) == (2, 2, 1, 1)
    # accuracy 3/6 vs 4/6: diff = (c - b) / n = (1 - 2) / 6
    assert comp.accuracy_diff == pytest.approx(-1 / 6)
    # b=2, c=1: P(X >= 2), X ~ Bin(3, 1/2) = (3 + 1) / 8 = 0.5
    assert comp.p_value_regression == pytest.approx(0.5)


def test_compare_paired_rejects_misaligned_vectors() -> None:
    with pytest.raises(ValueError, match="same items: 3 vs 2"):
        compare_paired([True, False, True], [True, False])
    with pytest.raises(ValueError, match="0 items"):
        compare_paired([], [])


def test_first_run_applies_only_absolute_gates() -> None:
    verdict = apply_gates(_metrics([True, True, False, False]), GateThresholds(min_accuracy=0.5))
    assert [g.name for g in verdict.gates] == ["min_accuracy", "min_format_rate"]
    assert verdict.passed and verdict.label == "passed"
    assert not verdict.compared_with_champion


def test_min_accuracy_and_format_gates_fail_below_threshold() -> None:
    metrics = _metrics([True, False, False, False], formatted=[True, True, False, False])
    verdict = apply_gates(metrics, GateThresholds(min_accuracy=0.3, min_format_rate=0.6))
    by_name = {g.name: g for g in verdict.gates}
    assert by_name["min_accuracy"].value == pytest.approx(0.25)
    assert not by_name["min_accuracy"].passed
    assert by_name["min_format_rate"].value == pytest.approx(0.5)
    assert not by_name["min_format_rate"].passed
    assert verdict.label == "rejected"
    assert {g.name for g in verdict.failed()} == {"min_accuracy", "min_format_rate"}


def test_significant_regression_is_rejected() -> None:
    # 20 items: champion right on 12; candidate loses 7 of those and wins 1 new one.
    champion = [True] * 12 + [False] * 8
    candidate = [True] * 5 + [False] * 7 + [True] + [False] * 7
    comp = compare_paired(candidate, champion)
    assert (comp.champion_only, comp.candidate_only) == (7, 1)
    verdict = apply_gates(_metrics(candidate), GateThresholds(margin=0.5, alpha=0.05), comparison=comp)
    by_name = {g.name: g for g in verdict.gates}
    # p = 9/256 = 0.0352 < 0.05: significant regression
    assert by_name["no_significant_regression"].value == pytest.approx(9 / 256)
    assert not by_name["no_significant_regression"].passed
    # drop is 6/20 = 0.30, within the (generous) 0.5 margin
    assert by_name["accuracy_drop_within_margin"].value == pytest.approx(-0.30)
    assert by_name["accuracy_drop_within_margin"].passed
    assert verdict.label == "rejected"


def test_small_insignificant_drop_within_margin_passes() -> None:
    # 50 items, b=1, c=0: p = P(X >= 1 | n=1) = 0.5; drop 1/50 = 0.02 equals the margin exactly
    champion = [True] * 30 + [False] * 20
    candidate = [True] * 29 + [False] * 21
    comp = compare_paired(candidate, champion)
    verdict = apply_gates(_metrics(candidate), GateThresholds(margin=0.02, alpha=0.05), comparison=comp)
    assert verdict.passed, verdict.as_dict()


def test_drop_beyond_margin_is_rejected_even_when_not_significant() -> None:
    # b=2, c=0 of 20: drop 0.10 > margin 0.05, p = P(X >= 2 | n=2) = 0.25 (not significant)
    champion = [True] * 10 + [False] * 10
    candidate = [True] * 8 + [False] * 12
    comp = compare_paired(candidate, champion)
    verdict = apply_gates(_metrics(candidate), GateThresholds(margin=0.05), comparison=comp)
    by_name = {g.name: g for g in verdict.gates}
    assert by_name["no_significant_regression"].passed
    assert by_name["no_significant_regression"].value == pytest.approx(0.25)
    assert not by_name["accuracy_drop_within_margin"].passed
    assert verdict.label == "rejected"


def test_verdict_dict_explains_every_gate() -> None:
    comp = compare_paired([True, False], [True, True])
    out = apply_gates(_metrics([True, False]), GateThresholds(), comparison=comp).as_dict()
    assert out["compared_with_champion"] is True
    for gate in out["gates"]:
        assert set(gate) >= {"name", "value", "threshold", "comparison", "passed", "detail"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_accuracy": 1.5}, "min_accuracy must be a number in \\[0, 1\\], found 1.5"),
        ({"min_format_rate": -0.1}, "min_format_rate .* found -0.1"),
        ({"margin": 2}, "margin .* found 2"),
        ({"alpha": 0.0}, "alpha must be a number in \\(0, 1\\), found 0.0"),
        ({"alpha": 1}, "alpha .* found 1"),
    ],
)
def test_thresholds_reject_out_of_range_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GateThresholds(**kwargs)


def test_every_threshold_has_help_text() -> None:
    helps = GateThresholds.help()
    assert set(helps) == {"min_accuracy", "min_format_rate", "margin", "alpha"}
    assert all(len(text) > 20 for text in helps.values())


@given(b=st.integers(min_value=0, max_value=60), c=st.integers(min_value=0, max_value=60))
def test_mcnemar_tail_complements_and_is_monotone(b: int, c: int) -> None:
    n = b + c
    # X ~ Bin(n, 1/2) is symmetric: P(X >= b) + P(X >= c + 1) = P(X >= b) + P(X <= b - 1) = 1
    if n > 0:
        assert binomial_upper_tail(b, n) + binomial_upper_tail(c + 1, n) == pytest.approx(1.0, abs=1e-12)
    p = mcnemar_regression_p_value(b, c)
    assert 0.0 < p <= 1.0
    # one more item lost by the candidate is stronger evidence of a regression (smaller p)
    assert mcnemar_regression_p_value(b + 1, c) <= p
    # one more item won by the candidate is weaker evidence (larger p)
    assert mcnemar_regression_p_value(b, c + 1) >= p


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=80))
def test_compare_paired_cells_add_up(pairs: list[tuple[bool, bool]]) -> None:
    candidate = [c for c, _ in pairs]
    champion = [h for _, h in pairs]
    comp = compare_paired(candidate, champion)
    assert comp.both_correct + comp.champion_only + comp.candidate_only + comp.neither == len(pairs)
    assert comp.accuracy_diff == pytest.approx((sum(candidate) - sum(champion)) / len(pairs))
