"""Promotion gates: absolute thresholds plus a paired statistical non-regression test.

The candidate and the champion are scored on the *same* held-out items, so their per-item
correctness vectors are paired. Only discordant items carry information about which model is
better: ``b`` = champion right and candidate wrong, ``c`` = candidate right and champion wrong.
Under "no difference" each discordant item is a fair coin, so ``b ~ Binomial(b + c, 1/2)``, and
the one-sided exact McNemar p-value for "the candidate is worse" is ``P(X >= b)``.

Gates (each reported with its value, threshold and outcome):

- ``min_accuracy``: candidate accuracy >= ``min_accuracy``;
- ``min_format_rate``: candidate format rate >= ``min_format_rate``;
- ``accuracy_drop_within_margin``: candidate accuracy - champion accuracy >= ``-margin``;
- ``no_significant_regression``: McNemar one-sided p-value >= ``alpha`` (no evidence, at level
  ``alpha``, that the candidate is worse than the champion).

With no champion (the first run) only the absolute gates apply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from typing import Any

from medgrpo.evaluate.metrics import Metrics


@dataclass(frozen=True)
class GateThresholds:
    """What a candidate must satisfy to pass; every field documents itself (``metadata['help']``)."""

    min_accuracy: float = field(
        default=0.0,
        metadata={"help": "Minimum candidate accuracy on the eval split (0-1). Set per deployment."},
    )
    min_format_rate: float = field(
        default=0.0,
        metadata={"help": "Minimum share of completions in <think>…</think><answer>…</answer> format (0-1)."},
    )
    margin: float = field(
        default=0.02,
        metadata={"help": "Largest accepted drop in accuracy versus the champion (absolute, 0-1)."},
    )
    alpha: float = field(
        default=0.05,
        metadata={"help": "Significance level of the one-sided exact McNemar test for a regression (0-1)."},
    )

    def __post_init__(self) -> None:
        for name in ("min_accuracy", "min_format_rate", "margin"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be a number in [0, 1], found {value!r}")
        if not isinstance(self.alpha, int | float) or not 0.0 < float(self.alpha) < 1.0:
            raise ValueError(f"alpha must be a number in (0, 1), found {self.alpha!r}")

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name -> help text (used by the CLI and the DAG form)."""
        return {f.name: str(f.metadata.get("help", "")) for f in fields(cls)}

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Gate:
    """One gate's outcome: ``value`` compared with ``threshold`` by ``comparison``."""

    name: str
    value: float
    threshold: float
    comparison: str
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """All gates and the overall outcome (passed only when every gate passed)."""

    gates: tuple[Gate, ...]
    compared_with_champion: bool

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def label(self) -> str:
        """``passed`` or ``rejected``: the value of the ``gate_verdict`` version tag."""
        return "passed" if self.passed else "rejected"

    def failed(self) -> list[Gate]:
        return [g for g in self.gates if not g.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.label,
            "compared_with_champion": self.compared_with_champion,
            "gates": [g.as_dict() for g in self.gates],
        }


@dataclass(frozen=True)
class PairedComparison:
    """Paired counts and test results for candidate vs champion on the same items."""

    n: int
    both_correct: int
    champion_only: int  # b: champion right, candidate wrong
    candidate_only: int  # c: candidate right, champion wrong
    neither: int
    accuracy_diff: float
    p_value_regression: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def binomial_upper_tail(k: int, n: int) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, 1/2)``, computed exactly with integers."""
    if n < 0 or k < 0:
        raise ValueError(f"expected non-negative k and n, found k={k}, n={n}")
    if k > n:
        return 0.0
    return float(Fraction(sum(math.comb(n, i) for i in range(k, n + 1)), 2**n))


def mcnemar_regression_p_value(champion_only: int, candidate_only: int) -> float:
    """One-sided exact McNemar p-value for "candidate is worse": ``P(X >= b)``, ``X ~ Bin(b + c, 1/2)``.

    No discordant items (``b + c == 0``) gives 1.0: nothing suggests a regression.
    """
    n = champion_only + candidate_only
    if n == 0:
        return 1.0
    return binomial_upper_tail(champion_only, n)


def compare_paired(candidate: Sequence[bool], champion: Sequence[bool]) -> PairedComparison:
    """Count concordant/discordant pairs and compute the regression p-value."""
    if len(candidate) != len(champion):
        raise ValueError(
            f"candidate and champion must be scored on the same items: {len(candidate)} vs {len(champion)} results"
        )
    n = len(candidate)
    if n == 0:
        raise ValueError("cannot compare models on 0 items")
    pairs = [(bool(c), bool(h)) for c, h in zip(candidate, champion, strict=True)]
    both = sum(1 for c, h in pairs if c and h)
    champion_only = sum(1 for c, h in pairs if h and not c)
    candidate_only = sum(1 for c, h in pairs if c and not h)
    return PairedComparison(
        n=n,
        both_correct=both,
        champion_only=champion_only,
        candidate_only=candidate_only,
        neither=n - both - champion_only - candidate_only,
        accuracy_diff=(candidate_only - champion_only) / n,
        p_value_regression=mcnemar_regression_p_value(champion_only, candidate_only),
    )


def apply_gates(
    candidate: Metrics,
    thresholds: GateThresholds,
    *,
    comparison: PairedComparison | None = None,
) -> Verdict:
    """Evaluate every gate; ``comparison`` is None on the first run (no champion)."""
    gates = [
        Gate(
            name="min_accuracy",
            value=candidate.accuracy.value,
            threshold=thresholds.min_accuracy,
            comparison=">=",
            passed=candidate.accuracy.value >= thresholds.min_accuracy,
            detail=f"{candidate.accuracy.k}/{candidate.accuracy.n} correct "
            f"(95% CI {candidate.accuracy.low:.3f}-{candidate.accuracy.high:.3f})",
        ),
        Gate(
            name="min_format_rate",
            value=candidate.format_rate.value,
            threshold=thresholds.min_format_rate,
            comparison=">=",
            passed=candidate.format_rate.value >= thresholds.min_format_rate,
            detail=f"{candidate.format_rate.k}/{candidate.format_rate.n} completions well-formed",
        ),
    ]
    if comparison is not None:
        gates.append(
            Gate(
                name="accuracy_drop_within_margin",
                value=comparison.accuracy_diff,
                threshold=-thresholds.margin,
                comparison=">=",
                # a tiny tolerance so a drop of exactly `margin` passes despite float rounding
                passed=comparison.accuracy_diff >= -thresholds.margin - 1e-12,
                detail=f"candidate - champion accuracy on {comparison.n} paired items",
            )
        )
        gates.append(
            Gate(
                name="no_significant_regression",
                value=comparison.p_value_regression,
                threshold=thresholds.alpha,
                comparison=">=",
                passed=comparison.p_value_regression >= thresholds.alpha,
                detail=f"one-sided exact McNemar: champion-only correct b={comparison.champion_only}, "
                f"candidate-only correct c={comparison.candidate_only}",
            )
        )
    return Verdict(gates=tuple(gates), compared_with_champion=comparison is not None)
