"""Shared word-level evidence for the name, organisation and place recognizers.

``prior(token)`` is a score (about -6 .. +2.5) for "this word, with no context, is part of a name":
known-safe vocabulary (everyday English by commonness, drugs, clinical shorthand, device eponyms,
geography above the state level) is negative, name-dictionary words that are not ordinary words are
positive, unknown words are neutral. Context cues (titles, relations, credentials, shorthand such as
``per``, ``called``) are added by the recognizers. Nothing here depends on letter case.
"""

from __future__ import annotations

import re
from functools import lru_cache

from medgrpo.deid.lexicon import WordInfo
from medgrpo.deid.text import Document, Token
from medgrpo.deid.types import word_set

TITLES = word_set("dr dr's drs doctor mr mrs ms miss mister mx prof professor madam madame sr sra srta fr rev revd")
RELATIONS = word_set(
    """wife husband son daughter dtr dau sister sis brother bro mother mom mum mommy father dad daddy niece nephew
    aunt auntie uncle grandson granddaughter grandmother grandfather grandma grandpa granny nana papa gm gd gs
    boyfriend girlfriend bf gf fiance fiancee fiancé fiancée partner spouse cousin friend friends neighbor neighbour
    roommate caregiver guardian hcp proxy sil dil stepson stepdaughter stepmother stepfather godmother godfather
    sibling siblings child children kids kid twin nephews nieces sons daughters sisters brothers parents parent
    significant other ex-wife ex-husband"""
)
LABELS = word_set(
    """name patient pt attending resident intern fellow pcp md rn np nurse provider physician surgeon contact hcp proxy
    nok guardian spouse mother father signed dictated cc to from author by attn attending's rn's caller callers
    provider pharmacist therapist referring ordering"""
)
STRONG_WEAK_BEFORE = word_set("per paged notified page")
WEAK_BEFORE = word_set(
    """per called paged page notified spoke talked informed updated discussed with by from to and seen visited met
    asked told d/w w/ c/w reviewed consulted cleared ok'd okayed approved via contacted phoned texted emailed"""
)
CREDENTIALS = word_set(
    """md m.d mds rn r.n rns np pa pa-c do phd lpn cna crnp rrt pharmd msw licsw lcsw dds dmd dpm aprn cnm fnp anp
    acnp rd ot pt slp cns ccrn bsn msn mph facs facp fccp"""
)
AFTER_PERSON = word_set(
    """aware notified paged called updated informed visited visiting here phoned spoke said states stated reports
    reported feels wants agrees agreed requested asked came left present arrived returned was is will would has had
    at in brought"""
)
EPONYM_AFTER = word_set(
    """sign syndrome disease test criteria criterion classification score scale catheter cath tube drain line maneuver
    manoeuvre reflex phenomenon triad pentad fracture procedure operation ulcer node cell body equation formula rule law
    index method stain lesion palsy pouch diverticulum anomaly repair incision position bag mask boot murmur pupil
    protein tear ring spot papule nodule tooth teeth delusion aphasia angina cardiomyopathy endocarditis ataxia sarcoma
    lymphoma tumor tumour transformation depth point pulse striae injury contracture thrombasthenia agammaglobulinemia
    arteritis purpura anemia anaemia block class type staging stage grade grading correction calculation nomogram study
    trial cohort mutation respiration breathing vaccine witness esophagus oesophagus cyst hernia malformation approach
    technique protocol regimen diet solution effect principle curve distribution coefficient plot analysis model
    hypothesis number ratio cycle loop duct canal gland glands space membrane corpuscle corpuscles fiber fibre layer
    plexus artery vein nerve ligament tendon muscle bone bodies organ organs area capsule valve strain bacillus virus
    shunt filter clip valve stocking stockings walker frame view reaction agar medium dilemma paradox effect disorder
    neuralgia neuroma neuropathy encephalopathy dementia chorea dystrophy myopathy psychosis habitus facies crystal
    regression hazards equilibrium correlation estimator rod granule inclusion pattern resp respirations"""
)
# disease words that follow an eponym without a context word ("Hashimoto thyroiditis", "Takotsubo cardiomyopathy")
_DISEASE_MORPH = re.compile(
    r"(?:itis|itides|osis|oses|oma|omas|emia|aemia|pathy|plasia|trophy|ectasia|algia|uria|penia|cytosis|philia|phagia|"
    r"plegia|paresis|ism|iasis)$"
)
_EDITION = re.compile(r"(?i)['’]?s?,?[ \t]+\d{1,2}(?:st|nd|rd|th)?[ \t]*(?:/[ \t]*e\b|ed\b|edn\b|edition\b)")
_FINDING_AFTER = re.compile(
    r"(?i)['’]?s?[ \t]+(?:upgoing|downgoing|equivocal|positive|negative|neg|pos|present|absent)\b"
)
_SCORE_AFTER = re.compile(r"[ \t]*[:=]?[ \t]*\d{1,2}(?![\d/-])")
EPONYM_BEFORE = word_set("tetralogy pentalogy triad syndrome disease sign law of")
_CHAIN_STOP = word_set(
    """the a an and or of in on at to for with by from is was are were be as that this his her their its he she they
    it who which per dr mr mrs ms"""
)
# a team, service or role: what follows a clinician's name in shorthand ("green from renal", "bell (neuro res)")
SERVICES = word_set(
    """renal neph nephro nephrology cards cardiology cardiac gi id pulm pulmonary neuro neurology neurosurg neurosurgery
    nsurg surgery surg surgical ortho orthopedics uro urology onc oncology heme hemeonc psych psychiatry derm ent
    ophtho plastics vasc vascular trauma ctsurg cts thoracic ep anesthesia anesthesiology rad radiology ir icu micu sicu
    ccu csru team teams service res resident residents fellow intern attending md np pa rn ho sw cm pt ot rt slp
    pharmacy pharm nutrition chaplain case mgmt palliative hospice ethics transplant hepatology liver endocrine endo
    rheum geri geriatrics nursing medicine med medical icu's ob gyn peds infectious critical care consult consults
    social work wound respiratory speech pain acute lab labs dietary diet transport security supply admitting escort
    registration housekeeping engineering pathology path micro microbiology blood bank kitchen interpreter
    interpreters translator ems ambulance police dispatch billing chaplaincy"""
)
# words that name a role, not a person ("seen by fellow from renal", "per attending (neuro)")
ROLE_WORDS = word_set(
    """fellow fellows resident residents res intern interns attending attendings doc docs doctor doctors staff team
    someone somebody nurse nurses charge primary covering consultant consult pharmacist therapist tech techs provider
    providers surgeon surgeons anesthesiologist intensivist hospitalist radiologist physician physicians house
    officer pastor priest rabbi imam minister clergy reverend deacon nun sister-in-charge"""
)
UNITS_AFTER = word_set(
    """mg mcg ug g gm gram grams kg ml cc l units unit u iu meq mmol mm cm mmhg tab tabs tablet tablets cap caps puff
    puffs drop drops gtt gtts"""
)


