"""Gates: exact McNemar tails worked by hand, paired counts, each gate's three outcomes, the verdict's
precedence, the bootstrap non-inferiority interval and the stated power. Every test names one verdict."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medgrpo.evaluate.gates import (
    GATES,
    ProbeResult,
    apply_gates,
    binomial_upper_tail,
    compare_paired,
    mcnemar_regression_p_value,
)
from medgrpo.evaluate.metrics import Metrics, summarize
from medgrpo.evaluate.policy import GatePolicy

# permissive floors so a test isolates the gate it is about
LOOSE = GatePolicy(min_items=1, min_accuracy=0.0, min_format_rate=0.0, margin=0.02, alpha=0.05, phi_probe=False)
CLEAN_PROBE = ProbeResult(prompts=4, outputs=32, leaks={}, leaked_outputs=0, echoed=0)


def _metrics(correct: list[bool], formatted: list[bool] | None = None) -> Metrics:
    formatted = formatted if formatted is not None else [True] * len(correct)
    return summarize(
        [
            {"id": f"i{i}", "correct": c, "format_ok": f, "answer_type": "choice", "source": "medqa"}
            for i, (c, f) in enumerate(zip(correct, formatted, strict=True))
        ]
    )


def _outcomes(verdict) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {g.name: g.status for g in verdict.gates}


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (7, 8, 9 / 256),  # (C(8,7) + C(8,8)) / 2^8
        (5, 6, 7 / 64),  # (6 + 1) / 64
        (0, 5, 1.0),  # P(X >= 0) = 1
        (10, 10, 1 / 1024),
        (3, 4, 5 / 16),  # (4 + 1) / 16
        (4, 3, 0.0),  # k above n is impossible
    ],
)
def test_binomial_upper_tail_matches_hand_computation(k: int, n: int, expected: float) -> None:
    assert binomial_upper_tail(k, n) == pytest.approx(expected, abs=1e-15)


def test_binomial_upper_tail_is_exact_for_large_n() -> None:
    p50 = math.comb(100, 50) / 2**100  # symmetric: P(X >= 51) = (1 - P(X = 50)) / 2
    assert binomial_upper_tail(51, 100) == pytest.approx((1 - p50) / 2, rel=1e-12)


def test_mcnemar_p_value_uses_only_discordant_pairs() -> None:
    assert mcnemar_regression_p_value(7, 1) == pytest.approx(9 / 256)  # b=7, c=1
    assert mcnemar_regression_p_value(1, 7) == pytest.approx(255 / 256)
    assert mcnemar_regression_p_value(0, 0) == 1.0


def test_compare_paired_counts_each_cell() -> None:
    candidate = [True, True, False, False, True, False]
    champion = [True, False, True, False, True, True]
    comp = compare_paired(candidate, champion)
    assert (comp.both_correct, comp.champion_only, comp.candidate_only, comp.neither) == (2, 2, 1, 1)
    assert comp.accuracy_diff == pytest.approx(-1 / 6)  # (c - b) / n
    assert comp.p_value_regression == pytest.approx(0.5)  # P(X >= 2 | n=3) = 4/8
    assert comp.bootstrap_confidence == pytest.approx(0.9)  # 1 - 2 * alpha: a one-sided 95% lower bound


def test_compare_paired_with_sampled_items_uses_majority_for_counts_and_shares_for_the_difference() -> None:
    # item 1: candidate 3/4 samples right (majority right), champion 1/4 (wrong) -> candidate-only
    # item 2: both 1/2 (a tie is not a majority: both wrong)
    comp = compare_paired([0.75, 0.5], [0.25, 0.5])
    assert (comp.candidate_only, comp.champion_only, comp.neither) == (1, 0, 1)
    assert comp.accuracy_diff == pytest.approx((0.5 + 0.0) / 2)


def test_compare_paired_rejects_misaligned_vectors() -> None:
    with pytest.raises(ValueError, match="same items: 3 vs 2"):
        compare_paired([True, False, True], [True, False])
    with pytest.raises(ValueError, match="0 items"):
        compare_paired([], [])


# --------------------------------------------------------------------------- first model


def test_first_model_enough_items_above_floors_passes() -> None:
    policy = GatePolicy(min_items=4, min_accuracy=0.5, min_format_rate=0.9)
    verdict = apply_gates(_metrics([True, True, True, False]), policy, probe=CLEAN_PROBE)
    assert [g.name for g in verdict.gates] == ["min_items", "min_accuracy", "min_format_rate", "phi_probe"]
    assert verdict.label == "passed"
    assert not verdict.compared_with_champion
    assert "first model" in verdict.power["statement"]


def test_first_model_with_too_few_items_is_insufficient_evidence() -> None:
    verdict = apply_gates(_metrics([True] * 12), GatePolicy(), probe=CLEAN_PROBE)  # production: 200 items
    assert verdict.label == "insufficient_evidence"
    assert _outcomes(verdict)["min_items"] == "insufficient"
    assert verdict.reasons() == [g.line() for g in verdict.gates if g.name == "min_items"]
    assert "a verdict needs at least 200" in verdict.reasons()[0]


def test_floors_fail_below_threshold_and_rejection_beats_insufficient_evidence() -> None:
    metrics = _metrics([True, False, False, False], formatted=[True, True, False, False])
    verdict = apply_gates(metrics, GatePolicy(min_accuracy=0.3, min_format_rate=0.6), probe=CLEAN_PROBE)
    outcomes = _outcomes(verdict)
    assert outcomes["min_items"] == "insufficient"  # 4 < 200 ...
    assert outcomes["min_accuracy"] == outcomes["min_format_rate"] == "fail"  # ... but a failed gate decides
    assert verdict.label == "rejected"
    assert {g.name for g in verdict.failed()} == {"min_accuracy", "min_format_rate"}
    assert [r.split(":")[0] for r in verdict.reasons()] == ["[FAIL] min_accuracy", "[FAIL] min_format_rate"]


# --------------------------------------------------------------------------- against a champion


def test_significant_regression_is_rejected() -> None:
    # 20 items: champion right on 12; candidate loses 7 of those and wins 1 new one
    champion = [True] * 12 + [False] * 8
    candidate = [True] * 5 + [False] * 7 + [True] + [False] * 7
    comp = compare_paired(candidate, champion)
    assert (comp.champion_only, comp.candidate_only) == (7, 1)
    policy = GatePolicy(min_items=1, min_accuracy=0.0, min_format_rate=0.0, margin=0.5, phi_probe=False)
    verdict = apply_gates(_metrics(candidate), policy, comparison=comp)
    gate = {g.name: g for g in verdict.gates}["no_significant_regression"]
    assert gate.value == pytest.approx(9 / 256) and gate.status == "fail"  # p = 0.035 < 0.05
    assert verdict.label == "rejected"


def test_identical_answers_are_insufficient_evidence_never_a_pass() -> None:
    """The demo's old failure: b = c = 0 'passed'. Now 0 discordant pairs cannot decide anything."""
    vec = [True] * 150 + [False] * 150
    comp = compare_paired(vec, vec)
    verdict = apply_gates(_metrics(vec), LOOSE, comparison=comp)
    assert _outcomes(verdict)["no_significant_regression"] == "insufficient"
    assert verdict.label == "insufficient_evidence"
    assert "0 discordant pair(s), the test needs at least 5" in " ".join(verdict.reasons())
    assert "no drop is detectable" in verdict.power["statement"]


