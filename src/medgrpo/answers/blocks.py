"""The completion's shape: one ``<think>`` block, then one ``<answer>`` block, nothing else.

:func:`find_answer_block` is what scoring reads (an answer only inside ``<think>``, two answer
blocks or unbalanced tags give no answer); :func:`is_well_formed` is the format reward's rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medgrpo.answers.types import Status

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

_BLOCK_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FORMAT_RE = re.compile(r"\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*", re.DOTALL)


@dataclass(frozen=True)
class AnswerBlock:
    """The single answer block's text (``content``, stripped) or why there is none."""

    status: Status
    content: str | None = None
    reason: str = ""
    chars: int = 0  # characters inside all answer blocks, whatever the status


def answer_chars(text: str) -> int:
    """Characters inside every ``<answer>…</answer>`` block of ``text`` (stripped)."""
    return sum(len(m.strip()) for m in _BLOCK_RE.findall(text))


def _inside_think(text: str, position: int) -> bool:
    """True when ``position`` lies after a ``<think>`` that is not closed before it."""
    opened = text.rfind(THINK_OPEN, 0, position)
    return opened != -1 and text.find(THINK_CLOSE, opened, position) == -1


def find_answer_block(text: str) -> AnswerBlock:
    """The one ``<answer>`` block outside ``<think>``; a status other than ok says why there is none."""
    text = text or ""
    chars = answer_chars(text)
    opens, closes = text.count(ANSWER_OPEN), text.count(ANSWER_CLOSE)
    if opens == 0 and closes == 0:
        return AnswerBlock(Status.MISSING, reason="no <answer> block")
    blocks = list(_BLOCK_RE.finditer(text))
    if len(blocks) >= 2:
        return AnswerBlock(Status.HEDGE, reason=f"{len(blocks)} <answer> blocks", chars=chars)
    if opens != 1 or closes != 1 or not blocks:
        return AnswerBlock(
            Status.MALFORMED, reason=f"unbalanced answer tags ({opens} <answer>, {closes} </answer>)", chars=chars
        )
    block = blocks[0]
    if _inside_think(text, block.start()):
        return AnswerBlock(Status.MISSING, reason="the only <answer> block is inside <think>", chars=chars)
    content = block.group(1).strip()
    if THINK_OPEN in content or THINK_CLOSE in content:
        return AnswerBlock(Status.MALFORMED, reason="think tags inside the answer block", chars=chars)
    if not content:
        return AnswerBlock(Status.EMPTY, content="", reason="the answer block is empty", chars=chars)
    return AnswerBlock(Status.OK, content=content, chars=chars)


def is_well_formed(text: str) -> bool:
    """Exactly one non-empty ``<think>`` block then one non-empty ``<answer>`` block; only whitespace around."""
    text = text or ""
    if any(text.count(tag) != 1 for tag in TAGS):
        return False
    match = _FORMAT_RE.fullmatch(text)
    return bool(match and match.group("think").strip() and match.group("answer").strip())