_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=50_000)
def typo_of_known(low: str) -> bool:
    """``low`` misspells an everyday, medical or clinical word: two adjacent letters swapped ("pateint",
    "dsicharge"), or, for words of five letters or more, a clinical or medical word with one letter dropped,
    added or changed ("suctoned", "hepirin", "propofal"). A misspelled clinical word is not a name."""
    from medgrpo.deid.lexicon import load_lexicon

    lex = load_lexicon()
    for k in range(len(low) - 1):
        cand = low[:k] + low[k + 1] + low[k] + low[k + 2 :]
        info = lex.info(cand)
        if info.english and (info.english <= 35 or (info.english <= 70 and not info.is_name)):
            return True
        if info.vocab == "clinical" or cand in _CUE_WORDS:
            return True
    if len(low) < 5 or not low.isalpha():
        return False
    # one letter dropped, added or changed: a word of the hand-curated clinical vocabulary ("suctoned", "hepirin",
    # "dilaudad") unless the spelling is strongly name-like, or any medical word when the spelling is not
    # name-like at all. Everyday English is left out on purpose: surnames and town names sit one edit from
    # many English words ("greben" / "grebes", "redstead" / "bedstead", "walders" / "welders").
    shape = lex.spelling(low)
    if shape >= (1.0 if len(low) < 6 else 2.5) and len(low) < 8:
        return False  # a long word one edit from a clinical word is its misspelling ("trendelenberg", "ayclovir")
    medical, vocab = lex.medical, lex.vocab
    firsts, lasts = lex.first_rank, lex.last_rank
    for cand in _edits1(low):
        if cand in firsts or cand in lasts or cand in lex.places:
            continue
        if vocab.get(cand) in {"clinical", "device"} or (shape < -0.5 and cand in medical):
            return True
    return False


