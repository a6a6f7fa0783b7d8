"""Free-text answers: one name, matched against the reference and its aliases after normalisation.

Accepted names: the reference, ``meta.aliases``, and both halves of a parenthetical
("Croup (laryngotracheobronchitis)" accepts "croup" and "laryngotracheobronchitis"); each also by
its abbreviation or expansion and in British or American spelling (:mod:`medgrpo.answers.normalize`).
Zero: several names ("croup or epiglottitis", "croup, epiglottitis"), a negation ("not croup"),
a parenthetical naming something else ("croup (epiglottitis)").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from medgrpo.answers.normalize import name_forms, normalize_words, strip_lead
from medgrpo.answers.types import ParsedAnswer, Question, Status

_PAREN_RE = re.compile(r"^(?P<outer>[^()]+?)\s*\((?P<inner>[^()]+)\)\s*(?P<tail>[^()]*)$")
_QUALIFIER_RE = re.compile(
    r"^(?:(?:most|very|highly)\s+)?(?:likely|probably|probable|suspected|presumed|consistent\s+with)\s*[:,]?\s+",
    re.IGNORECASE,
)
_SPLIT_RE = re.compile(r"\s*(?:[,;/&\n]|\bor\b|\band\b|\bvs\b\.?|\bversus\b|\beither\b|\bnor\b)\s*", re.IGNORECASE)
_ALTERNATIVE_RE = re.compile(r"/|\b(?:or|either|vs|versus|nor)\b", re.IGNORECASE)
_NEGATION_RE = re.compile(
    r"\b(?:not|no|without|never|excluding|except|unlikely|rule[sd]?\s+out|ruled\s+out)\b", re.IGNORECASE
)


def expand_names(names: Iterable[str]) -> list[str]:
    """Each name plus, for "X (Y)", the names "X" and "Y"."""
    out: list[str] = []
    for name in names:
        name = str(name).strip()
        if not name:
            continue
        out.append(name)
        paren = _PAREN_RE.match(name)
        if paren:
            out.extend([f"{paren.group('outer')} {paren.group('tail')}".strip(), paren.group("inner").strip()])
    return out


class _Names:
    """The accepted names of one question, ready for matching."""

    def __init__(self, question: Question) -> None:
        aliases = question.meta.get("aliases") or []
        if isinstance(aliases, str) or not isinstance(aliases, Iterable):
            raise ValueError(f"meta.aliases must be a list of names, found {aliases!r}")
        normalized = [normalize_words(n) for n in expand_names([question.answer, *aliases])]
        self.keys = {k for n in normalized if n for k in (n, n.replace(" ", ""))}
        self.forms: frozenset[str] = frozenset().union(*(name_forms(n) for n in normalized if n))

    def match(self, text: str) -> bool:
        """True when ``text`` is one of the names, its abbreviation or its expansion."""
        pred = normalize_words(text)
        if not pred:
            return False
        return bool({pred, pred.replace(" ", "")} & self.forms or self.keys & name_forms(pred))


class TextKind:
    """Parser and checker for ``answer_type: text``."""

    def parse(self, content: str, question: Question) -> ParsedAnswer:
        text = _QUALIFIER_RE.sub("", strip_lead(content), count=1).strip()
        if not normalize_words(text):
            return ParsedAnswer(Status.EMPTY, raw=content, reason="no words")
        names = _Names(question)
        gold = normalize_words(question.answer)
        if names.match(text):
            return ParsedAnswer(Status.OK, gold, content, reason="an accepted name")
        paren = _PAREN_RE.match(text)
        if paren and names.match(f"{paren.group('outer')} {paren.group('tail')}") and names.match(paren.group("inner")):
            return ParsedAnswer(Status.OK, gold, content, reason="an accepted name with its synonym")
        if _NEGATION_RE.search(text):
            return ParsedAnswer(Status.HEDGE, raw=content, reason="a negation")
        parts = [p for p in _SPLIT_RE.split(text.replace("(", ",").replace(")", ",")) if normalize_words(p)]
        if len(parts) >= 2:
            status = Status.HEDGE if _ALTERNATIVE_RE.search(text) else Status.LIST
            return ParsedAnswer(status, raw=content, reason=f"{len(parts)} names given")
        return ParsedAnswer(Status.OK, normalize_words(text), content, reason="one name")

    def check(self, parsed: ParsedAnswer, question: Question) -> tuple[bool, str]:
        if parsed.answer == normalize_words(question.answer):
            return True, ""
        return False, f"{parsed.answer!r} is not {question.answer!r} or an accepted alias"
