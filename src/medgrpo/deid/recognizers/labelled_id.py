"""Identifiers introduced by a label (``MRN: 123``, ``Medicaid ID 77A``, ``passport no. X1234567``).

The label decides the entity type. ``strict: true`` (public benchmarks) keeps only labels that bind
a number to a person (SSN, MRN, health plan, account, licence, passport, plate, biometric); the
generic ones (``ID``, ``reference``, ``accession``, ``registration``) are left alone there, since
published abstracts use them for trials and sequences.
"""

from __future__ import annotations

import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span

_NUM = r"(?:number|num|no\.?|nbr|#)"
_ID_VALUE = r"(?P<value>(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9/.\-]*[A-Za-z0-9]|\d)"
# (entity, label pattern, strict-mode keeps it)
_LABELLED: list[tuple[str, str, bool]] = [
    ("SSN", r"SSN|SS#|social\s+security(?:\s+" + _NUM + r")?", True),
    ("MRN", r"MRN|MR\s*#|MR\s+no\.?|medical\s+record(?:\s+" + _NUM + r")?|med\s+rec(?:\s+" + _NUM + r")?|"
            r"chart\s+" + _NUM + r"|hospital\s+" + _NUM + r"|patient\s+(?:id|identifier|" + _NUM + r")|"
            r"unit\s+" + _NUM + r"|"
            r"hospital\s+id", True),
    ("MRN", r"encounter(?:\s+(?:id|" + _NUM + r"))|visit\s+(?:id|" + _NUM + r")|case\s+" + _NUM + r"|"
            r"accession(?:\s+" + _NUM + r")?|acc\s*#", False),
    ("HEALTH_PLAN", r"member\s+(?:id|" + _NUM + r")|policy\s+(?:id|" + _NUM + r")|subscriber\s+(?:id|" + _NUM + r")|"
                    r"insurance\s+(?:id|" + _NUM + r")|health\s+plan(?:\s+(?:id|" + _NUM + r"))?|"
                    r"medicaid(?:\s+(?:id|" + _NUM + r"))?|medicare(?:\s+(?:id|" + _NUM + r"))?|group\s+" + _NUM + r"|"
                    r"beneficiary\s+(?:id|" + _NUM + r")|plan\s+(?:id|" + _NUM + r")|HICN|MBI", True),
    ("ACCOUNT", r"account(?:\s+" + _NUM + r")?|acct\.?(?:\s+" + _NUM + r")?|a/c(?:\s+" + _NUM + r")?|"
                r"billing\s+(?:id|" + _NUM + r")|invoice\s+" + _NUM + r"|claim\s+(?:id|" + _NUM + r")|"
                r"bank\s+(?:account|acct\.?)(?:\s+" + _NUM + r")?|credit\s+card(?:\s+" + _NUM + r")?|"
                r"debit\s+card(?:\s+" + _NUM + r")?|card\s+" + _NUM + r"|routing(?:\s+" + _NUM + r")?|"
                r"sort\s+code|IBAN|BIC|SWIFT", True),
    ("LICENSE", r"licen[cs]e(?:\s+" + _NUM + r")?|driver'?s?\s+licen[cs]e(?:\s+" + _NUM + r")?|driving\s+licen[cs]e|"
                r"DL\s*#?|D/L|DEA(?:\s+" + _NUM + r")?|NPI(?:\s+" + _NUM + r")?|certificate(?:\s+" + _NUM + r")?|"
                r"cert\.?\s*" + _NUM + r"|passport(?:\s+" + _NUM + r")?|board\s+certification\s+" + _NUM + r"|"
                r"permit\s+" + _NUM, True),
    ("LICENSE", r"registration\s+" + _NUM, False),
    ("VEHICLE", r"VIN|vehicle\s+(?:id|identification\s+number|" + _NUM + r")|licen[cs]e\s+plate(?:\s+" + _NUM + r")?|"
                r"plate\s+" + _NUM + r"|plates?|tag\s+" + _NUM, True),
    ("DEVICE", r"serial(?:\s+" + _NUM + r")?|S/N|SN|device\s+(?:id|identifier|serial|" + _NUM + r")|UDI|IMEI|"
               r"lot\s+" + _NUM + r"|model\s+" + _NUM + r"|pacemaker\s+(?:id|serial|model)|implant\s+(?:id|serial)|"
               r"MAC\s+address|asset\s+tag", False),
    ("BIOMETRIC", r"(?:finger|thumb|palm|voice|retina|retinal|iris|face|gait)\s*-?\s*prints?"
                  r"(?:\s+(?:id|template|hash|#))?|(?:retina|retinal|iris|face|facial)\s+scan(?:\s+(?:id|template|#))?|"
                  r"biometric(?:\s+(?:id|identifier|template|hash|#))?|DNA\s+profile(?:\s+(?:id|#))?", True),
    ("FAX", r"fax(?:\s+" + _NUM + r")?|facsimile", True),
    ("ID", r"employee\s+(?:id|" + _NUM + r")|student\s+(?:id|" + _NUM + r")|badge\s+(?:id|" + _NUM + r")|"
           r"ticket\s+" + _NUM + r"|reference\s+" + _NUM + r"|ref\s*#|order\s+" + _NUM + r"|"
           r"requisition\s+" + _NUM + r"|"
           r"specimen\s+(?:id|" + _NUM + r")|sample\s+(?:id|" + _NUM + r")|study\s+id|subject\s+id|"
           r"ID(?:\s+" + _NUM + r")?|identifier|tracking\s+" + _NUM + r"|username|user\s+id|login", False),
]  # fmt: skip


def _label_re(strict: bool) -> re.Pattern[str]:
    groups = []
    for k, (etype, pattern, keep) in enumerate(_LABELLED):
        if keep or not strict:
            groups.append(f"(?P<{etype}_{k}>{pattern})")
    return re.compile(
        r"\b(?:"
        + "|".join(groups)
        + r")(?:\b|(?<=[#./]))\.?\s*(?:is|was|of|:|#|=|-|no\.?|number)?\s*[:#]?\s*"
        + _ID_VALUE,
        re.IGNORECASE,
    )


class LabelledIdRecognizer:
    """``LABEL [:#] VALUE`` where VALUE holds a digit; the label gives the entity type."""

    name = "labelled_id"
    entities = ("SSN", "MRN", "HEALTH_PLAN", "ACCOUNT", "LICENSE", "VEHICLE", "DEVICE", "BIOMETRIC", "FAX", "ID")

    def __init__(self, strict: bool = False) -> None:
        self.strict = bool(strict)
        self._re = _label_re(self.strict)

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        if not any(c.isdigit() for c in text):
            return []
        out: list[Span] = []
        for m in self._re.finditer(text):
            group = next((k for k, v in m.groupdict().items() if v is not None and k != "value"), None)
            if group is None:
                continue
            entity = group.rsplit("_", 1)[0]
            value = m.group("value")
            if len(value) < 3 and entity != "VEHICLE":
                continue
            if entity == "VEHICLE" and len(value) < 4:
                continue
            if entity == "FAX" and sum(c.isdigit() for c in value) < 7:
                continue
            out.append(Span(m.start("value"), m.end("value"), entity, 0.95))
        return out
