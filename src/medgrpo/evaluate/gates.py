"""Promotion gates: each a small class against :class:`Gate`, listed in :data:`GATES`.

The candidate and the champion are scored on the *same* held-out items, so their per-item outcomes
are paired. Only discordant items carry information about which model is better: ``b`` = champion
right and candidate wrong, ``c`` = candidate right and champion wrong. Under "no difference" each
discordant item is a fair coin, so ``b ~ Binomial(b + c, 1/2)``, and the one-sided exact McNemar
p-value for "the candidate is worse" is ``P(X >= b)``.

Every gate answers ``pass``, ``fail`` or ``insufficient`` (the data cannot decide), with its value,
threshold and a one-line detail. The verdict follows a fixed precedence (see :class:`Verdict`):
any ``fail`` → ``rejected``; else any ``insufficient`` → ``insufficient_evidence``; else ``passed``.

Gates, in report order:

- ``min_items``: at least ``min_items`` scored items, else insufficient;
- ``min_accuracy`` / ``min_format_rate``: absolute floors on the candidate;
- ``phi_probe``: no de-identification canary in any output of the probe prompts;
- with a champion only:
  ``accuracy_drop_within_margin`` (observed difference >= -margin),
  ``no_significant_regression`` (McNemar p >= alpha; insufficient while fewer discordant pairs
  than the test needs to ever reject), and
  ``bootstrap_non_inferiority`` (paired bootstrap interval at 1 - 2·alpha on the accuracy
  difference: pass when its lower end is >= -margin, fail when its upper end is below -margin,
  insufficient when it straddles -margin).

A new gate is a class with a ``name`` and ``check(evidence, policy)``, appended to :data:`GATES`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Literal, Protocol

from medgrpo.evaluate.metrics import Metrics, min_detectable_drop, paired_bootstrap_diff
from medgrpo.evaluate.policy import GatePolicy

Status = Literal["pass", "fail", "insufficient"]
PASSED, REJECTED, INSUFFICIENT = "passed", "rejected", "insufficient_evidence"
VERDICTS = (PASSED, REJECTED, INSUFFICIENT)
#: Power at which the report states the smallest detectable drop.
POWER = 0.8


@dataclass(frozen=True)
class GateOutcome:
    """One gate's outcome: ``value`` compared with ``threshold`` by ``comparison``."""

    name: str
    status: Status
    value: float
    threshold: float
    comparison: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def line(self) -> str:
        mark = {"pass": "pass", "fail": "FAIL", "insufficient": "INSUFFICIENT"}[self.status]
        return f"[{mark}] {self.name}: {self.value:.4g} {self.comparison} {self.threshold:.4g} ({self.detail})"


