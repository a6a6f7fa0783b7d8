"""The small objects the answer parser passes around: a question, a parsed answer, a grade."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ANSWER_TYPES = ("choice", "numeric", "yes_no_maybe", "text")


class Status(StrEnum):
    """What the answer block holds, before it is compared with the reference."""

    OK = "ok"  # one answer, in a form this answer type accepts
    HEDGE = "hedge"  # alternatives ("A or B", "not A", "all of the above", two answer blocks)
    LIST = "list"  # several answers listed ("A, B, C", "yes, no, maybe", a range "14-18")
    EMPTY = "empty"  # an answer block with nothing in it
    MISSING = "missing"  # no answer block outside <think>
    MALFORMED = "malformed"  # something, but not an answer of this type (unbalanced tags, no number, ...)


@dataclass(frozen=True)
class ParsedAnswer:
    """One completion's answer: ``answer`` is canonical ("C", "yes", "16.5", normalised text) when ok."""

    status: Status
    answer: str | None = None
    raw: str | None = None  # the answer block's text as written (None when there is no single block)
    reason: str = ""  # why the status is not ok, or how an ok answer was read
    value: float | None = None  # numeric answers: the number
    unit: str | None = None  # numeric answers: the unit written after the number, if any

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass(frozen=True)
class Grade:
    """A parsed answer compared with the reference: ``correct`` only for an ok answer that matches."""

    parsed: ParsedAnswer
    correct: bool
    detail: str = ""  # why an ok answer is wrong (e.g. "unit mg is not mg/dL"), or the parse reason
    answer_chars: int = 0  # characters inside all answer blocks (hacking diagnostics)

    @property
    def score(self) -> float:
        return 1.0 if self.correct else 0.0

    @property
    def status(self) -> Status:
        return self.parsed.status


def parse_json_object(value: Mapping[str, Any] | str | None, name: str) -> dict[str, Any]:
    """``value`` as a dict, whether it came as a dict, a JSON object string, or nothing."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"{name} must be a JSON object string, found {value[:80]!r}: {err}") from err
        if decoded is None:
            return {}
        if not isinstance(decoded, dict):
            raise ValueError(f"{name} must decode to a JSON object, found {type(decoded).__name__}")
        return decoded
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping or a JSON object string, found {type(value).__name__}")
    return dict(value)


@dataclass(frozen=True)
class Question:
    """What grading needs from a canonical record (DESIGN §4): reference, type, options, meta."""

    answer: str
    answer_type: str
    options: Mapping[str, str] = field(default_factory=dict)  # letter -> option text (choice)
    meta: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""  # the question itself (only the optional judge reads it)

    def __post_init__(self) -> None:
        if self.answer_type not in ANSWER_TYPES:
            raise ValueError(f"answer_type must be one of {', '.join(ANSWER_TYPES)}; found {self.answer_type!r}")
        if self.answer_type == "choice":
            letter = str(self.answer).strip().upper()
            if len(letter) != 1 or not letter.isalpha():
                raise ValueError(f"a choice answer must be one option letter, found {self.answer!r}")
            if self.options and letter not in self.options:
                raise ValueError(f"choice answer {letter!r} is not one of the option letters {sorted(self.options)}")

    @classmethod
    def from_columns(
        cls,
        answer: Any,
        answer_type: Any,
        meta: Mapping[str, Any] | str | None = None,
        options: Mapping[str, str] | str | None = None,
        text: str = "",
    ) -> Question:
        """From dataset columns, where ``meta`` and ``options`` may be JSON strings (or missing)."""
        opts = parse_json_object(options, "options")
        return cls(
            answer=str(answer).strip(),
            answer_type=str(answer_type),
            options={str(k).strip().upper(): str(v) for k, v in opts.items()},
            meta=parse_json_object(meta, "meta"),
            text=text,
        )

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Question:
        """From a canonical record (or any mapping with ``answer`` and ``answer_type``)."""
        return cls.from_columns(
            record["answer"],
            record["answer_type"],
            record.get("meta"),
            record.get("options"),
            str(record.get("question") or ""),
        )
