"""Evaluation metrics: accuracy, format rate and extraction failures with intervals, overall and per group.

Pure Python (no numpy): a few thousand scored samples are summarised in milliseconds, and the
functions are easy to check by hand. Intervals are Wilson score intervals, which behave at 0 % and
100 % where the normal approximation collapses to a zero-width interval.

Items may carry several sampled completions (``samples`` > 1 in the decoding settings): a
sample-level row has the item's ``id``. An item's accuracy is then the share of its samples that
are correct, the overall accuracy the mean over items, and the interval is computed on the number
of *items* (samples of one item are not independent evidence).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any


@dataclass(frozen=True)
class Proportion:
    """``k`` successes out of ``n`` trials with a two-sided Wilson interval at ``confidence``.

    With several samples per item, ``k``/``n`` count samples, ``items`` the items, and the
    interval is computed on ``items`` (the conservative choice for correlated samples).
    """

    k: int
    n: int
    value: float
    low: float
    high: float
    confidence: float = 0.95
    items: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(k: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (``k`` may be fractional: ``p * n``).

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


def proportion(k: int, n: int, confidence: float = 0.95, *, items: int | None = None) -> Proportion:
    """A :class:`Proportion` (value 0.0 when ``n`` is 0); with ``items`` the interval rests on items."""
    value = k / n if n else 0.0
    basis = items if items is not None else n
    low, high = wilson_interval(value * basis, basis, confidence)
    return Proportion(k=k, n=n, value=value, low=low, high=high, confidence=confidence, items=items)


def answer_status(completion: str, record: Mapping[str, Any]) -> str:
    """The strict parser's status of a completion's answer (``ok``, ``hedge``, ``list``, ``empty``,
    ``missing``, ``malformed``); anything but ``ok`` is an extraction failure."""
    from medgrpo.answers import Question, grade_completion

    return str(grade_completion(completion, Question.from_record(record)).parsed.status.value)


@dataclass(frozen=True)
class GroupMetrics:
    """Accuracy, format rate and extraction failures of one group of items (a source or an answer type)."""

    n: int
    accuracy: Proportion
    format_rate: Proportion
    extraction_failures: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": self.accuracy.as_dict(),
            "format_rate": self.format_rate.as_dict(),
            "extraction_failures": self.extraction_failures,
        }


@dataclass(frozen=True)
class ItemScore:
    """One item's outcome over its samples: share correct, majority outcome, format share."""

    id: str
    source: str
    answer_type: str
    samples: int
    correct_rate: float
    format_rate: float
    extracted_rate: float

    @property
    def correct(self) -> bool:
        """Majority outcome (more than half of the samples correct): the pair used by McNemar."""
        return self.correct_rate > 0.5


@dataclass(frozen=True)
class Metrics:
    """Accuracy, format rate and extraction failures, overall and per ``answer_type`` and ``source``."""

    n: int
    accuracy: Proportion
    format_rate: Proportion
    by_answer_type: dict[str, GroupMetrics] = field(default_factory=dict)
    by_source: dict[str, GroupMetrics] = field(default_factory=dict)
    samples_per_item: int = 1
    extraction_failures: int = 0
    mean_new_tokens: float = 0.0
    truncated_rate: float = 0.0
    diagnostics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "samples_per_item": self.samples_per_item,
            "accuracy": self.accuracy.as_dict(),
            "format_rate": self.format_rate.as_dict(),
            "extraction_failures": self.extraction_failures,
            "mean_new_tokens": self.mean_new_tokens,
            "truncated_rate": self.truncated_rate,
            "by_answer_type": {k: v.as_dict() for k, v in sorted(self.by_answer_type.items())},
            "by_source": {k: v.as_dict() for k, v in sorted(self.by_source.items())},
            "diagnostics": dict(self.diagnostics),
        }

    def flat(self, prefix: str = "") -> dict[str, float]:
        """Flat ``name -> value`` for MLflow ``log_metrics`` (group names sanitised)."""
        out = {
            f"{prefix}accuracy": self.accuracy.value,
            f"{prefix}accuracy_ci_low": self.accuracy.low,
            f"{prefix}accuracy_ci_high": self.accuracy.high,
            f"{prefix}format_rate": self.format_rate.value,
            f"{prefix}n_items": float(self.n),
            f"{prefix}extraction_failures": float(self.extraction_failures),
            f"{prefix}mean_new_tokens": self.mean_new_tokens,
            f"{prefix}truncated_rate": self.truncated_rate,
        }
        for group, table in (("type", self.by_answer_type), ("source", self.by_source)):
            for key, gm in table.items():
                safe = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in key)
                out[f"{prefix}accuracy_{group}_{safe}"] = gm.accuracy.value
                out[f"{prefix}format_rate_{group}_{safe}"] = gm.format_rate.value
        for key, value in self.diagnostics.items():
            out[f"{prefix}diag_{key}"] = float(value)
        return out


def _key(row: Mapping[str, Any], index: int) -> str:
    return str(row.get("id") if row.get("id") is not None else f"row-{index}")


def _extracted_flag(row: Mapping[str, Any]) -> bool:
    """Whether the row's answer could be read (``answer_status`` ok; rows without one: a predicted answer)."""
    status = row.get("answer_status")
    if status:
        return status == "ok"
    return bool(str(row.get("predicted") or "").strip())


