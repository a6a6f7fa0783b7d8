"""Reward-hacking diagnostics over graded completions: how often the answer is a hedge, a list, empty.

Training logs them per step (``answers/*`` metrics in MLflow, from the accuracy reward); the gate
report can show the same figures for a candidate with :func:`answer_diagnostics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from medgrpo.answers.types import Grade, Question, Status

#: Metric-name prefix under which training logs the diagnostics (``answers/hedge_share`` ...).
METRIC_PREFIX = "answers/"


@dataclass(frozen=True)
class AnswerDiagnostics:
    """Shares (0..1) of completions by answer status, and the mean answer length in characters."""

    n: int
    hedge_share: float  # alternatives: "A or B", "not A", two answer blocks
    list_share: float  # several answers listed, ranges
    empty_share: float  # no usable answer: no answer block (or only inside <think>), or an empty one
    malformed_share: float  # an answer block that is not an answer of its type
    mean_answer_chars: float  # characters inside the answer block(s), 0 for completions without one

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    def as_metrics(self, prefix: str = METRIC_PREFIX) -> dict[str, float]:
        """The figures as metric names (``answers/hedge_share`` ...), without the count."""
        return {f"{prefix}{k}": v for k, v in self.as_dict().items() if k != "n"}


def summarize_grades(grades: Sequence[Grade]) -> AnswerDiagnostics:
    """Diagnostics of already graded completions (all zero for none)."""
    n = len(grades)
    if n == 0:
        return AnswerDiagnostics(0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def share(*statuses: Status) -> float:
        return sum(g.status in statuses for g in grades) / n

    return AnswerDiagnostics(
        n=n,
        hedge_share=share(Status.HEDGE),
        list_share=share(Status.LIST),
        empty_share=share(Status.EMPTY, Status.MISSING),
        malformed_share=share(Status.MALFORMED),
        mean_answer_chars=sum(g.answer_chars for g in grades) / n,
    )


def answer_diagnostics(
    completions: Sequence[str], records: Sequence[Mapping[str, Any] | Question]
) -> AnswerDiagnostics:
    """Diagnostics of ``completions`` (one per record, same order) graded against ``records``.

    ``records`` are canonical records, evaluation item dicts (``answer``, ``answer_type``; without
    ``options`` a choice answer naming two option texts is not recognised as a hedge) or
    :class:`~medgrpo.answers.types.Question` objects.
    """
    from medgrpo.answers import grade_completion

    if len(completions) != len(records):
        raise ValueError(f"expected one record per completion: {len(completions)} completions, {len(records)} records")
    questions = [r if isinstance(r, Question) else Question.from_record(r) for r in records]
    return summarize_grades([grade_completion(c, q) for c, q in zip(completions, questions, strict=True)])
