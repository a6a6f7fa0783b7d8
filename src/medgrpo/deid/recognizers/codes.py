"""Unlabelled identifying numbers and codes (Safe Harbor L, K, R): VINs, DEA numbers, licence plates after
a cue, letter-and-digit codes with four or more digits, long digit runs and dashed digit groups.

Measurements are not identifiers: a number followed by a unit (``1500 mL``, ``2000mg``), a time
(``0800``), a year, lab codes (``HbA1c``, ``CD34``, ``BRCA1``) and drug strengths are skipped.
"""

from __future__ import annotations

import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span

_VIN_RE = re.compile(r"\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b")
_PLATE_CTX_RE = re.compile(
    r"\b(?:licen[cs]e\s+plate|plates?|tag)\b(?:\s+(?:number|no\.?|#|reads|reading|of))?\s*[:#]?\s*"
    r"(?P<value>[A-Z0-9]{1,4}[\s-]?[A-Z0-9]{2,5})\b"
)
_DEA_RE = re.compile(r"\b[ABCDEFGHJKLMPRSTUX][A-Z]\d{7}\b")
_CODE_RE = re.compile(
    r"(?<![\w.,])(?=[A-Za-z0-9-]*\d{4})(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![\w,]|\.\d)"
)
_DIGITS_RE = re.compile(r"(?<![\w.,/])(?<!\d:)\d{6,}(?:-\d+)*(?![\w,/]|\.\d)")
_DIGIT_GROUPS_RE = re.compile(r"(?<![\w.,/-])\d{2,5}(?:-\d{2,6}){2,4}(?![\w/]|[.,]\d|-\d)")
_CODE_OK = re.compile(r"^(?:ICD|CPT|HbA1c|COVID|SARS|H\d+N\d+|CD\d+|IgG\d|BRCA\d|HLA|ISO|NCT\d)", re.IGNORECASE)
_UNIT_SUFFIX = re.compile(
    r"(?i)^\d+(?:\.\d+)?(?:mg|mcg|ug|g|kg|ml|cc|l|dl|meq|mmol|units?|u|iu|hrs?|h|min|mins|sec|am|pm|kcal|cal|"
    r"mmhg|bpm|mm|cm|lbs?|oz|ft|gtts?|x|s|st|nd|rd|th)$"
)
_UNIT_AFTER = re.compile(
    r"\s*(?:%|mg|g\b|kg|mcg|µg|ug|ng|pg|ml|mL|l\b|L\b|dl|dL|mmol|mol|meq|mEq|iu|IU|u\b|U\b|units?|"
    r"cells|/|mm|cm|m\b|km|beats|bpm|breaths|copies|x\s*10|×|times|years?|months?|weeks?|days?|hours?|"
    r"min|sec|patients|people|cases|steps|feet|ft|in\b|lb|lbs|pounds|calories|kcal|[A-Za-zµ]{1,6}/|mIU|IU)",
    re.IGNORECASE,
)


def _overlaps(a: tuple[int, int], spans: list[Span]) -> bool:
    return any(a[0] < s.end and s.start < a[1] for s in spans)


class CodeRecognizer:
    """Identifier-shaped numbers and codes without a label."""

    name = "codes"
    entities = ("VEHICLE", "LICENSE", "ID")

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        if sum(c.isdigit() for c in text) < 4:
            return []
        out: list[Span] = []
        for m in _VIN_RE.finditer(text):
            out.append(Span(m.start(), m.end(), "VEHICLE", 0.9))
        for m in _PLATE_CTX_RE.finditer(text):
            out.append(Span(m.start("value"), m.end("value"), "VEHICLE", 0.85))
        for m in _DEA_RE.finditer(text):
            out.append(Span(m.start(), m.end(), "LICENSE", 0.8))
        taken = list(out)
        for m in _CODE_RE.finditer(text):
            value = m.group(0)
            if _CODE_OK.match(value) or _UNIT_SUFFIX.match(value) or _overlaps((m.start(), m.end()), taken):
                continue
            if re.fullmatch(r"(?i)[a-z]{1,3}\d{4}", value) and re.fullmatch(r"\d{4}", value[-4:]):
                hh, mm = int(value[-4:-2]), int(value[-2:])
                if hh <= 24 and mm < 60:
                    continue  # "at0800", "q2400" style times
            out.append(Span(m.start(), m.end(), "ID", 0.7))
        for m in _DIGIT_GROUPS_RE.finditer(text):
            if sum(c.isdigit() for c in m.group(0)) >= 7 and not _overlaps((m.start(), m.end()), taken):
                out.append(Span(m.start(), m.end(), "ID", 0.7))
        for m in _DIGITS_RE.finditer(text):
            if _overlaps((m.start(), m.end()), taken) or _UNIT_AFTER.match(text, m.end()):
                continue
            out.append(Span(m.start(), m.end(), "ID", 0.7))
        return out
