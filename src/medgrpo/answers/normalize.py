"""Text normalisation shared by the answer kinds: wrappers, lead-in phrases, spelling, abbreviations.

Normalising is applied to both sides of a comparison, so a spelling rule only has to map British
and American forms to the same string (it may over-map words nobody compares, harmlessly).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

_BOXED_RE = re.compile(r"^\\boxed\{(.*)\}$", re.DOTALL)
_WRAPPERS = "*_`\"'“”‘’"
#: "The answer is", "Final answer:", "Correct option -", "The most likely diagnosis is" ...
_LEAD_RE = re.compile(
    r"^(?:(?:the|my)\s+)?(?:(?:final|correct|best|right|most\s+likely|likeliest)\s+)*"
    r"(?:answer|option|choice|diagnosis|response)\s*(?:is\b|would\s+be\b|:|=|-|–)\s*[:\-=]?\s*",
    re.IGNORECASE,
)
#: Articles dropped: "the"/"an" anywhere, "a" only in front of a word ("Hepatitis A", "A, B" keep it).
_ARTICLES_RE = re.compile(r"\b(?:an|the)\b")
_LEADING_A_RE = re.compile(r"^\s*a\s+(?=\w)")
_NON_WORD_RE = re.compile(r"[^\w]+")

#: British -> American spelling rules, applied word by word (after lower-casing).
_SPELLING_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"ae", "e"),  # haemorrhage, anaemia, leukaemia, gynaecology, paediatric, caesarean
        (r"^oe(soph|str|dem)", r"e\1"),  # oesophagus, oestrogen, oedema
        (r"^foet", "fet"),  # foetal, foetus
        (r"^coeliac", "celiac"),
        (r"^amoeb", "ameb"),
        (r"oea$", "ea"),  # diarrhoea, dyspnoea, apnoea, gonorrhoea
        (r"(?<=\w{3})our$", "or"),  # tumour, colour, behaviour (not four, hour, your)
        (r"(?<=\w{2})tre$", "ter"),  # centre, litre, fibre, titre
        (r"(?<=\w{3})is(e|ed|es|ing|ation|ations)$", r"iz\1"),  # localised, generalised, hospitalisation
        (r"sulph", "sulf"),  # sulphate, sulphonamide
        (r"^ageing$", "aging"),
    )
)

#: Common clinical abbreviations that are not the plain initials of their expansion
#: (initials such as COPD or MI are derived, see :func:`initials`).
ABBREVIATIONS: dict[str, str] = {
    "dka": "diabetic ketoacidosis",
    "tb": "tuberculosis",
    "gerd": "gastroesophageal reflux disease",
    "gord": "gastroesophageal reflux disease",
    "af": "atrial fibrillation",
    "afib": "atrial fibrillation",
    "chf": "congestive heart failure",
    "hocm": "hypertrophic obstructive cardiomyopathy",
    "siadh": "syndrome of inappropriate antidiuretic hormone secretion",
    "bph": "benign prostatic hyperplasia",
    "pcos": "polycystic ovary syndrome",
    "hiv": "human immunodeficiency virus",
    "rsv": "respiratory syncytial virus",
    "hsv": "herpes simplex virus",
    "ecg": "electrocardiogram",
    "ekg": "electrocardiogram",
    "mri": "magnetic resonance imaging",
    "ct": "computed tomography",
    "ards": "acute respiratory distress syndrome",
    "sle": "systemic lupus erythematosus",
    "tof": "tetralogy of fallot",
    "dic": "disseminated intravascular coagulation",
    "hus": "hemolytic uremic syndrome",
    "nsaid": "nonsteroidal anti inflammatory drug",
    "ssri": "selective serotonin reuptake inhibitor",
}

#: Words left out when initials are formed ("chronic obstructive pulmonary disease" -> "copd").
_INITIALS_SKIP = frozenset({"of", "and", "in", "with", "to", "for", "on", "by"})
#: Connectors left in the normalised form for the text kind to split on.
CONNECTORS = frozenset({"or", "and", "vs", "versus", "either", "nor"})


def unwrap(text: str) -> str:
    """Strip whitespace, ``\\boxed{}``, Markdown emphasis, quotes and a final full stop."""
    text = text.strip()
    previous = None
    while text != previous:
        previous = text
        boxed = _BOXED_RE.match(text)
        if boxed:
            text = boxed.group(1).strip()
        text = text.strip(_WRAPPERS).strip()
        if text.endswith(".") and not re.search(r"\d\.$", text):
            text = text[:-1].rstrip()
    return text


def strip_lead(text: str) -> str:
    """``text`` without a leading "The answer is" / "Final answer:" / "Diagnosis:" phrase."""
    text = unwrap(text)
    stripped = _LEAD_RE.sub("", text, count=1)
    return unwrap(stripped) if stripped != text else text


def _american(word: str) -> str:
    for pattern, repl in _SPELLING_RULES:
        word = pattern.sub(repl, word)
    return word


@lru_cache(maxsize=65536)
def normalize_words(text: str, *, leading_a: bool = True) -> str:
    """Lower case, accents and punctuation dropped, articles removed, American spelling, single spaces.

    ``leading_a=False`` keeps a leading "a", for choice answers where "A chronic ..." may be a letter.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    if leading_a:
        text = _LEADING_A_RE.sub(" ", text)
    text = _ARTICLES_RE.sub(" ", text)
    text = _NON_WORD_RE.sub(" ", text.replace("_", " "))
    return " ".join(_american(w) for w in text.split())


def initials(normalized: str) -> str:
    """Initials of a normalised multi-word name ("" for one word): "myocardial infarction" -> "mi"."""
    words = [w for w in normalized.split() if w not in _INITIALS_SKIP]
    return "".join(w[0] for w in words) if len(words) >= 2 else ""


@cache
def _abbreviations_by_expansion() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for abbr, full in ABBREVIATIONS.items():
        out.setdefault(normalize_words(full), set()).add(abbr)
    return {full: frozenset(abbrs) for full, abbrs in out.items()}


@lru_cache(maxsize=65536)
def name_forms(normalized: str) -> frozenset[str]:
    """The ways a normalised name may be written: itself, without spaces, and its abbreviation or expansion."""
    forms = {normalized, normalized.replace(" ", "")}
    expansion = ABBREVIATIONS.get(normalized.replace(" ", ""))
    if expansion:
        forms.add(normalize_words(expansion))
    forms.update(_abbreviations_by_expansion().get(normalized, ()))
    short = initials(normalized)
    if len(short) >= 2:
        forms.add(short)
    forms.discard("")
    return frozenset(forms)
