"""IPv4 and IPv6 addresses (Safe Harbor O), validated with :mod:`ipaddress` (``::1`` included)."""

from __future__ import annotations

import ipaddress
import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span

_IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?!\w|\.\d)")
_IPV6_RE = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|(?:\d{1,3}\.){3}\d{1,3})(?:%\w+)?(?:/\d{1,3})?(?![\w:])"
)


class IpAddressRecognizer:
    """Dotted-quad IPv4 (each octet 0-255) and every valid IPv6 form (full, ``::``-compressed, mapped)."""

    name = "ip_address"
    entities = ("IP_ADDRESS",)

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        out: list[Span] = []
        if "." in text:
            for m in _IPV4_RE.finditer(text):
                try:
                    ipaddress.IPv4Address(m.group(0).split("/")[0])
                except ValueError:
                    continue
                out.append(Span(m.start(), m.end(), "IP_ADDRESS", 0.95))
        if ":" in text:
            for m in _IPV6_RE.finditer(text):
                value = m.group(0).split("%")[0].split("/")[0]
                if "::" not in value and value.count(":") < 7:
                    continue  # 10:30:00 is a time, not an address
                try:
                    ipaddress.IPv6Address(value)
                except ValueError:
                    continue
                out.append(Span(m.start(), m.end(), "IP_ADDRESS", 0.95))
        return out