def _edits1(low: str) -> set[str]:
    """Every string one deletion, insertion or substitution away from ``low`` (lower-case letters)."""
    splits = [(low[:k], low[k:]) for k in range(len(low) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + c + b[1:] for a, b in splits if b for c in _ALPHABET if c != b[0]}
    out |= {a + c + b for a, b in splits for c in _ALPHABET}
    out.discard(low)
    return out


@lru_cache(maxsize=20_000)
def cue_typo(low: str) -> str:
    for k in range(len(low) - 1):
        cand = low[:k] + low[k + 1] + low[k] + low[k + 2 :]
        if cand in _CUE_WORDS:
            return cand
    return low


def cue_form(t: Token) -> str:
    """The token's lower-case form, or the cue word it misspells by two swapped letters ("husbnad", "daughetr")."""
    if t.info.known or len(t.low) < 4:
        return t.low
    return cue_typo(t.low)


_ENGLISH_PENALTY = ((10, -9.0), (20, -7.0), (35, -5.5), (40, -5.0), (50, -4.0), (55, -3.5), (60, -3.0), (70, -2.0))


def _english_penalty(level: int) -> float:
    """How strongly being an English word of this SCOWL level says "not a name" (10: most common)."""
    for top, value in _ENGLISH_PENALTY:
        if level <= top:
            return value
    return -1.5


def name_strength(info: WordInfo) -> float:
    """How strongly the name dictionaries say "a name": by frequency rank (0 when in no name list)."""
    best = 0.0
    for rank in (info.first, info.last):
        if not rank:
            continue
        if rank >= 99999:
            value = 1.2  # listed without a rank (Faker's international names)
        elif rank <= 100:
            value = 4.0
        elif rank <= 1000:
            value = 3.5
        elif rank <= 5000:
            value = 3.0
        elif rank <= 20000:
            value = 2.5
        else:
            value = 2.0
        best = max(best, value)
    return best


def prior(t: Token) -> float:
    """Context-free evidence that ``t`` belongs to a person's name (positive: likely)."""
    if len(t.low) == 1 or t.glued or t.marker:
        return -9.0
    return _prior(t.low, t.info)


@lru_cache(maxsize=100_000)
def _prior(low: str, info: WordInfo) -> float:
    census = (0 < info.first < 99999) or (0 < info.last <= 60000)
    strength = name_strength(info)
    if info.vocab in {"clinical", "device", "geography"}:
        base = -3.5 if census else -6.0
    elif info.medical or info.english:
        options = []
        if info.medical:
            options.append(-1.5 if census else -4.0)
        if info.english:
            penalty = _english_penalty(info.english)
            if info.english >= 35 and (0 < info.first <= 200 or 0 < info.last <= 500):
                penalty /= 2  # a very common name whose word sense is rare ("maria", "john", "jane")
            options.append(strength + penalty if strength else penalty - 1.0)
        base = min(options)  # medical vocabulary never makes an everyday word more name-like
    elif strength:
        base = strength
    elif info.place:
        base = 1.0
    elif len(low) >= 5 and typo_of_known(low):
        base = -2.5  # a typo of a known word, not a name
    else:
        base = 0.3 + max(-2.5, min(1.2, 0.6 * info.shape))  # a word in no list: its spelling decides
    if len(low) == 2:
        base -= 2.5
    elif len(low) == 3 and not census:
        base -= 0.5
    return base


# verbs that name a person after "w/" or "with" ("spoke w/ x", "sopke w/ x" with two letters swapped)
PHRASE_VERBS = word_set("spoke spoken speaking talked talking discussed met meeting conferred consulted")
_CUE_WORDS = RELATIONS | TITLES | LABELS | PHRASE_VERBS | word_set("pager beeper called spoke signed dictated")


def _proper_like(t: Token) -> bool:
    """Can be part of an eponym's name: capitalised (or a caps/lower note), a name, unknown or medical."""
    if t.low in _CHAIN_STOP or t.glued:
        return False
    if t.info.vocab == "eponym" or t.info.is_name or not t.info.known or t.info.medical:
        return True
    if t.informative_case:
        return t.is_title or t.is_upper
    return not (t.info.english and t.info.english <= 35)


def _eponym_word(t: Token) -> bool:
    """A word that makes the name before it an eponym: ``syndrome``, ``sign``, ``thyroiditis`` (disease morphology
    counts only for a medical word or a long word that is no name: "Thoma" is a surname)."""
    low = t.low
    if low in EPONYM_AFTER:
        return True
    if _DISEASE_MORPH.search(low) and (t.info.medical or (len(low) >= 7 and not t.info.is_name)):
        return True
    return any(low.endswith(suffix) and low[: -len(suffix)] in EPONYM_AFTER for suffix in ("es", "s"))


def eponym_context(doc: Document, i: int) -> bool:
    """``doc.tokens[i]`` is (part of) an eponym: ``Parkinson disease``, ``Murphy's sign``, ``Glasgow Coma Scale``,
    ``Katz correction``, ``Hashimoto thyroiditis``, ``Kernig and Brudzinski signs``, ``tetralogy of Fallot``,
    ``von Willebrand``: medical language, not a person."""
    toks = doc.tokens
    n = len(toks)
    k = i + 1
    steps = 0
    while k < n and steps < 3:
        gap = doc.gap(toks[k - 1], toks[k])
        if "\n" in gap or not re.fullmatch(r"['’]?s?[ \t]*|[ \t]*-[ \t]*", gap):
            break
        nxt = toks[k]
        if _eponym_word(nxt):
            if nxt.low == "cell" and re.match(
                r"\s*(?:#|ph|phone|number|no\b|\d)", doc.text[nxt.end : nxt.end + 8], re.I
            ):
                break  # "mary's cell 555-..." is a phone
            return True
        if nxt.low in {"and", "or"} and k + 1 < n and _proper_like(toks[k + 1]):
            k += 2  # "Kernig and Brudzinski signs"
            steps += 1
            continue
        if not (_proper_like(nxt) or nxt.low in {"en", "type"} or len(nxt.low) == 1):
            break
        k += 1
        steps += 1
    t = toks[i]
    if _EDITION.match(doc.text, t.end):
        return True  # "Harrison 19th/e", "Robbins 9/e": a textbook, cited by its author
    for j in (i - 1, i + 1):  # "Cockcroft-Gault", "Henderson-Hasselbalch": two eponyms joined by a hyphen
        if 0 <= j < n and t.info.vocab == "eponym" and toks[j].info.vocab == "eponym":
            a, b = (toks[j], t) if j < i else (t, toks[j])
            if doc.gap(a, b) == "-":
                return True
    if i >= 2 and toks[i - 1].low == "of" and toks[i - 2].low in EPONYM_BEFORE:
        return True  # "tetralogy of Fallot"
    if t.info.vocab == "eponym" and _FINDING_AFTER.match(doc.text, t.end):
        return True  # "BABINSKI UPGOING", "homans neg", "Murphy positive": a sign with its finding
    if t.info.vocab == "eponym" and _SCORE_AFTER.match(doc.text, t.end):
        return True  # "BRADEN 13", "Glasgow 9", "RAMSAY: 3": a scale written with its value
    return t.info.vocab == "eponym" and i > 0 and toks[i - 1].low in {"von", "van", "de", "du"}


def case_evidence(t: Token) -> float:
    """What letter case says, only on mixed-case lines (capitalised mid-sentence: likely a name)."""
    if not t.informative_case:
        return 0.0
    if t.is_title:
        return 0.4 if t.sent_start else 2.0
    if t.is_upper:
        return 0.0 if len(t.text) >= 4 and t.info.is_name else -1.0
    return -2.0


_LATIN_SPECIES = re.compile(r"(?:is|us|um|ae|ii|i|a|ans|ens|ica|ica|oides|ensis|genes)$")


def medical_phrase(doc: Document, i: int) -> bool:
    """``doc.tokens[i]`` is part of medical wording rather than a name: a genus before its lower-case species
    ("Neisseria meningitidis", "Plasmodium falciparum"), or an ICD word that is also a name next to medical
    vocabulary ("Polycythemia Vera", "Bell palsy")."""
    toks = doc.tokens
    t = toks[i]
    if i + 1 < len(toks) and t.is_title and t.informative_case:
        nxt = toks[i + 1]
        if (
            doc.gap(t, nxt) == " "
            and nxt.text.islower()
            and len(nxt.low) >= 4
            and not (nxt.info.english and nxt.info.english <= 50)
            and not nxt.info.is_name
            and _LATIN_SPECIES.search(nxt.low)
        ):
            return True
    if t.info.vocab == "medname":
        for j in (i - 1, i + 1):
            if 0 <= j < len(toks) and re.fullmatch(r"[ \t-]+", doc.gap(toks[min(i, j)], toks[max(i, j)])):
                u = toks[j].info
                if u.medical or u.vocab in {"clinical", "medname"}:
                    return True
    return False
