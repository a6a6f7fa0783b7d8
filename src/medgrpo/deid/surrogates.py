"""Replacement values: tags, realistic surrogates, date shifting and year keeping, age and ZIP rules.

Surrogates are chosen by HMAC-SHA256 over (policy secret, patient key, entity type, normalised
original), so the same original gets the same surrogate within a record and, for one patient key,
across records and runs, and nothing about the original can be recovered without the secret. A
surrogate is never equal to its original (compared case-insensitively); names are mapped word by
word so that "John Smith" and a later "Mr. Smith" stay consistent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable

from medgrpo.deid.lexicon import Lexicon, fold, load_lexicon
from medgrpo.deid.policy import Policy
from medgrpo.deid.types import MONTH_NAMES, RESTRICTED_ZIP3

_STREETS = (
    "Maple", "Oak", "Cedar", "Elm", "Pine", "Birch", "Willow", "Chestnut", "Walnut", "Spruce", "Hawthorn",
    "Juniper", "Sycamore", "Magnolia", "Laurel", "Aspen", "Poplar", "Hickory", "Linden", "Alder",
)  # fmt: skip
_STREET_SUFFIXES = ("Street", "Avenue", "Road", "Lane", "Drive", "Court", "Place", "Way")
_ORG_WORDS = ("Riverside", "Lakeview", "Hillcrest", "Northgate", "Brookfield", "Fairview", "Greenwood", "Westbrook")
_MONTH_FULL = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]  # fmt: skip


class Replacer:
    """Computes the replacement text for one detected entity under a policy."""

    def __init__(self, policy: Policy, lexicon: Lexicon | None = None) -> None:
        self.policy = policy
        self.lex = lexicon or load_lexicon()
        self.key = "default"
        self._firsts = [n for n in self.lex.first_list if n.isascii() and n.isalpha() and len(n) > 2]
        self._lasts = [n for n in self.lex.last_list if n.isascii() and n.isalpha() and len(n) > 2]
        self._cities = [c for c in self.lex.cities if c.isascii()]

    def exclude(self, words: set[str]) -> None:
        """Never use these (case-insensitive) as surrogates: the canary's planted values, for one."""
        low = {fold(w) for w in words}
        self._firsts = [n for n in self._firsts if fold(n) not in low]
        self._lasts = [n for n in self._lasts if fold(n) not in low]
        self._cities = [c for c in self._cities if fold(c) not in low]

    # -- deterministic randomness --------------------------------------------------------------
    def _rand(self, *parts: str) -> int:
        msg = "\x1f".join((self.key, *parts)).encode("utf-8")
        return int.from_bytes(hmac.new(self.policy.secret, msg, hashlib.sha256).digest()[:8], "big")

    def _pick(self, pool: list[str] | tuple[str, ...], original: str, *parts: str) -> str:
        for attempt in range(50):
            value = pool[self._rand(*parts, str(attempt)) % len(pool)]
            if fold(value) != fold(original) and fold(value) not in fold(original):
                return value
        raise RuntimeError("no surrogate differs from the original")  # pragma: no cover

    # -- public ----------------------------------------------------------------------------------
    def replace(self, entity: str, original: str) -> str:
        """The replacement for ``original`` of type ``entity`` (never the original itself)."""
        rule = self.policy.actions[entity]
        action = rule.action
        if action == "tag":
            return rule.tag
        if action == "redact":
            return ""
        if action == "age_cap":
            return "90+" if re.fullmatch(r"\d+(?:'?s)?", original.strip()) else "90 or older"
        if action == "zip3":
            digits = re.sub(r"\D", "", original)[:3]
            return "000" if digits in RESTRICTED_ZIP3 or len(digits) < 3 else digits
        if action == "keep_year":
            return self._keep_year(original, rule.tag)
        if action == "shift":
            return self._shift_date(original, rule.tag)
        value = self._surrogate(entity, original)
        if fold(value) == fold(original):  # belt and braces: never hand back the original
            return rule.tag
        return value

    # -- dates -----------------------------------------------------------------------------------
    def _keep_year(self, original: str, tag: str) -> str:
        m = re.search(r"(?<!\d)(1[89]\d{2}|20\d{2})(?!\d)", original)
        short = re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-](\d{2})|[A-Za-z]+\.?\s+\d{1,2},?\s+'(\d{2})", original.strip())
        if m is not None:
            year = int(m.group(1))
        elif short is not None:  # 3/4/21 -> 2021, 5/1/60 -> 1960 (pivot on the reference year)
            yy = int(short.group(1) or short.group(2))
            year = 2000 + yy if 2000 + yy <= self.policy.reference_year else 1900 + yy
        else:
            return tag
        if self.policy.reference_year - year > 89:
            return tag  # the year itself would reveal an age over 89
        return str(year)

    def _offset_days(self) -> int:
        lo, hi = self.policy.shift_range
        days = lo + self._rand("date-shift") % (hi - lo + 1)
        return -days if self._rand("date-shift-sign") % 2 else days

    def _shift_date(self, original: str, tag: str) -> str:
        parsed = parse_date(original)
        if parsed is None:
            return tag
        date, render = parsed
        shifted = date + dt.timedelta(days=self._offset_days())
        out = render(shifted)
        return tag if out == original else out

    # -- surrogates ------------------------------------------------------------------------------
    def _surrogate(self, entity: str, original: str) -> str:
        if entity == "NAME":
            return self._name(original)
        if entity == "DATE":
            return self._shift_date(original, self.policy.actions["DATE"].tag)
        if entity == "LOCATION":
            return self._pick(self._cities, original, "LOCATION", fold(original))
        if entity == "ADDRESS":
            num = 10 + self._rand("ADDRESS-n", fold(original)) % 9890
            street = self._pick(_STREETS, original, "ADDRESS-s", fold(original))
            suffix = _STREET_SUFFIXES[self._rand("ADDRESS-x", fold(original)) % len(_STREET_SUFFIXES)]
            return f"{num} {street} {suffix}"
        if entity == "ORGANIZATION":
            last = original.split()[-1] if original.split() else "Clinic"
            word = self._pick(_ORG_WORDS, original, "ORG", fold(original))
            return f"{word} {last}" if last[:1].isupper() and fold(last) not in {fold(word)} else word
        if entity == "EMAIL":
            first = self._pick(self._firsts, original, "EMAIL-f", fold(original)).lower()
            last = self._pick(self._lasts, original, "EMAIL-l", fold(original)).lower()
            return f"{first}.{last}@example.org"
        if entity == "URL":
            return f"https://example.org/{self._rand('URL', original) % 16**8:08x}"
        if entity == "IP_ADDRESS":
            if ":" in original:
                return f"2001:db8::{self._rand('IP6', original) % 65536:x}"
            return f"192.0.2.{1 + self._rand('IP', original) % 254}"
        return self._shape(entity, original)

    def _name(self, original: str) -> str:
        parts = re.split(r"([\s,.\-'’]+)", original)
        out = []
        for part in parts:
            if not part or not part[0].isalpha():
                out.append(part)
                continue
            low = fold(part)
            if len(part) == 1:
                letters = [c for c in "ABCDEFGHJKLMNPRSTW" if c != part.upper()]
                out.append(letters[self._rand("NAME-i", low) % len(letters)])
                continue
            pool = self._firsts if low in self.lex.first_names else self._lasts
            value = self._pick(pool, part, "NAME", low)
            out.append(value.upper() if part.isupper() else value)
        result = "".join(out)
        return result

    def _shape(self, entity: str, original: str) -> str:
        """Keep the shape (separators, digit and letter positions), change every character."""
        for attempt in range(20):
            seed = self._rand(entity, original, str(attempt))
            chars = []
            for i, c in enumerate(original):
                r = (seed >> (i % 56)) ^ (self._rand(entity, original, str(attempt), str(i)) & 0xFFFF)
                if c.isdigit():
                    chars.append(str(r % 10))
                elif c.isalpha():
                    base = "ABCDEFGHJKLMNPRSTUVWXYZ"
                    letter = base[r % len(base)]
                    chars.append(letter if c.isupper() else letter.lower())
                else:
                    chars.append(c)
            if entity == "SSN" and chars and chars[0].isdigit():
                chars[0] = "9"  # 9xx area numbers are never issued
            value = "".join(chars)
            if value != original:
                return value
        raise RuntimeError("no surrogate differs from the original")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
