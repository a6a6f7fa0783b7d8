"""Optional judge reward: an LLM decides free-text answers the lexical matcher cannot.

Off by default: a recipe opts in with ``reward_funcs: [..., judge]`` and
``reward_kwargs: {judge: {base_url: http://vllm-judge:8000/v1, model: <served model name>}}``.
The reward is the accuracy reward, except that a ``text`` answer which parsed as one answer but
matched no accepted name is put to an OpenAI-compatible ``/chat/completions`` endpoint (for
instance a vLLM server) with a strict yes/no prompt. Hedges, lists and empty answers never reach
the judge (they stay 0); choice, numeric and yes/no answers are decided lexically.

Verdicts are cached by (question, reference, answer). A timeout, an HTTP error or a reply that is
not "yes" or "no" falls back to the lexical score (0) and is counted; after ``failure_limit``
failures in a row the judge is left alone for ``pause_s`` seconds. Logged per step through TRL's
``log_metric``: ``judge/calls``, ``judge/cache_hits``, ``judge/fallbacks``. Question and answer
texts are never logged. Pure standard library (``urllib``), no imports of torch.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

RewardFunc = Callable[..., list[float]]

JUDGE_SYSTEM_PROMPT = "You grade answers to medical exam questions. Reply with exactly one word: yes or no."
JUDGE_USER_TEMPLATE = (
    "Question:\n{question}\n\n"
    "Reference answer: {gold}\n"
    "Candidate answer: {answer}\n\n"
    "Does the candidate answer name the same single thing as the reference answer? Synonyms, "
    "abbreviations and spelling variants count as the same. A broader or narrower term, a different "
    "thing, several alternatives or a hedge do not. Reply with exactly one word: yes or no."
)


@dataclass(frozen=True)
class JudgeConfig:
    """Where the judge is and how long to wait for it."""

    base_url: str  # OpenAI-compatible API root, e.g. http://vllm-judge:8000/v1
    model: str  # the served model name
    timeout_s: float = 10.0  # per request (connect and each read)
    max_tokens: int = 4
    api_key_env: str = ""  # name of an environment variable holding the API key (never the key itself)
    max_workers: int = 8  # concurrent requests per reward call
    cache_size: int = 100_000  # verdicts kept (least recently used dropped first)
    failure_limit: int = 3  # failures in a row before pausing
    pause_s: float = 60.0  # how long to leave a failing judge alone
    extra_body: Mapping[str, Any] = field(default_factory=dict)  # merged into the request, e.g. guided_choice

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"judge base_url must start with http:// or https://, found {self.base_url!r}")
        if not self.model:
            raise ValueError("judge model is empty: give the served model name")
        for name in ("timeout_s", "max_tokens", "max_workers", "cache_size", "failure_limit"):
            if getattr(self, name) <= 0:
                raise ValueError(f"judge {name} must be positive, found {getattr(self, name)}")
        if self.pause_s < 0:
            raise ValueError(f"judge pause_s must be >= 0, found {self.pause_s}")

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class JudgeOutcome:
    """One judgement: ``verdict`` True/False, or None when the judge gave none (then ``error`` says why)."""

    verdict: bool | None
    cached: bool = False
    error: str = ""


def parse_verdict(content: str) -> bool | None:
    """True for a reply that is "yes", False for "no" (case and punctuation aside), else None."""
    words = content.strip().lower().strip(" .!\"'`*").split()
    if len(words) != 1:
        return None
    return {"yes": True, "no": False}.get(words[0])


def judge_messages(question: str, gold: str, answer: str) -> list[dict[str, str]]:
    """The chat messages sent to the judge."""
    user = JUDGE_USER_TEMPLATE.format(question=question.strip() or "(not given)", gold=gold, answer=answer)
    return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": user}]


class JudgeClient:
    """Calls the judge endpoint, caches verdicts and backs off from a failing endpoint. Thread-safe."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self._cache: OrderedDict[tuple[str, str, str], bool] = OrderedDict()
        self._lock = threading.Lock()
        self._failures_in_row = 0
        self._paused_until = 0.0

    @property
    def cached_verdicts(self) -> int:
        with self._lock:
            return len(self._cache)

    @staticmethod
    def cache_key(question: str, gold: str, answer: str) -> tuple[str, str, str]:
        return (" ".join(question.split()), " ".join(gold.split()).lower(), " ".join(answer.split()).lower())

    def judge(self, question: str, gold: str, answer: str) -> JudgeOutcome:
        """The judge's verdict on ``answer`` (cached), or an outcome with an error and no verdict."""
        key = self.cache_key(question, gold, answer)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return JudgeOutcome(self._cache[key], cached=True)
            if time.monotonic() < self._paused_until:
                return JudgeOutcome(None, error="judge paused after repeated failures")
        try:
            content = self._request(judge_messages(question, gold, answer))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as err:  # URLError/timeouts are OSError
            return self._failed(f"{type(err).__name__}: {err}")
        verdict = parse_verdict(content)
        if verdict is None:
            return self._failed(f"reply is not yes or no ({len(content)} characters)")
        with self._lock:
            self._failures_in_row = 0
            self._cache[key] = verdict
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        return JudgeOutcome(verdict)

    def _failed(self, error: str) -> JudgeOutcome:
        with self._lock:
            self._failures_in_row += 1
            if self._failures_in_row >= self.config.failure_limit:
                self._paused_until = time.monotonic() + self.config.pause_s
                log.warning(
                    "judge failing; using lexical scores for a while",
                    extra={"url": self.config.url, "failures": self._failures_in_row, "pause_s": self.config.pause_s},
                )
                self._failures_in_row = 0
        return JudgeOutcome(None, error=error)

    def _request(self, messages: list[dict[str, str]]) -> str:
        body = {
            **dict(self.config.extra_body),
            "model": self.config.model,
            "messages": messages,
            "max_tokens": self.config.max_tokens,
            "temperature": 0.0,
            "n": 1,
        }
        headers = {"Content-Type": "application/json"}
        if self.config.api_key_env:
            key = os.environ.get(self.config.api_key_env, "")
            if not key:
                raise ValueError(f"judge api_key_env names {self.config.api_key_env}, which is not set")
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.config.url, data=json.dumps(body).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
            payload = json.loads(response.read().decode("utf-8"))
        return str(payload["choices"][0]["message"]["content"] or "")


