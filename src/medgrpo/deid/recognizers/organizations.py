"""Hospitals, clinics, nursing homes and employers (they identify the patient's locality).

- a facility word (``hospital``, ``hosp``, ``medical center``, ``clinic``, ``rehab``, ``nursing home``,
  ``manor`` ...) preceded by words that are not everyday vocabulary (``kernan hosp``, ``CALVERT
  HOSPITAL``, ``St. Elizabeth's Medical Center``), with ``of the X`` continuations; ``the hospital``,
  ``outside hosp``, ``community hospital`` on their own are generic and stay;
- short hospital acronyms (``GH``, ``BWH``) after a transfer cue (``from``, ``to``, ``@``,
  ``transferred``) or before ``ED``/``ICU``/``hosp``;
- a short name ending in ``general``, ``memorial`` or ``regional`` (``HOLLISTON GENERAL``, ``mass general``)
  at the end of a phrase, and the facility words that continue a name after a transfer cue;
- a name-like word after ``transferred from`` / ``admitted to``;
- a word in no vocabulary after ``@`` or ``was at`` (``PT WAS @ BAYVIEW``): not a time, a rate, a clinical
  word or a misspelling of one, so a place;
- employers after ``works at`` / ``employed by`` / ``retired from``.
"""

from __future__ import annotations

import re

from medgrpo.deid.recognizers.words import case_evidence, eponym_context, prior, typo_of_known
from medgrpo.deid.text import Document, Token
from medgrpo.deid.types import Span, word_set

_HEADS = word_set(
    "hospital hospitals hosp hsp clinic clinics infirmary hospice manor sanatorium sanitarium healthcare rehab "
    "hospitals' hospital's school academy college dialysis"
)
_CENTER = word_set("center centre ctr centers")
_CENTER_LEAD = word_set(
    "medical med health cancer heart care surgical surgery rehabilitation rehab dialysis trauma wellness community "
    "nursing eye kidney renal infusion treatment recovery transitional senior skilled birth"
)
_HOME_LEAD = word_set("nursing rest group convalescent")
_LIVING_LEAD = word_set("assisted independent senior")
_ORG_WORDS = word_set(
    """st saint mt mount general memorial regional community university county city valley medical childrens children's
    women's womens deaconess baptist methodist presbyterian lutheran adventist episcopal jewish hebrew beth israel
    shriners mercy sacred heart holy cross good samaritan providence christ trinity grace sinai veterans va state
    north south east west new lake river mountain park hill hills bay harbor harbour island point spring springs
    elementary middle high junior senior primary secondary falls island mass massachusetts lady our of the and &
    heights junction landing crossing center centre port fort
    beach village city"""
)
_GENERIC = word_set(
    """general community regional county university medical childrens children's women's womens state city veterans
    va psychiatric teaching local area private public the of and & our north south east west new elementary middle high
    junior senior primary secondary"""
)
_STOP = word_set(
    """the a an this that his her their our your its outside another other osh same previous prior nearest nearby
    local area from to at in by for with and or via per transferred transfer admitted sent"""
)
_ACRONYM_CUE_BEFORE = re.compile(
    r"(?i)(?:\b(?:from|to|at|@|transferred|transfer|xfer|xferred|txd|tx'd|tx|admitted|adm|sent|discharged|"
    r"d/c'd|dc'd|arrived|via|outside)\b|@)[ \t]*(?:the[ \t]+)?$"
)
_FACILITY_CUE = re.compile(
    r"(?i)(?:\b(?:from|to|at|transferred|transfer|xfer|admitted|sent|discharged|seen)|@)[ \t]+(?:the[ \t]+)?\Z"
)
_ACRONYM_AFTER = word_set("hosp hospital ed er ew icu micu ccu sicu floor rehab clinic er's")
_TRANSFER_CUE = re.compile(
    r"(?i)\b(?:transferred|transfer|xfer(?:red)?|txd|tx'd|admitted|sent|discharged|d/c'd|dc'd|arrived|came|"
    r"brought|flown|medflighted|med-flighted)[ \t]+(?:here[ \t]+)?(?:to|from)[ \t]+(?:the[ \t]+)?$"
)
_EMPLOYER_CUE = re.compile(
    r"(?i)\b(?:(?:works?|worked|working|employed|volunteers?|volunteered)\s+(?:as\s+(?:an?\s+)?[a-z]+(?:\s+[a-z]+)?\s+)?"
    r"(?:at|for|by)|employer(?:\s+is)?:?|job\s+(?:at|with)|retired\s+from|(?:former\s+)?employee\s+(?:of|at))\s+(?:the\s+)?$"
)
# a facility's short name ends in one of these ("Holliston General", "Lawrence Memorial") when no noun follows
_SHORT_HEADS = word_set("general memorial regional")
# facility words that continue a name found after a transfer cue ("from Holliston General Hospital")
_CONTINUES = word_set("general memorial regional community medical hospital hosp center centre ctr clinic rehab")
_AT_CUE = re.compile(
    r"(?i)(?:@|\b(?:was|is|been|stayed|staying|hospitalized|admitted|seen|treated|accepted|available|bed|placed|"
    r"placement|followed|screened|going|go|goes|went|return|returning|returned|back|d/c|dc|discharged?|sent|"
    r"transfer|transferred|tx)[ \t]+(?:at|@|to|by))[ \t]*\Z"
)
# words after a facility's short name ("Holliston General last week"); a noun instead means "general surgery"
_AFTER_FACILITY = word_set(
    """on via for with until where x er ed icu micu ccu last this yesterday today recently previously prior earlier
    ago since when before after and in at from to by"""
)
_SAINTS = word_set("st saint ste mt mount")
_GENERIC_OK_STOP = word_set("the of and & our lady new north south east west city")
_STATE_ABBR = word_set(
    "al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj nm ny nc nd oh "
    "ok or pa ri sc sd tn tx ut vt va wa wv wi wy"
)


