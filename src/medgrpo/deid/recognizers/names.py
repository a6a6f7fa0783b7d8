"""Person names (Safe Harbor A): patients, relatives, clinicians; without NER, in any letter case.

Each word gets a score: its vocabulary prior (``words.prior``: known-safe words negative,
name-dictionary words positive, unknown words neutral), plus context cues (``dr x``, ``wife x``,
``name: x``, ``x, RN``, shorthand such as ``per x`` / ``called x``, ``x aware``), plus letter case
where it carries information (mixed-case lines). A word at or above the threshold is a name; a
detected name then takes in its neighbours (first/last name, initials, particles such as ``van der``)
so no part of a name is left behind. Eponyms followed by ``sign``, ``syndrome``, ``disease`` ... are
medical language, not people.

``mode: titled`` (public benchmarks) finds only names introduced by a title or an explicit label
(``Mr. Jones``, ``Patient: Ann Lee``): exam vignettes name patients that way, while every other
capitalised word in a question is medical language. One more shape counts there (``contact: true``, the
default): a person-name-shaped phrase, a given name and at least one more name word, in the same clause as a
direct identifier (phone, fax, e-mail, SSN, a labelled record/plan/account/licence number, a card or IBAN, a
street address): ``Johnathan Whitfield, phone 617-555-0199, asks ...``. A name given with contact details is a
real person, not a textbook eponym.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from medgrpo.deid.recognizers.words import (
    AFTER_PERSON,
    CREDENTIALS,
    LABELS,
    PHRASE_VERBS,
    RELATIONS,
    ROLE_WORDS,
    SERVICES,
    STRONG_WEAK_BEFORE,
    TITLES,
    UNITS_AFTER,
    WEAK_BEFORE,
    case_evidence,
    cue_form,
    cue_typo,
    eponym_context,
    medical_phrase,
    prior,
    typo_of_known,
)
from medgrpo.deid.text import Document, Token
from medgrpo.deid.types import Span, word_set

THRESHOLD = 2.0
# words that follow "wife", "son", ... without being the relative's name ("wife will call", "son in to visit")
_NOT_AFTER_RELATION = word_set(
    """will would can could may might must shall should is was are were be been being has have had do does did not no
    and or but nor to at in on by for with from of about as into up down out over here there also now still just then
    today tonight tomorrow yesterday this that these those who whom whose which what when where why how called calls
    calling visited visiting visit visits came come comes coming went left arrived aware updated notified informed
    present states stated reports reported says said feels felt wants wanted asked asks brought requests requested
    agrees agreed spoke speaks talked phoned very all both each the a an his her their our my your its him them us me
    he she they we i re regarding lives lived living passed died deceased hcp proxy home well much more less many"""
)
# first names that are also auxiliary verbs: after a relation word they are the verb only when a verb follows
# ("brother will call") and the name otherwise ("brother will updated", "sister may and ...")
_MODAL_NAMES = word_set("will may can")
# words that cannot follow a modal verb: conjunctions, prepositions, past forms ("will updated", "may and")
_NOT_AFTER_MODAL = word_set(
    """and or but nor at in on by for with from of to as into is was are were has had does did called visited came
    updated notified informed aware here there present who which that re"""
)
# what says "this word is the person": a predicate after a relative's name ("brother art will come", "son ed is hcp")
_PERSON_PREDICATE = word_set(
    """will would can could may might is was has had called calls visited visiting came comes arrived left phoned
    spoke states stated says said wants wanted asked updated aware notified informed present here"""
)
# what comes between "the" and "family" without being a surname ("the whole family", "the pt's family")
_FAMILY_MODIFIERS = word_set(
    """whole entire extended immediate nuclear same other own new young large big small close loving supportive
    concerned caring devoted grieving involved host foster adoptive biological blended patient patient's pt pt's
    pts his her their our your my its this that these those any every each both all no some rest remaining"""
)
_CALENDAR = word_set(
    """january february march april may june july august september october november december jan feb mar apr jun
    jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur
    thurs fri sat sun"""
)
# clinical roles written before a name like a title ("NP STONE AT BEDSIDE", "rn hope gave report"); pa, pt,
# ot, do, rd are left out (pulmonary artery, patient, ...)
_ROLE_TITLES = word_set("np rn md ho resident res fellow intern attending pcp crnp cnm lpn rrt msw")
# what follows a clinician named by role or a person who was called: a predicate, a topic, a place by the bed
_PERSON_FOLLOW = word_set(
    """aware notified paged called updated informed visited visiting here phoned spoke said states stated reports
    reported feels wants agrees agreed requested asked came left present arrived returned was is will would has had
    at in brought gave give gives ordered wrote placed saw recommends recommended ok'd okayed to from re regarding
    about with w also and following"""
)
# calls and messages: "called GREEN RE LABS", "paged stone x2", "notified marsh of k 5.9"
_CALL_CUE = re.compile(
    r"(?i)(?:^|[\s.,;:(])(?:called|call|paged|page|notified|informed|told|asked|updated|contacted|phoned|texted|"
    r"emailed|spoke\s+to|talked\s+to|spoke\s+w/?|talked\s+w/?|spoke\s+with|talked\s+with|d/w|per|"
    r"report\s+(?:given\s+|called\s+)?to)[ \t]+\Z"
)
_CALL_TOPIC = re.compile(
    r"(?i)[ \t]*(?:re\b|re:|regarding\b|about\b|x[ \t]?\d\b|of[ \t]+\w|back\b|and[ \t]+made[ \t]+aware)"
)
# nouns that are called, paged or updated without being a person ("called WARD re bed", "updated FAMILY re plan")
_NOT_PERSON_NOUNS = word_set(
    """family families team staff unit units floor ward wards desk station bank lab labs house home office admitting
    everyone everybody all both them him her pt patient patients pharmacy code rapid response operator page
    back out over down up in around ahead"""
)
# a first name said to hold a role for the patient: "ROSE IS HCP", "bill is the pt's proxy"
_IS_ROLE = re.compile(
    r"(?i)[ \t]+(?:is|was|=)[ \t]+(?:the[ \t]+)?(?:pt'?s[ \t]+|patient'?s[ \t]+|his[ \t]+|her[ \t]+)?"
    r"(?:hcp|proxy|health[ \t-]*care[ \t]+proxy|nok|next[ \t]+of[ \t]+kin|poa|guardian)\b"
)
# a relation word after a name, in brackets or after a comma, possibly "pt's": "rose (wife)", "hope, pt's wife"
_RELATION_AFTER = re.compile(
    r"(?i)[ \t]*(?:\([ \t]*|,[ \t]*)(?:(?:the[ \t]+)?(?:pt'?s|patient'?s|his|her)[ \t]+)?([a-z]+)"
)
_FAMILY_WORDS = word_set("family fam families")
# what introduces a family by its surname: "with the BROWN family", "met w/ yarborough family", "called smith family"
_BEFORE_FAMILY_NAME = word_set("the with w met called updated notified informed to per by and from for")
_FAMILY_NOT_NAMED = re.compile(
    r"(?i)[ \t]+(?:support|supports|supportive|hx|history|dynamics|systems?|practice|medicine)\b"
)
# labels after which the next word is a person's name, whatever it means elsewhere
_NAME_LABEL = re.compile(
    r"(?i)(?:\b(?:name|patient|pt\s+name|caller|attending|resident|intern|fellow|pcp|provider|author|nok|hcp|proxy|"
    r"guardian|contact|cc|attn)\s*:|\b(?:signed|dictated|transcribed|cosigned|co-signed|electronically\s+signed)\s+by"
    r"\s*:?|\b(?:ordering|referring|primary)\s+(?:provider|physician|md|doctor)\s*:?)[ \t]*$"
)
_PERSON_SHORTHAND = re.compile(r"(?i)(?:^|[\s.,;:(])(?:per|paged|page|notified|d/w)[ \t]+\Z")
_VERB_WITH = re.compile(r"(?i)([a-z]+)[ \t]+(?:w/|with)[ \t]*\Z")
_SIGN_OFF = re.compile(r"(?:^|[.!\n])[ \t]*-{1,2}[ \t]*$")
_STATE_AFTER = re.compile(
    r",[ \t]*(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|"
    r"ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY)\b"
)
_PLACE_CUES = word_set("in from near to at of outside around")
_PARTICLES = word_set("van von der den de del della di da du la le st ter ten bin ibn al el mac mc o")
_SPACE = re.compile(r"[ \t]+")
# "a name given with contact details" (titled mode): the identifiers that make a nearby name a real person's
_CONTACT_ENTITIES = frozenset(
    {"EMAIL", "PHONE", "FAX", "SSN", "MRN", "HEALTH_PLAN", "ACCOUNT", "LICENSE", "VEHICLE", "BIOMETRIC", "ADDRESS"}
)
# between the name and the identifier: no sentence or clause end, a few words at most
_CONTACT_BREAK = re.compile(r"[.;!?\n]")
_CONTACT_MAX_GAP = 40
_CONTACT_MAX_WORDS = 5
_CONTACT_JOIN = re.compile(r"[ \t]|-")
_INITIAL_JOIN = re.compile(r"\.?[ \t]")
# words after a capitalised phrase that make it an institution or a place ("Johns Hopkins Hospital", "X County")
_NOT_A_PERSON_AFTER = word_set(
    """hospital hospitals hosp clinic clinics center centre ctr institute institutes university college school
    foundation laboratory laboratories lab labs pharmacy pharmaceuticals inc corp corporation company co ltd llc
    group society association trust council county city town village township parish borough state hall library"""
)
_TITLE_GAP = re.compile(r"\.?[ \t]*")
_RELATION_GAP = re.compile(r"(?:[ \t]*[,:\-(][ \t]*|[ \t]+|'s[ \t]+)")
_LABEL_GAP = re.compile(r"[ \t]*[:=][ \t]*|[ \t]+(?:is|was)[ \t]+")
_CRED_GAP = re.compile(r",?[ \t]*")
_PHRASE_CUE = re.compile(
    r"(?i)\b(?:spoke|spoken|speaking|talked|talking|discussed|met|meeting|conferred|consulted)"
    r"[ \t]+(?:w/|w|with|to)[ \t]*$|"
    r"\b(?:signed|dictated|transcribed|cosigned|co-signed|seen|examined|written|reviewed)[ \t]+by:?[ \t]*$|"
    r"\bd/w[ \t]+$"
)


def flags_strong(t: Token) -> bool:
    """A surname-like token ("LAST," of "LAST, FIRST"): not ordinary vocabulary."""
    return prior(t) >= -1.0


def _is_initial(t: Token) -> bool:
    return len(t.text) == 1 and t.text.isalpha()


class NameRecognizer:
    """Names of people, found by vocabulary evidence and context; ``mode`` is ``full`` or ``titled``."""

    name = "names"
    entities = ("NAME",)

    def __init__(self, mode: str = "full", threshold: float = THRESHOLD, contact: bool = True) -> None:
        if mode not in {"full", "titled"}:
            raise ValueError(f"names recognizer: mode must be 'full' or 'titled', found {mode!r}")
        if not isinstance(contact, bool):
            raise ValueError(f"names recognizer: contact must be true or false, found {contact!r}")
        self.mode = mode
        self.threshold = float(threshold)
        self.contact = contact  # titled mode: also a name given with contact details

    # ------------------------------------------------------------------------------------------
    def analyze(self, doc: Document) -> list[Span]:
        toks = doc.tokens
        if not toks:
            return []
        self._strong = [False] * len(toks)
        flags = self._titled(doc) if self.mode == "titled" else self._full(doc)
        if self.mode == "titled" and self.contact:
            self._contact_named(doc, flags)
        self._grow(doc, flags)
        return self._spans(doc, flags)

    def _eponym_here(self, doc: Document, i: int) -> bool:
        """``Parkinson disease``, ``Murphy's sign``, ``von Willebrand``: medical language, not a person, unless a
        title or label names a person ("Dr. Katz", "Patient: Ann Wells")."""
        if not eponym_context(doc, i):
            return False
        toks = doc.tokens
        k = i
        while (
            k > 0 and k > i - 3 and self._is_name_part(toks[k - 1]) and _SPACE.fullmatch(doc.gap(toks[k - 1], toks[k]))
        ):
            k -= 1
        return not (k > 0 and (self._titled_by(doc, k) or self._labelled_by(doc, k)))

    @staticmethod
    def _is_name_part(t: Token) -> bool:
        return t.low not in TITLES and t.low not in LABELS and (t.is_title or t.is_upper or t.info.is_name)

    @staticmethod
    def _titled_by(doc: Document, i: int) -> bool:
        """``doc.tokens[i]`` follows a title ("Dr.", "Mrs") that is not a unit ("455 ms.")."""
        toks = doc.tokens
        p = toks[i - 1]
        if p.low not in TITLES or not _TITLE_GAP.fullmatch(doc.gap(p, toks[i])):
            return False
        if p.informative_case and p.is_upper and not toks[i].text[:1].isupper():
            return False  # "MR spectroscopy", "MS lesions": an abbreviation in mixed-case writing
        return p.low not in {"ms", "fr"} or not re.search(r"\d[ \t]*\Z", doc.text[max(0, p.start - 3) : p.start])

    @staticmethod
    def _labelled_by(doc: Document, i: int) -> bool:
        p = doc.tokens[i - 1]
        return (
            p.low in LABELS
            and _LABEL_GAP.fullmatch(doc.gap(p, doc.tokens[i])) is not None
            and ":" in doc.gap(p, doc.tokens[i])
        )

    _strong: list[bool]

    def _full(self, doc: Document) -> list[float]:
        toks = doc.tokens
        n = len(toks)
        scores = [0.0] * n
        for i, t in enumerate(toks):
            if len(t.low) == 1 or t.glued or t.marker:
                continue
            s = prior(t) + case_evidence(t)
            before, after = self._cue_before(doc, i), self._cue_after(doc, i)
            self._strong[i] = before >= 4.0 or after >= 4.0  # a title, label or credential
            s += before + after
            if s > 0 and self._eponym_here(doc, i):
                s = 0.0  # "Parkinson disease", "Sister Mary Joseph nodule": medical language
            elif s > 0 and medical_phrase(doc, i):
                s = 0.0  # an ICD word next to medical words ... unless a relation word names a person ("daughter Bill")
                if self._relative_named(doc, i):
                    s = self.threshold
                    self._strong[i] = True
            elif s > 0 and t.info.place and self._placed(doc, i):
                s = 0.0  # "lives in Boston", "Springfield, IL": a place (the location recognizer takes it)
            elif s < self.threshold and (self._relative_named(doc, i) or self._introduced(doc, i)):
                s = self.threshold
                self._strong[i] = self._strong[i] or self._relative_named(doc, i)
            elif s < self.threshold and (
                self._family_named(doc, i)
                or self._double_cued(doc, i)
                or self._role_titled(doc, i)
                or self._called(doc, i)
                or self._relation_after(doc, i)
                or self._signed(doc, i)
            ):
                s = self.threshold
            scores[i] = s
        flags = [s if s >= self.threshold else 0.0 for s in scores]
        self._inverted(doc, flags)
        return flags

    def _relative_named(self, doc: Document, i: int) -> bool:
        """A first name right after a relation word ("son winter", "wife rose"), unless it is a word that usually
        follows one ("wife will call", "son in to visit") or clinical vocabulary."""
        if i == 0:
            return False
        toks = doc.tokens
        t, p = toks[i], toks[i - 1]
        in_law = p.low == "law" and i >= 3 and toks[i - 2].low == "in" and cue_form(toks[i - 3]) in RELATIONS
        if not (cue_form(p) in RELATIONS or in_law) or not _RELATION_GAP.fullmatch(doc.gap(p, t)):
            return False
        if "\n" in doc.gap(p, t):
            return False
        if not t.info.first or t.low in TITLES or t.low in LABELS or t.low in CREDENTIALS or t.low in RELATIONS:
            return False
        nxt = toks[i + 1] if i + 1 < len(toks) and "\n" not in doc.gap(t, toks[i + 1]) else None
        if t.low in _MODAL_NAMES:
            # "brother will updated", "sister may and brother art", "wife will." : not followed by a verb
            return nxt is None or not _SPACE.fullmatch(doc.gap(t, nxt)) or self._not_a_verb(nxt)
        if t.low in _NOT_AFTER_RELATION:
            return False
        if t.info.vocab in {"clinical", "device", "geography"}:
            # "husband ed will visit", "brother art will come": a first name that is also shorthand, then a predicate
            return (
                0 < t.info.first <= 1000
                and nxt is not None
                and _SPACE.fullmatch(doc.gap(t, nxt)) is not None
                and nxt.low in _PERSON_PREDICATE
            )
        return not (t.info.english and t.info.english <= 10 and not (0 < t.info.first <= 1000))

    @staticmethod
    def _not_a_verb(t: Token) -> bool:
        """``t`` cannot be the verb after a modal: a conjunction, preposition, or past form ("updated")."""
        if t.low in _NOT_AFTER_MODAL:
            return True
        return len(t.low) >= 5 and t.low.endswith("ed") and not t.low.endswith("eed")

    @staticmethod
    def _plain_person_word(t: Token) -> bool:
        """Could be a person's name in a slot a cue opens: in a name list (shorthand only when a frequent name),
        not a function word, calendar word, service, role, cue or medical word."""
        low = t.low
        if len(low) < 3 or t.glued or t.info.medical or t.info.vocab in {"geography"}:
            return False
        if low in _NOT_AFTER_RELATION or low in _CALENDAR or low in SERVICES or low in ROLE_WORDS:
            return False
        if low in _NOT_PERSON_NOUNS or low in TITLES or low in LABELS or low in CREDENTIALS or low in RELATIONS:
            return False
        if t.info.vocab in {"clinical", "device"}:
            return 0 < t.info.first <= 600 or 0 < t.info.last <= 1000
        if t.info.english and t.info.english <= 35:
            return 0 < t.info.first <= 1000 or 0 < t.info.last <= 2000  # a word only when also a frequent name
        if not t.info.known:
            return t.info.shape >= -1.0 and not typo_of_known(low)
        return 0 < t.info.first < 99999 or 0 < t.info.last <= 20000

    def _next_follows_person(self, doc: Document, i: int) -> bool:
        """What follows ``doc.tokens[i]`` fits a person: a predicate or topic (``aware``, ``gave``, ``re``), or
        the end of the clause."""
        toks = doc.tokens
        after = doc.text[toks[i].end : toks[i].end + 3]
        if re.match(r"[ \t]*(?:$|\n|[.,;:)(]|-)", after):
            return True
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        return nxt is not None and _SPACE.fullmatch(doc.gap(toks[i], nxt)) is not None and nxt.low in _PERSON_FOLLOW

    def _role_titled(self, doc: Document, i: int) -> bool:
        """A clinical role written like a title: "NP STONE AT BEDSIDE", "ho marsh paged", "rn hope gave report"."""
        if i == 0:
            return False
        toks = doc.tokens
        p, t = toks[i - 1], toks[i]
        if p.low not in _ROLE_TITLES or not _SPACE.fullmatch(doc.gap(p, t)) or not self._plain_person_word(t):
            return False
        if i >= 2 and toks[i - 2].low in _ROLE_TITLES | SERVICES and _SPACE.fullmatch(doc.gap(toks[i - 2], p)):
            return False  # "ICU RN GAVE", "renal fellow aware": the role is a noun here
        return self._next_follows_person(doc, i)

    def _called(self, doc: Document, i: int) -> bool:
        """Someone called, paged or told about something: "CALLED GREEN RE LABS", "paged stone x2", "notified
        marsh of k 5.9", "spoke to hart re plan" (not "called ward re bed", "updated family re plan")."""
        toks = doc.tokens
        t = toks[i]
        if i == 0 or not self._plain_person_word(t):
            return False
        if not _CALL_CUE.search(doc.text[max(0, t.start - 16) : t.start]):
            return False
        if _CALL_TOPIC.match(doc.text, t.end):
            return True
        nxt = toks[i + 1] if i + 1 < len(toks) else None  # "report to HOPE RN"
        return nxt is not None and nxt.low in _ROLE_TITLES and _CRED_GAP.fullmatch(doc.gap(t, nxt)) is not None

    def _relation_after(self, doc: Document, i: int) -> bool:
        """A first name explained by what follows: "ROSE (WIFE) CALLED", "hope, pt's wife, called", "ROSE IS HCP"."""
        t = doc.tokens[i]
        if not (0 < t.info.first < 99999) or not self._plain_person_word(t):
            return False
        if _IS_ROLE.match(doc.text, t.end):
            return True
        m = _RELATION_AFTER.match(doc.text, t.end)
        return m is not None and cue_typo(m.group(1).lower()) in RELATIONS

    def _signed(self, doc: Document, i: int) -> bool:
        """A signature: a surname before a credential that ends the line ("green, rn", "GUS GREEN RN 7A-7P"),
        after an initial or a first name, or alone after a comma."""
        toks = doc.tokens
        t = toks[i]
        if (
            i + 1 >= len(toks)
            or toks[i + 1].low not in CREDENTIALS
            or toks[i + 1].low in {"pa", "do", "pt", "ot", "rd"}
        ):
            return False
        gap = doc.gap(t, toks[i + 1])
        if not _CRED_GAP.fullmatch(gap) or not self._plain_person_word(t):
            return False
        if not re.match(r"[ \t.]*(?:$|\n|[,;]|\d|-)", doc.text[toks[i + 1].end : toks[i + 1].end + 3]):
            return False  # "RN AWARE": the credential starts a clause, not a signature
        if "," in gap:
            return True
        p = toks[i - 1] if i > 0 else None
        return p is not None and _SPACE.fullmatch(doc.gap(p, t)) is not None and 0 < p.info.first <= 2000

    def _family_named(self, doc: Document, i: int) -> bool:
        """``<surname> family``: "meeting with BROWN FAMILY", "the yarborough family" (not "the whole family",
        "a young family", "pt's family")."""
        toks = doc.tokens
        t = toks[i]
        if i + 1 >= len(toks) or toks[i + 1].low not in _FAMILY_WORDS or not _SPACE.fullmatch(doc.gap(t, toks[i + 1])):
            return False
        if t.low in _FAMILY_MODIFIERS or t.low in _NOT_AFTER_RELATION or t.low in ROLE_WORDS or len(t.low) < 3:
            return False
        if t.info.medical or t.info.vocab in {"geography", "device"} or t.low in SERVICES:
            return False
        if i == 0 or toks[i - 1].low not in _BEFORE_FAMILY_NAME or "\n" in doc.gap(toks[i - 1], t):
            return False  # "has good family support", "a young family": an adjective, not "with BROWN family"
        if _FAMILY_NOT_NAMED.match(doc.text, toks[i + 1].end):
            return False  # "strong family support", "family hx"
        if not (0 < t.info.last <= 20000 or (not t.info.known and t.info.shape >= 0.0)):
            return False
        if (t.info.english and t.info.english <= 35) or t.info.vocab == "clinical":
            return 0 < t.info.last <= 1000  # a word only when also a frequent surname ("brown", "green", "young")
        return True

    def _double_cued(self, doc: Document, i: int) -> bool:
        """A name that is also a word, between a person cue and a role or service: "seen by GREEN FROM RENAL",
        "per bell (neuro res)", "d/w king of ID" (not "seen by renal", "per protocol (see orders)")."""
        toks = doc.tokens
        t = toks[i]
        if i == 0 or i + 1 >= len(toks) or t.glued or len(t.low) < 3:
            return False
        if t.low in ROLE_WORDS or t.low in SERVICES or t.low in LABELS or t.low in TITLES or t.low in CREDENTIALS:
            return False
        if t.low in _NOT_AFTER_RELATION or t.info.medical or t.info.vocab in {"device", "geography"}:
            return False
        if not (0 < t.info.last <= 5000 or 0 < t.info.first <= 1000):
            return False
        before = doc.text[max(0, t.start - 24) : t.start]
        if not (_PERSON_SHORTHAND.search(before) or self._phrase_cued(before)):
            return False
        after = doc.text[t.end : t.end + 30]
        m = re.match(r"[ \t]*(?:(?:from|of|w/|with)[ \t]+|\([ \t]*|,[ \t]*)([A-Za-z/']+)", after, re.IGNORECASE)
        return m is not None and (m.group(1).lower() in SERVICES or m.group(1).lower() in CREDENTIALS)

    def _placed(self, doc: Document, i: int) -> bool:
        toks = doc.tokens
        t = toks[i]
        if i > 0 and toks[i - 1].low in _PLACE_CUES and _SPACE.fullmatch(doc.gap(toks[i - 1], t)):
            # "lives in Boston", not "spoke to Dubois" / "report to Stone": a person cue before "to"
            before = doc.text[max(0, t.start - 24) : t.start]
            return not (_CALL_CUE.search(before) or self._phrase_cued(before))
        return _STATE_AFTER.match(doc.text, t.end) is not None

    def _introduced(self, doc: Document, i: int) -> bool:
        """A word that a person cue makes a name whatever it means elsewhere: after ``Mr.``/``Mrs.``/``Ms.``, after
        ``Dr`` unless an everyday word ("dr aware"), after a name label ("Patient: Moon", "signed by Jacquie
        Sheers", "caller: ali"), or signing off a note ("-- barb").  Clinical vocabulary and function words never."""
        toks = doc.tokens
        t = toks[i]
        census = 0 < t.info.first < 99999 or 0 < t.info.last <= 20000
        if t.low in _NOT_AFTER_RELATION or len(t.low) < 2 or t.glued:
            return False
        if t.info.vocab in {"clinical", "device", "geography"} and not census:
            return False
        if t.low in TITLES or t.low in LABELS or t.low in CREDENTIALS or t.low in RELATIONS:
            return False
        if i > 0 and self._titled_by(doc, i):
            p = toks[i - 1].low
            if p in {"mr", "mrs", "ms", "miss", "mister"}:
                return True
            return t.info.is_name or not (t.info.english and t.info.english <= 35)
        before = doc.text[max(0, t.start - 30) : t.start]
        if _NAME_LABEL.search(before) or _SIGN_OFF.search(before):
            return True
        named = t.info.is_name and not (t.info.english and t.info.english <= 20)
        if named and t.info.vocab in {"clinical", "device"}:
            # "per endo", "seen by friday", "d/w ng": shorthand that is also a rare name stays shorthand; a
            # frequent surname or first name is the person ("per brady", "paged foley")
            named = (
                len(t.low) >= 4
                and t.low not in _CALENDAR
                and t.low not in SERVICES
                and t.low not in ROLE_WORDS
                and (0 < t.info.first <= 600 or 0 < t.info.last <= 700)
            )
        unseen = not t.info.known and len(t.low) >= 4 and t.info.shape >= 0.5 and not t.glued
        if (named or unseen) and (_PERSON_SHORTHAND.search(before) or self._phrase_cued(before)):
            return True  # "per camila", "spoke w/ heath", "paged glen", "per nercessian": shorthand naming a person
        # the second word of "Label: First Last" (up to the end of the clause)
        clause_end = re.match(
            r"[ \t]*(?:\Z|\n|[,.;(])|-[A-Za-z]|[ \t]{2,}|[ \t]+[A-Za-z#]+[ \t]*[:#]|[ \t]+(?:"
            + "|".join(sorted(CREDENTIALS))
            + r")\b",
            doc.text[t.end : t.end + 20],
            re.IGNORECASE,
        )
        if i > 0 and _SPACE.fullmatch(doc.gap(toks[i - 1], t)) and clause_end:
            head = doc.text[max(0, toks[i - 1].start - 30) : toks[i - 1].start]
            if (_NAME_LABEL.search(head) or _SIGN_OFF.search(head)) and not (t.info.english and t.info.english <= 20):
                return True
        return False

    def _inverted(self, doc: Document, flags: list[float]) -> None:
        """``LAST, FIRST`` at the start of a line or after a label ("VAN DER BERG, PIETER", "Okoye, Chiamaka")."""
        toks = doc.tokens
        for i in range(len(toks) - 1):
            a, b = toks[i], toks[i + 1]
            if flags[i] and flags[i + 1]:
                continue
            if not re.fullmatch(r",[ \t]*", doc.gap(a, b)) or not b.info.first or prior(b) < 1.0:
                continue
            if prior(a) < -1.0 or a.info.vocab in {"clinical", "device", "geography"} or len(a.low) < 2:
                continue
            k = i
            while k > 0 and toks[k - 1].low in _PARTICLES and _SPACE.fullmatch(doc.gap(toks[k - 1], toks[k])):
                k -= 1
            before = doc.text[max(0, toks[k].start - 40) : toks[k].start]
            line_start = re.search(r"(?:^|\n)[ \t]*$", before) is not None
            after_label = re.search(r"(?:[:#]|\b(?:name|patient|pt|by|bed[ \t]*\d*))[ \t]*$", before, re.I) is not None
            after = doc.text[b.end : b.end + 3]
            clause_end = re.match(r"[ \t]*(?:$|\n|[,.;)]|[A-Za-z]\b\.?)", after) is not None
            if (line_start or after_label) and clause_end:
                for m in range(k, i + 2):
                    flags[m] = max(flags[m], self.threshold)

    def _cue_before(self, doc: Document, i: int) -> float:
        if i == 0:
            return 0.0
        toks = doc.tokens
        t, p = toks[i], toks[i - 1]
        gap = doc.gap(p, t)
        if "\n" in gap:
            return 0.0
        if p.low in TITLES and _TITLE_GAP.fullmatch(gap):
            if not self._titled_by(doc, i):
                return 0.0  # "455 ms. Heart rate": a unit
            return 7.0 if t.info.is_name else 5.0
        if i >= 2 and _is_initial(p) and toks[i - 2].low in TITLES:
            return 4.0  # "dr j smith"
        if cue_form(p) in RELATIONS and _RELATION_GAP.fullmatch(gap):
            bonus = 3.5
            if t.info.first and t.info.english > 10:
                bonus += 2.0  # "wife rose", "son rusty": a first name that is also a word
            return bonus
        if p.low in LABELS and _LABEL_GAP.fullmatch(gap):
            return 4.0
        if self._phrase_cued(doc.text[max(0, t.start - 24) : t.start]):
            return 3.0  # "spoke w/ x", "signed by x", "meeting with x", "sopke w/ x"
        if p.low in STRONG_WEAK_BEFORE and _SPACE.fullmatch(gap):
            return 2.0  # "per weinsteiger", "paged smith": shorthand for a person
        if p.low in WEAK_BEFORE and _SPACE.fullmatch(gap):
            return 1.0
        return 0.0

    @staticmethod
    def _phrase_cued(before: str) -> bool:
        """The text before a word ends in a phrase naming a person: "spoke w/", "seen by", "d/w", including a
        verb misspelt by two swapped letters ("sopke w/")."""
        if _PHRASE_CUE.search(before):
            return True
        m = _VERB_WITH.search(before)
        return m is not None and len(m.group(1)) >= 4 and cue_typo(m.group(1).lower()) in PHRASE_VERBS

    def _cue_after(self, doc: Document, i: int) -> float:
        toks = doc.tokens
        if i + 1 >= len(toks):
            return 0.0
        t, nx = toks[i], toks[i + 1]
        gap = doc.gap(t, nx)
        if "\n" in gap:
            return 0.0
        if nx.low in CREDENTIALS and _CRED_GAP.fullmatch(gap):
            if nx.low in {"pa", "do", "pt", "ot", "rd"} and not (nx.is_upper and "," in gap):
                return 0.0  # "pa" pulmonary artery, "do" the verb: only ", PA"
            if i > 0 and _is_initial(toks[i - 1]) and re.fullmatch(r"\.?[ \t]+", doc.gap(toks[i - 1], t)):
                return 5.5  # "J. QUARRINGTON RN": initial, surname, credential (a signature)
            return 4.0
        if cue_form(nx) in RELATIONS and re.fullmatch(r"[ \t]*[(,][ \t]*", gap):
            return 3.0  # "ming milinkovich (daughter)"
        if nx.low in UNITS_AFTER and _SPACE.fullmatch(gap):
            return -5.0
        if nx.low in AFTER_PERSON and _SPACE.fullmatch(gap):
            return 0.8
        return 0.0

    def _titled(self, doc: Document) -> list[float]:
        """Only names after a title (``Mr. Jones``) or a label (``Patient: Ann Lee``)."""
        toks = doc.tokens
        out = [0.0] * len(toks)
        for i in range(1, len(toks)):
            t, p = toks[i], toks[i - 1]
            gap = doc.gap(p, t)
            if "\n" in gap or len(t.low) < 2 or self._eponym_here(doc, i):
                continue
            titled = p.low in TITLES - {"sr", "sra", "srta"} and self._titled_by(doc, i)
            labelled = p.low in {"name", "patient", "pt"} and re.fullmatch(
                r"[ \t]*:[ \t]*|[ \t]+(?:is|named)[ \t]+", gap
            )
            named = p.low in {"named", "called"} and _SPACE.fullmatch(gap)
            if not (titled or labelled or named):
                continue
            if t.info.vocab in {"clinical", "device", "geography"} or t.info.medical:
                continue
            capital = t.text[:1].isupper()
            if (
                (titled or labelled or named)
                and capital
                and not (t.info.english and t.info.english <= 20 and not t.info.is_name)
            ):
                out[i] = 5.0
        return out

    # ------------------------------------------------------------------------------------------
    def _contact_named(self, doc: Document, flags: list[float]) -> None:
        """A name given with contact details (titled mode): a person-name-shaped phrase in the same clause as a
        direct identifier ("Johnathan Whitfield, phone 617-555-0199", "write to Ann Lee at ann@x.org")."""
        text = doc.text
        if not any(c.isdigit() for c in text) and "@" not in text:
            return  # every identifier this rule looks for holds a digit or an "@"
        runs = self._name_runs(doc)
        if not runs:
            return
        anchors = [s for r in _contact_recognizers() for s in r.analyze(doc) if s.entity in _CONTACT_ENTITIES]
        toks = doc.tokens
        for a, b in runs:
            start, end = toks[a].start, toks[b].end
            if any(_same_clause(text, start, end, s) for s in anchors):
                for m in range(a, b + 1):
                    flags[m] = max(flags[m], 5.0)

    def _name_runs(self, doc: Document) -> list[tuple[int, int]]:
        """Runs of 2-4 capitalised name words (a middle initial allowed) that open with a given name."""
        toks = doc.tokens
        n = len(toks)
        out: list[tuple[int, int]] = []
        i = 0
        while i < n:
            if not self._contact_part(doc, i):
                i += 1
                continue
            parts = [i]
            j = i
            while j + 1 < n and len(parts) < 4:
                gap = doc.gap(toks[j], toks[j + 1])
                if self._contact_part(doc, j + 1) and _CONTACT_JOIN.fullmatch(gap):
                    j += 1
                    parts.append(j)
                elif (
                    j + 2 < n
                    and _is_initial(toks[j + 1])
                    and toks[j + 1].text.isupper()
                    and not toks[j + 1].marker
                    and _SPACE.fullmatch(gap)
                    and _INITIAL_JOIN.fullmatch(doc.gap(toks[j + 1], toks[j + 2]))
                    and self._contact_part(doc, j + 2)
                ):
                    j += 2  # "John Q. Public"
                    parts.append(j)
                else:
                    break
            if len(parts) >= 2 and self._person_shaped(doc, parts):
                out.append((i, j))
            i = j + 1
        return out

    def _contact_part(self, doc: Document, i: int) -> bool:
        """A capitalised word that can be part of a person's name: a census name or a word in no everyday or
        clinical list, not a cue, role, service, month or medical word, not part of an eponym."""
        t = doc.tokens[i]
        low = t.low
        if len(low) < 2 or t.glued or t.marker:
            return False
        if not (t.is_title or (t.is_upper and t.info.is_name)):
            return False
        if low in TITLES or low in LABELS or low in RELATIONS or low in CREDENTIALS or low in SERVICES:
            return False
        if low in ROLE_WORDS or low in _CALENDAR or low in _NOT_A_PERSON_AFTER or low in _NOT_AFTER_RELATION:
            return False
        if (t.info.medical and not t.info.is_name) or prior(t) < -4.0:
            return False
        return not self._eponym_here(doc, i)

    @staticmethod
    def _person_shaped(doc: Document, parts: list[int]) -> bool:
        """The run reads as "Given [Middle] Family": a given name first (a listed first name, or a word in no list
        spelt like a name before a listed surname: "Ottoline Vasquez"), and not an institution or a place."""
        toks = doc.tokens
        a, b = parts[0], parts[-1]
        first, last = toks[a], toks[b]
        given = first.info.first > 0 and prior(first) >= -1.0
        unseen_given = not first.info.known and prior(first) > 0 and last.info.last > 0
        if not (given or unseen_given):
            return False
        if (
            b + 1 < len(toks)
            and toks[b + 1].low in _NOT_A_PERSON_AFTER
            and _SPACE.fullmatch(doc.gap(toks[b], toks[b + 1]))
        ):
            return False  # "Johns Hopkins Hospital", "Santa Clara County"
        if a > 0 and toks[a - 1].low in {"st", "saint", "mt", "mount", "of"}:
            return False  # "St. Mary Rose", "University of Maryland"
        return not (toks[b].info.place and _STATE_AFTER.match(doc.text, toks[b].end))

    # ------------------------------------------------------------------------------------------
    def _grow(self, doc: Document, flags: list[float]) -> None:
        """Take in first/last names, initials and particles next to a detected name."""
        toks = doc.tokens
        n = len(toks)
        changed = True
        rounds = 0
        while changed and rounds < 6:
            changed = False
            rounds += 1
            for i in range(n):
                if not flags[i]:
                    continue
                for j in (i + 1, i - 1):
                    if not 0 <= j < n or flags[j]:
                        continue
                    a, b = (toks[i], toks[j]) if j > i else (toks[j], toks[i])
                    gap = doc.gap(a, b)
                    if "\n" in gap:
                        continue
                    if self._joins(doc, i, j, gap):
                        flags[j] = min(flags[i], 4.0)
                        changed = True
        # "Kwame van der Berg", "Pieter de la Cruz": a particle run between two name-like words
        for i in range(n):
            if toks[i].low not in _PARTICLES or i == 0:
                continue
            k = i
            while k < n and toks[k].low in _PARTICLES and k < i + 3:
                k += 1
            if k >= n or any(not _SPACE.fullmatch(doc.gap(toks[m - 1], toks[m])) for m in range(i, k + 1)):
                continue
            a, b = toks[i - 1], toks[k]
            if a.informative_case:
                ok = a.is_title and b.is_title and toks[i].text.islower() and prior(a) > -2.0 and prior(b) > -2.0
            else:
                ok = all(u.info.is_name and prior(u) >= -1.0 for u in (a, b))
            if ok and not (a.glued or b.glued):
                for m in range(i - 1, k + 1):
                    flags[m] = max(flags[m], self.threshold)
        # coordinated names: "Rodriguez and Baker", "Dr. Smith & Jones"
        for i in range(n - 2):
            if not flags[i] or flags[i + 2] or toks[i + 1].low not in {"and", "&"}:
                continue
            u = toks[i + 2]
            if not (
                u.info.is_name and re.fullmatch(r"[ \t]+", doc.gap(toks[i], toks[i + 1]) + doc.gap(toks[i + 1], u)[:1])
            ):
                continue
            titled_pair = self._strong[i] and self._plain_person_word(u)  # "Drs Hart and Green"
            if not titled_pair and (
                u.glued or u.info.vocab in {"clinical", "device", "geography"} or self._eponym_here(doc, i + 2)
            ):
                continue
            ok = (
                titled_pair
                or (u.informative_case and u.is_title and prior(u) >= -3.5)
                or (not u.informative_case and prior(u) >= -1.5)
            )
            if ok:
                flags[i + 2] = min(flags[i], 4.0)
        # particles between name words or before a titled surname: "van der Berg", "de la Cruz"
        for i in range(n):
            t = toks[i]
            if flags[i] or t.low not in _PARTICLES:
                continue
            k = i + 1
            while k < n and toks[k].low in _PARTICLES and k < i + 3:
                k += 1
            if k >= n or not _SPACE.fullmatch(doc.gap(toks[k - 1], toks[k]) or " "):
                continue
            prev_flag = i > 0 and bool(flags[i - 1]) and _SPACE.fullmatch(doc.gap(toks[i - 1], t)) is not None
            if not flags[k] and prev_flag and self._surname_after_particle(toks[k]):
                flags[k] = flags[i - 1]  # "Johnathan van der Berg": Berg is a surname here
            if not flags[k]:
                continue
            line_start = re.search(r"(?:^|\n|[:;]|\.)[ \t]*$", doc.text[max(0, t.start - 3) : t.start]) is not None
            before_ok = i > 0 and (flags[i - 1] or toks[i - 1].low in TITLES)
            if before_ok or line_start or (t.text[:1].islower() and t.informative_case):
                for m in range(i, k):
                    flags[m] = flags[k]

    @staticmethod
    def _surname_ok(t: Token) -> bool:
        """A common surname that is also a word may close a name: not a function word, cue or shorthand."""
        low = t.low
        if low in _NOT_AFTER_RELATION or low in AFTER_PERSON or low in UNITS_AFTER or low in SERVICES:
            return False
        return t.info.vocab not in {"clinical", "device", "geography"} and not t.info.medical

    @staticmethod
    def _surname_after_particle(t: Token) -> bool:
        if t.glued or t.info.vocab in {"clinical", "device", "geography"} or len(t.low) < 2:
            return False
        return t.info.is_name or not t.info.known or (t.informative_case and t.is_title)

    def _joins(self, doc: Document, i: int, j: int, gap: str) -> bool:
        toks = doc.tokens
        t = toks[j]
        if t.low in TITLES or t.low in RELATIONS or t.low in CREDENTIALS or t.low in LABELS:
            return False
        if self._eponym_here(doc, j):
            return False
        if t.marker or t.glued:
            return False
        if _is_initial(t):
            if j < i:  # "J. Smith", "j smith"
                return re.fullmatch(r"\.?[ \t]*", gap) is not None and not (
                    t.sent_start and t.text in "AI" and not gap.startswith(".")
                )
            # "Smith J." / "SMITH, J" at the end of a clause (not the M of "M.D.")
            after = doc.text[t.end : t.end + 2]
            if re.match(r"\.[ \t]*[A-Za-z]\b\.?", doc.text[t.end : t.end + 4]):
                return False
            return re.fullmatch(r",?[ \t]+", gap) is not None and re.match(r"\.|,|\s*$|\s*\n|;", after) is not None
        base = prior(t) + case_evidence(t)
        plain = _SPACE.fullmatch(gap) is not None
        comma = re.fullmatch(r",[ \t]*", gap) is not None
        hyphen = gap == "-"
        if not (plain or comma or hyphen):
            return False
        other = toks[i]
        if hyphen and t.info.vocab not in {"clinical", "device"}:
            return True  # the second part of a double-barrelled name, whatever it is
        if comma and len(t.low) < 3:
            return False  # "Boston, MA": a state, not a first name
        if comma and j > i and t.info.first and flags_strong(other):
            return True  # "FEDDERS, KEN" after a label
        if comma and j < i and other.info.first and base >= -1.0 and t.info.vocab not in {"clinical", "device"}:
            line_start = re.search(r"(?:^|\n|[:(])[ \t]*$", doc.text[max(0, t.start - 3) : t.start]) is not None
            if line_start or t.sent_start:
                return True  # "Brightwater, Amara": the surname before a detected first name
        if plain or hyphen:
            if base >= -1.0:
                return True
            # "john young": a surname after a detected first name, unless a very common word
            if j > i and other.info.first and t.info.last and (t.info.english == 0 or t.info.english > 10):
                return True
            if j < i and t.info.first and other.info.last and (t.info.english == 0 or t.info.english > 10):
                return True
            common_surname = j > i and other.info.first and 0 < t.info.last <= 2000 and self._surname_ok(t)
            if common_surname and (self._strong[i] or self._next_follows_person(doc, j)):
                return True  # "niece ROSE STONE", "hcp tova stone called": a common surname closing the name
            if j < i and 0 < t.info.first <= 1000 and self._strong[i] and (t.sent_start or t.is_title):
                return True  # "Bill Kowalski, RN": a common first name before a surname a credential confirms
            return bool(t.informative_case and t.is_title and t.info.is_name and base >= -3.5)
        # "SMITH, JOHN" / "Smith, John": the part after the comma must be a first name
        if j > i:
            return bool(t.info.first) and (t.info.english == 0 or t.info.english > 20) and base >= -2.0
        return False

    def _spans(self, doc: Document, flags: list[float]) -> list[Span]:
        toks = doc.tokens
        out: list[Span] = []
        i = 0
        n = len(toks)
        while i < n:
            if not flags[i]:
                i += 1
                continue
            j = i
            score = flags[i]
            while (
                j + 1 < n
                and flags[j + 1]
                and re.fullmatch(r"[ \t]*(?:[.,\-'’]|\.?[ \t]+)?[ \t]*", doc.gap(toks[j], toks[j + 1]))
            ):
                j += 1
                score = max(score, flags[j])
            end = toks[j].end
            if _is_initial(toks[j]) and doc.text[end : end + 1] == ".":
                end += 1
            out.append(Span(toks[i].start, end, "NAME", min(0.99, 0.5 + score / 10)))
            i = j + 1
        return out


