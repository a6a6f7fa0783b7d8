"""Numeric answers: one number, optionally with a unit.

Accepted: "16", "16.0 mEq/L", "AG = 16", "about 16", "~16", "≈ 16", "1,600 mL", "-3.5", "2.5e3", "2.5 × 10^3".
Zero: several numbers ("16, 18", "16 or 18", a range "14-18", "16 (normal 8-12)"), bounds ("> 16",
"at least 16", "not 16"), no number. A written unit must be ``meta.unit`` (normalised: "mL/hr" is
"mL/h", "kg/m2" is "kg/m²"); correct within ``meta.tolerance`` (relative) or ``meta.abs_tolerance``
(absolute), either one; without both, equal up to a relative 1e-6.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from medgrpo.answers.normalize import strip_lead
from medgrpo.answers.types import ParsedAnswer, Question, Status

#: Relative tolerance for numeric answers without ``meta.tolerance`` (i.e. "equal as numbers").
DEFAULT_NUMERIC_TOLERANCE = 1e-6

_NUMBER_RE = re.compile(
    r"(?<![\w.^])(?P<sign>[-+]?)(?P<num>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:[eE](?P<exp>[-+]?\d+))?"
)
_SCIENTIFIC_RE = re.compile(r"(\d)\s*[x×*]\s*10\s*\^\s*([-+]?\d+)")
_ALTERNATIVE_RE = re.compile(r"\bor\b|/|\beither\b", re.IGNORECASE)
_ALTERNATIVE_WORD_RE = re.compile(r"\b(?:or|either)\b", re.IGNORECASE)
_RANGE_RE = re.compile(r"\s*(?:-|–|—|\.\.|to|through|and)\s*", re.IGNORECASE)
_BOUND_RE = re.compile(
    r"[<>≤≥±]=?\s*$|\b(?:more|less|greater|fewer|lower|higher)\s+than\s*$|\b(?:at\s+(?:least|most)|over|under|"
    r"above|below|up\s+to|not|no|never)\s*$",
    re.IGNORECASE,
)
_UNIT_WORDS: tuple[tuple[str, str], ...] = (
    (r"\bper\b", "/"),
    (r"\b(?:milliseconds?|msecs?)\b", "ms"),
    (r"\b(?:hours?|hrs?)\b", "h"),
    (r"\b(?:minutes?|mins)\b", "min"),
    (r"\b(?:seconds?|secs?)\b", "s"),
    (r"\b(?:millilit(?:er|re)s?|mls)\b", "ml"),
    (r"\b(?:lit(?:er|re)s?)\b", "l"),
    (r"\b(?:milligrams?|mgs)\b", "mg"),
    (r"\b(?:micrograms?|mcg)\b", "ug"),
    (r"\b(?:kilograms?|kgs)\b", "kg"),
    (r"\bgrams?\b", "g"),
    (r"\b(?:met(?:er|re)s?)\b", "m"),
    (r"\b(?:percent|per\s*cent|pct)\b", "%"),
    (r"\bmosmol\b", "mosm"),
    (r"\bh2o\b", ""),
)


def normalize_unit(unit: str) -> str:
    """A unit in one spelling: lower case, superscripts as digits, words as symbols, no spaces."""
    text = unicodedata.normalize("NFKC", unit).lower().replace("μ", "u").replace("·", "")
    for pattern, repl in _UNIT_WORDS:
        text = re.sub(pattern, repl, text)
    return re.sub(r"[\s^*]", "", text).strip(".")


def _value(match: re.Match[str]) -> float:
    value = float(match.group("num").replace(",", ""))
    if match.group("exp"):
        value *= 10.0 ** int(match.group("exp"))
    return -value if match.group("sign") == "-" else value


def _written_unit(after: str) -> str | None:
    unit = re.split(r"[(,;\[]", after, maxsplit=1)[0].strip().rstrip(".").strip()
    return unit or None


def reference_value(answer: str) -> float:
    """The reference answer as a number (a decimal string, DESIGN §4)."""
    match = _NUMBER_RE.search(answer.replace("−", "-"))
    if match is None:
        raise ValueError(f"a numeric answer must be a decimal string, found {answer!r}")
    return _value(match)


def _tolerance(meta: Any, key: str) -> float | None:
    value = meta.get(key)
    if value in (None, ""):
        return None
    try:
        return abs(float(value))
    except (TypeError, ValueError) as err:
        raise ValueError(f"meta.{key} must be a number, found {value!r}") from err


class NumericKind:
    """Parser and checker for ``answer_type: numeric``."""

    def parse(self, content: str, question: Question) -> ParsedAnswer:
        text = _SCIENTIFIC_RE.sub(r"\1e\2", strip_lead(content).replace("−", "-"))
        unit_given = str(question.meta.get("unit") or "").strip()
        known_unit = None
        if unit_given:  # a unit with digits ("mL/min/1.73 m2") must not count as a second number
            chars = [re.escape(ch) for ch in unit_given if not ch.isspace()]
            pattern = re.compile(r"(?<!\w)" + r"\s*".join(chars) + r"(?!\w)", re.IGNORECASE)
            if pattern.search(text):
                known_unit = unit_given
                text = pattern.sub(" ", text)
        numbers = list(_NUMBER_RE.finditer(text))
        if not numbers:
            return ParsedAnswer(Status.MALFORMED, raw=content, reason="no number")
        if len(numbers) >= 2:
            between = text[numbers[0].end() : numbers[1].start()]
            if _ALTERNATIVE_RE.search(between):
                return ParsedAnswer(Status.HEDGE, raw=content, reason="alternative numbers")
            what = "a range" if _RANGE_RE.fullmatch(between) else f"{len(numbers)} numbers"
            return ParsedAnswer(Status.LIST, raw=content, reason=what)
        match = numbers[0]
        before, after = text[: match.start()], text[match.end() :]
        if _BOUND_RE.search(before) or _ALTERNATIVE_WORD_RE.search(before + after):
            return ParsedAnswer(Status.HEDGE, raw=content, reason="a bound or an alternative, not one value")
        value = _value(match)
        if not math.isfinite(value):
            return ParsedAnswer(Status.MALFORMED, raw=content, reason="not a finite number")
        unit = known_unit or _written_unit(after)
        return ParsedAnswer(Status.OK, f"{value:g}", content, value=value, unit=unit)

    def check(self, parsed: ParsedAnswer, question: Question) -> tuple[bool, str]:
        want = reference_value(question.answer)
        unit = str(question.meta.get("unit") or "").strip()
        if unit and parsed.unit and normalize_unit(parsed.unit) != normalize_unit(unit):
            return False, f"unit {parsed.unit!r} is not {unit!r}"
        rel = _tolerance(question.meta, "tolerance")
        absolute = _tolerance(question.meta, "abs_tolerance")
        if rel is None and absolute is None:
            rel = DEFAULT_NUMERIC_TOLERANCE
        bound = max((rel or 0.0) * abs(want), absolute or 0.0) + 1e-12
        got = float(parsed.value if parsed.value is not None else math.nan)
        if abs(got - want) <= bound:
            return True, ""
        return False, f"{got:g} is not within {bound:.3g} of {want:g}"
