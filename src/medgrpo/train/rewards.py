"""Reward functions for GRPO on medical questions (pure Python: evaluation imports these too).

Every reward has TRL's signature ``(completions, **columns) -> list[float]``: ``completions`` are
conversational (``[[{"role": "assistant", "content": ...}], ...]``) or plain strings, and the
dataset's ``answer``, ``answer_type`` and ``meta`` columns arrive as lists of the same length
(``meta`` as a dict or a JSON string). Parameterised rewards come from small factories, and
:func:`get_reward_funcs` maps recipe names to functions, failing fast on an unknown name.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

RewardFunc = Callable[..., list[float]]

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FORMAT_RE = re.compile(r"^\s*<think>(?P<think>.+?)</think>\s*<answer>(?P<answer>.+?)</answer>\s*$", re.DOTALL)
_CHOICE_RE = re.compile(
    r"^(?:(?:the\s+)?(?:correct\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*)?"
    r"[(\[]?([A-Za-z])[)\]]?(?=$|[\s.,:;)\]])",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_ARTICLES_RE = re.compile(r"\b(?:a|an|the)\b")
#: Relative tolerance for numeric answers without ``meta.tolerance`` (i.e. "equal as numbers").
DEFAULT_NUMERIC_TOLERANCE = 1e-6


# ---------------------------------------------------------------------------------------------
# Answer extraction and scoring (shared with evaluation)
# ---------------------------------------------------------------------------------------------
def extract_answer(text: str) -> str | None:
    """Content of the last ``<answer>…</answer>`` in ``text``, stripped; None when there is none."""
    matches = _ANSWER_RE.findall(text or "")
    if not matches:
        return None
    return str(matches[-1]).strip()


def parse_meta(meta: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """``meta`` as a dict, whether it came as a dict, a JSON string, or nothing."""
    if meta is None or meta == "":
        return {}
    if isinstance(meta, str):
        try:
            value = json.loads(meta)
        except json.JSONDecodeError as err:
            raise ValueError(f"meta must be a JSON object string, found {meta[:80]!r}: {err}") from err
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"meta must decode to a JSON object, found {type(value).__name__}")
        return value
    return dict(meta)


def extract_choice(text: str) -> str | None:
    """Option letter from "B", "(B)", "B. text", "b", "Answer: B"; None when no letter leads."""
    match = _CHOICE_RE.match(text.strip())
    return match.group(1).upper() if match else None


def extract_number(text: str) -> float | None:
    """First number in ``text`` (thousands separators dropped, units ignored); None when none."""
    cleaned = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    match = _NUMBER_RE.search(cleaned)
    if not match:
        return None
    try:
        return float(match.group(0))
    except ValueError:
        return None


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD-style normalisation)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = _ARTICLES_RE.sub(" ", text)
    return " ".join(text.split())


def score_answer(
    predicted: str | None, answer: str, answer_type: str, meta: Mapping[str, Any] | str | None = None
) -> float:
    """1.0 when ``predicted`` matches the reference ``answer`` for its ``answer_type``, else 0.0."""
    if predicted is None or not str(predicted).strip():
        return 0.0
    predicted = str(predicted).strip()
    answer = str(answer).strip()
    if answer_type == "choice":
        letter = extract_choice(predicted)
        return float(letter is not None and letter == answer.upper())
    if answer_type == "numeric":
        got = extract_number(predicted)
        want = extract_number(answer)
        if got is None or want is None or not math.isfinite(got):
            return 0.0
        tolerance = parse_meta(meta).get("tolerance")
        rel = DEFAULT_NUMERIC_TOLERANCE if tolerance in (None, "") else abs(float(tolerance))
        return float(abs(got - want) <= rel * max(abs(want), 1e-12) + 1e-12)
    if answer_type == "yes_no_maybe":
        words = normalize_text(predicted).split()
        return float(bool(words) and words[0] == answer.lower())
    if answer_type == "text":
        got_text = normalize_text(predicted)
        accepted = [answer, *parse_meta(meta).get("aliases", [])]
        return float(any(got_text == normalize_text(str(a)) for a in accepted))
    raise ValueError(f"answer_type must be one of choice, numeric, yes_no_maybe, text; found {answer_type!r}")


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


def _column(columns: Mapping[str, Any], name: str, n: int, default: Any = None) -> list[Any]:
    """Column ``name`` from the reward kwargs, checked to have one value per completion."""
    values = columns.get(name)
    if values is None:
        if default is not None or name == "meta":
            return [default] * n
        raise ValueError(f"reward needs the dataset column {name!r}; columns given: {sorted(columns)}")
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return list(values)


def format_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
    """1.0 for exactly ``<think>…</think><answer>…</answer>`` (whitespace around allowed), else 0.0."""
    return [float(_FORMAT_RE.match(completion_text(c)) is not None) for c in completions]


def tag_count_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
    """0.25 for each of the four tags that occurs exactly once: a dense signal towards the format."""
    scores = []
    for completion in completions:
        text = completion_text(completion)
        scores.append(sum(0.25 for tag in ("<think>", "</think>", "<answer>", "</answer>") if text.count(tag) == 1))
    return scores


def accuracy_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
    """:func:`score_answer` of the last ``<answer>`` against the ``answer`` column (typed by ``answer_type``)."""
    n = len(completions)
    answers = _column(columns, "answer", n)
    types = _column(columns, "answer_type", n)
    metas = _column(columns, "meta", n)
    return [
        score_answer(extract_answer(completion_text(c)), a, t, m)
        for c, a, t, m in zip(completions, answers, types, metas, strict=True)
    ]


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
        correct = accuracy_reward(completions, **columns)
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
