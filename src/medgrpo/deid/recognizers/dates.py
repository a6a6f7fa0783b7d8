"""Dates (Safe Harbor C: every date element but the year) in the shapes clinical text uses.

Numeric with a year (``03/14/2019``, ``2019-03-14``, ``21.5.21``), month and day alone (``7/22``,
``on 10/20``, ``7-22`` after a date cue, ranges ``7/22-7/25``), textual (``March 3``, ``3rd of May``,
``May-21``, ``14-Mar-2019``), ordinals after a date cue (``on the 3rd``) and holidays. A bare year is
not a date element (Safe Harbor keeps years) unless it is a birth year revealing an age over 89.

Month/day pairs are told apart from fractions, ratios, doses and vital signs: ``1/2 NS``,
``5/5 strength``, ``2/6 murmur``, ``4/10 pain``, ``120/80``, ABGs (``7.35/40/80``), vent settings
(``PS 10/5``) are not dates; a fraction-like pair (``3/4``) is a date only after a date cue (``on 3/4``) or
with a leading zero (``2/03``: month and year); ``11-7 shift`` is a nursing shift.
"""

from __future__ import annotations

import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import MONTH_NAMES, Span

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ORD = r"(?:st|nd|rd|th)"
_WEEKDAY = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_YEAR4 = r"(?:1[89]\d{2}|20\d{2})"
_PATTERNS = [
    r"\b\d{4}-\d{1,2}-\d{1,2}(?:T\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
    r"\b\d{4}/\d{1,2}/\d{1,2}\b",
    r"\b\d{4}\.\d{1,2}\.\d{1,2}\b",
    r"(?<![\w.,/-])\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})(?![\w/]|[.-]\d)",
    r"(?<![\w./-])(?:0?[1-9]|1[0-2])[/-]" + _YEAR4 + r"\b",
    r"\b" + _MONTH + r"\.?\s*[-/']\s*(?:\d{4}|\d{2})\b(?![-/:]\d)",
    r"\b" + _MONTH + r"[-/]\d{1,2}[-/]\d{2,4}\b",
    r"\b"
    + _MONTH
    + r"\.?\s+\d{1,2}"
    + _ORD
    + r"?\b(?:,?\s*(?:"
    + _YEAR4
    + r"|'\d{2})\b)?(?!\s*(?:mg|mcg|ml|cc|units?|%|/))",
    r"\b(?:the\s+)?\d{1,2}"
    + _ORD
    + r"?(?:\s+of)?\s*[-\s]\s*"
    + _MONTH
    + r"\b\.?(?:,?\s*[-\s]\s*(?:"
    + _YEAR4
    + r"|'?\d{2}\b))?",
    r"\b\d{1,2}" + _MONTH + r"(?:\d{2}|\d{4})?\b",
    r"\b" + _MONTH + r"\.?,?\s+(?:of\s+)?" + _YEAR4 + r"\b",
    r"\b(?:christmas(?:\s+(?:day|eve))?|thanksgiving|easter|halloween|new\s+year'?s(?:\s+(?:day|eve))?|"
    r"independence\s+day|memorial\s+day|labou?r\s+day|valentine'?s\s+day|mother'?s\s+day|father'?s\s+day)\b",
]
_DATE_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
# words right before a date
_CUE_BEFORE = re.compile(
    r"(?i)(?:\b(?:on|since|from|until|til|till|to|by|dated?|date\s*:|dos|dob|d\.o\.b\.?|born|admit(?:ted)?|adm|admission|discharged?|"
    r"d/c(?:'d)?|dc(?:'d)?|seen|visit|surgery|procedure|last|next|before|after|of|through|thru|between|and|"
    r"effective|expires?|signed|received|reported|sent|faxed|collected|drawn|performed|scheduled|sched|started|"
    r"stopped|completed|due|f/u|fu|follow-?up|appt|appointment|as\s+of|starting|beginning|ending|s/p|pod|hd|"
    r"meeting|encounter|bm|visit|admission|discharge|called|phoned|cath|echo|ct|mri|cxr|"
    r"" + _WEEKDAY + r")\.?|@|-)\s*(?:the\s+)?$"
)
_WEEKDAY_BEFORE = re.compile(r"(?i)\b" + _WEEKDAY + r"\.?,?\s*$")
_MD_RE = re.compile(r"(?<![\w./+-])(\d{1,2})/(\d{1,2})(?![\w/]|\.\d|'?s\b)")
_MD_DASH_RE = re.compile(r"(?<![\w./+-])(\d{1,2})-(\d{1,2})(?![\w/-]|\.\d)")
_RANGE_TAIL = re.compile(r"\s*(?:-|to|thru|through)\s*(?:\d{1,2}/)?\d{1,2}(?![\w/]|\.\d)")
_RATIO_BEFORE = re.compile(
    r"(?i)(?:\b(?:bp|b/p|nbp|nibp|abp|sbp|map|cuff|art|a-?line|pressures?|ps|psv|peep|cpap|bipap|ipap|epap|vent|"
    r"ac|simv|prvc|ratio|i:e|strength|motor|power|grip|pain|score|scale|gcs|murmur|grade|apgar|rass|cam|"
    r"reflexes|dtrs?|pupils|x|mix|arm|leg|rate|ppd|pack|packs|about|approx|maybe|sats?|sbt|settings?|"
    r"ratio|fio2|tv|rr)\b[\s:=]*(?:of\s+)?(?:about\s+)?|[<>~=]\s*)$"
)
_RATIO_AFTER = re.compile(
    r"(?i)\s*(?:strength|murmur|sem|hsm|holosystolic|systolic|diastolic|pain|scale|ns|nss|normal|saline|tabs?|"
    r"tablets?|pills?|caps?|doses?|of|strength|power|motor|reflexes|pulses|x\b|\+|mm|mmhg|mg|mcg|ml|cc|cm|%|"
    r"units?|beats|breaths|bpm|th\b|ths\b|hrs?|hours?|days?|wks?|weeks?|cups?|cans?|vision|acuity|"
    r"rass|gcs|on\s+(?:cpap|bipap|ps|vent)|peep|ps\b|cpap)"
)
# a unit or ventilation mode after a number pair makes it a quantity or a setting, whatever came before
_QUANTITY_AFTER = re.compile(
    r"(?i)[ \t]*(?:l\b|lpm|liters?|litres?|l/min|mg|mcg|ml|cc|units?|u\b|meq|mmol|mmhg|cm|mm|kg|g\b|gm|%|"
    r"bipap|cpap|peep|ps\b|psv|ac\b|simv|prvc|vent\b|nc\b|fio2|mask|face\s*tent|"
    r"times\b|x\b|beats?\b|episodes?\b|days?\b|hours?\b|hrs?\b|weeks?\b|wks?\b|months?\b|mos?\b|years?\b|yrs?\b|"
    r"min\b|mins\b|minutes?\b|secs?\b|seconds?\b|tabs?\b|tablets?\b|puffs?\b|doses?\b|bottles?\b|cups?\b)"
)
_SETTING_BEFORE = re.compile(
    r"(?i)\b(?:weaned|wean|weaning|increased|decreased|titrated|changed|turned|dropped|placed|put|back)\s+"
    r"(?:up\s+|down\s+|back\s+)?(?:to|on)\s+$"
)
_SHIFT_AFTER = re.compile(r"(?i)[ \t]*(?:shift|shft|nursing\s+shift)\b")
_FRACTION_DENOMS = {2, 3, 4, 5, 6, 8, 10}
_TIME_AFTER = re.compile(r"\s+(?:at\s+)?\d{1,2}:\d{2}\b")
_ORDINAL_RE = re.compile(
    r"(?i)\b(?:on|since|until|till|til|by|from|thru|through|before|after|of|starting)\s+(?:the\s+)?"
    r"(?P<value>\d{1,2}(?:st|nd|rd|th))\b(?P<after>\s*[A-Za-z]*)"
)
# what may follow "on the 3rd": the end of a phrase, or the subject of the next clause ("on the 3rd pt was ...")
_ORDINAL_OK_AFTER = {
    "",
    "of",
    "at",
    "and",
    "or",
    "to",
    "in",
    "am",
    "pm",
    "when",
    "with",
    "for",
    "per",
    "by",
    "pt",
    "patient",
    "she",
    "he",
    "they",
    "we",
    "family",
}
_BIRTH_YEAR_RE = re.compile(r"(?i)\b(?:born\s+(?:in\s+)?|dob:?\s*|year\s+of\s+birth:?\s*)(?P<value>1[89]\d{2})\b")
_AMBIGUOUS_MONTH = re.compile(r"(?i)^(?:may|mar|march|dec)\b")  # a verb, med record, decrease; "jan 5" is a date