def _nameish(t: Token) -> bool:
    return prior(t) + case_evidence(t) >= -2.5 and t.info.vocab not in {"clinical", "geography"}


def _org_part(t: Token) -> bool:
    """A word that can be part of a facility's name (a state in "St. Carolina's" too)."""
    return _nameish(t) or t.info.vocab == "geography"


class OrganizationRecognizer:
    """Named health-care facilities and employers, in any letter case."""

    name = "organizations"
    entities = ("ORGANIZATION",)

    def analyze(self, doc: Document) -> list[Span]:
        toks = doc.tokens
        out: list[Span] = []
        for i, t in enumerate(toks):
            head_start = None
            if t.low in _HEADS:
                head_start = i
            elif (
                (t.low in _CENTER and i > 0 and toks[i - 1].low in _CENTER_LEAD)
                or (t.low == "home" and i > 0 and toks[i - 1].low in _HOME_LEAD)
                or (t.low == "living" and i > 0 and toks[i - 1].low in _LIVING_LEAD)
            ):
                head_start = i - 1
            elif t.low in _SHORT_HEADS and i > 0 and self._short_head(doc, i):
                head_start = i
            if head_start is not None:
                span = self._walk_back(doc, head_start, i)
                if span is not None:
                    out.append(span)
                continue
            if 2 <= len(t.text) <= 5 and self._acronym(doc, i):
                out.append(Span(t.start, t.end, "ORGANIZATION", 0.7))
        out.extend(self._after_at(doc))
        out.extend(self._after_cue(doc, _TRANSFER_CUE, strict=True))
        out.extend(self._after_cue(doc, _EMPLOYER_CUE, strict=False))
        return [self._with_saint(doc, span) for span in out]

    @staticmethod
    def _short_head(doc: Document, i: int) -> bool:
        """``general`` in "FROM HOLLISTON GENERAL ON 3/4" ends a facility's name; in "general surgery", "in general",
        "GENERAL WEAKNESS" it does not (a noun follows, or nothing name-like precedes)."""
        toks = doc.tokens
        p = toks[i - 1]
        if not re.fullmatch(r"[ \t]+", doc.gap(p, toks[i])) or p.low in _STOP or p.low in _GENERIC:
            return False
        if not (_nameish(p) or p.low in _ORG_WORDS) or p.info.vocab in {"clinical", "device"} or p.info.medical:
            return False
        if i + 1 < len(toks):
            nxt = toks[i + 1]
            gap = doc.gap(toks[i], nxt)
            if re.fullmatch(r"[ \t]+", gap) and nxt.low not in _AFTER_FACILITY and nxt.low not in _ACRONYM_AFTER:
                return False  # "general surgery", "memorial service": a noun follows
        return True

    @staticmethod
    def _place_word(t: Token) -> bool:
        """A word that can name a facility after "@", "accepted at", "bed at", "d/c to": in no vocabulary and no
        misspelling of a known word ("BAYVIEW", "mercyhurst"), or a town or name that is not everyday or clinical
        vocabulary ("HOLLISTON", "Fairhaven")."""
        if t.glued or len(t.low) < 4:
            return False
        info = t.info
        if not info.known:
            return info.shape >= -1.0 and not typo_of_known(t.low)
        if info.vocab or info.medical or (info.english and info.english <= 50):
            return False
        return info.place or info.is_name

    def _after_at(self, doc: Document) -> list[Span]:
        """A facility named only by where the patient is, was or goes: "PT WAS @ BAYVIEW", "accepted at fairhaven
        for rehab", "bed available at HOLLISTON tomorrow", "pt to go to Merrimack Valley"; times, rates, bedside and
        clinical words after "@" are all known vocabulary."""
        toks = doc.tokens
        out: list[Span] = []
        for i, t in enumerate(toks):
            if not self._place_word(t) or not _AT_CUE.search(doc.text[max(0, t.start - 24) : t.start]):
                continue
            end = t.end
            k = i + 1
            while k < len(toks) and k < i + 4 and re.fullmatch(r"[ \t]+", doc.gap(toks[k - 1], toks[k])):
                u = toks[k]
                if not (u.low in _CONTINUES or u.low in _ORG_WORDS - _GENERIC_OK_STOP or self._place_word(u)):
                    break
                end = u.end
                k += 1
            out.append(Span(t.start, end, "ORGANIZATION", 0.7))
        return out

    @staticmethod
    def _with_saint(doc: Document, span: Span) -> Span:
        """Take in "St." / "Saint" / "Mt" right before a facility's name ("SAINT ANSELM KIDNEY CENTER")."""
        t = doc.token_at(span.start)
        if t is None or t.i == 0:
            return span
        p = doc.tokens[t.i - 1]
        if p.low in _SAINTS and re.fullmatch(r"\.?[ \t]+", doc.gap(p, t)):
            return Span(p.start, span.end, span.entity, span.score)
        return span

    def _walk_back(self, doc: Document, head_start: int, head_end: int) -> Span | None:
        toks = doc.tokens
        k = head_start - 1
        taken: list[Token] = []
        while k >= 0 and len(taken) < 4:
            u = toks[k]
            gap = doc.gap(u, toks[k + 1])
            if "\n" in gap or not re.fullmatch(r"['’]?s?\.?[ \t]+|-|[ \t]*&[ \t]*", gap):
                break
            if "." in gap and u.low not in {"st", "mt", "ste"}:
                break  # a sentence ended: "in Holhaven. Hospital course"
            if u.low in _STOP and u.low not in {"of", "the", "and"}:
                break
            if u.low in _ORG_WORDS or _org_part(u):
                taken.append(u)
                k -= 1
                continue
            cued = k > 0 and _FACILITY_CUE.search(doc.text[max(0, u.start - 30) : u.start]) is not None
            if cued and len(u.low) >= 3 and u.info.vocab not in {"clinical", "device"} and not u.glued:
                taken.append(u)  # "from Striker Community Hospital", "to gravel hosp": the name after a cue
            break
        while taken and taken[-1].low in {"of", "the", "and", "&"}:
            taken.pop()
        if not taken or all(u.low in _GENERIC for u in taken):
            return None
        start = taken[-1].start
        end = toks[head_end].end
        # "Hospital of the University of Pennsylvania"
        m = re.match(r"[ \t]+of[ \t]+(?:the[ \t]+)?((?:[A-Z][\w'’.-]*[ \t]?){1,4})", doc.text[end:])
        if m and doc.style == "mixed":
            end += m.end(1) - (1 if m.group(1).endswith(" ") else 0)
        return Span(start, end, "ORGANIZATION", 0.85)

    def _acronym(self, doc: Document, i: int) -> bool:
        t = doc.tokens[i]
        if not (t.is_upper or t.style == "lower"):
            return False
        info = t.info
        if info.vocab or info.medical or (info.english and info.english <= 50) or t.low in _STATE_ABBR:
            return False
        if t.style == "upper" and info.english:
            return False
        before = doc.text[max(0, t.start - 24) : t.start]
        nxt = doc.tokens[i + 1] if i + 1 < len(doc.tokens) else None
        after_ok = nxt is not None and nxt.low in _ACRONYM_AFTER and re.fullmatch(r"[ \t]+", doc.gap(t, nxt))
        return bool(_ACRONYM_CUE_BEFORE.search(before) or after_ok) and t.low.endswith("h")

    def _after_cue(self, doc: Document, cue: re.Pattern[str], *, strict: bool) -> list[Span]:
        out: list[Span] = []
        toks = doc.tokens
        for i, t in enumerate(toks):
            if not cue.search(doc.text[max(0, t.start - 48) : t.start]):
                continue
            k = i
            while k < len(toks) and k < i + 4:
                u = toks[k]
                if k > i and not re.fullmatch(r"[ \t]+|[ \t]*&[ \t]*|-", doc.gap(toks[k - 1], u)):
                    break
                if k > i and u.low in _CONTINUES:
                    k += 1  # "from Holliston General", "to Lahey Clinic"
                    continue
                ok = (_nameish(u) if strict else (u.is_title or u.is_upper or _nameish(u))) and not eponym_context(
                    doc, k
                )
                if not ok or u.low in _STOP or u.info.vocab in {"clinical", "geography"}:
                    break
                k += 1
            if k > i:
                out.append(Span(t.start, toks[k - 1].end, "ORGANIZATION", 0.75))
        return out