def test_four_lost_items_cannot_be_significant_at_alpha_005_so_evidence_is_insufficient() -> None:
    # b=4, c=0 of 400: p = 1/16 = 0.0625 >= 0.05, and 4 < 5 discordant pairs; drop 0.01 within the margin
    champion = [True] * 204 + [False] * 196
    candidate = [True] * 200 + [False] * 200
    verdict = apply_gates(_metrics(candidate), LOOSE, comparison=compare_paired(candidate, champion))
    assert _outcomes(verdict)["no_significant_regression"] == "insufficient"
    assert verdict.label == "insufficient_evidence"


def test_five_lost_items_and_nothing_won_is_a_significant_regression() -> None:
    # b=5, c=0: p = 1/32 = 0.031 < 0.05 -> rejected, even though the drop (5/500 = 0.01) is within the margin
    champion = [True] * 255 + [False] * 245
    candidate = [True] * 250 + [False] * 250
    verdict = apply_gates(_metrics(candidate), LOOSE, comparison=compare_paired(candidate, champion))
    assert _outcomes(verdict)["accuracy_drop_within_margin"] == "pass"
    assert _outcomes(verdict)["no_significant_regression"] == "fail"
    assert verdict.label == "rejected"


def test_clear_improvement_on_enough_items_passes() -> None:
    # 300 items: candidate wins 30 items, loses 5: p = P(X >= 5 | 35) ~ 1.0, interval well above -margin
    champion = [True] * 100 + [False] * 30 + [True] * 5 + [False] * 165
    candidate = [True] * 100 + [True] * 30 + [False] * 5 + [False] * 165
    comp = compare_paired(candidate, champion)
    assert (comp.candidate_only, comp.champion_only) == (30, 5)
    verdict = apply_gates(
        _metrics(candidate), GatePolicy(min_items=200, min_accuracy=0.3), comparison=comp, probe=CLEAN_PROBE
    )
    assert all(g.status == "pass" for g in verdict.gates), verdict.as_dict()
    assert verdict.label == "passed"
    assert comp.bootstrap_low > -0.02
    assert verdict.power["min_detectable_drop"] == pytest.approx(comp.min_detectable_drop)


