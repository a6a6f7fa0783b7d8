"""US social security numbers (Safe Harbor G): 3-2-4 digits with any (even mixed) separators, or labelled."""

from __future__ import annotations

import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span

_SEP = r"[ \t]*[-–—./_ \t][ \t]*|[ \t]*--[ \t]*"
_SSN_RE = re.compile(r"(?<![\w/.-])(\d{3})(?:" + _SEP + r")(\d{2})(?:" + _SEP + r")(\d{4})(?![\w/]|[.-]\d)")
_LABELLED_RE = re.compile(
    r"(?i)\b(?:ssn|ss#|ss\s*no\.?|soc(?:ial)?\.?\s*sec(?:urity)?\.?(?:\s*(?:number|no\.?|#))?)\s*(?:is|was|:|#|-)?\s*"
    r"(?P<value>\d{3}\D{0,3}\d{2}\D{0,3}\d{4}|\d{9})\b"
)
_CONTEXT = re.compile(r"(?i)\b(?:ssn|social|security|ss#|soc\.?\s*sec)\b")


def _valid(area: str, group: str, serial: str) -> bool:
    return area not in {"000", "666"} and not area.startswith("9") and group != "00" and serial != "0000"


class SsnRecognizer:
    """``078-05-1120``, ``078 05 1120``, ``078.05.1120``, ``078-05 1120``; any 9 digits after an SSN label."""

    name = "ssn"
    entities = ("SSN",)

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        out: list[Span] = []
        for m in _SSN_RE.finditer(text):
            context = _CONTEXT.search(text[max(0, m.start() - 40) : m.start()]) is not None
            if _valid(*m.groups()) or context:
                out.append(Span(m.start(), m.end(), "SSN", 0.9 if context else 0.8))
        for m in _LABELLED_RE.finditer(text):
            out.append(Span(m.start("value"), m.end("value"), "SSN", 0.95))
        return out