@lru_cache(maxsize=1)
def _contact_recognizers() -> tuple[Any, ...]:
    """The direct-identifier recognizers whose finds make a nearby name a real person's (built once)."""
    from medgrpo.deid.recognizers.addresses import AddressRecognizer
    from medgrpo.deid.recognizers.email import EmailRecognizer
    from medgrpo.deid.recognizers.financial import IbanRecognizer, PaymentCardRecognizer
    from medgrpo.deid.recognizers.labelled_id import LabelledIdRecognizer
    from medgrpo.deid.recognizers.phone import PhoneRecognizer
    from medgrpo.deid.recognizers.ssn import SsnRecognizer

    return (
        EmailRecognizer(),
        PhoneRecognizer(),
        SsnRecognizer(),
        LabelledIdRecognizer(strict=True),
        PaymentCardRecognizer(),
        IbanRecognizer(),
        AddressRecognizer(),
    )


def _same_clause(text: str, start: int, end: int, anchor: Span) -> bool:
    """``text[start:end]`` and ``anchor`` are a few words apart with no sentence or clause end between them."""
    if anchor.start >= end:
        gap = text[end : anchor.start]
    elif anchor.end <= start:
        gap = text[anchor.end : start]
    else:
        return False  # overlapping: the name words are part of the identifier ("john.smith@...")
    return (
        len(gap) <= _CONTACT_MAX_GAP
        and not _CONTACT_BREAK.search(gap)
        and len(re.findall(r"[^\W\d_]+", gap)) <= _CONTACT_MAX_WORDS
    )
