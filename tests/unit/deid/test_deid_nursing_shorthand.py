"""Nursing-note styles the corpus generator does not produce: run-together punctuation, heavy shorthand, times,
vital signs, drips, fractions and doses next to real dates, relatives and clinicians in every letter case.

Written for this project (no real notes). PHI is marked inline as ``{TYPE|value}``. Two checks: every marked
value is removed, and precision holds on heavy clinical shorthand (almost no unmarked token is touched; the
PHI-free paragraphs come out unchanged). These snippets were written while tuning, so they are regression
material, not an unseen test set.
"""

from __future__ import annotations

import re

import pytest

from medgrpo.deid.corpus import Note
from medgrpo.deid.engine import Deidentifier
from medgrpo.deid.evaluate import evaluate

SNIPPETS = [
    # ALL CAPS, run-together punctuation
    "PT C/O PAIN.DR {NAME|SMITH} AWARE.MSO4 2MG IV GIVEN @ 0300 W/ GOOD EFFECT.",
    "NEO @ 1.5MCG/KG/MIN, WEANED TO 0.8. HR 110S AFIB, BP 90/50, T MAX 101.2. K 3.6 REPLETED.",
    "WIFE {NAME|MARY} IN TO VISIT, UPDATED BY RN. SON {NAME|STEVEN} CALLED X2, AWARE OF PLAN.",
    "CALLED DR {NAME|JONES} @ {ORGANIZATION|GH} RE: OLD RECORDS. ? TX TO 11 WEST IN AM.",
    "TRANSFERRED FROM {ORGANIZATION|CALVERT HOSPITAL} ON {DATE|3/4}. LAST BM TUES {DATE|4/2}. SAT 94%.",
    "PLAN: F/U ECHO {DATE|10-20}, CONT ABX (VANCO/ZOSYN), Q4H NEURO CHECKS, FS QID, SSRI HELD.",
    "NEURO: A&OX3, MAE, PERRLA 3MM BRISK. GCS 15. NO SZ ACTIVITY. DILANTIN LEVEL 12.4.",
    "RESP: LS CTA BILAT, DIM @ BASES. 2L NC, SATS 95-97%. RR 16-22. NO SOB. IS 750CC.",
    "GU: FOLEY D/C'D @ 0600, DTV. UOP 30-50CC/HR. BUN/CR 32/1.4. 1/2 NS @ 75CC/HR.",
    "DAUGHTER {NAME|LINDA} (HCP) CALLED FROM {LOCATION|WORCESTER}, PHONE {PHONE|508-555-0147}.",
    "SEEN BY {NAME|DR HEALEY} FROM RENAL, PLAN CVVH IF K >6. D/W {NAME|JEN} RN @ {ORGANIZATION|KERNAN HOSP}.",
    # lower case, terse
    "pt c/o nausea, zofran 4mg iv x1 w/ effect. abd soft nt nd +bs. tf @ 40cc/hr, goal 60.",
    "spoke w/ {NAME|dr kowalczyk} re: lasix gtt, will start @ 10mg/hr. k 3.2, 40meq kcl po given.",
    "husband {NAME|joe} in this am, very appropriate. dtr {NAME|rose} to visit sat, sat 96% on ra.",
    "per {NAME|dr healey} pt to go to cath lab {DATE|7/22} if trop rising. heparin gtt @ 900u/hr.",
    "skin: coccyx stage 2, duoderm intact. heels boggy, off-loaded w/ pillows. turned q2h.",
    "a fib w/ rvr to 140s overnight, dilt 10mg iv x2 then gtt @ 5mg/hr. pvd, dm2, cri.",
    "dextrose 5% @ kvo. d5 1/2ns @ 100. pain 4/10, tylenol 650 po. 5/5 strength all ext. 2/6 sem.",
    # mixed case, fuller sentences
    "Pt is an 83 yo male admitted {DATE|7/22} from {ORGANIZATION|St. Elizabeth's Medical Center} with urosepsis.",
    "Levophed titrated 0.05-0.1 mcg/kg/min to keep MAP >65. Vent: AC 500x14, PEEP 5, FiO2 50%.",
    "Son {NAME|Michael} is HCP, cell {PHONE|(617) 555-2231}. Dr. {NAME|Okafor} (ID) to see pt in am.",
    "Family mtg {DATE|10/20} w/ {NAME|Dr. Patel}, wife {NAME|Anne} and {NAME|Fr. O'Malley}; pt made DNR/DNI.",
    "Received from MICU via bed, R IJ TLC placed {DATE|3/3}, A-line L radial, 14 Fr. Hct 27.9 from 30.1.",
    "BS 210-240s, covered per RISS. HbA1c 9.1. Insulin gtt off @ 1400, lantus 20u SC qhs.",
    "Pt's friend {NAME|Dolores} brought clothes. Pt asking for chaplain; pastoral care paged.",
    "{NAME|Bill Kowalski}, RN -- 7a-7p",
]
_MARK = re.compile(r"\{([A-Z_]+)\|([^}]*)\}")


def _parse(marked: str) -> Note:
    text, phi, pos = [], [], 0
    last = 0
    for m in _MARK.finditer(marked):
        text.append(marked[last : m.start()])
        pos += m.start() - last
        value = m.group(2)
        if value.lower().startswith(("dr ", "dr. ", "fr. ")):  # the title is not PHI, the name is
            head, _, value_rest = value.partition(" ")
            text.append(head + " ")
            pos += len(head) + 1
            value = value_rest
        phi.append((pos, pos + len(value), m.group(1)))
        text.append(value)
        pos += len(value)
        last = m.end()
    text.append(marked[last:])
    return Note("".join(text), phi, "nursing-extra", "")


NOTES = [_parse(s) for s in SNIPPETS]


def test_markup_parses() -> None:
    note = _parse("dr {NAME|dr smith} aware")
    assert note.text == "dr dr smith aware" and note.text[note.phi[0][0] : note.phi[0][1]] == "smith"


@pytest.mark.parametrize("note", NOTES, ids=[n.text[:40] for n in NOTES])
def test_every_marked_value_is_removed(deid: Deidentifier, note: Note) -> None:
    out = deid.deidentify_text(note.text)[0]
    for start, end, etype in note.phi:
        value = note.text[start:end]
        assert not re.search(r"(?<!\w)" + re.escape(value) + r"(?!\w)", out), (etype, value, out)


def test_precision_holds_on_heavy_shorthand(deid: Deidentifier) -> None:
    result = evaluate(NOTES, deid.analyze)
    assert result["recall"] == 1.0, result["misses"]
    assert result["over_redaction"] <= 0.01, result["false_hits"]
    assert result["precision"] >= 0.9, result["false_hits"]


def test_phi_free_shorthand_is_untouched(deid: Deidentifier) -> None:
    for note in NOTES:
        if not note.phi:
            assert deid.deidentify_text(note.text)[0] == note.text