def _plausible_numeric(value: str) -> bool:
    parts = re.split(r"[/.\-T ]", value)
    nums = [int(p) for p in parts[:3] if p.isdigit()]
    if len(nums) < 2:
        return True
    if len(parts[0]) == 4:
        return len(nums) < 3 or (1 <= nums[1] <= 12 and 1 <= nums[2] <= 31)
    if len(nums) == 2:
        return 1 <= nums[0] <= 12
    a, b = nums[0], nums[1]
    return (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)


class DateRecognizer:
    """Every date shape above; ``reference_year`` decides which birth years reveal an age over 89."""

    name = "dates"
    entities = ("DATE",)

    def __init__(self, reference_year: int = 2026) -> None:
        self.reference_year = int(reference_year)

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        out: list[Span] = []
        has_digit = any(c.isdigit() for c in text)
        for m in _DATE_RE.finditer(text):
            value = m.group(0)
            if not has_digit and not re.search(r"(?i)christmas|thanksgiving|easter|halloween|year|day", value):
                continue
            if re.fullmatch(r"[\d/.\-T: +Z]+", value):
                if not _plausible_numeric(value):
                    continue
                if re.fullmatch(r"\d{1,2}[.-]\d{1,2}[.-]\d{2}", value):
                    before = text[max(0, m.start() - 30) : m.start()]
                    if "-" in value and not _CUE_BEFORE.search(before):
                        continue  # 1-2-15 counts and scores need a date cue
                    if _RATIO_BEFORE.search(before):
                        continue
                if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{2}", value) and _RATIO_BEFORE.search(
                    text[max(0, m.start() - 20) : m.start()]
                ):
                    continue  # vent settings "AC 14/5/40"
            elif _AMBIGUOUS_MONTH.match(value.lstrip()) and not re.search(
                r"(?i)\d{4}|'\d{2}|\d(?:st|nd|rd|th)|[-/]", value
            ):
                # "may 5" (verb), "mar 10" (medication record), "dec 2" (decrease) need a cue or capital
                before = text[max(0, m.start() - 30) : m.start()]
                upper_ok = value[:1].isupper() and doc.style == "mixed"
                if not (upper_ok or _CUE_BEFORE.search(before)):
                    continue
            end = m.end()
            tail = _RANGE_TAIL.match(text, end)
            if tail and re.search(r"\d", value[-2:]):
                end = tail.end()
            out.append(Span(m.start(), end, "DATE", 0.9))
        if has_digit:
            out.extend(self._month_day(text, out))
            for m in _ORDINAL_RE.finditer(text):
                after = m.group("after").strip().lower()
                if after in _ORDINAL_OK_AFTER or after in MONTH_NAMES:
                    out.append(Span(m.start("value"), m.end("value"), "DATE", 0.7))
            for m in _BIRTH_YEAR_RE.finditer(text):
                if self.reference_year - int(m.group("value")) > 89:
                    out.append(Span(m.start("value"), m.end("value"), "DATE", 0.8))
        return out

    def _month_day(self, text: str, taken: list[Span]) -> list[Span]:
        out: list[Span] = []

        def free(a: int, b: int) -> bool:
            return not any(a < s.end and s.start < b for s in taken) and not any(a < s.end and s.start < b for s in out)

        for rx, dash in ((_MD_RE, False), (_MD_DASH_RE, True)):
            for m in rx.finditer(text):
                mo, day = int(m.group(1)), int(m.group(2))
                if not free(m.start(), m.end()):
                    continue
                if _SHIFT_AFTER.match(text, m.end()):
                    continue  # "on 11-7 shift", "7-3 shift": a nursing shift, not a date
                before = text[max(0, m.start() - 24) : m.start()]
                cue = _CUE_BEFORE.search(before) is not None
                us_order = 1 <= mo <= 12 and 1 <= day <= 31
                eu_order = 1 <= day <= 12 and 1 <= mo <= 31
                if not (us_order or (eu_order and cue)):
                    continue
                if dash and not (cue or _WEEKDAY_BEFORE.search(before) or _TIME_AFTER.match(text, m.end())):
                    continue  # 10-20 is a range unless a date cue says otherwise
                if not cue:
                    if _RATIO_BEFORE.search(before) or _RATIO_AFTER.match(text, m.end()):
                        continue
                    if day in _FRACTION_DENOMS and (mo < day or mo in {5, 10}) and not m.group(2).startswith("0"):
                        continue  # 1/2, 3/4, 5/5, 2/6, 4/10: fractions and grades ("2/03" is a month and year)
                    if re.search(r"\d\s*$", before) or re.search(r"[/:]\s*$", before):
                        continue
                elif _RATIO_AFTER.match(text, m.end()) and day in _FRACTION_DENOMS and mo <= day:
                    continue
                elif _QUANTITY_AFTER.match(text, m.end()) or _SETTING_BEFORE.search(before):
                    continue  # "on 2-4 L NC", "on 12/5 BiPAP", "weaned to 10/5": a quantity or a setting
                end = m.end()
                tail = _RANGE_TAIL.match(text, end)
                if tail is not None:
                    end = tail.end()
                out.append(Span(m.start(), end, "DATE", 0.8 if cue else 0.7))
        return out