def item_scores(rows: Sequence[Mapping[str, Any]]) -> list[ItemScore]:
    """Sample-level rows grouped by ``id`` (first-seen order) into per-item outcomes."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for i, row in enumerate(rows):
        grouped.setdefault(_key(row, i), []).append(row)
    out = []
    for key, group in grouped.items():
        k = len(group)
        first = group[0]
        out.append(
            ItemScore(
                id=key,
                source=str(first.get("source") or "unknown"),
                answer_type=str(first.get("answer_type") or "unknown"),
                samples=k,
                correct_rate=sum(bool(r["correct"]) for r in group) / k,
                format_rate=sum(bool(r["format_ok"]) for r in group) / k,
                extracted_rate=sum(_extracted_flag(r) for r in group) / k,
            )
        )
    return out


def _group(rows: Sequence[Mapping[str, Any]], confidence: float) -> GroupMetrics:
    items = len({_key(r, i) for i, r in enumerate(rows)})
    correct = sum(bool(r["correct"]) for r in rows)
    formatted = sum(bool(r["format_ok"]) for r in rows)
    return GroupMetrics(
        n=items,
        accuracy=proportion(correct, len(rows), confidence, items=items),
        format_rate=proportion(formatted, len(rows), confidence, items=items),
        extraction_failures=sum(not _extracted_flag(r) for r in rows),
    )


def summarize(
    rows: Sequence[Mapping[str, Any]],
    confidence: float = 0.95,
    *,
    max_new_tokens: int | None = None,
    diagnostics: Mapping[str, float] | None = None,
) -> Metrics:
    """Metrics of scored sample rows, each with ``correct``, ``format_ok``, ``answer_type``, ``source``.

    Optional row fields: ``id`` (samples of one item share it), ``predicted`` (for extraction
    failures), ``new_tokens`` (length statistics; with ``max_new_tokens`` the share that hit the budget).
    """
    n_rows = len(rows)
    items = len({_key(r, i) for i, r in enumerate(rows)})
    correct = sum(bool(r["correct"]) for r in rows)
    formatted = sum(bool(r["format_ok"]) for r in rows)

    def grouped(key: str) -> dict[str, GroupMetrics]:
        buckets: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            buckets.setdefault(str(row.get(key) or "unknown"), []).append(row)
        return {name: _group(members, confidence) for name, members in sorted(buckets.items())}

    lengths = [int(r.get("new_tokens") or 0) for r in rows]
    truncated = sum(1 for n in lengths if max_new_tokens and n >= max_new_tokens)
    return Metrics(
        n=items,
        accuracy=proportion(correct, n_rows, confidence, items=items if n_rows != items else None),
        format_rate=proportion(formatted, n_rows, confidence, items=items if n_rows != items else None),
        by_answer_type=grouped("answer_type"),
        by_source=grouped("source"),
        samples_per_item=(n_rows // items) if items else 1,
        extraction_failures=sum(not _extracted_flag(r) for r in rows),
        mean_new_tokens=statistics.fmean(lengths) if lengths else 0.0,
        truncated_rate=(truncated / n_rows) if n_rows else 0.0,
        diagnostics=dict(diagnostics or {}),
    )


def paired_bootstrap_diff(
    candidate: Sequence[float | bool],
    baseline: Sequence[float | bool],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Observed mean difference (candidate - baseline) and its paired percentile bootstrap interval.

    Per-item scores (booleans, or shares of correct samples) are resampled with replacement as
    pairs, so the correlation between the two models on the same item is kept. Deterministic for
    ``seed``.
    """
    if len(candidate) != len(baseline):
        raise ValueError(f"paired vectors differ in length: {len(candidate)} vs {len(baseline)}")
    n = len(candidate)
    if n == 0:
        raise ValueError("paired bootstrap needs at least one item, found 0")
    diffs = [float(c) - float(b) for c, b in zip(candidate, baseline, strict=True)]
    observed = sum(diffs) / n
    rng = random.Random(seed)
    stats = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    alpha = (1 - confidence) / 2
    low = stats[max(0, math.floor(alpha * n_boot))]
    high = stats[min(n_boot - 1, math.ceil((1 - alpha) * n_boot) - 1)]
    return observed, low, high


def min_detectable_drop(n: int, discordant_share: float, alpha: float, power: float = 0.8) -> float | None:
    """Smallest accuracy drop the one-sided paired test detects with probability ``power`` at size ``n``.

    Connor's (1987) sample-size formula for paired proportions solved for the difference ``δ``:
    ``n = (z_α·sqrt(ψ) + z_β·sqrt(ψ - δ²))² / δ²`` with ``ψ`` the share of discordant items. A larger
    ``ψ`` (models that disagree more) needs a larger drop. None when ``ψ`` is 0 (no disagreement
    observed: the size of a detectable drop cannot be estimated) or no ``δ <= ψ`` reaches the power.
    """
    if n < 1 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"expected n >= 1, alpha and power in (0, 1); found n={n}, alpha={alpha}, power={power}")
    psi = float(discordant_share)
    if psi <= 0:
        return None
    z_a, z_b = NormalDist().inv_cdf(1 - alpha), NormalDist().inv_cdf(power)

    def needed(delta: float) -> float:
        return (z_a * math.sqrt(psi) + z_b * math.sqrt(max(psi - delta * delta, 0.0))) ** 2 / (delta * delta)

    lo, hi = 1e-9, min(psi, 1.0)
    if needed(hi) > n:
        return None
    for _ in range(100):  # needed() falls as delta grows: bisect for needed(delta) == n
        mid = (lo + hi) / 2
        if needed(mid) > n:
            lo = mid
        else:
            hi = mid
    return hi


def accuracy_half_width(prop: Proportion) -> float:
    """Half the width of the accuracy interval: the precision a first model's verdict rests on."""
    return (prop.high - prop.low) / 2
