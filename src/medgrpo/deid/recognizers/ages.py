"""Ages over 89 (Safe Harbor C). Ages up to 89 are not identifying and stay.

The span is the number itself (``93`` in ``93-year-old``, ``93yo``, ``age 93``, ``93 F``), so a
replacement such as ``90+`` keeps the rest of the phrase; spelled-out ages (``ninety-three years
old``) and words such as ``nonagenarian`` are replaced whole.
"""

from __future__ import annotations

import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span

_N = r"(?P<value>\d{2,3})"
_AGE_RES = [
    re.compile(r"\b" + _N + r"(?:\s*|-)(?:years?|yrs?|y)(?:\s*|-)(?:old|of\s+age|o\b)", re.IGNORECASE),
    re.compile(r"\b" + _N + r"\s*(?:y/o|yo|y\.o\.?|yr\.?\s*old|yrs?\b|y\b)(?!\w)", re.IGNORECASE),
    re.compile(r"\b" + _N + r"(?:-|\s)(?:year|yr)(?:-|\s)old\b", re.IGNORECASE),
    re.compile(r"\b(?:age[ds]?|aged|age:)\s*(?:of\s+)?" + _N + r"\b", re.IGNORECASE),
    re.compile(r"\b" + _N + r"(?:\s*|-)(?:M|F|male|female|man|woman|yom|yof|yowm|yowf)\b", re.IGNORECASE),
    re.compile(r"\b(?:turned|turns|turning)\s+" + _N + r"\b", re.IGNORECASE),
    re.compile(r"\b(?:in\s+(?:his|her|their)\s+)(?P<value>(?:9\d|1[01]\d)'?s|nineties)\b", re.IGNORECASE),
    re.compile(r"\b(?P<value>nonagenarian|centenarian|supercentenarian)\b", re.IGNORECASE),
    re.compile(
        r"\b(?:he|she|patient|pt|who|they|mother|father|grandmother|grandfather)\s+(?:is|was|is\s+now)\s+"
        + _N
        + r"(?!\s*(?:%|percent|mg|kg|lbs?|pounds|cm|mm|in\b|inches|feet|units|/|\.\d|,\d|"
        + r"[-\s]*(?:weeks?|months?|days?)))\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?P<value>(?:ninety|one\s+hundred(?:\s+and)?)(?:[-\s](?:one|two|three|four|five|six|seven|eight|nine|ten|"
        r"eleven|twelve))?(?:[-\s](?:years?[-\s]old|year-old)))\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:aged?|age:)\s+(?P<value>(?:ninety|one\s+hundred)(?:[-\s][a-z]+)?)\b", re.IGNORECASE),
]
_PRECHECK = re.compile(r"(?<!\d)(?:9\d|1[0-2]\d)(?!\d)|ninety|hundred|nonagen|centenar", re.IGNORECASE)


class AgeRecognizer:
    """Ages of 90 and over in every shape clinical text writes them."""

    name = "ages"
    entities = ("AGE",)

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        if not _PRECHECK.search(text):
            return []
        out: list[Span] = []
        for rx in _AGE_RES:
            for m in rx.finditer(text):
                value = m.group("value")
                digits = re.search(r"\d+", value)
                if digits is not None and not 90 <= int(digits.group(0)) <= 125:
                    continue
                out.append(Span(m.start("value"), m.end("value"), "AGE", 0.9))
        return out
