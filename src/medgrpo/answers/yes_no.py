"""Yes/no/maybe answers: exactly one of the three words.

Accepted: "yes", "Yes.", "No, because ...", "Answer: maybe", "probably yes". Zero: two of the
words in any combination ("yes, no, maybe", "yes or no", "maybe yes"), a negated word ("not
yes"), or none of them.
"""

from __future__ import annotations

import re

from medgrpo.answers.normalize import strip_lead
from medgrpo.answers.types import ParsedAnswer, Question, Status

WORDS = ("yes", "no", "maybe")
_NEGATORS = frozenset({"not", "never", "hardly"})


class YesNoMaybeKind:
    """Parser and checker for ``answer_type: yes_no_maybe``."""

    def parse(self, content: str, question: Question) -> ParsedAnswer:
        words = re.findall(r"[a-z]+", strip_lead(content).lower())
        if not words:
            return ParsedAnswer(Status.EMPTY, raw=content, reason="no words")
        named = [w for w in words if w in WORDS]
        distinct = sorted(set(named), key=WORDS.index)
        if len(distinct) >= 2:
            alternatives = bool({"or", "either"} & set(words)) or "/" in content
            status = Status.HEDGE if alternatives else Status.LIST
            return ParsedAnswer(
                status, raw=content, reason=f"{len(distinct)} of yes/no/maybe given: {', '.join(distinct)}"
            )
        if not distinct:
            return ParsedAnswer(Status.MALFORMED, raw=content, reason="none of yes, no, maybe")
        word = distinct[0]
        first = words.index(word)
        if first > 0 and words[first - 1] in _NEGATORS:
            return ParsedAnswer(Status.HEDGE, raw=content, reason=f"negated {word!r}")
        return ParsedAnswer(Status.OK, word, content)

    def check(self, parsed: ParsedAnswer, question: Question) -> tuple[bool, str]:
        want = question.answer.strip().lower()
        if parsed.answer == want:
            return True, ""
        return False, f"said {parsed.answer}, the answer is {want}"
