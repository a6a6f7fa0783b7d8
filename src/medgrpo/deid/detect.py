"""PHI detectors: pure Python, no model, no Presidio import (the Presidio wrappers live in ``recognizers``).

Each detector takes the text and returns ``Span(start, end, entity, score)`` items. Entity types
and the HIPAA Safe Harbor category (45 CFR 164.514(b)(2)(i)) each covers:

============  ===================================================================
NAME          (A) names of patients, relatives, clinicians
ADDRESS       (B) street address, P.O. box
LOCATION      (B) city, county, town, other geographic subdivision smaller than a state
ZIP           (B) ZIP code (kept as its first three digits, ``000`` for small areas)
DATE          (C) every date element but the year
AGE           (C) ages over 89 (``90 or older``)
PHONE / FAX   (D, E) telephone and fax numbers
EMAIL         (F) e-mail addresses
SSN           (G) social security numbers
MRN           (H) medical record numbers
HEALTH_PLAN   (I) health plan beneficiary numbers
ACCOUNT       (J) account numbers
LICENSE       (K) certificate / licence numbers (DEA, NPI, driver's licence, passport)
VEHICLE       (L) vehicle identifiers, serial numbers, licence plates
DEVICE        (M) device identifiers and serial numbers
URL           (N) web URLs
IP_ADDRESS    (O) IP addresses
BIOMETRIC     (P) biometric identifiers (finger, voice, retina prints)
ID            (R) any other unique identifying number or code
ORGANIZATION  hospitals, clinics, employers (identify the patient's locality)
============  ===================================================================

(Q, full-face photographs, cannot occur in text.) Names are found without NER: context cues
(titles, labels such as ``Patient:``, ``seen by``, relations such as ``his wife``, credentials such
as ``, MD``), a name dictionary, and a Philter-like rule: a capitalised token that is neither an
English word nor medical vocabulary, not at the start of a sentence, is a suspect name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from medgrpo.deid.lexicon import Lexicon, fold, load_lexicon

ENTITY_TYPES: tuple[str, ...] = (
    "NAME",
    "ADDRESS",
    "LOCATION",
    "ZIP",
    "DATE",
    "AGE",
    "PHONE",
    "FAX",
    "EMAIL",
    "SSN",
    "MRN",
    "HEALTH_PLAN",
    "ACCOUNT",
    "LICENSE",
    "VEHICLE",
    "DEVICE",
    "URL",
    "IP_ADDRESS",
    "BIOMETRIC",
    "ID",
    "ORGANIZATION",
)


def _words(text: str) -> frozenset[str]:
    """A set of whitespace-separated words (keeps long word lists readable)."""
    return frozenset(text.split())


@dataclass(frozen=True, slots=True)
class Span:
    """A detected entity: ``text[start:end]`` is of type ``entity`` with confidence ``score``."""

    start: int
    end: int
    entity: str
    score: float


# ---------------------------------------------------------------------------------------------
# shared pieces
_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
MONTH_NAMES = _MONTHS
_MONTH_RE = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_WEEKDAY_RE = r"(?:(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\.?,?\s+)"
_ORD = r"(?:st|nd|rd|th)"
_US_STATES = _words(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR"
)
_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|"
    "Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|"
    "Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|"
    "New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|"
    "South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|"
    "Wisconsin|Wyoming|Puerto Rico"
)
_STATE_RE = r"(?:" + "|".join(_US_STATES) + "|" + _STATE_NAMES + r")"
_UP = r"[^\W\d_a-zß-öø-ÿ]"  # an upper-case (or caseless Latin Extended) letter
_LE = r"[^\W\d_]"  # any letter
_CAPWORD = r"(?:" + _UP + r"[\w'’.-]*)"
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Terrace|Ter|"
    r"Way|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Loop|Row|Alley|Crescent|Close|Pike|"
    r"Plaza|Path|Run|Ridge|Hill|Heights|Walk|Turnpike|Expressway|Freeway|Route|Rte)"
)
# units that follow a number that is a measurement rather than an identifier
_UNIT_AFTER = re.compile(
    r"\s*(?:%|mg|g\b|kg|mcg|µg|ug|ng|pg|ml|mL|l\b|L\b|dl|dL|mmol|mol|meq|mEq|iu|IU|u\b|U\b|units?|"
    r"cells|/|mm|cm|m\b|km|beats|bpm|breaths|copies|x\s*10|×|times|years?|months?|weeks?|days?|hours?|"
    r"min|sec|patients|people|cases|steps|feet|ft|in\b|lb|lbs|pounds|calories|kcal|[A-Za-zµ]{1,6}/|mIU|IU)",
    re.IGNORECASE,
)


def _overlaps(a: tuple[int, int], spans: Iterable[Span]) -> bool:
    return any(a[0] < s.end and s.start < a[1] for s in spans)


# ---------------------------------------------------------------------------------------------
# labelled identifiers: LABEL [:#] VALUE (the label decides the type)
_ID_VALUE = r"(?P<value>(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9/.\-]*[A-Za-z0-9]|\d)"
_LABELLED: list[tuple[str, str]] = [
    ("SSN", r"SSN|SS#|social\s+security(?:\s+(?:number|no\.?|#))?"),
    ("MRN", r"MRN|MR\s*#|MR\s+no\.?|medical\s+record(?:\s+(?:number|no\.?|#))?|med\s+rec(?:\s+(?:no\.?|#))?|"
            r"chart(?:\s+(?:number|no\.?|#))|"
            r"hospital\s+(?:number|no\.?|#)|patient\s+(?:id|identifier|number|no\.?|#)|unit\s+(?:number|no\.?)|"
            r"encounter(?:\s+(?:id|number|no\.?|#))|visit\s+(?:id|number|#)|case\s+(?:number|no\.?|#)|"
            r"accession(?:\s+(?:number|no\.?|#))?"),
    ("HEALTH_PLAN", r"member\s+(?:id|number|no\.?|#)|policy\s+(?:id|number|no\.?|#)|subscriber\s+(?:id|number|#)|"
                    r"insurance\s+(?:id|number|no\.?|#)|health\s+plan(?:\s+(?:id|number|no\.?|#))?|"
                    r"medicaid(?:\s+(?:id|number|no\.?|#))?|medicare(?:\s+(?:id|number|no\.?|#))?|group\s+(?:number|no\.?|#)|"
                    r"beneficiary\s+(?:id|number|no\.?|#)|plan\s+(?:id|number|#)|HICN|MBI"),
    ("ACCOUNT", r"account(?:\s+(?:number|no\.?|#))?|acct\.?(?:\s+(?:number|no\.?|#))?|billing\s+(?:id|number|no\.?|#)|"
                r"invoice\s+(?:number|no\.?|#)|claim\s+(?:id|number|no\.?|#)|bank\s+account|credit\s+card(?:\s+number)?|"
                r"routing\s+(?:number|no\.?)|IBAN"),
    ("LICENSE", r"licen[cs]e(?:\s+(?:number|no\.?|#))?|driver'?s\s+licen[cs]e(?:\s+(?:number|no\.?|#))?|DL\s*#|"
                r"DEA(?:\s+(?:number|no\.?|#))?|NPI(?:\s+(?:number|no\.?|#))?|certificate(?:\s+(?:number|no\.?|#))?|"
                r"cert\.?\s*(?:number|no\.?|#)|passport(?:\s+(?:number|no\.?|#))?|registration\s+(?:number|no\.?|#)|"
                r"board\s+certification\s+(?:number|no\.?|#)|permit\s+(?:number|no\.?|#)"),
    ("VEHICLE", r"VIN|vehicle\s+(?:id|identification\s+number|number|#)|licen[cs]e\s+plate(?:\s+(?:number|no\.?|#))?|"
                r"plate\s+(?:number|no\.?|#)|plates?|tag\s+(?:number|#)"),
    ("DEVICE", r"serial(?:\s+(?:number|no\.?|#))?|S/N|SN|device\s+(?:id|identifier|number|serial|#)|UDI|IMEI|"
               r"lot\s+(?:number|no\.?|#)|model\s+(?:number|no\.?|#)|pacemaker\s+(?:id|serial|model)|implant\s+(?:id|serial)|"
               r"MAC\s+address|asset\s+tag"),
    ("BIOMETRIC", r"(?:finger|thumb|palm|voice|retina|retinal|iris|face|gait)\s*-?\s*prints?"
                  r"(?:\s+(?:id|template|hash|#))?|"
                  r"(?:retina|retinal|iris|face|facial)\s+scan(?:\s+(?:id|template|#))?|"
                  r"biometric(?:\s+(?:id|identifier|template|hash|#))?|"
                  r"DNA\s+profile(?:\s+(?:id|#))?"),
    ("FAX", r"fax(?:\s+(?:number|no\.?|#))?|facsimile"),
    ("ID", r"employee\s+(?:id|number|#)|student\s+(?:id|number|#)|badge\s+(?:id|number|#)|ticket\s+(?:number|#)|"
           r"reference\s+(?:number|no\.?|#)|ref\s*#|order\s+(?:number|no\.?|#)|requisition\s+(?:number|#)|"
           r"specimen\s+(?:id|number|#)|sample\s+(?:id|number|#)|study\s+id|subject\s+id|ID(?:\s+(?:number|no\.?|#))?|"
           r"identifier|tracking\s+(?:number|#)|username|user\s+id|login"),
]  # fmt: skip
_LABEL_RE = re.compile(
    r"\b(?:"
    + "|".join(f"(?P<{t}>{p})" for t, p in _LABELLED)
    + r")(?:\b|(?<=[#.]))\.?\s*(?:is|was|of|:|#|=|-|no\.?|number)?\s*[:#]?\s*"
    + _ID_VALUE,
    re.IGNORECASE,
)


_HAS_DIGIT = re.compile(r"\d")


def detect_labelled_ids(text: str) -> list[Span]:
    """Identifiers introduced by a label (``MRN: 123``, ``Medicaid ID 77A``, ``VIN …``)."""
    out: list[Span] = []
    if not _HAS_DIGIT.search(text):
        return out
    for m in _LABEL_RE.finditer(text):
        entity = m.lastgroup if m.lastgroup and m.lastgroup != "value" else None
        if entity is None:
            for t, _ in _LABELLED:
                if m.group(t):
                    entity = t
                    break
        value = m.group("value")
        if entity is None or (len(value) < 3 and entity not in {"VEHICLE"}):
            continue
        if entity == "VEHICLE" and len(value) < 4:
            continue
        out.append(Span(m.start("value"), m.end("value"), entity, 0.95))
    return out


# ---------------------------------------------------------------------------------------------
# unlabelled patterns
_EMAIL_RE = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_URL_RE = re.compile(
    r"\b(?:(?:https?|ftp)://[^\s<>\"')\]]+|www\.[^\s<>\"')\]]+|"
    r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|org|net|edu|gov|io|info|biz|us|uk|ca|de|fr|health|care|me)(?:/[^\s<>\"')\]]*)?)\b",
    re.IGNORECASE,
)
_IPV4_RE = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6_RE = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}(?::{1,2}[0-9A-Fa-f]{1,4}){2,7}|(?:[0-9A-Fa-f]{1,4}:){1,7}:)(?![\w:])"
)
_MAC_RE = re.compile(r"\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b")
_SSN_RE = re.compile(r"\b(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}\b")
_PHONE_RE = re.compile(
    r"(?<![\w/.])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?:\s*(?:x|ext\.?|extension)\s*\d{1,5})?(?![\w/])"
    r"|(?<![\w/.])\+\d{1,3}(?:[\s.-]\(?\d{1,4}\)?){2,5}(?![\w/])"
)
_PHONE_CTX_RE = re.compile(
    r"\b(?:phone|tel|telephone|cell|mobile|pager|beeper|call|contact|reached\s+at|number|home|work|ph|fax)\b[^\n\d]{0,15}"
    r"(?P<value>\+?\(?\d[\d\s().-]{5,16}\d)(?![\d/])",
    re.IGNORECASE,
)
_FAX_CTX = re.compile(r"\bfax\b|facsimile", re.IGNORECASE)
_VIN_RE = re.compile(r"\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b")
_PLATE_CTX_RE = re.compile(
    r"\b(?:licen[cs]e\s+plate|plates?|tag)\b(?:\s+(?:number|no\.?|#|reads|reading|of))?\s*[:#]?\s*"
    r"(?P<value>[A-Z0-9]{1,4}[\s-]?[A-Z0-9]{2,5})\b"
)
_DEA_RE = re.compile(r"\b[ABCDEFGHJKLMPRSTUX][A-Z]\d{7}\b")
# codes mixing letters and at least four digits (A1234567, XK-29384-B) or long digit runs
_CODE_RE = re.compile(
    r"(?<![\w.,])(?=[A-Za-z0-9-]*\d{4})(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![\w,]|\.\d)"
)
_DIGITS_RE = re.compile(r"(?<![\w.,/])(?<!\d:)\d{6,}(?:-\d+)*(?![\w,/]|\.\d)")
_DIGIT_GROUPS_RE = re.compile(r"(?<![\w.,/-])\d{2,5}(?:-\d{2,6}){2,4}(?![\w/]|[.,]\d|-\d)")
_CODE_OK = re.compile(r"^(?:ICD|CPT|HbA1c|COVID|SARS|H\d+N\d+|CD\d+|IgG\d|BRCA\d|HLA|ISO)", re.IGNORECASE)


def detect_patterns(text: str) -> list[Span]:
    """Unlabelled identifiers with a recognisable shape (e-mail, URL, IP, phone, SSN, VIN, codes)."""
    out: list[Span] = []
    for m in _EMAIL_RE.finditer(text):
        out.append(Span(m.start(), m.end(), "EMAIL", 0.99))
    emails = list(out)
    for m in _URL_RE.finditer(text):
        if _overlaps((m.start(), m.end()), emails):
            continue
        value = m.group(0)
        if "." not in value.strip("."):
            continue
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:":
            end -= 1
        out.append(Span(m.start(), end, "URL", 0.9))
    for m in _IPV4_RE.finditer(text):
        out.append(Span(m.start(), m.end(), "IP_ADDRESS", 0.95))
    for m in _IPV6_RE.finditer(text):
        value = m.group(0)
        if (value.count(":") >= 3 or "::" in value) and (not re.fullmatch(r"[\d:]+", value) or value.count(":") >= 4):
            out.append(Span(m.start(), m.end(), "IP_ADDRESS", 0.9))
    for m in _MAC_RE.finditer(text):
        out.append(Span(m.start(), m.end(), "DEVICE", 0.9))
    for m in _SSN_RE.finditer(text):
        out.append(Span(m.start(), m.end(), "SSN", 0.9))
    for m in _PHONE_RE.finditer(text):
        before = text[max(0, m.start() - 25) : m.start()]
        entity = "FAX" if _FAX_CTX.search(before) else "PHONE"
        out.append(Span(m.start(), m.end(), entity, 0.9))
    for m in _PHONE_CTX_RE.finditer(text):
        if sum(c.isdigit() for c in m.group("value")) < 7 or _UNIT_AFTER.match(text, m.end("value")):
            continue
        entity = "FAX" if _FAX_CTX.search(m.group(0)) else "PHONE"
        out.append(Span(m.start("value"), m.end("value"), entity, 0.85))
    for m in _VIN_RE.finditer(text):
        out.append(Span(m.start(), m.end(), "VEHICLE", 0.9))
    for m in _PLATE_CTX_RE.finditer(text):
        out.append(Span(m.start("value"), m.end("value"), "VEHICLE", 0.85))
    for m in _DEA_RE.finditer(text):
        out.append(Span(m.start(), m.end(), "LICENSE", 0.8))
    taken = list(out)
    for m in _CODE_RE.finditer(text):
        value = m.group(0)
        if _CODE_OK.match(value) or _overlaps((m.start(), m.end()), taken):
            continue
        out.append(Span(m.start(), m.end(), "ID", 0.7))
    for m in _DIGIT_GROUPS_RE.finditer(text):
        if sum(c.isdigit() for c in m.group(0)) >= 7 and not _overlaps((m.start(), m.end()), taken):
            out.append(Span(m.start(), m.end(), "ID", 0.7))
    for m in _DIGITS_RE.finditer(text):
        if _overlaps((m.start(), m.end()), taken) or _UNIT_AFTER.match(text, m.end()):
            continue
        value = m.group(0)
        if len(value) == 4 or (value.isdigit() and 1900 <= int(value[:4]) <= 2100 and len(value) == 4):
            continue
        out.append(Span(m.start(), m.end(), "ID", 0.7))
    return out


# ---------------------------------------------------------------------------------------------
# dates
_DATE_PATTERNS = [
    # ISO and numeric with a four-digit year
    r"\b\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
    r"\b\d{4}/\d{1,2}/\d{1,2}\b",
    r"\b\d{4}\.\d{1,2}\.\d{1,2}\b",
    r"\b" + _MONTH_RE + r"\.?[-/]\d{4}\b",
    r"\b" + _MONTH_RE + r"[-/]\d{1,2}[-/]\d{2,4}\b",
    r"\b\d{1,2}\s+" + _MONTH_RE + r"\.?\s+'?\d{2}\b(?![:\d])",
    r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b",
    r"\b(?:0?[1-9]|1[0-2])[/-](?:19|20)\d{2}\b",  # month/year
    # textual
    r"\b" + _WEEKDAY_RE + r"?" + _MONTH_RE + r"\.?\s+\d{1,2}" + _ORD + r"?,?\s*(?:,?\s*\d{4}|'\d{2})?\b",
    r"\b" + _WEEKDAY_RE + r"?(?:the\s+)?\d{1,2}" + _ORD + r"?(?:\s+of)?\s+" + _MONTH_RE + r"\.?,?(?:\s+\d{4})?\b",
    r"\b" + _MONTH_RE + r"\.?,?\s+(?:of\s+)?\d{4}\b",
    r"\b\d{1,2}-" + _MONTH_RE + r"-\d{2,4}\b",
    r"\b\d{1,2}" + _MONTH_RE + r"\d{2,4}\b",
    r"\b(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b",
    r"\b(?:Christmas|Thanksgiving|Easter|Halloween|New\s+Year'?s(?:\s+(?:Day|Eve))?|Independence\s+Day|"
    r"Memorial\s+Day|Labor\s+Day|Valentine'?s\s+Day)(?:\s+\d{4})?\b",
]
_DATE_RE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS), re.IGNORECASE)
_DATE_CTX_RE = re.compile(
    r"\b(?:on|since|from|until|till|dated?|DOB|D\.O\.B\.|born|admitted|admission|discharged?|discharge|seen|visit|"
    r"surgery|procedure|last|next|by|before|after|of|through|thru|between|and|to|effective|expires?|signed|received|"
    r"reported|called|sent|faxed|collected|drawn|performed|scheduled|started|stopped|completed)\b[\s:]*$",
    re.IGNORECASE,
)
_SHORT_DATE_RE = re.compile(r"\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])\b(?![/\d])")
_DAY_ORD_RE = re.compile(r"\b(?:on|since|until|by)\s+the\s+(?P<value>\d{1,2}(?:st|nd|rd|th))\b", re.IGNORECASE)
_BIRTH_YEAR_RE = re.compile(
    r"\b(?:born\s+(?:in\s+)?|DOB:?\s*|year\s+of\s+birth:?\s*)(?P<value>1[89]\d{2})\b", re.IGNORECASE
)


def _plausible_numeric_date(value: str) -> bool:
    parts = re.split(r"[/.\-T ]", value)
    nums = [int(p) for p in parts[:3] if p.isdigit()]
    if len(nums) < 2:
        return True
    if len(parts[0]) == 4:  # Y-M-D
        return len(nums) < 3 or (1 <= nums[1] <= 12 and 1 <= nums[2] <= 31)
    if len(nums) == 2:  # M/YYYY
        return 1 <= nums[0] <= 12
    a, b = nums[0], nums[1]
    return (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)


def detect_dates(text: str, *, reference_year: int = 2026) -> list[Span]:
    """Dates in numeric, ISO and textual formats (a year on its own is not a date element)."""
    out: list[Span] = []
    for m in _DATE_RE.finditer(text):
        value = m.group(0)
        if re.fullmatch(r"[\d/.\-T: +Z]+", value) and not _plausible_numeric_date(value):
            continue
        low = value.lower()
        # "may 5" where "may" is a verb: require the capital M
        if low.startswith("may") and not value.startswith("May"):
            continue
        # 2-digit-year numeric with dashes or dots needs a date cue (avoids "1-2-3" counts, versions)
        two_digit_year = re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2}", value)
        if two_digit_year and "/" not in value and not _DATE_CTX_RE.search(text[max(0, m.start() - 30) : m.start()]):
            continue
        if re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{2}", value):
            continue
        if re.fullmatch(r"(?i)(?:the\s+)?\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+may\.?,?", value) and "May" not in value:
            continue
        out.append(Span(m.start(), m.end(), "DATE", 0.9))
    for m in _SHORT_DATE_RE.finditer(text):
        if _DATE_CTX_RE.search(text[max(0, m.start() - 30) : m.start()]) and not _overlaps((m.start(), m.end()), out):
            out.append(Span(m.start(), m.end(), "DATE", 0.75))
    for m in _DAY_ORD_RE.finditer(text):
        out.append(Span(m.start("value"), m.end("value"), "DATE", 0.7))
    for m in _BIRTH_YEAR_RE.finditer(text):
        if reference_year - int(m.group("value")) > 89:
            out.append(Span(m.start("value"), m.end("value"), "DATE", 0.8))
    return out


# ---------------------------------------------------------------------------------------------
# ages over 89
_AGE_RES = [  # the first three cover the unit too: "93-year-old man" -> "90 or older man"
    re.compile(r"\b(?P<value>\d{2,3}(?:\s*|-)(?:years?|yrs?|y)(?:\s*|-)(?:old|of\s+age))\b", re.IGNORECASE),
    re.compile(r"\b(?P<value>\d{2,3}\s*(?:y/o|yo|y\.o\.|yr\.?\s*old))(?!\w)", re.IGNORECASE),
    re.compile(r"\b(?P<value>\d{2,3}(?:-|\s)(?:year|yr)(?:-|\s)old)\b", re.IGNORECASE),
    re.compile(r"\b(?:age[ds]?|aged|age:)\s*(?:of\s+)?(?P<value>\d{2,3})\b", re.IGNORECASE),
    re.compile(r"\b(?P<value>\d{2,3})(?:\s*|-)(?:M|F|male|female|man|woman)\b"),
    re.compile(r"\b(?:turned|turns|turning)\s+(?P<value>\d{2,3})\b", re.IGNORECASE),
    re.compile(r"\b(?:in\s+(?:his|her|their)\s+)(?P<value>(?:9\d|1[01]\d)s|nineties)\b", re.IGNORECASE),
    re.compile(r"\b(?P<value>nonagenarian|centenarian|supercentenarian)\b", re.IGNORECASE),
    re.compile(
        r"\b(?:he|she|patient|pt|who|they|mother|father|grandmother|grandfather)\s+(?:is|was|is\s+now)\s+"
        r"(?P<value>\d{2,3})(?!\s*(?:%|percent|mg|kg|lbs?|pounds|cm|mm|in\b|inches|feet|units|/|\.\d|,\d|[-\s]*(?:weeks?|months?|days?)))\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?P<value>(?:ninety|one\s+hundred(?:\s+and)?)(?:[-\s](?:one|two|three|four|five|six|seven|eight|nine|ten|"
        r"eleven|twelve))?(?:[-\s](?:years?[-\s]old|year-old)))\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:aged?|age:)\s+(?P<value>(?:ninety|one\s+hundred)(?:[-\s][a-z]+)?)\b", re.IGNORECASE),
]


_AGE_PRECHECK = re.compile(r"(?<!\d)(?:9\d|1[0-2]\d)(?!\d)|ninety|hundred|nonagen|centenar", re.IGNORECASE)


def detect_ages(text: str) -> list[Span]:
    """Ages of 90 and over (ages up to 89 are not identifying and stay)."""
    out: list[Span] = []
    if not _AGE_PRECHECK.search(text):
        return out
    for rx in _AGE_RES:
        for m in rx.finditer(text):
            value = m.group("value")
            digits = re.search(r"\d+", value)
            if digits is not None and not 90 <= int(digits.group(0)) <= 125:
                continue
            out.append(Span(m.start("value"), m.end("value"), "AGE", 0.9))
    return out


# ---------------------------------------------------------------------------------------------
# places: street addresses, city/state/ZIP lines, counties, cities after a cue, ZIP codes
_ADDRESS_RE = re.compile(
    r"\b\d{1,6}[A-Za-z]?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
    r"(?:(?:" + _UP + r"[\w'’.-]*|\d{1,3}(?:st|nd|rd|th))[ \t]+){1,4}" + _STREET_SUFFIX + r"\b\.?"
    r"(?:[ \t]+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Floor|Fl|Room|Rm|#)\.?\s*#?\s*[A-Za-z0-9-]+)?"
)
_STREET_NAME_RE = re.compile(
    r"\b(?:on|at|off|near|of|to)\s+(?P<value>(?:(?:" + _UP + r"[\w'’.-]*|\d{1,3}(?:st|nd|rd|th))[ \t]+){1,3}"
    r"(?:Street|Avenue|Road|Boulevard|Lane|Drive|"
    r"Court|Terrace|Parkway|Highway|Blvd|Ave|St|Rd|Ln|Dr)\b\.?)"
)
_POBOX_RE = re.compile(
    r"\bP\.?\s?O\.?\s+Box\s+\d+\b|\b(?:Rural\s+Route|RR|HC|Star\s+Route)\s+\d+(?:,?\s+Box\s+\d+)?\b", re.IGNORECASE
)
_CITY_STATE_ZIP_RE = re.compile(
    r"(?P<city>(?:" + _UP + r"[\w'’.-]+\s){0,2}" + _UP + r"[\w'’.-]+),\s+(?P<state>" + _STATE_RE + r")\.?,?\s+"
    r"(?P<zip>\d{5}(?:-\d{4})?)\b"
)
_CITY_STATE_NAME_RE = re.compile(
    r"(?P<city>(?:" + _UP + r"[\w'’.-]+\s){0,2}" + _UP + r"[\w'’.-]+),\s+(?P<state>" + _STATE_NAMES + r")\b"
)
_ZIP_CTX_RE = re.compile(
    r"\b(?:zip|zip\s*code|postal\s+code|zipcode)\b\s*(?:is|of)?\s*[:#]?\s*(?P<zip>\d{5}(?:-\d{4})?)\b", re.IGNORECASE
)
_STATE_ZIP_RE = re.compile(r"\b(?:" + "|".join(_US_STATES) + r")\s+(?P<zip>\d{5}(?:-\d{4})?)\b")
_COUNTY_RE = re.compile(
    r"\b(?P<value>(?:" + _UP + r"[\w'’.-]+\s){1,3}(?:County|Parish|Borough|Township|Municipality))\b"
)
_TOWN_WORD_RE = re.compile(
    r"Springs|Falls|City|Heights|Beach|Valley|Hills|Creek|Harbou?r|Junction|Village|Crossing|Grove|Bluffs|Landing|"
    r"Park|Lake|Port|Mills|Station|ville|ton|burg|ford"
)
_TOWN_SUFFIX_RE = re.compile(
    r"\b(?P<value>(?:" + _UP + r"[\w'’.-]+\s){1,2}(?:Springs|Falls|City|Heights|Beach|Valley|Hills|Creek|Harbou?r|"
    r"Junction|Village|Crossing|Grove|Bluffs|Landing|Park|Lake|Port|Mills|Station))\b"
)
_PLACE_CUE_RE = re.compile(
    r"\b(?:lives?\s+in|living\s+in|resides?\s+in|residing\s+in|resident\s+of|moved\s+(?:here\s+)?(?:to|from)|born\s+in|"
    r"native\s+of|hometown(?:\s+is)?|home\s+in|relocated\s+(?:to|from)|travel(?:l?ed)?\s+to|visiting\s+(?:from)?|"
    r"returned\s+from|came\s+from|from\s+the\s+town\s+of|town\s+of|city\s+of|village\s+of|neighborhood\s+of)\s+"
    r"(?P<value>" + _UP + r"[\w'’.-]+(?:\s+" + _UP + r"[\w'’.-]+){0,2})"
)
_STRONG_PLACE_CUE_RE = re.compile(
    r"(?:lives?|living|resides?|residing|resident|moved|born|native|hometown|home|relocated)\b", re.IGNORECASE
)
_NOT_A_PLACE_AFTER = re.compile(
    r"\s*(?:coma|criteria|rules?|classification|score|scale|disease|syndrome|sign|test|fracture|procedure|"
    r"protocol|staging|system|virus|fever|agent)\b",
    re.IGNORECASE,
)
# HHS Safe Harbor: three-digit ZIP prefixes with 20,000 or fewer people are reported as 000.
RESTRICTED_ZIP3 = _words("036 059 063 102 203 556 692 790 821 823 830 831 878 879 884 890 893")


def _city_index(lex: Lexicon) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for name in sorted(lex.cities, key=len, reverse=True):
        index.setdefault(name.split()[0].rstrip("."), []).append(name)
    return index


_CITY_CACHE: dict[str, dict[str, list[str]]] = {}
_CAP_WORD_RE = re.compile(r"\b[A-Z][\w'’.-]*")
_CITY_CUE_BEFORE = re.compile(
    r"(?:\b(?:in|from|to|near|at|of|outside|around|visiting|left|toward|towards)\s+(?:the\s+)?(?:city\s+of\s+)?|"
    r"\b(?:lives|resides|moved|born|native|hometown|travelled|traveled|returned))\s*$",
    re.IGNORECASE,
)


def detect_places(text: str, lex: Lexicon | None = None) -> list[Span]:
    """Street addresses, P.O. boxes, city/state/ZIP lines, counties, known cities after a cue, ZIP codes."""
    lex = lex or load_lexicon()
    out: list[Span] = []
    for m in _ADDRESS_RE.finditer(text):
        out.append(Span(m.start(), m.end(), "ADDRESS", 0.9))
    for m in _STREET_NAME_RE.finditer(text):
        out.append(Span(m.start("value"), m.end("value"), "ADDRESS", 0.8))
    for m in _POBOX_RE.finditer(text):
        out.append(Span(m.start(), m.end(), "ADDRESS", 0.9))
    for m in _CITY_STATE_ZIP_RE.finditer(text):
        out.append(Span(m.start("city"), m.end("city"), "LOCATION", 0.85))
        out.append(Span(m.start("zip"), m.end("zip"), "ZIP", 0.95))
    for m in _CITY_STATE_NAME_RE.finditer(text):
        city = m.group("city")
        if fold(city.split()[-1]) in lex.english and city not in lex.cities:
            continue
        out.append(Span(m.start("city"), m.end("city"), "LOCATION", 0.75))
    for rx in (_ZIP_CTX_RE, _STATE_ZIP_RE):
        for m in rx.finditer(text):
            out.append(Span(m.start("zip"), m.end("zip"), "ZIP", 0.9))
    for m in _COUNTY_RE.finditer(text):
        out.append(Span(m.start("value"), m.end("value"), "LOCATION", 0.85))
    for m in _TOWN_SUFFIX_RE.finditer(text):
        words = m.group("value").split()[:-1]
        if all(fold(w) in lex.english or fold(w) in lex.medical for w in words):
            continue  # "Rocky Mountain", "Central Park" style ordinary words
        out.append(Span(m.start("value"), m.end("value"), "LOCATION", 0.7))
    for m in _PLACE_CUE_RE.finditer(text):
        value = m.group("value")
        words = value.split()
        # stop at the first ordinary word ("lives in Springfield With her son")
        keep: list[str] = []
        for w in words:
            if keep and fold(w) in lex.english and w not in lex.cities and not _TOWN_WORD_RE.fullmatch(w):
                break
            keep.append(w)
        town = bool(_TOWN_WORD_RE.fullmatch(keep[-1])) and len(keep) > 1
        if all(fold(w) in lex.medical for w in keep):
            continue  # a state, country or region (above the Safe Harbor threshold)
        ordinary = all(fold(w) in lex.english for w in keep) and " ".join(keep) not in lex.cities and not town
        if ordinary and not _STRONG_PLACE_CUE_RE.match(m.group(0)):
            continue
        end = m.start("value") + len(" ".join(keep))
        out.append(Span(m.start("value"), end, "LOCATION", 0.8))
    index = _CITY_CACHE.get(lex.version)
    if index is None:
        index = _CITY_CACHE[lex.version] = _city_index(lex)
    for w in _CAP_WORD_RE.finditer(text):
        candidates = index.get(w.group(0).rstrip(".,"))
        if not candidates:
            continue
        start = w.start()
        for name in candidates:  # longest first
            end = start + len(name)
            if not text.startswith(name, start) or (end < len(text) and (text[end].isalnum())):
                continue
            if _NOT_A_PLACE_AFTER.match(text, end):
                break
            before = text[max(0, start - 30) : start]
            if _CITY_CUE_BEFORE.search(before) or re.match(r",\s*[A-Z]", text[end : end + 4]):
                out.append(Span(start, end, "LOCATION", 0.8))
            break
    return out


# ---------------------------------------------------------------------------------------------
# organisations: hospitals, clinics, schools, employers
_ORG_SUFFIX = (
    r"(?:Hospital|Medical\s+Center|Medical\s+Centre|Health\s+Center|Health\s+System|Healthcare|Health\s+Care|Clinic|"
    r"Infirmary|Hospice|Nursing\s+Home|Nursing\s+Facility|Rehabilitation\s+(?:Center|Hospital)|Rehab|Urgent\s+Care|"
    r"Pharmacy|Surgery\s+Center|Cancer\s+(?:Center|Institute)|Children'?s\s+Hospital|Memorial|Sanatorium|Sanitarium|"
    r"University|College|School|Academy|Institute|Laborator(?:y|ies)|Labs|Foundation|Associates|Partners|Group|"
    r"Inc\.?|LLC|L\.L\.C\.|Ltd\.?|Corp\.?|Corporation|Company|Co\.|Industries|Enterprises|Bank|Church|Ministries)"
    r"(?![\w])"
)
_ORG_RE = re.compile(
    r"\b(?P<value>(?:(?:St\.|Saint|Mount|Mt\.)[ \t]+)?(?:"
    + _UP
    + r"[\w'’&.-]*[ \t]+(?:(?:of|the|and|&|for|de|la)[ \t]+)?){1,5}"
    + _ORG_SUFFIX
    + r"(?:\s+(?:of|at)\s+(?:the\s+)?(?:"
    + _UP
    + r"[\w'’.-]*\s?){1,4})?)"
)
_GENERIC_ORG_WORDS = _words(
    "the a an our this that his her their local county general community regional university state city "
    "emergency cardiology oncology pediatric paediatric pediatrics surgical surgery medical family "
    "internal primary care outpatient inpatient women's womens children's childrens veterans va public "
    "private new department dept walk-in free dental eye psychiatric mental behavioral health urgent high "
    "middle elementary medical-surgical nursing rehabilitation teaching tertiary rural urban academic "
    "main central north south east west"
)
_ORG_PRECHECK = re.compile(_ORG_SUFFIX + r"|Mount|Mt\.|(?i:work|employ|job|retired|volunteer)")
_MOUNT_RE = re.compile(r"\b(?:Mount|Mt\.)\s+(?P<name>" + _UP + r"[\w'’-]+)(?:\s+(?:Hospital|Medical|Health|Clinic))?")
_EMPLOYER_CUE_RE = re.compile(
    r"\b(?:(?:works?|worked|working|employed|volunteers?|volunteered)\s+(?:as\s+(?:an?\s+)?[a-z]+(?:\s+[a-z]+)?\s+)?"
    r"(?:at|for|by)|employer(?:\s+is)?:?|job\s+(?:at|with)|retired\s+from|(?:former\s+)?employee\s+(?:of|at)|"
    r"works\s+in\s+the\s+[a-z]+\s+(?:department|unit)\s+at)\s+(?:the\s+)?",
    re.IGNORECASE,
)
_EMPLOYER_VALUE_RE = re.compile(_UP + r"[\w'’&-]*\.?(?:[ \t]+(?:" + _UP + r"[\w'’&-]*\.?|&|of|and))*")


def detect_organizations(text: str, lex: Lexicon | None = None) -> list[Span]:
    """Hospitals, clinics, schools and employers named in the text."""
    lex = lex or load_lexicon()
    out: list[Span] = []
    if not _ORG_PRECHECK.search(text):
        return out
    for m in _ORG_RE.finditer(text):
        value = m.group("value")
        words = re.findall(r"[\w'’&.-]+", value)
        suffix_words = set(re.findall(r"[A-Za-z']+", re.search(_ORG_SUFFIX + r"$|" + _ORG_SUFFIX, value).group(0)))  # type: ignore[union-attr]
        prefix = [w for w in words if w not in suffix_words and w.lower() not in {"of", "the", "and", "&", "for", "at"}]
        if not prefix:
            continue
        if all(w.lower().strip(".") in _GENERIC_ORG_WORDS for w in prefix):
            continue
        start = m.start("value")
        # drop a leading sentence word ("The", "At", "Seen at") that the greedy prefix swallowed
        lead = re.match(r"(?:(?:The|A|An|At|In|From|To|Seen|Admitted|Transferred|He|She|They|We|Patient)\s+)+", value)
        if lead:
            start += lead.end()
        if start >= m.end("value"):
            continue
        out.append(Span(start, m.end("value"), "ORGANIZATION", 0.85))
    for m in _MOUNT_RE.finditer(text):
        if fold(m.group("name")) not in lex.english or m.group(0).startswith("Mount Sinai"):
            out.append(Span(m.start(), m.end(), "ORGANIZATION", 0.7))
    for cue in _EMPLOYER_CUE_RE.finditer(text):
        vm = _EMPLOYER_VALUE_RE.match(text, cue.end())
        if vm is None:
            continue
        value = vm.group(0)
        cut = re.search(r"\.(?:\s|$)", value)
        end = vm.start() + (cut.start() if cut else len(value))
        end = vm.start() + len(re.sub(r"(?:[ \t]+(?:and|of|&))+$", "", text[vm.start() : end]))
        if value.split()[0].rstrip(".").lower() in {"home", "the", "a", "an", "least"}:
            continue
        out.append(Span(vm.start(), end, "ORGANIZATION", 0.8))
    return out


# ---------------------------------------------------------------------------------------------
# names
_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
_TITLES = _words(
    "mr mrs ms miss mx dr doctor prof professor nurse sister rev reverend fr father pastor rabbi imam sr "
    "sra srta mme mlle herr frau sgt capt lt col judge attorney drs st"
)
_TITLE_NEEDS_DOT = frozenset({"sr", "fr", "sra", "srta", "st"})
_LABEL_CUES_SRC = (
    r"(?:\b(?:patient(?:'s)?\s+name|name|patient|pt|signed\s+by|electronically\s+signed\s+by|signed|dictated\s+by|"
    r"from|to|sender|recipient|reply-to|bcc|baby\s+(?:boy|girl)|"
    r"transcribed\s+by|attending(?:\s+physician)?|attending\s+md|resident|intern|fellow|pcp|primary\s+care\s+(?:physician|provider)|"
    r"referring\s+(?:physician|provider|md)|provider|physician|surgeon|anesthesiologist|cardiologist|consultant|"
    r"emergency\s+contact|contact(?:\s+person)?|next\s+of\s+kin|nok|guardian|spouse|parent|mother|father|caregiver|"
    r"author|cc|nurse|rn|np|pa|therapist|pharmacist|witness|interpreter|informant|mrs?|ms|dr)\s*:\s*)$|"
    r"(?:\b(?:seen|evaluated|examined|assessed|referred|treated|followed|managed|accompanied|brought\s+in|brought|"
    r"visited|called|dictated|signed|reviewed|operated\s+on|discussed|co-signed|cosigned|covered|supervised|"
    r"interviewed|counseled|counselled|staffed)\s+by\s+(?:(?:his|her|their|the|patient's)\s+"
    r"(?:[a-z]+\s+){0,2})?)$|"
    r"(?:\b(?:spoke|speaking|met|discussed|talked|consulted|conferred)\s+(?:with|to)\s+(?:(?:his|her|their|the)\s+(?:[a-z]+\s+){0,2})?)$|"
    r"(?:\b(?:(?:his|her|their|the\s+patient's|patient's|pt's|whose|my)\s+(?:(?:[a-z]+\s+){0,2}))?"
    r"(?:wife|husband|son|daughter|mother|father|mom|dad|brother|sister|partner|boyfriend|girlfriend|fiance|fiancée|fiancee|"
    r"friend|neighbor|neighbour|roommate|grandson|granddaughter|grandmother|grandfather|niece|nephew|aunt|uncle|cousin|"
    r"caregiver|guardian|spouse|child|children|sibling|stepson|stepdaughter|stepfather|stepmother|landlord|employer|"
    r"boss|coworker|colleague|physician|doctor|oncologist|cardiologist|therapist|pastor)(?:,)?\s+)$|"
    r"(?:\b(?:baby\s+(?:boy|girl)|infant\s+(?:boy|girl))\s+)$|"
    r"(?:\b(?:named|called|nicknamed|aka|a\.k\.a\.|née|nee|alias|known\s+as|goes\s+by|per|this\s+is|my\s+name\s+is|"
    r"i\s+am|i'm|name\s+is)\s+)$|"
    r"(?:\b(?:thanks|thank\s+you|dear|hello|hi|regards|sincerely|cc|from|to|by|with|and|or)\s*,?\s*)$"
)
_LABEL_CUES_RE = re.compile(_LABEL_CUES_SRC, re.IGNORECASE)
_COLON_LABEL_RE = re.compile(
    r"\b(?:patient(?:'s)?\s+name|name|patient|pt|mother|father|contact|spouse|guardian|nok|next\s+of\s+kin)\s*:\s*$",
    re.IGNORECASE,
)
# which of the cues above are weak (need the token to look like a name)
_WEAK_CUE_RE = re.compile(
    r"\s*(?:from|to|by|with|and|or|per|called|provider|physician|surgeon|dear|hello|hi|thanks|thank\s+you|regards|"
    r"sincerely)\s*,?\s*",
    re.IGNORECASE,
)
_CREDENTIAL_RE = re.compile(
    r"\s*,?\s*(?:M\.?D\.?|D\.?O\.?|R\.?N\.?|N\.?P\.?|P\.?A\.?(?:-C)?|Ph\.?D\.?|PharmD|D\.?D\.?S\.?|DMD|MBBS|FACS|FACP|"
    r"MSW|LCSW|LPN|CNA|CRNA|APRN|DNP|MPH|MBA|FRCP|FRCS|DPM|PsyD|BSN|MSN|CNM|Esq\.?)\b(?!\s*,?\s*\d{5})"
)
_EPONYM_AFTER = re.compile(
    r"(?:['’]s)?[\s-]+(?:disease|syndrome|sign|signs|test|maneuver|manoeuvre|reflex|phenomenon|criteria|score|scale|"
    r"classification|equations?|formulae?|formulas|corrections?|calculations?|nomograms?|regimen|dosing|"
    r"algorithm|calculator|approximation|estimate|fracture|palsy|disorder|tumou?r|lymphoma|sarcoma|cells?|"
    r"bod(?:y|ies)|nodes?|"
    r"nodules?|triad|law|operation|procedure|catheter|ulcer|diverticulum|esophagus|encephalopathy|aneurysm|anomaly|"
    r"rings?|spots?|lines?|granules?|stain|staining|method|rule|rules|index|ratio|point|area|sphincter|duct|ducts|"
    r"capsule|ligament|canal|pouch|space|plexus|membrane|loop|vein|artery|gland|glands|cyst|hernia|dementia|"
    r"chorea|ataxia|dystrophy|anemia|anaemia|thyroiditis|angina|esophagitis|node|ileitis|colitis|infection|"
    r"fever|virus|lesions?|solution|technique|approach|incision|position|curve|distribution|paralysis|"
    r"contracture|deformity|neuroma|neuralgia|phenomena|response|effect|hypothesis|questionnaire|inventory|"
    r"model|stage|grade|staging|grading|type|variant|mutation|gene|protein|antigen|antibody|media|agar|block|"
    r"murmurs?|pupils?|chromosome|witness(?:es)?|pentad|papules|striae|teeth|molars|joints|delusion|aphasia|"
    r"macroglobulinemia|thrombasthenia|agammaglobulinemia|arteritis|purpura|transformation|depth|level|tear|"
    r"respirations|breathing|fundoplication|bypass|injury|injuries|pulses?|class|classes|palsy|crisis|reaction|"
    r"vaccine|smear|lesions?|degeneration|hyperplasia|neuropathy|myopathy|retinopathy|nephritis|hepatitis|"
    r"anonymous|corps|en-y|(?-i:[a-z]*(?:itis|osis|pathy|omas?|emia|algia|plasia|trophy|ectomy|otomy|plasty|scopy|"
    r"uria|penia|cytosis|rrhea|rrhage|megaly|sclerosis|lepsy|plegia|paresis)))\b",
    re.IGNORECASE,
)
_CUE_WORDS = _words(
    "son daughter wife husband mother father brother sister mom dad partner friend patient pt dr mr mrs "
    "ms miss nurse doctor attending resident signed seen by name contact guardian spouse caregiver"
)
_PARTICLES = _words("van von der den de da del della di du dos das le la al el bin ibn ben bint ter ten mac st")
_PERSON_VERBS = _words(
    "was is has had reports reported presents presented denies denied states stated complains complained "
    "returns returned arrived came comes lives lived works worked underwent received tolerated says said "
    "notes noted endorses endorsed agrees agreed declined refused became will would wants wanted feels "
    "felt called visited died passed attends attended"
)
_MED_SUFFIX_RE = re.compile(
    r"(?:itis|osis|oses|emia|aemia|ectomy|otomy|ostomy|plasty|scopy|graphy|gram|pathy|algia|oma|omas|uria|penia|"
    r"philia|plasia|trophy|cytosis|cyte|cytes|blast|genic|ology|ologist|iatric|iatry|mab|nib|pril|sartan|olol|dipine|"
    r"statin|azole|mycin|micin|cillin|cycline|floxacin|vir|tidine|prazole|parin|xaban|gatran|gliptin|gliflozin|"
    r"glitazone|triptan|lukast|setron|azepam|zolam|barbital|caine|profen|oxacin|sone|olone|afil|tinib|zumab|ximab|"
    r"umab|terol|tropium|dronate|semide|thiazide|idine|amine|ase|ases|azine|apine|idone|oxetine|ipramine|ium|"
    r"coccus|cocci|bacter|bacillus|monas|ella|virus|viridae|plasma|sporidium|phyton|myces|ococcal|emic|otic|"
    r"itic|ectomies|uric|ergic|ogenic|oid|oidal|ular|ary|ism|isms|esis|ysis|ytic|ia|"
    # adjectives and drug stems seen in Title Case answer options ("Focal Segmental ...", "Nateglinide")
    r"ous|ive|ative|itive|tic|mic|hic|gic|nic|xic|ric|dic|pic|phic|ental|inal|ial|eal|ural|ical|esia|osa|ata|ema|"
    r"tide|glinide|amide|bose|velam|itol|cept|ciguat|camten|siran|apide|mersen|pent|oic|ethyl|olol|terol|azol|anol|"
    r"enol|estrol|ectasis|cele|schisis|ception|plegia|paresis|trophic|tropic|lysis|gout|ceps|pus|tum|lum)$"
)
_NAME_SHAPE_RE = re.compile(
    r"^[A-Z][a-z\u00C0-\u024F\u1E00-\u1EFF'’]+(?:[-'’][A-Z]?[a-z\u00C0-\u024F\u1E00-\u1EFF]+)*$|^(?:Mc|Mac|O['’])[A-Z][a-z]+$"
)


@dataclass(slots=True)
class _Tok:
    start: int
    end: int
    text: str
    low: str
    cap: bool
    upper: bool
    sent_start: bool
    namedict: bool
    eng: bool
    med: bool
    initial: bool = False  # a free-standing capital letter ("J. Smith"), not a unit ("mEq/L", "°C")
    title: bool = False  # a title that can precede a name ("Dr.", "Mrs"), not a unit ("455 ms.")

    @property
    def strong(self) -> bool:
        """A dictionary name that is neither English nor medical vocabulary."""
        return self.namedict and not self.eng and not self.med

    @property
    def unknown(self) -> bool:
        return not self.namedict and not self.eng and not self.med


_CLASS_CACHE: dict[tuple[str, str], tuple[bool, bool, bool]] = {}


def _classify(word: str, lex: Lexicon) -> tuple[bool, bool, bool]:
    """(in the name dictionary, English word, medical vocabulary) for one token (cached per word)."""
    key = (word, lex.version)
    hit = _CLASS_CACHE.get(key)
    if hit is None:
        if len(_CLASS_CACHE) > 200_000:
            _CLASS_CACHE.clear()
        hit = _CLASS_CACHE[key] = _classify_uncached(word, lex)
    return hit


def _classify_uncached(word: str, lex: Lexicon) -> tuple[bool, bool, bool]:
    base = re.sub(r"['’]s$", "", word)
    low = base.lower()
    f = fold(base)
    pieces = [p for p in re.split(r"[-'’]", f) if p]
    namedict = lex.is_name(low) or lex.is_name(f)
    eng = low in lex.english or f in lex.english
    med = f in lex.medical
    if len(pieces) > 1:
        # a compound is medical ("Cockcroft-Gault") unless one part is a name and not medical ("Ellison-Kristiansen")
        plain_name = any(
            len(p) > 2 and p not in lex.medical and (lex.is_name(p) or p not in lex.english) for p in pieces
        )
        med = med or (any(p in lex.medical for p in pieces) and not plain_name)
        if not namedict:
            namedict = all(lex.is_name(p) or len(p) <= 2 for p in pieces) and any(lex.is_name(p) for p in pieces)
        eng = eng or all(p in lex.english for p in pieces)
    if not med and not namedict and not eng and _MED_SUFFIX_RE.search(f) and not (f.endswith("ia") and len(f) < 8):
        med = True
    return namedict, eng, med


_OPTION_MARK_RE = re.compile(r"(?<![\w.])([A-J])[.)][ \t]+(?=\S)")
# titles that are abbreviations: "Dr. Smith" continues the sentence, "... by the nurse. Heart rate" does not
_ABBR_TITLES = _words("mr mrs ms mx dr drs prof rev fr sr sra srta mme mlle sgt capt lt col st")
_LOWER_TITLES = _words("nurse dr doctor mr mrs ms")


def _after_number(text: str, start: int) -> bool:
    """The word at ``start`` is a unit: glued to ``/`` or ``°`` ("mEq/L", "°C") or right after a number ("455 ms")."""
    j = start - 1
    if j >= 0 and text[j] in "/°º":
        return True
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j >= 0 and text[j].isdigit()


def _is_title(text: str, start: int, end: int, word: str) -> bool:
    """``text[start:end]`` is a title that may precede a name (not a unit, not a sentence-final word)."""
    low = word.lower()
    if low not in _TITLES or not (word[0].isupper() or low in _LOWER_TITLES):
        return False
    dot = text[end : end + 1] == "."
    if (low in _TITLE_NEEDS_DOT and not dot) or (dot and low not in _ABBR_TITLES):
        return False  # "St" without a dot; "seen by the nurse. Heart rate ...": the sentence ends
    return not _after_number(text, start)


def _tokenize(text: str, lex: Lexicon) -> list[_Tok]:
    toks: list[_Tok] = []
    size = len(text)
    # answer options ("A. Haloperidol B. Pramipexole"): only when the text has an A and a B marker
    marks = {m.group(1) for m in _OPTION_MARK_RE.finditer(text)} if "A" in text and "B" in text else set()
    has_options = "A" in marks and "B" in marks
    for m in _TOKEN_RE.finditer(text):
        word = m.group(0)
        start, end = m.span()
        j = start - 1
        while j >= 0 and text[j] in " \t\"'“‘([*":
            j -= 1
        sent_start = (
            j < 0
            or text[j] in ".!?:;\n•-–—>|"
            or (
                text[j] == ")"
                and j > 0
                and (text[j - 1].isdigit() or (text[j - 1].isupper() and (j < 2 or not text[j - 2].isalpha())))
            )
        )
        if sent_start and j >= 0 and text[j] == "." and toks:
            prev = toks[-1]
            option_marker = has_options and len(prev.text) == 1 and prev.text in "ABCDEFGHIJ" and prev.sent_start
            if prev.end == j and (prev.initial or prev.title) and not option_marker:
                sent_start = False
        if (end < size and text[end].isdigit()) or (start > 0 and text[start - 1].isdigit()):
            namedict, eng, med = False, False, True  # PaO2, G3P2, HbA1c: codes and units, not names
        else:
            namedict, eng, med = _classify(word, lex)
        base = word[:-2] if word.endswith(("'s", "’s")) else word
        initial = len(word) == 1 and word.isupper() and not _after_number(text, start)
        toks.append(
            _Tok(start, end, word, word.lower(), word[0].isupper(), len(word) > 1 and base.isupper(),
                 sent_start, namedict, eng, med, initial, _is_title(text, start, end, word))
        )  # fmt: skip
    return toks


def _gap(text: str, a: _Tok, b: _Tok) -> str:
    return text[a.end : b.start]


def _joinable(text: str, a: _Tok, b: _Tok) -> bool:
    """Can ``a`` and ``b`` belong to one name? A full stop joins only after an initial or a title."""
    g = text[a.end : b.start]
    if "\n" in g:
        return False
    if re.fullmatch(r"\s+|,\s*|\s*-\s*", g):
        return True
    if re.fullmatch(r"\.\s*", g):
        return a.initial or a.title
    return False


def _shape_ok(word: str) -> bool:
    """Shaped like a name: a capital, then letters (at least one lower-case), apostrophes or hyphens."""
    if not word[:1].isupper() or not any(c.islower() for c in word):
        return False
    if not all(c.isalpha() or c in "'’-" for c in word):
        return False
    for piece in re.split(r"[-'’]", word):
        inner = re.sub(r"^(?:Mc|Mac|De|Di|Da|Du|La|Le|Van|Von|St|O)(?=[A-Z])", "", piece)
        if any(c.isupper() for c in inner[1:]):
            return False  # CrCl, PaCO, HbA: abbreviations, not names
    return True


def _name_like(t: _Tok) -> bool:
    """Capitalised and shaped like a name (no digits, a vowel or a known name)."""
    if not t.cap:
        return False
    if t.upper:
        return len(t.text) >= 2 and (t.namedict and not t.eng and not t.med)
    return _shape_ok(t.text) or t.namedict


def detect_names(text: str, lex: Lexicon | None = None) -> list[Span]:
    """Person names, by context cues, the name dictionary and the unknown-capitalised-word rule."""
    lex = lex or load_lexicon()
    toks = _tokenize(text, lex)
    n = len(toks)
    label = [0.0] * n  # score per token when it is part of a name

    def eponym_here(i: int) -> bool:
        """Token ``i`` starts or continues an eponym: capitalised words then "disease", "sign", ..."""
        k = i
        for _ in range(4):
            if _EPONYM_AFTER.match(text, toks[k].end):
                return True
            if k + 1 < n and _gap(text, toks[k], toks[k + 1]) == "-" and toks[k + 1].med:
                return True
            if k + 1 < n and toks[k + 1].cap and _gap(text, toks[k], toks[k + 1]) in {" ", "-"}:
                k += 1
                continue
            break
        return False

    def in_clinical_phrase(i: int) -> bool:
        """Token ``i`` sits in a Title Case clinical phrase: a capitalised neighbour is medical, or an
        ordinary English word that does not open the sentence ("Focal Segmental Glomerulosclerosis",
        "Systemic Lupus Erythematosus")."""
        for j in (i - 1, i + 1):
            if not 0 <= j < n:
                continue
            u = toks[j]
            a, b = (u, toks[i]) if j < i else (toks[i], u)
            if not u.cap or not re.fullmatch(r"[ \t]+|-", _gap(text, a, b)):
                continue
            if (u.med and not u.namedict) or (u.eng and not u.namedict and not u.sent_start and u.low not in _TITLES):
                return True
        return False

    def title_at(i: int) -> bool:
        return toks[i].title

    # 0. lower-case names right after a "Name:"-style label ("Pt: john doe")
    for i, t in enumerate(toks):
        if t.cap or not t.namedict or t.eng or t.med:
            continue
        cm = _COLON_LABEL_RE.search(text, max(0, t.start - 30), t.start)
        if cm is None:
            continue
        label[i] = 0.9
        for j in range(i + 1, min(i + 3, n)):
            if (
                toks[j].cap
                or not toks[j].namedict
                or toks[j].med
                or not re.fullmatch(r"[ \t]+", _gap(text, toks[j - 1], toks[j]))
            ):
                break
            label[j] = 0.9

    # 1. strong cues: titles, labels, relations, credentials
    for i, t in enumerate(toks):
        if not t.cap:
            continue
        cue = 0.0
        if i > 0 and title_at(i - 1) and re.fullmatch(r"\.?\s+", _gap(text, toks[i - 1], t)):
            cue = 0.97
        else:
            cm = None
            if t.namedict or t.unknown or t.upper or (t.med and not t.eng):  # the tokens a cue can make a name
                cm = _LABEL_CUES_RE.search(text, max(0, t.start - 50), t.start)
            if cm:
                weak = bool(_WEAK_CUE_RE.fullmatch(cm.group(0)))  # "with" alone is weak, "discussed with" is not
                if weak:
                    if (t.strong or t.unknown) and _name_like(t) and not t.sent_start:
                        cue = 0.8
                elif (
                    (t.namedict or t.unknown or t.upper)
                    and not (t.med and not t.namedict)
                    and not (t.eng and not t.namedict)
                    and not (t.upper and t.eng and not t.strong)  # "RICE protocol", "DASH diet": acronyms
                ):
                    cue = 0.92
                elif t.namedict:
                    cue = 0.9
                elif t.med and not t.eng and cm.group(0).rstrip().endswith(":") and not eponym_here(i):
                    cue = 0.9  # "Surgeon: Moro ...": after a role label an eponym-like word is a surname
        if cue == 0.0:
            cm2 = _CREDENTIAL_RE.match(text, t.end)
            plain_word = _shape_ok(t.text) and not t.med and cm2 is not None and cm2.group(0).lstrip().startswith(",")
            if cm2 and not text.startswith(":", cm2.end()) and (t.namedict or t.unknown or t.upper or plain_word):
                cue = 0.95
        if cue and not (eponym_here(i) and cue < 0.95):
            label[i] = cue
            # extend forwards over name-like tokens, initials and particles ("Dr. Jean-Luc van der Berg")
            j = i + 1
            while j < n and j <= i + 4:
                g = _gap(text, toks[j - 1], toks[j])
                if not _joinable(text, toks[j - 1], toks[j]):
                    break
                u = toks[j]
                if g.startswith(",") and not (u.cap and (u.namedict or u.unknown)):
                    break
                if u.upper and (u.text in _US_STATES or _CREDENTIAL_RE.match(text, toks[j - 1].end)):
                    break  # "Smith, MD", "Boston, MA": a credential or a state, not part of the name
                if u.low in _PARTICLES and j + 1 < n and toks[j + 1].cap:
                    label[j] = cue
                elif u.cap and (u.namedict or (u.unknown and not u.upper)) and not eponym_here(j):
                    if (u.eng and not u.namedict) or (u.upper and u.med):
                        break
                    label[j] = cue
                elif u.initial:
                    label[j] = cue
                else:
                    break
                j += 1
            last = j - 1
            if eponym_here(last) and (cue < 0.95 or (i > 0 and toks[i - 1].low in {"sister", "father", "mother"})):
                for k in range(i, last + 1):
                    label[k] = 0.0
                continue
            # extend backwards for "John Smith, MD" / "SMITH, JOHN"
            j = i - 1
            while j >= 0 and j >= i - 3:
                g = _gap(text, toks[j], toks[j + 1])
                if not re.fullmatch(r"\.?\s+|,\s*", g):
                    break
                u = toks[j]
                if u.low in _CUE_WORDS or u.low in _TITLES:
                    break
                credential_first_name = (
                    cue >= 0.95 and u.cap and _shape_ok(u.text) and g == " " and not u.sent_start and not u.med
                )
                if (
                    (u.cap and (u.namedict or u.unknown) and not u.sent_start and not (u.eng and not u.namedict))
                    or u.initial
                    or credential_first_name
                ):
                    label[j] = cue
                else:
                    break
                j -= 1

    # 2. dictionary names that are not ordinary or medical words
    for i, t in enumerate(toks):
        if label[i] or not t.cap:
            continue
        if t.strong and (_name_like(t) or t.upper) and not eponym_here(i):
            if t.upper and len(t.text) < 3:
                continue
            label[i] = 0.85

    # 2b. "LAST, FIRST" in capitals, neither an English nor a medical word
    for i in range(n - 1):
        a, b = toks[i], toks[i + 1]
        pair = a.upper and b.upper and re.fullmatch(r",\s*", _gap(text, a, b)) and min(len(a.text), len(b.text)) >= 3
        if pair and all((x.namedict or (x.unknown and not x.med)) for x in (a, b)) and not (a.med and b.med):
            label[i] = label[i] or 0.8
            label[i + 1] = label[i + 1] or 0.8

    # 3. unknown capitalised words (Philter-style: not English, not medical) not opening a sentence
    for i, t in enumerate(toks):
        if label[i] or not t.cap or t.upper or not t.unknown or len(t.text) < 3:
            continue
        if not _shape_ok(t.text) or eponym_here(i):
            continue
        if in_clinical_phrase(i):
            continue
        if not t.sent_start or (
            i + 1 < n and toks[i + 1].low in _PERSON_VERBS and re.fullmatch(r"\s+", _gap(text, t, toks[i + 1]))
        ):
            label[i] = 0.6

    # 3a. a dictionary name (even an eponym) opening a sentence as its subject: "Wilson agreed with the plan."
    for i, t in enumerate(toks[:-1]):
        nxt = toks[i + 1]
        if label[i] or not t.cap or t.upper or not t.namedict or not t.sent_start:
            continue
        if t.eng and re.sub(r"['’]s$", "", t.low) not in lex.first_names:
            continue  # an ordinary word that is also a surname ("Young was ..."); first names count ("Jane was ...")
        if nxt.low in _PERSON_VERBS and re.fullmatch(r"[ \t]+", _gap(text, t, nxt)) and not eponym_here(i):
            label[i] = 0.7

    # 3b. a capitalised word right after an initial ("D. Sitar"), unless medical
    for i in range(1, n):
        p, t = toks[i - 1], toks[i]
        if not label[i] and t.cap and not t.upper and p.initial and not eponym_here(i):
            rare = t.unknown or (t.eng and fold(t.text) not in lex.core_english)  # "J. Whitfield"
            if (t.med and not t.namedict) or not (t.namedict or (rare and not p.sent_start)):
                continue
            if p.sent_start and p.text in "ABCDEFGHIJ" and t.eng:
                continue  # "A. Beta thalassemia": an answer option, not an initial
            if re.fullmatch(r"\.[ \t]+", _gap(text, p, t)) and _shape_ok(t.text):
                label[i] = 0.7
                label[i - 1] = label[i - 1] or 0.7

    # 3c. "First I. Last" where both outer words could be names ("Thalix M. Smith")
    for i in range(n - 2):
        a, b, c = toks[i], toks[i + 1], toks[i + 2]
        if not (a.cap and c.cap and b.initial) or eponym_here(i + 2):
            continue
        if not (re.fullmatch(r"[ \t]+", _gap(text, a, b)) and re.fullmatch(r"\.[ \t]+", _gap(text, b, c))):
            continue
        if all((x.namedict or x.unknown) and _shape_ok(x.text) for x in (a, c)):
            for k in (i, i + 1, i + 2):
                label[k] = label[k] or 0.75

    # 3e. two capitalised words, an unknown one then a dictionary name ("Kyrlool Nelson")
    for i in range(n - 1):
        a, c = toks[i], toks[i + 1]
        if label[i] and label[i + 1]:
            continue
        if not (a.cap and c.cap and not a.upper and not c.upper and re.fullmatch(r"[ \t]+", _gap(text, a, c))):
            continue
        if a.unknown and c.namedict and _shape_ok(a.text) and _shape_ok(c.text) and not eponym_here(i + 1):
            label[i] = label[i] or 0.7
            label[i + 1] = label[i + 1] or 0.7

    # 3f. two dictionary names in a row mid-sentence, neither an eponym ("... (Colin Robin's husband)")
    for i in range(n - 1):
        a, c = toks[i], toks[i + 1]
        if (label[i] and label[i + 1]) or a.sent_start or not (a.namedict and c.namedict):
            continue
        if a.upper or c.upper or (a.med and c.med) or not re.fullmatch(r"[ \t]+", _gap(text, a, c)):
            continue
        if _shape_ok(a.text) and _shape_ok(c.text) and not eponym_here(i) and not eponym_here(i + 1):
            label[i] = label[i] or 0.65
            label[i + 1] = label[i + 1] or 0.65

    # 3g. "Last, First" opening a line or sentence, then "(" or a line end: "Urfenthorne, Grifen (MRN ...)"
    for i in range(n - 1):
        a, c = toks[i], toks[i + 1]
        if not (a.sent_start and a.unknown and (c.unknown or c.namedict) and not c.med):
            continue
        if not (_shape_ok(a.text) and _shape_ok(c.text) and re.fullmatch(r",[ \t]+", _gap(text, a, c))):
            continue
        if re.match(r"[ \t]*(?:\(|\n|$|,|\s+(?:is|was|has)\b)", text[c.end : c.end + 6]):
            label[i] = label[i] or 0.7
            label[i + 1] = label[i + 1] or 0.7

    # 3d. "Patient Ray refused ...": a name right after "patient"/"pt" without a colon
    for i in range(1, n):
        p, t = toks[i - 1], toks[i]
        if label[i] or not t.cap or p.low not in {"patient", "pt"} or not re.fullmatch(r"[ \t]+", _gap(text, p, t)):
            continue
        shaped = _shape_ok(t.text) or (t.upper and len(t.text) >= 3 and not t.eng)
        if (t.namedict or t.unknown) and not (t.med and not t.namedict) and shaped and not eponym_here(i):
            label[i] = 0.75

    # 4. ambiguous words (English or eponym AND a dictionary name) next to a detected name
    changed = True
    while changed:
        changed = False
        for i, t in enumerate(toks):
            initial = not label[i] and t.initial and i + 1 < n and label[i + 1]
            if initial and re.fullmatch(r"\.[ \t]*", _gap(text, t, toks[i + 1])):
                label[i] = label[i + 1]
                changed = True
                continue
            if label[i] or not t.cap or not (t.namedict or t.unknown) or eponym_here(i):
                continue
            if t.low in _CUE_WORDS or t.low in _TITLES:
                continue
            # "Rodriguez and Baker": a dictionary name joined by "and" to a detected name
            if (
                i >= 2
                and t.namedict
                and not t.sent_start
                and toks[i - 1].low == "and"
                and label[i - 2] >= 0.8
                and re.fullmatch(r"[ \t]+and[ \t]+", text[toks[i - 2].end : t.start])
            ):
                label[i] = 0.8
                changed = True
                continue
            if t.upper and not t.namedict:
                continue
            for j in (i - 1, i + 1):
                if 0 <= j < n and label[j] >= 0.6:
                    a, b = (toks[j], t) if j < i else (t, toks[j])
                    g = _gap(text, a, b)
                    comma_ok = re.fullmatch(r",\s", g) and (
                        t.namedict or (j > i and label[j] >= 0.8 and _shape_ok(t.text))
                    )
                    dot_ok = re.fullmatch(r"\.\s", g) and (a.initial or a.title)
                    and_ok = re.fullmatch(r"\s+&\s+", g) and t.namedict and label[j] >= 0.8 and not t.sent_start
                    if (re.fullmatch(r"\s|\s+(?:[A-Z]\.\s+)?|-", g) or comma_ok or dot_ok or and_ok) and "\n" not in g:
                        label[i] = min(label[j], 0.8)
                        changed = True
                        break

    # 5. initials and particles between or before name tokens ("J. Smith", "Smith J", "de la Cruz")
    for i, t in enumerate(toks):
        if label[i]:
            continue
        if t.initial:
            before_name = bool(i + 1 < n and label[i + 1] and re.fullmatch(r"\.?[ \t]*", _gap(text, t, toks[i + 1])))
            after_name = bool(
                i > 0
                and label[i - 1]
                and re.fullmatch(r",?[ \t]+", _gap(text, toks[i - 1], t))
                and re.match(r"\.|,|\s*$|\s*\n", text[t.end : t.end + 2]) is not None
            )
            if before_name or after_name:
                label[i] = 0.8
        elif t.low in _PARTICLES and 0 < i < n - 1 and label[i - 1] and label[i + 1]:
            label[i] = 0.8
    # particles opening a name ("de la Cruz, Juan", "van der Berg")
    for i in range(n - 2, -1, -1):
        t = toks[i]
        if (
            not label[i]
            and t.low in _PARTICLES
            and label[i + 1]
            and re.fullmatch(r"[ \t]+", _gap(text, t, toks[i + 1]))
        ) and (t.sent_start or (i > 0 and toks[i - 1].low in _PARTICLES) or not t.cap):
            label[i] = label[i + 1]

    # 6. close a detected name over its neighbours, so no part of it survives: a capitalised token right
    #    before or after it ("Johnathan Whitfield", "Whitfield, Johnathan") that is a dictionary name or
    #    not core English / medical vocabulary, also across particles ("Kwame van der Berg", "Ana St. Clair")
    def extends(k: int, comma: bool) -> bool:
        u = toks[k]
        if not u.cap or u.upper or u.title or u.low in _CUE_WORDS or not _shape_ok(u.text):
            return False
        if (u.med and not u.namedict) or eponym_here(k):
            return False
        rare = fold(re.sub(r"['’]s$", "", u.text)) not in lex.core_english
        return rare if comma else (u.namedict or u.unknown or rare)

    def particle(k: int) -> bool:
        u = toks[k]
        if u.low == "st":
            return text[u.end : u.end + 1] == "."
        return u.low in _PARTICLES

    def tight(a: int, b: int) -> bool:
        """Only spaces between tokens ``a`` and ``b`` (a full stop too after "St")."""
        dot = toks[a].low == "st" and particle(a)
        return re.fullmatch(r"\.[ \t]+" if dot else r"[ \t]+", _gap(text, toks[a], toks[b])) is not None

    for i in range(n - 2):  # a title, then particles, then the surname: "Dr. van der Berg"
        if not toks[i].title or not particle(i + 1) or toks[i + 1].low == "st":
            continue
        if not re.fullmatch(r"\.?[ \t]+", _gap(text, toks[i], toks[i + 1])):
            continue
        k = i + 2
        while k < n - 1 and k <= i + 3 and particle(k) and tight(k - 1, k):
            k += 1
        if toks[k].cap and _shape_ok(toks[k].text) and tight(k - 1, k):
            for m in range(i + 1, k + 1):
                label[m] = label[m] or 0.95

    changed = True
    while changed:
        changed = False
        for i in range(n):
            if not label[i]:
                continue
            # forwards: optional particles, then the token to take in
            k = i + 1
            while k < n and k <= i + 3 and particle(k) and tight(k - 1, k):
                k += 1
            if k < n and not label[k] and tight(k - 1, k) and extends(k, comma=False):
                for m in range(i + 1, k + 1):
                    label[m] = label[m] or min(label[i], 0.8)
                changed = True
            # backwards: particles, then the token to take in ("Whitfield, Johnathan", "Ana St. Clair")
            k = i - 1
            while k >= max(0, i - 3) and particle(k) and tight(k, k + 1):
                k -= 1
            if k < 0 or label[k]:
                continue
            g = _gap(text, toks[k], toks[k + 1])
            plain = re.fullmatch(r"[ \t]+", g) is not None
            if (plain or (k == i - 1 and re.fullmatch(r",[ \t]+", g))) and extends(k, comma=not plain):
                for m in range(k, i):
                    label[m] = label[m] or min(label[i], 0.8)
                changed = True

    # merge adjacent name tokens into spans
    out: list[Span] = []
    i = 0
    while i < n:
        if not label[i]:
            i += 1
            continue
        j = i
        score = label[i]
        while j + 1 < n and label[j + 1] and _joinable(text, toks[j], toks[j + 1]):
            j += 1
            score = max(score, label[j])
        end = toks[j].end
        if len(toks[j].text) == 1 and text[end : end + 1] == ".":
            end += 1  # trailing initial
        titled = i > 0 and toks[i - 1].low in _TITLES and toks[i - 1].low not in {"sister", "father", "mother"}
        if eponym_here(j) and not titled:
            i = j + 1  # "Sister Mary Joseph nodule", "Zollinger-Ellison syndrome": an eponym, not a person
            continue
        out.append(Span(toks[i].start, end, "NAME", score))
        i = j + 1
    return out


# ---------------------------------------------------------------------------------------------
Detector = Callable[[str], list[Span]]


def detect_all(text: str, disabled: frozenset[str] = frozenset()) -> list[Span]:
    """Run every detector; spans of a disabled entity type are dropped (the canary catches that)."""
    lex = load_lexicon()
    spans: list[Span] = []
    spans += detect_labelled_ids(text)
    spans += detect_patterns(text)
    spans += detect_dates(text)
    spans += detect_ages(text)
    spans += detect_places(text, lex)
    spans += detect_organizations(text, lex)
    spans += detect_names(text, lex)
    if disabled:
        spans = [s for s in spans if s.entity not in disabled]
    return spans


_PRIORITY = {t: i for i, t in enumerate(ENTITY_TYPES)}


def resolve(spans: list[Span]) -> list[Span]:
    """Merge overlapping spans into their union, typed by the highest-scoring member (recall first)."""
    if not spans:
        return []
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    out: list[Span] = []
    cur = ordered[0]
    best = cur
    for s in ordered[1:]:
        if s.start < cur.end:
            if s.score > best.score or (s.score == best.score and (s.end - s.start) > (best.end - best.start)):
                best = s
            cur = Span(cur.start, max(cur.end, s.end), best.entity, best.score)
        else:
            out.append(Span(cur.start, cur.end, best.entity, best.score))
            cur = best = s
    out.append(Span(cur.start, cur.end, best.entity, best.score))
    return out
