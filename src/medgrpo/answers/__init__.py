"""One strict answer parser, shared by the training rewards and the evaluation harness.

A completion is graded in two steps: :func:`~medgrpo.answers.blocks.find_answer_block` takes the
single ``<answer>`` block outside ``<think>`` (two blocks are a hedge, none is missing), then the
answer type's :class:`AnswerKind` parses it into a :class:`ParsedAnswer` (status ``ok``, ``hedge``,
``list``, ``empty``, ``missing`` or ``malformed``) and checks an ok answer against the reference.
Only an ok answer can be correct, so hedging, listing and negating earn nothing.

Pure Python (no torch, no network): reward functions call it on every completion.
"""

from __future__ import annotations

from typing import Protocol

from medgrpo.answers.blocks import answer_chars, find_answer_block, is_well_formed
from medgrpo.answers.choice import ChoiceKind
from medgrpo.answers.diagnostics import METRIC_PREFIX, AnswerDiagnostics, answer_diagnostics, summarize_grades
from medgrpo.answers.numeric import DEFAULT_NUMERIC_TOLERANCE, NumericKind, normalize_unit
from medgrpo.answers.text import TextKind
from medgrpo.answers.types import ANSWER_TYPES, Grade, ParsedAnswer, Question, Status, parse_json_object
from medgrpo.answers.yes_no import YesNoMaybeKind

__all__ = [
    "ANSWER_KINDS",
    "ANSWER_TYPES",
    "DEFAULT_NUMERIC_TOLERANCE",
    "METRIC_PREFIX",
    "AnswerDiagnostics",
    "AnswerKind",
    "Grade",
    "ParsedAnswer",
    "Question",
    "Status",
    "answer_chars",
    "answer_diagnostics",
    "find_answer_block",
    "grade_answer",
    "grade_completion",
    "is_well_formed",
    "normalize_unit",
    "parse_answer",
    "parse_json_object",
    "summarize_grades",
]


class AnswerKind(Protocol):
    """How one answer type reads an answer block and checks an ok answer against the reference."""

    def parse(self, content: str, question: Question) -> ParsedAnswer: ...

    def check(self, parsed: ParsedAnswer, question: Question) -> tuple[bool, str]: ...


#: answer_type -> its parser/checker; one entry per answer type of DESIGN §4.
ANSWER_KINDS: dict[str, AnswerKind] = {
    "choice": ChoiceKind(),
    "numeric": NumericKind(),
    "yes_no_maybe": YesNoMaybeKind(),
    "text": TextKind(),
}


def parse_answer(content: str | None, question: Question) -> ParsedAnswer:
    """The answer in ``content`` (an answer block's text) read as ``question.answer_type``."""
    if content is None:
        return ParsedAnswer(Status.MISSING, reason="no answer")
    if not content.strip():
        return ParsedAnswer(Status.EMPTY, raw=content, reason="the answer is empty")
    return ANSWER_KINDS[question.answer_type].parse(content.strip(), question)


def _grade(parsed: ParsedAnswer, question: Question, chars: int) -> Grade:
    if not parsed.ok:
        return Grade(parsed, False, parsed.reason, chars)
    correct, detail = ANSWER_KINDS[question.answer_type].check(parsed, question)
    return Grade(parsed, correct, detail, chars)


def grade_answer(content: str | None, question: Question) -> Grade:
    """Grade an already extracted answer text (no tags) against ``question``."""
    parsed = parse_answer(content, question)
    return _grade(parsed, question, len(content.strip()) if content else 0)


def grade_completion(completion: str, question: Question) -> Grade:
    """Grade a whole completion: its single ``<answer>`` block outside ``<think>``, parsed and checked."""
    block = find_answer_block(completion)
    if block.status is not Status.OK:
        return Grade(
            ParsedAnswer(block.status, raw=block.content, reason=block.reason), False, block.reason, block.chars
        )
    return _grade(parse_answer(block.content, question), question, block.chars)