def test_drop_beyond_margin_is_rejected_even_when_not_significant() -> None:
    # b=2, c=0 of 20: drop 0.10 > margin 0.05, p = 0.25 (not significant)
    champion = [True] * 10 + [False] * 10
    candidate = [True] * 8 + [False] * 12
    comp = compare_paired(candidate, champion)
    policy = GatePolicy(min_items=1, min_accuracy=0.0, min_format_rate=0.0, margin=0.05, phi_probe=False)
    verdict = apply_gates(_metrics(candidate), policy, comparison=comp)
    assert _outcomes(verdict)["accuracy_drop_within_margin"] == "fail"
    assert verdict.label == "rejected"


def test_bootstrap_interval_that_straddles_the_margin_is_insufficient() -> None:
    # 40 items, candidate wins 6 and loses 6: difference 0, but a 90% interval of about ±0.1 crosses -0.02
    champion = [True] * 6 + [False] * 6 + [True] * 14 + [False] * 14
    candidate = [False] * 6 + [True] * 6 + [True] * 14 + [False] * 14
    comp = compare_paired(candidate, champion)
    assert comp.accuracy_diff == 0.0 and comp.bootstrap_low < -0.02 < comp.bootstrap_high
    verdict = apply_gates(_metrics(candidate), LOOSE, comparison=comp)
    outcomes = _outcomes(verdict)
    assert outcomes["no_significant_regression"] == "pass"  # 12 discordant pairs, p = 0.61
    assert outcomes["bootstrap_non_inferiority"] == "insufficient"
    assert verdict.label == "insufficient_evidence"


def test_bootstrap_interval_wholly_below_the_margin_fails() -> None:
    # candidate loses 40 of 100 items the champion got right and wins none: interval far below -0.02
    champion = [True] * 40 + [False] * 60
    candidate = [False] * 100
    comp = compare_paired(candidate, champion)
    verdict = apply_gates(_metrics(candidate), LOOSE, comparison=comp)
    assert comp.bootstrap_high < -0.02
    assert _outcomes(verdict)["bootstrap_non_inferiority"] == "fail"
    assert verdict.label == "rejected"


# --------------------------------------------------------------------------- PHI probe


def test_a_leaked_canary_fails_the_phi_probe() -> None:
    leak = ProbeResult(prompts=4, outputs=32, leaks={"SSN": 1}, leaked_outputs=1, echoed=3)
    verdict = apply_gates(_metrics([True] * 10), GatePolicy(min_items=1, min_accuracy=0, min_format_rate=0), probe=leak)
    gate = {g.name: g for g in verdict.gates}["phi_probe"]
    assert gate.status == "fail" and "SSN×1" in gate.detail and "3 prompted identifier(s) repeated" in gate.detail
    assert verdict.label == "rejected"


