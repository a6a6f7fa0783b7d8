"""Reward functions for GRPO on medical questions (pure Python: no torch at import).

Every reward has TRL's signature ``(completions, **columns) -> list[float]``: ``completions`` are
conversational (``[[{"role": "assistant", "content": ...}], ...]``) or plain strings, and the
dataset's ``answer``, ``answer_type``, ``meta`` and ``options`` columns arrive as lists of the
same length (``meta``/``options`` as dicts or JSON strings; ``options`` may be absent). Answers
are graded by the strict parser of :mod:`medgrpo.answers`, which evaluation uses too: hedges,
lists, negations and a second answer block earn nothing. Parameterised rewards come from small
factories, and :func:`get_reward_funcs` maps recipe names to functions, failing fast on an
unknown name. ``judge`` (an LLM judge for undecided free-text answers) is opt-in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from medgrpo.answers import (
    DEFAULT_NUMERIC_TOLERANCE,
    Grade,
    Question,
    Status,
    find_answer_block,
    grade_answer,
    grade_completion,
    is_well_formed,
    parse_json_object,
    summarize_grades,
)

RewardFunc = Callable[..., list[float]]

__all__ = [
    "DEFAULT_NUMERIC_TOLERANCE",
    "REWARD_FACTORIES",
    "accuracy_reward",
    "completion_text",
    "extract_answer",
    "format_reward",
    "get_reward_funcs",
    "grade_completions",
    "parse_meta",
    "score_answer",
    "tag_count_reward",
]


# ---------------------------------------------------------------------------------------------
# Answer extraction and scoring (the strict parser of medgrpo.answers, shared with evaluation)
# ---------------------------------------------------------------------------------------------
def extract_answer(text: str) -> str | None:
    """The single ``<answer>`` block outside ``<think>``, stripped; None when there is not exactly one."""
    block = find_answer_block(text or "")
    return block.content if block.status is Status.OK else None


def parse_meta(meta: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """``meta`` as a dict, whether it came as a dict, a JSON string, or nothing."""
    return parse_json_object(meta, "meta")


def score_answer(
    predicted: str | None,
    answer: str,
    answer_type: str,
    meta: Mapping[str, Any] | str | None = None,
    options: Mapping[str, str] | str | None = None,
) -> float:
    """1.0 when the extracted answer ``predicted`` is one answer matching the reference, else 0.0."""
    return grade_answer(predicted, Question.from_columns(answer, answer_type, meta, options)).score


# ---------------------------------------------------------------------------------------------
# TRL reward functions
# ---------------------------------------------------------------------------------------------
def completion_text(completion: Any) -> str:
    """The assistant text of one completion (conversational list of messages or a plain string)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], Mapping):
        return str(completion[-1].get("content") or "")
    raise TypeError(f"expected a completion string or a list of messages, found {type(completion).__name__}")


def _column(columns: Mapping[str, Any], name: str, n: int, *, required: bool = True) -> list[Any]:
    """Column ``name`` from the reward kwargs, checked to have one value per completion."""
    values = columns.get(name)
    if values is None:
        if not required:
            return [None] * n
        raise ValueError(f"reward needs the dataset column {name!r}; columns given: {sorted(columns)}")
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return list(values)


def questions_from_columns(n: int, columns: Mapping[str, Any]) -> list[Question]:
    """One :class:`~medgrpo.answers.Question` per completion from the ``answer``, ``answer_type``,
    ``meta`` and (optional) ``options`` columns."""
    answers = _column(columns, "answer", n)
    types = _column(columns, "answer_type", n)
    metas = _column(columns, "meta", n, required=False)
    options = _column(columns, "options", n, required=False)
    return [Question.from_columns(a, t, m, o) for a, t, m, o in zip(answers, types, metas, options, strict=True)]


def grade_completions(completions: Sequence[Any], **columns: Any) -> list[Grade]:
    """Each completion graded against its row (see :func:`medgrpo.answers.grade_completion`)."""
    questions = questions_from_columns(len(completions), columns)
    return [grade_completion(completion_text(c), q) for c, q in zip(completions, questions, strict=True)]


def log_answer_diagnostics(grades: Sequence[Grade], columns: Mapping[str, Any]) -> None:
    """Hand the batch's hedge/list/empty shares and mean answer length to TRL (``log_metric``).

    TRL averages them per logging step; the metrics callback writes them to MLflow as
    ``answers/hedge_share`` etc. The per-completion status goes to the completions table
    (``log_extra``). Outside a trainer (no such callables) nothing is logged.
    """
    log_metric = columns.get("log_metric")
    if callable(log_metric):
        for name, value in summarize_grades(grades).as_metrics().items():
            log_metric(name, value)
    log_extra = columns.get("log_extra")
    if callable(log_extra):
        log_extra("answer_status", [str(g.status) for g in grades])


def format_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
    """1.0 for exactly one non-empty ``<think>`` then one non-empty ``<answer>`` block and nothing else."""
    return [float(is_well_formed(completion_text(c))) for c in completions]


def tag_count_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
    """0.25 for each of the four tags that occurs exactly once: a dense signal towards the format."""
    scores = []
    for completion in completions:
        text = completion_text(completion)
        scores.append(sum(0.25 for tag in ("<think>", "</think>", "<answer>", "</answer>") if text.count(tag) == 1))
    return scores


