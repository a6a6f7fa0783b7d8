"""The recognizer registry: one module per kind of identifier, each a small class behind one Protocol.

Like Presidio's predefined recognizers, each module holds its own patterns, context cues and
validation, and can be read alone. Which recognizers run, and with which options, is policy
configuration (``recognizers.use`` / ``recognizers.options`` in the policy YAML)::

    from medgrpo.deid.recognizers import build, REGISTRY
    recs = build(["email", "phone", "names"], {"names": {"mode": "titled"}})

A recognizer takes a :class:`medgrpo.deid.text.Document` (the text tokenised once, with vocabulary
facts per word) and returns :class:`medgrpo.deid.types.Span` items.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span


class Recognizer(Protocol):
    """Finds one kind of identifier."""

    name: str
    entities: tuple[str, ...]

    def analyze(self, doc: Document) -> list[Span]:
        """Spans of this recognizer's entity types in ``doc``."""
        ...


# registry name -> "module:Class" (imported on first use)
REGISTRY: dict[str, str] = {
    "email": "email:EmailRecognizer",
    "url": "url:UrlRecognizer",
    "ip_address": "ip_address:IpAddressRecognizer",
    "phone": "phone:PhoneRecognizer",
    "ssn": "ssn:SsnRecognizer",
    "payment_card": "financial:PaymentCardRecognizer",
    "iban": "financial:IbanRecognizer",
    "labelled_id": "labelled_id:LabelledIdRecognizer",
    "codes": "codes:CodeRecognizer",
    "dates": "dates:DateRecognizer",
    "ages": "ages:AgeRecognizer",
    "addresses": "addresses:AddressRecognizer",
    "locations": "locations:LocationRecognizer",
    "organizations": "organizations:OrganizationRecognizer",
    "names": "names:NameRecognizer",
}
ALL = tuple(REGISTRY)


def build(use: Sequence[str] | None = None, options: Mapping[str, Mapping[str, Any]] | None = None) -> list[Recognizer]:
    """Instantiate the named recognizers (``None``: all) with their options; ValueError on an unknown name."""
    names = list(ALL if use is None else use)
    options = options or {}
    unknown = [n for n in [*names, *options] if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown recognizers {sorted(set(unknown))}; expected some of {list(REGISTRY)}")
    out: list[Recognizer] = []
    for name in names:
        module, cls = REGISTRY[name].split(":")
        factory = getattr(importlib.import_module(f"medgrpo.deid.recognizers.{module}"), cls)
        out.append(factory(**dict(options.get(name, {}))))
    return out


def analyze(text: str, recognizers: Sequence[Recognizer]) -> list[Span]:
    """Every recognizer's spans on ``text`` (not merged)."""
    doc = Document(text)
    spans: list[Span] = []
    for rec in recognizers:
        spans.extend(rec.analyze(doc))
    return spans


__all__ = ["ALL", "REGISTRY", "Recognizer", "analyze", "build"]