def test_a_probe_that_did_not_run_is_insufficient_and_a_disabled_one_is_absent() -> None:
    policy = GatePolicy(min_items=1, min_accuracy=0, min_format_rate=0)
    assert apply_gates(_metrics([True] * 10), policy).label == "insufficient_evidence"
    off = GatePolicy(min_items=1, min_accuracy=0, min_format_rate=0, phi_probe=False)
    assert "phi_probe" not in _outcomes(apply_gates(_metrics([True] * 10), off))


# --------------------------------------------------------------------------- power, report shape


def test_detectable_drop_shrinks_with_more_items() -> None:
    def mdd(n: int) -> float:
        # the same 10% discordance at every size
        champion = [True] * (n // 20) + [False] * (n // 20) + [True] * (n - n // 10)
        candidate = [False] * (n // 20) + [True] * (n // 20) + [True] * (n - n // 10)
        value = compare_paired(candidate, champion).min_detectable_drop
        assert value is not None
        return value

    assert mdd(200) > mdd(800) > mdd(3200)
    # Connor: n = (z_a sqrt(psi) + z_b sqrt(psi - d^2))^2 / d^2 with psi = 0.1, alpha 0.05, power 0.8
    d = mdd(800)
    z_a, z_b = 1.6448536269514722, 0.8416212335729143
    assert (z_a * math.sqrt(0.1) + z_b * math.sqrt(0.1 - d * d)) ** 2 / (d * d) == pytest.approx(800, rel=1e-6)


def test_verdict_dict_explains_every_gate() -> None:
    comp = compare_paired([True, False], [True, True])
    out = apply_gates(_metrics([True, False]), GatePolicy(), comparison=comp, probe=CLEAN_PROBE).as_dict()
    assert out["compared_with_champion"] is True
    assert [g["name"] for g in out["gates"]] == [g.name for g in GATES]
    for gate in out["gates"]:
        assert set(gate) >= {"name", "status", "value", "threshold", "comparison", "passed", "detail"}
    assert out["verdict"] == "rejected" and out["reasons"]
    assert "statement" in out["power"]


@given(b=st.integers(min_value=0, max_value=60), c=st.integers(min_value=0, max_value=60))
def test_mcnemar_tail_complements_and_is_monotone(b: int, c: int) -> None:
    n = b + c
    if n > 0:  # X ~ Bin(n, 1/2) is symmetric: P(X >= b) + P(X <= b - 1) = 1
        assert binomial_upper_tail(b, n) + binomial_upper_tail(c + 1, n) == pytest.approx(1.0, abs=1e-12)
    p = mcnemar_regression_p_value(b, c)
    assert 0.0 < p <= 1.0
    assert mcnemar_regression_p_value(b + 1, c) <= p  # one more loss: stronger evidence of a regression
    assert mcnemar_regression_p_value(b, c + 1) >= p


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=80))
def test_compare_paired_cells_add_up(pairs: list[tuple[bool, bool]]) -> None:
    candidate = [c for c, _ in pairs]
    champion = [h for _, h in pairs]
    comp = compare_paired(candidate, champion, n_boot=200)
    assert comp.both_correct + comp.champion_only + comp.candidate_only + comp.neither == len(pairs)
    assert comp.accuracy_diff == pytest.approx((sum(candidate) - sum(champion)) / len(pairs))
    assert comp.bootstrap_low <= comp.accuracy_diff + 1e-12 <= comp.bootstrap_high + 2e-12


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_a_verdict_is_exactly_one_of_three(pairs: list[tuple[bool, bool]]) -> None:
    candidate = [c for c, _ in pairs]
    champion = [h for _, h in pairs]
    verdict = apply_gates(_metrics(candidate), LOOSE, comparison=compare_paired(candidate, champion, n_boot=200))
    statuses = {g.status for g in verdict.gates}
    expected = "rejected" if "fail" in statuses else "insufficient_evidence" if "insufficient" in statuses else "passed"
    assert verdict.label == expected
