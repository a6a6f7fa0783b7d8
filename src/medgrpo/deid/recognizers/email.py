"""E-mail addresses (Safe Harbor F), also with obfuscated ``[at]``/``(dot)`` separators."""

from __future__ import annotations

import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span

_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+(?:@|\s?[\[(]at[\])]\s?)[\w-]+(?:(?:\.|\s?[\[(]dot[\])]\s?)[\w-]+)*"
    r"(?:\.|\s?[\[(]dot[\])]\s?)[A-Za-z]{2,}\b",
    re.IGNORECASE,
)


class EmailRecognizer:
    """``name@host.tld`` (any case)."""

    name = "email"
    entities = ("EMAIL",)

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        if "@" not in text and "at" not in text.lower():
            return []
        return [Span(m.start(), m.end(), "EMAIL", 0.99) for m in _EMAIL_RE.finditer(text)]
