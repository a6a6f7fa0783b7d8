"""Shared word-level evidence for the name, organisation and place recognizers.

``prior(token)`` is a score (about -6 .. +2.5) for "this word, with no context, is part of a name":
known-safe vocabulary (everyday English by commonness, drugs, clinical shorthand, device eponyms,
geography above the state level) is negative, name-dictionary words that are not ordinary words are
positive, unknown words are neutral. Context cues (titles, relations, credentials, shorthand such as
``per``, ``called``) are added by the recognizers. Nothing here depends on letter case.
"""

from __future__ import annotations

from medgrpo.deid.text import Token

TITLES = frozenset("dr dr's drs doctor mr mrs ms miss mister mx prof professor madam madame sr sra srta".split())
RELATIONS = frozenset(
    """wife husband son daughter dtr dau sister sis brother bro mother mom mum mommy father dad daddy niece nephew
    aunt auntie uncle grandson granddaughter grandmother grandfather grandma grandpa granny nana papa gm gd gs
    boyfriend girlfriend bf gf fiance fiancee fiancé fiancée partner spouse cousin friend friends neighbor neighbour
    roommate caregiver guardian hcp proxy sil dil stepson stepdaughter stepmother stepfather godmother godfather
    sibling siblings child children kids kid twin nephews nieces sons daughters sisters brothers parents parent
    significant other ex-wife ex-husband""".split()
)
LABELS = frozenset(
    """name patient pt attending resident intern fellow pcp md rn np nurse provider physician surgeon contact hcp proxy
    nok guardian spouse mother father signed dictated cc to from author by attn attending's rn's caller callers
    provider pharmacist therapist referring ordering""".split()
)
STRONG_WEAK_BEFORE = frozenset("per paged notified page".split())
WEAK_BEFORE = frozenset(
    """per called paged page notified spoke talked informed updated discussed with by from to and seen visited met
    asked told d/w w/ c/w reviewed consulted cleared ok'd okayed approved via contacted phoned texted emailed""".split()
)
CREDENTIALS = frozenset(
    """md m.d mds rn r.n rns np pa pa-c do phd lpn cna crnp rrt pharmd msw licsw lcsw dds dmd dpm aprn cnm fnp anp
    acnp rd ot pt slp cns ccrn bsn msn mph facs facp fccp""".split()
)
AFTER_PERSON = frozenset(
    """aware notified paged called updated informed visited visiting here phoned spoke said states stated reports
    reported feels wants agrees agreed requested asked came left present arrived returned was is will would has had
    at in brought""".split()
)
EPONYM_AFTER = frozenset(
    """sign signs syndrome syndromes disease diseases test tests criteria classification score scale catheter cath
    tube drain drains line maneuver manoeuvre reflex phenomenon triad fracture fractures procedure operation
    ulcer nodes node cell cells body bodies equation formula rule rules law index method stain stains node lesion
    lesions palsy palsies pouch diverticulum anomaly operation repair incision position bag mask boots""".split()
)
UNITS_AFTER = frozenset(
    """mg mcg ug g gm gram grams kg ml cc l units unit u iu meq mmol mm cm mmhg tab tabs tablet tablets cap caps puff
    puffs drop drops gtt gtts""".split()
)


def _typo_of_known(low: str) -> bool:
    """``low`` is an everyday or clinical word with two adjacent letters swapped ("pateint", "dsicharge")."""
    from medgrpo.deid.lexicon import load_lexicon

    lex = load_lexicon()
    for k in range(len(low) - 1):
        cand = low[:k] + low[k + 1] + low[k] + low[k + 2 :]
        info = lex.info(cand)
        if (info.english and info.english <= 70 and not info.is_name) or info.vocab == "clinical":
            return True
    return False


def prior(t: Token) -> float:
    """Context-free evidence that ``t`` belongs to a person's name (positive: likely)."""
    info, low = t.info, t.low
    if len(low) == 1:
        return -9.0
    census = (0 < info.first < 99999) or (0 < info.last <= 60000)
    name = info.is_name
    if info.vocab in {"clinical", "device", "geography"}:
        base = -3.5 if census else -6.0
    elif info.medical:
        base = -1.5 if census else -4.0
    elif info.english:
        lvl = info.english
        if lvl <= 20:
            base = -3.5 if name else -5.0
        elif lvl <= 50:
            base = -2.0 if name else -4.0
        elif lvl <= 70:
            base = 0.5 if name else -3.0
        else:
            base = 1.5 if name else -2.0
    elif name:
        base = 2.5 if census else 1.2
    elif info.place:
        base = 1.0
    elif len(low) >= 5 and _typo_of_known(low):
        base = -2.5  # a typo of a known word, not a name
    else:
        base = 0.3
    if len(low) == 2:
        base -= 2.5
    elif len(low) == 3 and not census:
        base -= 0.5
    return base


def case_evidence(t: Token) -> float:
    """What letter case says, only on mixed-case lines (capitalised mid-sentence: likely a name)."""
    if not t.informative_case:
        return 0.0
    if t.is_title:
        return 0.4 if t.sent_start else 2.0
    if t.is_upper:
        return 0.0 if len(t.text) >= 4 and t.info.is_name else -1.0
    return -2.0
