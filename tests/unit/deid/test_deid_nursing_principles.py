"""One case per general rule added in the issue #11 robustness pass (nursing-note shorthand), both directions.

Each case is a short hand-written line (no real notes) with the values that must be removed (``{value}``) and
the rest that must come out untouched. These were written while tuning, so they are regression material for
the rules, not an unseen test; the unseen checks are the held-out probe third and the frozen split.
"""

from __future__ import annotations

import re

import pytest

from medgrpo.deid.engine import Deidentifier

_MARK = re.compile(r"\{([^}]*)\}")

CASES = [
    # run-together sentences are not web domains (.pt, .no, .ca are also shorthand or words)
    "DR {OSTRANDER} AND SW.PT MADE DNR.MD AWARE.PT RESTING.2/6 MURMUR @ LSB.NO EDEMA.CA 8.1",
    "registered {garciadental.us} and {JONESLAW.NET}",
    # "<surname> family", not "the whole family" / "good family support" / "a young family"
    "FAMILY MEETING WITH {BROWN} FAMILY @ 1500. PT HAS GOOD FAMILY SUPPORT. MET WITH THE WHOLE FAMILY.",
    "family meeting with the {yarborough} family; pt has a young family at home",
    # a first name that is also a modal verb, by what follows it
    "SISTER {HOPE} AND BROTHER {WILL} UPDATED BY PHONE.WILL UPDATE AGAIN IN AM.",
    "sister {may} and brother {art} will come in tomorrow, may need to discuss code status",
    "wife will call in am. son will visit tomorrow. brother may need update. husband {ed} will visit.",
    # common-word names between a person cue and a service, role, topic or credential
    "PT SEEN BY {GREEN} FROM RENAL. SEEN BY RENAL AND ID. PER {BELL} (NEURO RES) CT NEG.",
    "CALLED {GREEN} RE LABS. PAGED {STONE} X2. NOTIFIED {MARSH} OF K 5.9. CALLED HO RE BP. CALLED PHARMACY RE LEVEL.",
    "NP {STONE} AT BEDSIDE. rn {hope} gave report. MD AWARE. RN GAVE REPORT. ICU RN AWARE.",
    "{ROSE} (WIFE) CALLED. {HOPE}, PT'S WIFE, CALLED. {ROSE} IS HCP.",
    "{green}, rn",
    "{GUS} {GREEN} RN 7A-7P",
    "{J}. {QUARRINGTON} RN",
    "PT'S NIECE {ROSE} {STONE} VISITED. DRS {HART} AND {GREEN} IN.",
    "SISTER IN LAW {ROSE} CALLED. Pts daughter {Bill} visited.",
    "SPOKE W {MARSH} RE PLAN. SOPKE W/ {GLEN} RE PLAN. Spoke to {Dubois} re plan.",
    # shorthand after per / seen by stays shorthand unless a frequent name
    "PER ENDO, CONT SAME. SEEN BY FRIDAY. PER PROTOCOL. D/W NG TUBE TEAM. PER {BRADY}, HOLD HEPARIN.",
    # eponyms with a value or a finding, device brands, hyphenated compounds
    "SKIN:STAGE 2 COCCYX.BRADEN 13.MORSE FALL SCORE 45. BABINSKI UPGOING ON L. HOMANS NEG.",
    "Trach care done, Shiley #8 cuffed. Passy-Muir valve trial. Jackson-Pratt to bulb. Steri-strips intact.",
    "CHEYNE STOKES RESP PATTERN NOTED. KUSSMAUL BREATHING RESOLVED.",
    # misspelled clinical words are not names (one edit), in caps, lower and capitalised mid-sentence
    "PT IN TRENDELENBERG FOR LINE. PER HEPIRIN PROTOCOL. Pt received Propofal and Dilaudad. suctoned x3.",
    "Pt Tolerating Tube Feeds At Goal. Lungs Coarse, Sx'd For Thick Secretions.",
    # dates against settings, ranges and shifts
    "S/P FEM-POP {2/03}. PT ON 12/5 BIPAP, WEANED TO 10/5 @ 1400. pt on 2-4 l nc. ON 7-3 SHIFT NO EVENTS.",
    "ON THE {3RD} PT WAS EXTUBATED. SEEN IN CLINIC {JAN 5}. SEEN 3-4 TIMES. 1/2 NS. 5/5 STRENGTH.",
    # pagers and facilities
    "BEEPER #{123} FOR EP FELLOW. PAGER {4-3318}.",
    "TRANSFERRED FROM {HOLLISTON GENERAL} ON {3/4}. SEEN BY GENERAL SURGERY. GENERAL WEAKNESS.",
    "PT WAS @ {BAYVIEW} FROM {11/28-12/2}. dim @ bases, gtt @ 5mg/hr, dsg @ bedside.",
    "ACCEPTED AT {BRIGHTWATER} FOR REHAB. HD AT {SAINT ANSELM KIDNEY CENTER}. FROM {CALVARY ASSISTED LIVING}.",
    "family is in {fairhaven} area. PT IS FROM {BRIGHTWATER} ORIGINALLY. DRIVING IN FROM {CALVARY} TONIGHT.",
]


def _split(marked: str) -> tuple[str, list[tuple[int, int]]]:
    text, spans, last = [], [], 0
    pos = 0
    for m in _MARK.finditer(marked):
        text.append(marked[last : m.start()])
        pos += m.start() - last
        spans.append((pos, pos + len(m.group(1))))
        text.append(m.group(1))
        pos += len(m.group(1))
        last = m.end()
    text.append(marked[last:])
    return "".join(text), spans


@pytest.mark.parametrize("marked", CASES)
def test_rule_case(deid: Deidentifier, marked: str) -> None:
    text, gold = _split(marked)
    detected = deid.analyze(text)
    for a, b in gold:
        assert any(s.start < b and a < s.end for s in detected), f"kept {text[a:b]!r} in {text!r}"
    for s in detected:
        assert any(s.start < b and a < s.end for a, b in gold), f"removed {text[s.start : s.end]!r} in {text!r}"
