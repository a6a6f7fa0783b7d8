"""Street addresses, P.O. boxes, ``City, ST 12345`` lines and ZIP codes (Safe Harbor B), in any letter case."""

from __future__ import annotations

import re

from medgrpo.deid.text import Document
from medgrpo.deid.types import Span, word_set

_STREET_SUFFIX = (
    r"(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|terrace|ter|way|circle|cir|"
    r"parkway|pkwy|highway|hwy|square|sq|trail|trl|loop|row|alley|crescent|close|pike|plaza|path|ridge|"
    r"heights|walk|turnpike|tpke|expressway|freeway|route|rte)"
)
_NOT_STREET_WORD = re.compile(
    r"(?i)^(?:mg|mcg|ml|cc|units?|tabs?|puffs?|times|x|hrs?|hours?|days?|weeks?|doses?|am|pm|and|or|to|of|the|at|"
    r"on|in|for|with|from|per|prn|po|iv|q\d*h?|bid|tid|qid|qd|was|is|pt|patient|he|she|min|mins|beats|bpm|by|seen|"
    r"called|paged|per|w/|and|then|if|when|as|via)$"
)
_ADDRESS_RE = re.compile(
    r"(?i)\b\d{1,6}[a-z]?[ \t]+(?:(?:n|s|e|w|ne|nw|se|sw|north|south|east|west)\.?[ \t]+)?"
    r"(?P<words>(?:(?:[a-z][\w'’.-]*|\d{1,3}(?:st|nd|rd|th))[ \t]+){1,4})" + _STREET_SUFFIX + r"\b\.?"
    r"(?:[ \t]+(?:n|s|e|w|ne|nw|se|sw)\b\.?)?"
    r"(?:,?[ \t]+(?:apt|apartment|suite|ste|unit|bldg|building|floor|fl|room|rm|#)\.?[ \t]*#?[ \t]*[a-z0-9-]+)?"
)
_POBOX_RE = re.compile(
    r"\bP\.?\s?O\.?\s+Box\s+\d+\b|\b(?:Rural\s+Route|Star\s+Route)\s+\d+(?:,?\s+Box\s+\d+)?\b|"
    r"\b(?:RR|HC)\s+\d+,?\s+Box\s+\d+\b",  # "RR 18" alone is a respiratory rate
    re.IGNORECASE,
)
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|"
    "OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|"
    "Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|"
    "Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|"
    "Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|"
    "West Virginia|Wisconsin|Wyoming|Puerto Rico"
)
_CITY_STATE_ZIP_RE = re.compile(
    r"(?P<city>(?:[A-Za-z][\w'’.-]+[ \t]){0,2}[A-Za-z][\w'’.-]+),[ \t]*(?P<state>"
    + _STATES
    + "|"
    + _STATE_NAMES
    + r")\.?,?[ \t]+"
    r"(?P<zip>\d{5}(?:-\d{4})?)\b",
    re.IGNORECASE,
)
_ZIP_CTX_RE = re.compile(
    r"(?i)\b(?:zip|zip\s*code|postal\s+code|zipcode)\b\s*(?:is|of)?\s*[:#]?\s*(?P<zip>\d{5}(?:-\d{4})?)\b"
)
_STATE_ZIP_RE = re.compile(r"\b(?:" + _STATES + r")[ \t]+(?P<zip>\d{5}(?:-\d{4})?)\b")


_UNAMBIGUOUS_SUFFIX = word_set(
    "street st avenue ave av road rd boulevard blvd lane ln drive dr parkway pkwy highway hwy turnpike tpke"
)
_TOWN_AFTER = re.compile(r",[ \t]*(?P<town>[A-Za-z][\w'’.-]+(?:[ \t]+[A-Za-z][\w'’.-]+)?)(?=[ \t]*(?:,|\.|\n|$|;))")


class AddressRecognizer:
    """Street addresses, P.O. boxes, city/state/ZIP lines, ZIP codes."""

    name = "addresses"
    entities = ("ADDRESS", "LOCATION", "ZIP")

    @staticmethod
    def _street_like(doc: Document, start: int, words: list[str], value: str) -> bool:
        """The street name is a name: capitalised in mixed-case writing, else not only everyday words, unless the
        suffix can only mean a street (``street``, ``avenue``, ``road`` ...)."""
        tok = doc.token_at(start + len(value.split()[0]) + 1)
        mixed = tok.informative_case if tok is not None else doc.style == "mixed"
        names = [w for w in words if not re.fullmatch(r"(?i)\d{1,3}(?:st|nd|rd|th)|[nsew]\.?|north|south|east|west", w)]
        if not names:
            return True
        if mixed:
            return all(w[:1].isupper() for w in names)
        suffix = value.rstrip(" .").split()[-1].lower()
        if suffix in _UNAMBIGUOUS_SUFFIX:
            return True
        number = value.split()[0]
        if sum(c.isdigit() for c in number) >= 3 and len(names) <= 2:
            return True  # "4264 BLADE WAY": a house number, one or two words and a street word
        return any(not (doc.lex.info(w).english and doc.lex.info(w).english <= 50) for w in names)

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        if not any(c.isdigit() for c in text):
            return []
        out: list[Span] = []
        for m in _ADDRESS_RE.finditer(text):
            words = m.group("words").split()
            if any(_NOT_STREET_WORD.match(w) for w in words):
                continue
            if any(doc.lex.info(w).vocab == "clinical" and not w[:1].isupper() for w in words):
                continue
            if not self._street_like(doc, m.start(), words, m.group(0)):
                continue  # "rounded to 1 decimal place", "2 hours walk"
            out.append(Span(m.start(), m.end(), "ADDRESS", 0.9))
            town = _TOWN_AFTER.match(text, m.end())
            if town is not None and not re.fullmatch(r"(?i)" + _STATES, town.group("town").split()[0]):
                out.append(Span(town.start("town"), town.end("town"), "LOCATION", 0.8))
        for m in _POBOX_RE.finditer(text):
            out.append(Span(m.start(), m.end(), "ADDRESS", 0.9))
        for m in _CITY_STATE_ZIP_RE.finditer(text):
            start = m.start("city")
            for word in re.finditer(r"\S+[ \t]+", m.group("city")):  # "Lives in Boston, MA": the city is Boston
                info = doc.lex.info(word.group(0).strip())
                if (info.english and info.english <= 50 and not (info.place or info.is_name)) or word.group(
                    0
                ).strip().islower():
                    start = m.start("city") + word.end()
                else:
                    break
            out.append(Span(start, m.end("city"), "LOCATION", 0.85))
            out.append(Span(m.start("zip"), m.end("zip"), "ZIP", 0.95))
        for rx in (_ZIP_CTX_RE, _STATE_ZIP_RE):
            for m in rx.finditer(text):
                out.append(Span(m.start("zip"), m.end("zip"), "ZIP", 0.9))
        return out
