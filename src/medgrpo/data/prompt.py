"""Prompt building shared by training and evaluation (one place, so both see the same text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SYSTEM_PROMPT = (
    "You are a careful medical reasoning assistant. Think through the problem step by step "
    "inside <think> </think> tags, then give only the final answer inside <answer> </answer> tags. "
    "For multiple-choice questions answer with the option letter; for calculations answer with "
    "the number; for yes/no/maybe questions answer yes, no or maybe."
)

_INSTRUCTIONS = {
    "choice": "Answer with the letter of the correct option.",
    "numeric": "Answer with a number (units optional).",
    "yes_no_maybe": "Answer with yes, no or maybe.",
    "text": "Answer briefly.",
}


def render_user_prompt(record: Mapping[str, Any]) -> str:
    """The user turn for a canonical record: context, question, lettered options, instruction."""
    parts: list[str] = []
    context = record.get("context")
    if context:
        parts.append(f"Context: {context}")
    parts.append(str(record["question"]).strip())
    options = record.get("options") or {}
    if options:
        parts.append("\n".join(f"{letter}. {text}" for letter, text in sorted(options.items())))
    instruction = _INSTRUCTIONS.get(str(record.get("answer_type", "text")), _INSTRUCTIONS["text"])
    parts.append(instruction)
    return "\n\n".join(parts)


def build_messages(record: Mapping[str, Any], system_prompt: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    """Conversational prompt (TRL's ``prompt`` column format) for a canonical record."""
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": render_user_prompt(record)},
    ]
