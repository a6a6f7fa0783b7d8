"""Payment card numbers (Luhn-checked) and IBANs (mod-97 checked): account numbers (Safe Harbor J)."""

from __future__ import annotations

import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span

_CARD_RE = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w]|[.-]\d)")
_IBAN_RE = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,4})?(?![\w])", re.IGNORECASE)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(value: str) -> bool:
    """ISO 13616 mod-97 check."""
    s = re.sub(r"[ -]", "", value).upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in moved)
    return int(num) % 97 == 1


class PaymentCardRecognizer:
    """13-19 digit card numbers, grouped or not, that pass the Luhn check."""

    name = "payment_card"
    entities = ("ACCOUNT",)

    def analyze(self, doc: Document) -> list[Span]:
        out: list[Span] = []
        for m in _CARD_RE.finditer(doc.text):
            digits = re.sub(r"\D", "", m.group(0))
            if 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) >= 2:
                out.append(Span(m.start(), m.end(), "ACCOUNT", 0.9))
        return out


class IbanRecognizer:
    """International bank account numbers (country code, check digits, account), mod-97 valid."""

    name = "iban"
    entities = ("ACCOUNT",)

    def analyze(self, doc: Document) -> list[Span]:
        out: list[Span] = []
        for m in _IBAN_RE.finditer(doc.text):
            if iban_ok(m.group(0)):
                out.append(Span(m.start(), m.end(), "ACCOUNT", 0.95))
        return out