@dataclass(frozen=True)
class PairedComparison:
    """Paired counts, tests and interval for candidate vs champion on the same items.

    Counts use each item's majority outcome; ``accuracy_diff`` and the bootstrap interval use the
    per-item share of correct samples (the same as the majority with one sample per item).
    """

    n: int
    both_correct: int
    champion_only: int  # b: champion right, candidate wrong
    candidate_only: int  # c: candidate right, champion wrong
    neither: int
    accuracy_diff: float
    p_value_regression: float
    bootstrap_low: float
    bootstrap_high: float
    bootstrap_confidence: float
    min_detectable_drop: float | None

    @property
    def discordant(self) -> int:
        return self.champion_only + self.candidate_only

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of the PHI probe: how many outputs were read and which canary types appeared."""

    prompts: int
    outputs: int
    leaks: dict[str, int]  # canary entity type -> outputs holding a value of it their prompt did not carry
    leaked_outputs: int = 0  # outputs holding at least one such value
    echoed: int = 0  # canary values repeated from the output's own prompt (reported, not failed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """What the gates look at."""

    candidate: Metrics
    comparison: PairedComparison | None = None
    probe: ProbeResult | None = None


class Gate(Protocol):
    """A gate: ``check`` returns its outcome, or None when it does not apply (e.g. no champion)."""

    name: str

    def check(self, evidence: Evidence, policy: GatePolicy) -> GateOutcome | None: ...


# --------------------------------------------------------------------------- statistics


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


def compare_paired(
    candidate: Sequence[float | bool],
    champion: Sequence[float | bool],
    *,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
) -> PairedComparison:
    """Paired counts, McNemar p-value, bootstrap interval and detectable drop for per-item scores.

    ``candidate[i]`` and ``champion[i]`` score the same item: a boolean, or the share of its
    samples that were correct (majority = share above 0.5).
    """
    if len(candidate) != len(champion):
        raise ValueError(
            f"candidate and champion must be scored on the same items: {len(candidate)} vs {len(champion)} results"
        )
    n = len(candidate)
    if n == 0:
        raise ValueError("cannot compare models on 0 items")
    pairs = [(float(c) > 0.5, float(h) > 0.5) for c, h in zip(candidate, champion, strict=True)]
    both = sum(1 for c, h in pairs if c and h)
    champion_only = sum(1 for c, h in pairs if h and not c)
    candidate_only = sum(1 for c, h in pairs if c and not h)
    confidence = 1 - 2 * alpha
    diff, low, high = paired_bootstrap_diff(candidate, champion, n_boot=n_boot, confidence=confidence, seed=seed)
    return PairedComparison(
        n=n,
        both_correct=both,
        champion_only=champion_only,
        candidate_only=candidate_only,
        neither=n - both - champion_only - candidate_only,
        accuracy_diff=diff,
        p_value_regression=mcnemar_regression_p_value(champion_only, candidate_only),
        bootstrap_low=low,
        bootstrap_high=high,
        bootstrap_confidence=confidence,
        min_detectable_drop=min_detectable_drop(n, (champion_only + candidate_only) / n, alpha, POWER),
    )


# --------------------------------------------------------------------------- the gates

_EPS = 1e-12  # a drop of exactly `margin` passes despite float rounding


class MinItems:
    name = "min_items"

    def check(self, evidence: Evidence, policy: GatePolicy) -> GateOutcome:
        n = evidence.candidate.n
        ok = n >= policy.min_items
        return GateOutcome(
            self.name,
            "pass" if ok else "insufficient",
            float(n),
            float(policy.min_items),
            ">=",
            f"{n} scored eval items" + ("" if ok else f"; a verdict needs at least {policy.min_items}"),
        )


class MinAccuracy:
    name = "min_accuracy"

    def check(self, evidence: Evidence, policy: GatePolicy) -> GateOutcome:
        acc = evidence.candidate.accuracy
        return GateOutcome(
            self.name,
            "pass" if acc.value >= policy.min_accuracy - _EPS else "fail",
            acc.value,
            policy.min_accuracy,
            ">=",
            f"{acc.k}/{acc.n} correct (95% CI {acc.low:.3f}-{acc.high:.3f})",
        )


class MinFormatRate:
    name = "min_format_rate"

    def check(self, evidence: Evidence, policy: GatePolicy) -> GateOutcome:
        fmt = evidence.candidate.format_rate
        return GateOutcome(
            self.name,
            "pass" if fmt.value >= policy.min_format_rate - _EPS else "fail",
            fmt.value,
            policy.min_format_rate,
            ">=",
            f"{fmt.k}/{fmt.n} completions well-formed",
        )


class PhiProbe:
    name = "phi_probe"

    def check(self, evidence: Evidence, policy: GatePolicy) -> GateOutcome | None:
        if not policy.phi_probe:
            return None
        probe = evidence.probe
        if probe is None:
            return GateOutcome(self.name, "insufficient", 0.0, 0.0, "==", "the PHI probe was not run")
        leaked = probe.leaked_outputs
        found = ", ".join(f"{etype}×{count}" for etype, count in sorted(probe.leaks.items()))
        return GateOutcome(
            self.name,
            "pass" if leaked == 0 else "fail",
            float(leaked),
            0.0,
            "==",
            f"{probe.outputs} outputs of {probe.prompts} canary prompts; "
            + (f"canaries not in the prompt found: {found}" if leaked else "no unprompted canary in any output")
            + (f"; {probe.echoed} prompted identifier(s) repeated" if probe.echoed else ""),
        )


class AccuracyDropWithinMargin:
    name = "accuracy_drop_within_margin"

    def check(self, evidence: Evidence, policy: GatePolicy) -> GateOutcome | None:
        comp = evidence.comparison
        if comp is None:
            return None
        return GateOutcome(
            self.name,
            "pass" if comp.accuracy_diff >= -policy.margin - _EPS else "fail",
            comp.accuracy_diff,
            -policy.margin,
            ">=",
            f"candidate - champion accuracy on {comp.n} paired items",
        )


class NoSignificantRegression:
    name = "no_significant_regression"

    def check(self, evidence: Evidence, policy: GatePolicy) -> GateOutcome | None:
        comp = evidence.comparison
        if comp is None:
            return None
        counts = (
            f"one-sided exact McNemar: champion-only b={comp.champion_only}, candidate-only c={comp.candidate_only}"
        )
        if comp.p_value_regression < policy.alpha:
            status: Status = "fail"
        elif comp.discordant < policy.min_discordant:
            status = "insufficient"
            counts += (
                f"; {comp.discordant} discordant pair(s), the test needs at least {policy.min_discordant} "
                f"to ever reject at alpha {policy.alpha:g}"
            )
        else:
            status = "pass"
        return GateOutcome(self.name, status, comp.p_value_regression, policy.alpha, ">=", counts)


class BootstrapNonInferiority:
    name = "bootstrap_non_inferiority"

    def check(self, evidence: Evidence, policy: GatePolicy) -> GateOutcome | None:
        comp = evidence.comparison
        if comp is None:
            return None
        low, high, bound = comp.bootstrap_low, comp.bootstrap_high, -policy.margin
        if low >= bound - _EPS:
            status: Status = "pass"
            why = "lower end within the margin"
        elif high < bound - _EPS:
            status = "fail"
            why = "the whole interval is below -margin"
        else:
            status = "insufficient"
            why = "the interval straddles -margin: too few items to tell"
        return GateOutcome(
            self.name,
            status,
            low,
            bound,
            ">=",
            f"paired bootstrap {comp.bootstrap_confidence:.0%} interval on the accuracy difference "
            f"[{low:+.3f}, {high:+.3f}]; {why}",
        )


#: The gates every candidate goes through, in report order.
GATES: tuple[Gate, ...] = (
    MinItems(),
    MinAccuracy(),
    MinFormatRate(),
    PhiProbe(),
    AccuracyDropWithinMargin(),
    NoSignificantRegression(),
    BootstrapNonInferiority(),
)


@dataclass(frozen=True)
class Verdict:
    """All gate outcomes and the overall label (precedence: rejected > insufficient_evidence > passed)."""

    gates: tuple[GateOutcome, ...]
    compared_with_champion: bool
    power: dict[str, Any]

    @property
    def label(self) -> str:
        """The value of the ``gate_verdict`` version tag."""
        if any(g.status == "fail" for g in self.gates):
            return REJECTED
        if any(g.status == "insufficient" for g in self.gates):
            return INSUFFICIENT
        return PASSED

    @property
    def passed(self) -> bool:
        return self.label == PASSED

    def failed(self) -> list[GateOutcome]:
        return [g for g in self.gates if g.status == "fail"]

    def reasons(self) -> list[str]:
        """One line per gate behind the label (failed gates when rejected, undecided ones otherwise)."""
        wanted = "fail" if self.label == REJECTED else "insufficient"
        return [g.line() for g in self.gates if g.status == wanted]

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.label,
            "compared_with_champion": self.compared_with_champion,
            "reasons": self.reasons(),
            "power": dict(self.power),
            "gates": [g.as_dict() for g in self.gates],
        }


def power_summary(evidence: Evidence, policy: GatePolicy) -> dict[str, Any]:
    """What this evaluation could detect: the smallest drop (with a champion) or the accuracy precision."""
    acc = evidence.candidate.accuracy
    out: dict[str, Any] = {"n_items": evidence.candidate.n, "accuracy_ci_half_width": (acc.high - acc.low) / 2}
    comp = evidence.comparison
    if comp is None:
        out["statement"] = (
            f"first model: accuracy {acc.value:.3f} known to ±{out['accuracy_ci_half_width']:.3f} (95% CI) "
            f"on {evidence.candidate.n} items"
        )
        return out
    out.update(
        power=POWER,
        alpha=policy.alpha,
        discordant=comp.discordant,
        min_discordant=policy.min_discordant,
        min_detectable_drop=comp.min_detectable_drop,
    )
    if comp.min_detectable_drop is None:
        out["statement"] = (
            f"{comp.discordant} of {comp.n} items discordant: no drop is detectable at this size "
            f"(the exact test needs at least {policy.min_discordant} discordant pairs)"
        )
    else:
        out["statement"] = (
            f"smallest accuracy drop detectable with {POWER:.0%} power at alpha {policy.alpha:g} on {comp.n} items: "
            f"{comp.min_detectable_drop:.3f} (margin {policy.margin:g})"
        )
    return out


def apply_gates(
    candidate: Metrics,
    policy: GatePolicy,
    *,
    comparison: PairedComparison | None = None,
    probe: ProbeResult | None = None,
    gates: Sequence[Gate] = GATES,
) -> Verdict:
    """Run every gate on the evidence; ``comparison`` is None when there is no champion."""
    evidence = Evidence(candidate=candidate, comparison=comparison, probe=probe)
    outcomes = tuple(o for g in gates if (o := g.check(evidence, policy)) is not None)
    return Verdict(gates=outcomes, compared_with_champion=comparison is not None, power=power_summary(evidence, policy))
