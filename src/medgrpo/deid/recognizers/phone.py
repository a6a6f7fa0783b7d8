"""Telephone, fax, pager and extension numbers (Safe Harbor D, E), national and international.

Shapes: NANP (``(617) 555-0182``, ``617.555.0182``, ``1-800-555-0199``, 7-digit ``555-0182``),
international (``+44 20 7946 0958``, ``0044 20 ...``), other national forms starting with 0 that
:mod:`phonenumbers` (a Presidio dependency, offline) accepts for some region (``020 7946 0958``,
``01 23 45 67 89``), and numbers after a cue (``pager 12345``, ``beeper #3-4567``, ``ext 4412``,
``x4412`` after a phone number, ``call 5550182``; after a pager or beeper cue three digits too: ``beeper #123``).
A ``fax`` cue makes it FAX.
"""

from __future__ import annotations

import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span

_NANP_RE = re.compile(
    r"(?<![\w/.+-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)[\s.-]?|\d{3}[\s.-]{1,2})\d{3}[\s.-]{1,2}\d{4}(?![\w/]|[.-]\d)"
    r"|(?<![\w/.:+-])\d{3}-\d{4}(?![\w/]|[.-]\d)"
)
_INTL_RE = re.compile(r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}[\s.-]?(?:\(0?\d{1,4}\)[\s.-]?)?\d[\d\s.-]{5,16}\d(?![\w])")
_NATIONAL_RE = re.compile(r"(?<![\w/.,:-])\(?0\d{1,4}\)?(?:[\s.-]\d{2,8}){1,4}(?![\w/]|[.,]\d)")
_EXT_RE = re.compile(r"(?i)\s*(?:,\s*)?(?:ext\.?|extension|x|#)\s*\d{2,6}\b")
_CUE_RE = re.compile(
    r"(?i)\b(?:phone|ph|tel|telephone|telefon|t\u00e9l\u00e9phone|telefono|handy|mobil|cell|cellphone|mobile|mob|home|work|pager|pgr|beeper|bpr|page|paged|"
    r"ext|extension|fax|call|called|calling|reach|reached|contact|number|no|#)\b\.?\s*(?:#|no\.?|number|at|is|:)?\s*"
    r"(?P<value>\(?\d[\d().\s-]{2,16}\d)(?![\w/]|[.,]\d)"
)
_SHORT_PAGER_RE = re.compile(
    r"(?i)\b(?:pager|pgr|beeper|bpr)\b\.?[ \t]*(?:#|no\.?|number|:)?[ \t]*(?P<value>\d{3})(?![\w/.,]\d|\d)"
)
_PAGER_SHAPE = re.compile(r"(?<![\w/.:-])\d-\d{4}(?![\w/-]|[.,]\d)")
_FAX_RE = re.compile(r"(?i)\bfax|facsimile")
_PAGER_RE = re.compile(r"(?i)\b(?:pager|pgr|beeper|bpr|page[ds]?|ext|extension)\b")
_UNIT_AFTER = re.compile(r"(?i)\s*(?:%|mg|mcg|g\b|kg|ml|cc|l\b|units?|u\b|meq|mmol|mm|cm|bpm|min|hrs?|sec|x\b|times|/)")
_REGIONS = ("GB", "FR", "DE", "IT", "ES", "NL", "BE", "CH", "AT", "IE", "AU", "NZ", "IN", "IL", "BR", "MX", "ZA", "JP")


def _valid_international(value: str) -> bool:
    import phonenumbers

    raw = "+" + value[2:] if value.startswith("00") else value
    try:
        num = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(num)


def _valid_national(value: str) -> bool:
    import phonenumbers

    for region in _REGIONS:
        try:
            num = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return True
    return False


def _looks_like_times(value: str) -> bool:
    groups = re.findall(r"\d+", value)
    return len(groups) >= 2 and all(len(g) == 4 and int(g[:2]) <= 24 and int(g[2:]) < 60 for g in groups)


class PhoneRecognizer:
    """Phone, fax, pager and extension numbers."""

    name = "phone"
    entities = ("PHONE", "FAX")

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        if sum(c.isdigit() for c in text) < 3:
            return []
        found: list[tuple[int, int, float]] = []
        for m in _NANP_RE.finditer(text):
            found.append((m.start(), m.end(), 0.9))
        if "+" in text or "00" in text:
            for m in _INTL_RE.finditer(text):
                if _valid_international(m.group(0).strip()):
                    found.append((m.start(), m.end(), 0.9))
        for m in _NATIONAL_RE.finditer(text):
            value = m.group(0)
            digits = sum(c.isdigit() for c in value)
            if 9 <= digits <= 12 and not _looks_like_times(value) and _valid_national(value):
                found.append((m.start(), m.end(), 0.8))
        for m in _CUE_RE.finditer(text):
            value = m.group("value")
            digits = sum(c.isdigit() for c in value)
            pager = _PAGER_RE.search(m.group(0)) is not None
            if digits < (4 if pager else 7) or digits > 15 or _UNIT_AFTER.match(text, m.end("value")):
                continue
            if re.fullmatch(r"\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?", value.strip()):
                continue  # a date after "called on"
            if not pager and _looks_like_times(value):
                continue
            found.append((m.start("value"), m.end("value"), 0.85))
        for m in _SHORT_PAGER_RE.finditer(text):
            if not _UNIT_AFTER.match(text, m.end("value")):
                found.append((m.start("value"), m.end("value"), 0.7))  # "beeper #123", "pgr 456": a short pager
        for m in _PAGER_SHAPE.finditer(text):
            if not _UNIT_AFTER.match(text, m.end()):
                found.append((m.start(), m.end(), 0.6))  # "4-4817": the shape of an internal pager/extension
        out: list[Span] = []
        for start, end, score in found:
            ext = _EXT_RE.match(text, end)
            if ext is not None and not re.match(r"\s*x\s*\d{1}\b", text[end : end + 4]):
                end = ext.end()
            entity = "FAX" if _FAX_RE.search(text[max(0, start - 30) : start]) else "PHONE"
            out.append(Span(start, end, entity, score))
        return out