def _year(text: str) -> int:
    y = int(text)
    return y if len(text) == 4 else (2000 + y if y < 50 else 1900 + y)


def _fmt_year(original: str, year: int) -> str:
    return f"{year:04d}" if len(original) == 4 else f"{year % 100:02d}"


def _fmt_num(original: str, value: int) -> str:
    return f"{value:02d}" if len(original) == 2 else str(value)


def _month_word(original: str, month: int) -> str:
    full = _MONTH_FULL[month - 1]
    if len(original.rstrip(".")) <= 4 and original.lower().rstrip(".") != full.lower():
        word = full[:3] if month != 9 or len(original.rstrip(".")) == 3 else "Sept"
        word = word + ("." if original.endswith(".") else "")
    else:
        word = full
    return word.upper() if original.isupper() else word


def parse_date(text: str) -> tuple[dt.date, Callable[[dt.date], str]] | None:
    """Parse a detected date; return it and a renderer that writes another date in the same style."""
    s = text.strip()
    m = re.fullmatch(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})(.*)", s)
    if m:
        y, sep, mo, d, rest = m.groups()
        try:
            date = dt.date(int(y), int(mo), int(d))
        except ValueError:
            return None
        return date, lambda x: f"{x.year:04d}{sep}{_fmt_num(mo, x.month)}{sep}{_fmt_num(d, x.day)}{rest}"
    m = re.fullmatch(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{2}|\d{4})", s)
    if m:
        a, sep, b, y = m.groups()
        day_first = sep == "." or int(a) > 12
        mo, d = (b, a) if day_first else (a, b)
        try:
            date = dt.date(_year(y), int(mo), int(d))
        except ValueError:
            return None

        def render_numeric(x: dt.date) -> str:
            first, second = (_fmt_num(d, x.day), _fmt_num(mo, x.month)) if day_first else (
                _fmt_num(mo, x.month), _fmt_num(d, x.day))  # fmt: skip
            return f"{first}{sep}{second}{sep}{_fmt_year(y, x.year)}"

        return date, render_numeric
    m = re.fullmatch(r"(\d{1,2})([/-])(\d{4})", s)
    if m:
        mo, sep, y = m.groups()
        if not 1 <= int(mo) <= 12:
            return None
        return dt.date(int(y), int(mo), 15), lambda x: f"{_fmt_num(mo, x.month)}{sep}{x.year}"
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})", s)
    if m:
        mo, d = m.groups()
        try:
            date = dt.date(2000, int(mo), int(d))
        except ValueError:
            return None
        return date, lambda x: f"{_fmt_num(mo, x.month)}/{_fmt_num(d, x.day)}"
    # textual: [Weekday,] Month D[th][,] [YYYY] | D[th] [of] Month[,] [YYYY] | Month YYYY | D-Mon-YY
    m = re.fullmatch(
        r"(?:(?P<wd>[A-Za-z]+day),?\s+)?(?P<mon>[A-Za-z]+\.?)\s+(?P<d>\d{1,2})(?P<ord>st|nd|rd|th)?(?P<sep>,?\s*)(?P<y>\d{4})?",
        s,
    )
    if m and m.group("mon").lower().rstrip(".") in MONTH_NAMES:
        mon, d, y = m.group("mon"), m.group("d"), m.group("y")
        month = MONTH_NAMES[mon.lower().rstrip(".")]
        try:
            date = dt.date(int(y) if y else 2000, month, int(d))
        except ValueError:
            return None
        sep = m.group("sep") or ""
        has_ord, has_wd = bool(m.group("ord")), bool(m.group("wd"))

        def render_text(x: dt.date) -> str:
            day = f"{x.day}{_ordinal(x.day) if has_ord else ''}"
            core = f"{_month_word(mon, x.month)} {day}"
            if y:
                core += f"{sep or ' '}{x.year}"
            return f"{x.strftime('%A')}, {core}" if has_wd else core

        return date, render_text
    m = re.fullmatch(
        r"(?:the\s+)?(?P<d>\d{1,2})(?P<ord>st|nd|rd|th)?(?P<of>\s+of)?\s+(?P<mon>[A-Za-z]+\.?)(?P<sep>,?\s*)(?P<y>\d{4})?",
        s,
    )
    if m and m.group("mon").lower().rstrip(".") in MONTH_NAMES:
        mon, d, y = m.group("mon"), m.group("d"), m.group("y")
        month = MONTH_NAMES[mon.lower().rstrip(".")]
        try:
            date = dt.date(int(y) if y else 2000, month, int(d))
        except ValueError:
            return None
        has_ord, has_of, lead_the = bool(m.group("ord")), bool(m.group("of")), s.lower().startswith("the")

        def render_dmy(x: dt.date) -> str:
            day = f"{x.day}{_ordinal(x.day) if has_ord else ''}"
            core = f"{'the ' if lead_the else ''}{day}{' of' if has_of else ''} {_month_word(mon, x.month)}"
            return f"{core} {x.year}" if y else core

        return date, render_dmy
    m = re.fullmatch(r"(?P<mon>[A-Za-z]+\.?),?\s+(?:of\s+)?(?P<y>\d{4})", s)
    if m and m.group("mon").lower().rstrip(".") in MONTH_NAMES:
        mon = m.group("mon")
        date = dt.date(int(m.group("y")), MONTH_NAMES[mon.lower().rstrip(".")], 15)
        return date, lambda x: f"{_month_word(mon, x.month)} {x.year}"
    m = re.fullmatch(r"(\d{1,2})-([A-Za-z]{3,9})-(\d{2,4})", s)
    if m and m.group(2).lower() in MONTH_NAMES:
        d, mon, y = m.groups()
        try:
            date = dt.date(_year(y), MONTH_NAMES[mon.lower()], int(d))
        except ValueError:
            return None
        return date, lambda x: f"{_fmt_num(d, x.day)}-{_month_word(mon, x.month)}-{_fmt_year(y, x.year)}"
    return None


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
