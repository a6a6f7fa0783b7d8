"""Evaluation metrics: accuracy and format rate with confidence intervals, overall and per group.

Pure Python (no numpy): a few hundred items are summarised in microseconds, and the functions
are easy to check by hand. Intervals are Wilson score intervals, which behave at 0 % and 100 %
where the normal approximation collapses to a zero-width interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any


@dataclass(frozen=True)
class Proportion:
    """``k`` successes out of ``n`` with a two-sided Wilson interval at ``confidence``."""

    k: int
    n: int
    value: float
    low: float
    high: float
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials.

    ``center = (p + z²/2n) / (1 + z²/n)``, ``half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)``.
    ``n == 0`` gives the uninformative ``(0, 1)``.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"expected 0 <= k <= n, found k={k}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), found {confidence}")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, center - half)  # exact bounds at the edges (no rounding residue)
    high = 1.0 if k == n else min(1.0, center + half)
    return low, high


def proportion(k: int, n: int, confidence: float = 0.95) -> Proportion:
    """A :class:`Proportion` (value 0.0 when ``n`` is 0)."""
    low, high = wilson_interval(k, n, confidence)
    return Proportion(k=k, n=n, value=k / n if n else 0.0, low=low, high=high, confidence=confidence)


@dataclass(frozen=True)
class Metrics:
    """Accuracy and format rate, overall and per ``answer_type`` and ``source``."""

    n: int
    accuracy: Proportion
    format_rate: Proportion
    by_answer_type: dict[str, Proportion] = field(default_factory=dict)
    by_source: dict[str, Proportion] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": self.accuracy.as_dict(),
            "format_rate": self.format_rate.as_dict(),
            "by_answer_type": {k: v.as_dict() for k, v in sorted(self.by_answer_type.items())},
            "by_source": {k: v.as_dict() for k, v in sorted(self.by_source.items())},
        }

    def flat(self, prefix: str = "") -> dict[str, float]:
        """Flat ``name -> value`` for MLflow ``log_metrics`` (group names sanitised)."""
        out = {
            f"{prefix}accuracy": self.accuracy.value,
            f"{prefix}accuracy_ci_low": self.accuracy.low,
            f"{prefix}accuracy_ci_high": self.accuracy.high,
            f"{prefix}format_rate": self.format_rate.value,
            f"{prefix}n_items": float(self.n),
        }
        for group, table in (("type", self.by_answer_type), ("source", self.by_source)):
            for key, prop in table.items():
                safe = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in key)
                out[f"{prefix}accuracy_{group}_{safe}"] = prop.value
        return out


def summarize(items: Sequence[Mapping[str, Any]], confidence: float = 0.95) -> Metrics:
    """Metrics of scored items, each with ``correct`` (bool), ``format_ok`` (bool), ``answer_type``, ``source``."""
    n = len(items)
    correct = sum(1 for it in items if it["correct"])
    formatted = sum(1 for it in items if it["format_ok"])

    def grouped(key: str) -> dict[str, Proportion]:
        counts: dict[str, list[int]] = {}
        for it in items:
            bucket = counts.setdefault(str(it.get(key) or "unknown"), [0, 0])
            bucket[0] += int(bool(it["correct"]))
            bucket[1] += 1
        return {name: proportion(k, m, confidence) for name, (k, m) in sorted(counts.items())}

    return Metrics(
        n=n,
        accuracy=proportion(correct, n, confidence),
        format_rate=proportion(formatted, n, confidence),
        by_answer_type=grouped("answer_type"),
        by_source=grouped("source"),
    )


def paired_bootstrap_diff(
    candidate: Sequence[bool], baseline: Sequence[bool], *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Observed accuracy difference (candidate - baseline) and its paired percentile bootstrap interval.

    Items are resampled with replacement as pairs, so the correlation between the two models on
    the same item is kept. Deterministic for ``seed``.
    """
    if len(candidate) != len(baseline):
        raise ValueError(f"paired vectors differ in length: {len(candidate)} vs {len(baseline)}")
    n = len(candidate)
    if n == 0:
        raise ValueError("paired bootstrap needs at least one item, found 0")
    diffs = [int(bool(c)) - int(bool(b)) for c, b in zip(candidate, baseline, strict=True)]
    observed = sum(diffs) / n
    rng = random.Random(seed)
    stats = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    alpha = (1 - confidence) / 2
    low = stats[max(0, math.floor(alpha * n_boot))]
    high = stats[min(n_boot - 1, math.ceil((1 - alpha) * n_boot) - 1)]
    return observed, low, high
