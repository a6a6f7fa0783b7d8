"""Entity types (the HIPAA Safe Harbor categories) and the detected-span record every recognizer returns.

============  ===================================================================
NAME          (A) names of patients, relatives, clinicians
ADDRESS       (B) street address, P.O. box
LOCATION      (B) city, county, town, other geographic subdivision smaller than a state
ZIP           (B) ZIP code (kept as its first three digits, ``000`` for small areas)
DATE          (C) every date element but the year
AGE           (C) ages over 89
PHONE / FAX   (D, E) telephone (also pager, extension) and fax numbers
EMAIL         (F) e-mail addresses
SSN           (G) social security numbers
MRN           (H) medical record numbers
HEALTH_PLAN   (I) health plan beneficiary numbers
ACCOUNT       (J) account numbers (bank account, IBAN, payment card)
LICENSE       (K) certificate / licence numbers (DEA, NPI, driver's licence, passport)
VEHICLE       (L) vehicle identifiers, serial numbers, licence plates
DEVICE        (M) device identifiers and serial numbers
URL           (N) web URLs and bare domain names
IP_ADDRESS    (O) IPv4 and IPv6 addresses
BIOMETRIC     (P) biometric identifiers (finger, voice, retina prints)
ID            (R) any other unique identifying number or code
ORGANIZATION  hospitals, clinics, nursing homes, employers (they identify the patient's locality)
============  ===================================================================

(Q, full-face photographs, cannot occur in text.)
"""

from __future__ import annotations

from dataclasses import dataclass


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` (word lists written as one string)."""
    return frozenset(text.split())


def word_list(text: str) -> list[str]:
    """The whitespace-separated words of ``text``, in order."""
    return text.split()


ENTITY_TYPES: tuple[str, ...] = (
    "NAME", "ADDRESS", "LOCATION", "ZIP", "DATE", "AGE", "PHONE", "FAX", "EMAIL", "SSN", "MRN",
    "HEALTH_PLAN", "ACCOUNT", "LICENSE", "VEHICLE", "DEVICE", "URL", "IP_ADDRESS", "BIOMETRIC", "ID",
    "ORGANIZATION",
)  # fmt: skip

MONTH_NAMES: dict[str, int] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip

# HHS Safe Harbor: three-digit ZIP prefixes with 20,000 or fewer people are reported as 000.
RESTRICTED_ZIP3 = word_set("036 059 063 102 203 556 692 790 821 823 830 831 878 879 884 890 893")


@dataclass(frozen=True, slots=True)
class Span:
    """A detected entity: ``text[start:end]`` is of type ``entity`` with confidence ``score``."""

    start: int
    end: int
    entity: str
    score: float


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