def _question_text(prompt: Any) -> str:
    """The last user turn of a conversational prompt (or the prompt itself when it is a string)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        users = [m for m in prompt if isinstance(m, Mapping) and m.get("role") == "user"]
        if users:
            return str(users[-1].get("content") or "")
    return ""


def get_judge_reward(
    base_url: str = "",
    model: str = "",
    timeout_s: float = 10.0,
    max_tokens: int = 4,
    api_key_env: str = "",
    max_workers: int = 8,
    cache_size: int = 100_000,
    failure_limit: int = 3,
    pause_s: float = 60.0,
    extra_body: Mapping[str, Any] | None = None,
) -> RewardFunc:
    """The ``judge`` reward (accuracy, with the judge for undecided text answers); needs ``base_url`` and ``model``."""
    from medgrpo.answers import summarize_grades
    from medgrpo.train.rewards import completion_text, grade_completions, questions_from_columns

    if not base_url or not model:
        raise ValueError(
            "the judge reward needs base_url (an OpenAI-compatible API root such as http://vllm-judge:8000/v1) "
            f"and model (the served model name); found base_url={base_url!r}, model={model!r}"
        )
    client = JudgeClient(
        JudgeConfig(
            base_url=base_url,
            model=model,
            timeout_s=float(timeout_s),
            max_tokens=int(max_tokens),
            api_key_env=api_key_env,
            max_workers=int(max_workers),
            cache_size=int(cache_size),
            failure_limit=int(failure_limit),
            pause_s=float(pause_s),
            extra_body=dict(extra_body or {}),
        )
    )

    def judge_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
        grades = grade_completions(completions, **columns)
        questions = questions_from_columns(len(completions), columns)
        scores = [g.score for g in grades]
        prompts = columns.get("prompts") or columns.get("prompt") or [None] * len(completions)
        undecided = [
            i
            for i, (g, q) in enumerate(zip(grades, questions, strict=True))
            if q.answer_type == "text" and g.parsed.ok and not g.correct
        ]
        outcomes: dict[int, JudgeOutcome] = {}
        if undecided:
            pool = ThreadPoolExecutor(max_workers=client.config.max_workers, thread_name_prefix="judge")
            futures = {
                pool.submit(
                    client.judge,
                    _question_text(prompts[i]),
                    questions[i].answer,
                    str(grades[i].parsed.raw or completion_text(completions[i])),
                ): i
                for i in undecided
            }
            # Each request has its own socket timeout; this bounds the whole batch as well.
            done, _ = wait_futures(futures, timeout=client.config.timeout_s * 2 + 1)
            pool.shutdown(wait=False, cancel_futures=True)
            for future in done:
                outcomes[futures[future]] = future.result()
        for i, outcome in outcomes.items():
            if outcome.verdict is not None:
                scores[i] = float(outcome.verdict)
        log_metric = columns.get("log_metric")
        if callable(log_metric):
            for name, value in summarize_grades(grades).as_metrics().items():
                log_metric(name, value)
            log_metric("judge/calls", float(sum(not o.cached for o in outcomes.values())))
            log_metric("judge/cache_hits", float(sum(o.cached for o in outcomes.values())))
            log_metric("judge/fallbacks", float(len(undecided) - sum(o.verdict is not None for o in outcomes.values())))
        return scores

    judge_reward.__name__ = "judge"
    judge_reward.client = client  # type: ignore[attr-defined]  # tests and callers can read its cache
    return judge_reward
