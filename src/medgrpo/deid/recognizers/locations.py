"""Cities, towns, counties and neighbourhoods (Safe Harbor B: geographic units smaller than a state).

A place is found after a location cue (``lives in x``, ``resides in x``, ``from x``, ``to x``) when
it is in the US place gazetteer or is not everyday vocabulary, before a state (``x, MA``), or as
``x county``. States, countries and regions are above the Safe Harbor threshold and stay.
"""

from __future__ import annotations

import re

from medgrpo.deid.recognizers.words import case_evidence, eponym_context, prior, typo_of_known
from medgrpo.deid.text import Document, Token
from medgrpo.deid.types import Span, word_set

_STRONG_CUE = re.compile(
    r"(?i)\b(?:lives?|living|resides?|residing|resident|home|moved|relocated|native|born|grew\s+up|hometown(?:\s+is)?|"
    r"vacationing|vacation|travell?ed|trip|visiting|town|city|village|neighborhood|neighbourhood|suburb)"
    r"(?:\s+(?:in|of|to|from|at|near|is))?\s+(?:the\s+)?(?:(?:town|city|village)\s+of\s+)?$|"
    r"\b(?:y/?o|yrs?\s+old|years?\s+old|year-old)\s+(?:\w+\s+)?(?:male|female|man|woman|gentleman|lady|m|f)\s+from\s+$|"
    r"\b(?:driving|drove|drives|flying|flew|flies|travell?ing|commut(?:es?|ing))\s+(?:in\s+|up\s+|down\s+|over\s+)?"
    r"(?:from|to)\s+(?:the\s+)?$"
)
# a word that says the one before it is a place: "in the OAKBROOK AREA", "from brightwater originally"
_PLACE_AFTER = re.compile(r"(?i)[ \t]+(?:area|originally|region|vicinity|suburbs?)\b")
_SAINTS = word_set("st saint ste mt mount")
_WEAK_CUE = re.compile(r"(?i)\b(?:in|from|near|outside|around|toward|towards)\s+(?:the\s+)?$")
_STATE_AFTER = re.compile(
    r",?[ \t]+(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|"
    r"NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|mass|calif|conn|fla|penn|n\.?h|n\.?y|r\.?i)\b\.?"
)
_COUNTY = word_set("county parish borough township")
_PREFIX = word_set("east west north south port fort lake mount mt new upper lower old")


class LocationRecognizer:
    """Towns and cities after a cue, ``Town, ST``, ``X County``."""

    name = "locations"
    entities = ("LOCATION",)

    def analyze(self, doc: Document) -> list[Span]:
        toks = doc.tokens
        text = doc.text
        lex = doc.lex
        out: list[Span] = []
        for i, t in enumerate(toks):
            if t.info.vocab == "geography" or t.glued:
                continue
            county = i + 1 < len(toks) and toks[i + 1].low in _COUNTY
            candidate = (
                t.info.place
                or t.low in _PREFIX
                or t.low in lex.multiword_places
                or county
                or prior(t) + case_evidence(t) >= -3.0
            )
            if not candidate or (eponym_context(doc, i) and not _PLACE_AFTER.match(text, t.end)):
                continue  # everyday vocabulary cannot be a town; "Ann Arbor staging", "Glasgow Coma Scale"
            before = text[max(0, t.start - 40) : t.start]
            strong = _STRONG_CUE.search(before) is not None
            weak = not strong and _WEAK_CUE.search(before) is not None
            multi = self._multiword(doc, i)
            if multi is not None and (strong or weak or t.is_title):
                out.append(Span(t.start, multi, "LOCATION", 0.8))
                continue
            score = prior(t) + case_evidence(t)
            if (strong or weak) and t.low in _PREFIX and i + 1 < len(toks):
                u = toks[i + 1]
                if re.fullmatch(r"[ \t]+", doc.gap(t, u)) and (u.info.place or prior(u) >= 0.3):
                    out.append(Span(t.start, u.end, "LOCATION", 0.75))
                    continue
            if t.info.place and ((strong and score >= -3.5) or (weak and score >= -1.0)):
                out.append(Span(t.start, self._extend(doc, i), "LOCATION", 0.8))
            elif ((strong and score >= -1.5) or (weak and score >= 0.3 and not t.info.is_name)) and len(t.low) >= 4:
                out.append(Span(t.start, self._extend(doc, i), "LOCATION", 0.7))
            elif (strong or weak) and _PLACE_AFTER.match(text, t.end) and self._not_vocabulary(t):
                out.append(Span(t.start, t.end, "LOCATION", 0.7))  # "from brightwater originally"
            elif (
                _STATE_AFTER.match(text, t.end)
                and (t.info.place or score >= -1.0)
                and len(t.low) >= 3
                and not (t.is_upper and len(t.low) <= 3 and t.info.vocab)
            ):
                out.append(Span(t.start, t.end, "LOCATION", 0.75))
            if county and re.fullmatch(r"[ \t]+", doc.gap(t, toks[i + 1])) and (score >= -3.0 or t.is_title):
                out.append(Span(t.start, toks[i + 1].end, "LOCATION", 0.85))
        return [self._with_saint(doc, span) for span in out]

    @staticmethod
    def _not_vocabulary(t: Token) -> bool:
        """Not everyday, clinical or medical vocabulary (a town or a name may be): "oakbrook", "Calvary"."""
        info = t.info
        if len(t.low) < 4 or info.vocab or info.medical or (info.english and info.english <= 50):
            return False
        return info.known or (info.shape >= -1.0 and not typo_of_known(t.low))

    @staticmethod
    def _with_saint(doc: Document, span: Span) -> Span:
        """Take in "St." / "Saint" / "Mt" right before a place's name ("Saint Anselm", "st. albans")."""
        t = doc.token_at(span.start)
        if t is None or t.i == 0:
            return span
        p = doc.tokens[t.i - 1]
        if p.low in _SAINTS and re.fullmatch(r"\.?[ \t]+", doc.gap(p, t)):
            return Span(p.start, span.end, span.entity, span.score)
        return span

    def _multiword(self, doc: Document, i: int) -> int | None:
        t = doc.tokens[i]
        options = doc.lex.multiword_places.get(t.low)
        if not options:
            return None
        low_text = doc.text[t.start : t.start + 40].lower()
        for place in options:
            if low_text.startswith(place) and not low_text[len(place) : len(place) + 1].isalnum():
                return t.start + len(place)
        return None

    def _extend(self, doc: Document, i: int) -> int:
        """Take in a second word of a two-word town ("east brookfield", "fall river")."""
        toks = doc.tokens
        t: Token = toks[i]
        if i + 1 < len(toks):
            u = toks[i + 1]
            town_word = u.low in {"falls", "springs", "heights", "junction", "center", "landing", "harbor", "crossing",
                                  "city", "beach", "valley", "hills", "village", "park", "lake"}  # fmt: skip
            if re.fullmatch(r"[ \t]+", doc.gap(t, u)) and (
                u.info.place or town_word or prior(u) + case_evidence(u) >= 0.5
            ):
                return u.end
        return t.end