def accuracy_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
    """1.0 when the single answer block holds one answer matching the ``answer`` column, else 0.0.

    Hedges, lists, negations, a second answer block or an answer only inside ``<think>`` score 0
    (:mod:`medgrpo.answers`). Also logs the batch's answer diagnostics when TRL passes ``log_metric``.
    """
    grades = grade_completions(completions, **columns)
    log_answer_diagnostics(grades, columns)
    return [g.score for g in grades]


def _lengths(completions: Sequence[Any], columns: Mapping[str, Any]) -> list[int]:
    """Completion lengths in tokens when TRL passes ``completion_ids``, otherwise in characters."""
    ids = columns.get("completion_ids")
    if ids is not None and len(ids) == len(completions):
        return [len(x) for x in ids]
    return [len(completion_text(c)) for c in completions]


def get_cosine_scaled_reward(
    min_value_wrong: float = -1.0,
    max_value_wrong: float = -0.5,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
    max_len: int = 1000,
) -> RewardFunc:
    """Length shaping on a cosine schedule (Yeo et al. 2025, as in open-r1).

    Correct answers earn ``max_value_correct`` at length 0 falling to ``min_value_correct`` at
    ``max_len``: shorter is better. Wrong answers get ``min_value_wrong`` at length 0 rising to
    ``max_value_wrong`` at ``max_len``: when wrong, thinking longer is penalised less.
    ``r = min + (max - min) * (1 + cos(pi * L / max_len)) / 2`` with ``L`` capped at ``max_len``.
    """
    if max_len <= 0:
        raise ValueError(f"cosine max_len must be positive, found {max_len}")

    def cosine_scaled_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
        correct = [g.score for g in grade_completions(completions, **columns)]
        scores = []
        for is_correct, length in zip(correct, _lengths(completions, columns), strict=True):
            progress = min(length, max_len) / max_len
            cosine = math.cos(progress * math.pi)
            if is_correct >= 1.0:
                lo, hi = min_value_correct, max_value_correct
            else:  # swapped so a longer wrong answer is penalised less
                lo, hi = max_value_wrong, min_value_wrong
            scores.append(lo + 0.5 * (hi - lo) * (1.0 + cosine))
        return scores

    cosine_scaled_reward.__name__ = "cosine"
    return cosine_scaled_reward


def get_repetition_penalty_reward(ngram_size: int = 3, max_penalty: float = -1.0) -> RewardFunc:
    """Penalty for repeated word n-grams: ``max_penalty * (1 - unique / total)``; 0 when too short.

    From "Demystifying Long Chain-of-Thought Reasoning in LLMs" (as in open-r1).
    """
    if max_penalty > 0:
        raise ValueError(f"repetition max_penalty must be <= 0, found {max_penalty}")
    if ngram_size < 1:
        raise ValueError(f"repetition ngram_size must be >= 1, found {ngram_size}")

    def repetition_penalty_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
        scores = []
        for completion in completions:
            words = completion_text(completion).lower().split()
            if len(words) < ngram_size:
                scores.append(0.0)
                continue
            ngrams = [tuple(words[i : i + ngram_size]) for i in range(len(words) - ngram_size + 1)]
            scores.append(max_penalty * (1.0 - len(set(ngrams)) / len(ngrams)))
        return scores

    repetition_penalty_reward.__name__ = "repetition"
    return repetition_penalty_reward


def get_judge_reward(**params: Any) -> RewardFunc:
    """Accuracy with an LLM judge for undecided ``text`` answers (:mod:`medgrpo.train.judge`; opt-in)."""
    from medgrpo.train.judge import get_judge_reward as factory

    return factory(**params)


def _named(func: RewardFunc, name: str) -> RewardFunc:
    """``func`` under the metric name TRL will log (``rewards/<name>/mean``)."""

    def wrapper(completions: Sequence[Any], **columns: Any) -> list[float]:
        return func(completions, **columns)

    wrapper.__name__ = name
    wrapper.__doc__ = func.__doc__
    return wrapper


#: name -> factory taking the recipe's keyword parameters for that reward.
REWARD_FACTORIES: dict[str, Callable[..., RewardFunc]] = {
    "format": lambda: _named(format_reward, "format"),
    "tag_count": lambda: _named(tag_count_reward, "tag_count"),
    "accuracy": lambda: _named(accuracy_reward, "accuracy"),
    "cosine": get_cosine_scaled_reward,
    "repetition": get_repetition_penalty_reward,
    "judge": get_judge_reward,
}


def get_reward_funcs(names: Sequence[str], params: Mapping[str, Mapping[str, Any]] | None = None) -> list[RewardFunc]:
    """Reward functions for ``names`` (in order), built with ``params[name]`` keyword arguments."""
    params = params or {}
    unknown = [n for n in names if n not in REWARD_FACTORIES]
    if unknown:
        raise ValueError(f"unknown reward function(s) {unknown}; known: {sorted(REWARD_FACTORIES)}")
    stray = [n for n in params if n not in names]
    if stray:
        raise ValueError(f"reward_kwargs given for {stray}, which are not in reward_funcs {list(names)}")
    if not names:
        raise ValueError("reward_funcs is empty: name at least one of " + ", ".join(sorted(REWARD_FACTORIES)))
    funcs = []
    for name in names:
        try:
            funcs.append(REWARD_FACTORIES[name](**dict(params.get(name, {}))))
        except TypeError as err:
            raise ValueError(f"bad parameters for reward {name!r}: {params.get(name)} ({err})") from err
    return funcs
