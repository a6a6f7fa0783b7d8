"""Adversarial completions against the ``format`` and ``accuracy`` rewards (issue #16).

Each row is a hand-written completion a policy could drift towards, with the expected
(accuracy, format) and why. The property test at the end generates choice questions and
completions naming two or more options (by letter or by text) and checks none earns anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medgrpo.train.rewards import get_reward_funcs

CORONARY = {
    "answer": "C",
    "answer_type": "choice",
    "options": {
        "A": "Left anterior descending artery",
        "B": "Left circumflex artery",
        "C": "Right coronary artery",
        "D": "Posterior descending artery",
        "E": "Left main coronary artery",
    },
}
ALL_ABOVE = {
    "answer": "D",
    "answer_type": "choice",
    "options": {"A": "Fever", "B": "Rash", "C": "Arthralgia", "D": "All of the above"},
}
YES = {"answer": "yes", "answer_type": "yes_no_maybe"}
ANION_GAP = {"answer": "16", "answer_type": "numeric", "meta": {"unit": "mEq/L", "tolerance": 0.02}}
CALCIUM = {"answer": "9.66", "answer_type": "numeric", "meta": {"unit": "mg/dL", "tolerance": 0.01}}
FLUIDS = {"answer": "1600", "answer_type": "numeric", "meta": {"unit": "mL", "abs_tolerance": 50}}
BMI = {"answer": "24.5", "answer_type": "numeric", "meta": {"unit": "kg/m²", "tolerance": 0.01}}
CROUP = {"answer": "Croup (laryngotracheobronchitis)", "answer_type": "text"}
ANEMIA = {"answer": "Iron deficiency anemia", "answer_type": "text"}
DKA = {"answer": "Diabetic ketoacidosis", "answer_type": "text"}
COPD = {"answer": "COPD", "answer_type": "text"}
METFORMIN = {"answer": "Metformin", "answer_type": "text", "meta": {"aliases": ["Glucophage"]}}
VARICES = {"answer": "Esophageal varices", "answer_type": "text"}
HAEMOPHILIA = {"answer": "Haemophilia A", "answer_type": "text"}


@dataclass(frozen=True)
class Case:
    question: dict[str, Any]
    completion: str
    accuracy: float
    format: float
    why: str


def ok(answer: str, think: str = "reasoning") -> str:
    """A well-formed completion with ``answer`` in its answer block."""
    return f"<think>{think}</think><answer>{answer}</answer>"


CASES = [
    # ---- choice: accepted ways of giving exactly one option (gold C, Right coronary artery)
    Case(CORONARY, ok("C"), 1, 1, "the letter"),
    Case(CORONARY, ok("(C)"), 1, 1, "the letter in parentheses"),
    Case(CORONARY, ok("Answer: C"), 1, 1, "lead-in 'Answer:'"),
    Case(CORONARY, ok("C."), 1, 1, "letter with a full stop"),
    Case(CORONARY, ok("(C) Right coronary artery"), 1, 1, "letter with its own option text"),
    Case(CORONARY, ok("Right coronary artery"), 1, 1, "option text instead of the letter"),
    Case(CORONARY, ok("the right coronary artery"), 1, 1, "option text, article and case aside"),
    Case(CORONARY, ok("c"), 1, 1, "lower-case letter"),
    Case(CORONARY, ok("**C**"), 1, 1, "Markdown bold around the letter"),
    Case(CORONARY, ok("The answer is C. Right coronary artery."), 1, 1, "sentence with letter and its text"),
    Case(CORONARY, ok("C is correct"), 1, 1, "letter and a verdict naming nothing else"),
    Case(CORONARY, ok("Option C"), 1, 1, "'Option C'"),
    Case(CORONARY, ok("\\boxed{C}"), 1, 1, "LaTeX boxed letter"),
    Case(CORONARY, "Sure! " + ok("C"), 1, 0, "right answer, but text outside the blocks fails the format"),
    # ---- choice: hedges, lists, negations, mixtures -> 0
    Case(CORONARY, ok("A, B, C, D, E"), 0, 1, "every option listed"),
    Case(CORONARY, ok("C or D"), 0, 1, "hedge between two letters"),
    Case(CORONARY, ok("C/D"), 0, 1, "hedge with a slash"),
    Case(CORONARY, ok("C D"), 0, 1, "two bare letters"),
    Case(CORONARY, ok("C and E"), 0, 1, "two letters joined by 'and'"),
    Case(CORONARY, ok("A-E"), 0, 1, "a range of letters covers the gold"),
    Case(CORONARY, ok("A through E"), 0, 1, "a range in words"),
    Case(CORONARY, ok("not A"), 0, 1, "negation: points at every other option"),
    Case(CORONARY, ok("A is wrong"), 0, 1, "negation as a verdict"),
    Case(CORONARY, ok("C, not A"), 0, 1, "two options named, one negated"),
    Case(CORONARY, ok("C. Left circumflex artery"), 0, 1, "the gold letter with another option's text"),
    Case(CORONARY, ok("Right coronary artery (B)"), 0, 1, "the gold text with another option's letter"),
    Case(CORONARY, ok("Right coronary artery or left circumflex artery"), 0, 1, "two option texts"),
    Case(CORONARY, ok("All of the above"), 0, 1, "'all of the above' is not an option here"),
    Case(CORONARY, ok("CD"), 0, 1, "two letters run together: not a letter"),
    Case(CORONARY, ok("F"), 0, 1, "a letter that is not an option"),
    Case(CORONARY, ok("B"), 0, 1, "plainly wrong"),
    # ---- choice: tag tricks -> 0
    Case(CORONARY, ok("B") + "<answer>C</answer>", 0, 0, "two answer blocks: the model may not pick later"),
    Case(CORONARY, ok("C") + "<answer>C</answer>", 0, 0, "two answer blocks, even when both agree"),
    Case(CORONARY, "<think>so it is <answer>C</answer></think>", 0, 0, "answer only inside the think block"),
    Case(CORONARY, "<think>inferior leads</think>The answer is C", 0, 0, "answer outside any answer block"),
    Case(CORONARY, ok(""), 0, 0, "empty answer block"),
    Case(CORONARY, "<think>x</think><answer>C", 0, 0, "unclosed answer block"),
    # ---- choice where "all of the above" IS an option (gold D)
    Case(ALL_ABOVE, ok("All of the above"), 1, 1, "the option's own text"),
    Case(ALL_ABOVE, ok("D"), 1, 1, "its letter"),
    Case(ALL_ABOVE, ok("A, B and C"), 0, 1, "listing options is a list even when it means D"),
    # ---- yes/no/maybe (gold yes)
    Case(YES, ok("yes"), 1, 1, "one word"),
    Case(YES, ok("Yes."), 1, 1, "capitalised with a full stop"),
    Case(YES, ok("YES"), 1, 1, "upper case"),
    Case(YES, ok("Yes, because the trial showed a benefit"), 1, 1, "one word and a reason naming no other"),
    Case(YES, ok("yes, no, maybe"), 0, 1, "all three"),
    Case(YES, ok("yes or no"), 0, 1, "hedge between two"),
    Case(YES, ok("yes/no"), 0, 1, "hedge with a slash"),
    Case(YES, ok("maybe yes"), 0, 1, "two of the words"),
    Case(YES, ok("Yes, but maybe not in all patients"), 0, 1, "a 'maybe' inside the reason"),
    Case(YES, ok("no"), 0, 1, "wrong"),
    Case(YES, ok("yesterday"), 0, 1, "not one of the words"),
    Case(YES, "<think>I would say <answer>yes</answer></think>", 0, 0, "answer only inside the think block"),
    # ---- numeric (gold 16 mEq/L, relative tolerance 2% -> +-0.32)
    Case(ANION_GAP, ok("16"), 1, 1, "the number"),
    Case(ANION_GAP, ok("16 mEq/L"), 1, 1, "with its unit"),
    Case(ANION_GAP, ok("16 mEq / L"), 1, 1, "unit spacing does not matter"),
    Case(ANION_GAP, ok("16.2 mEq/L"), 1, 1, "within tolerance: |0.2| <= 0.32"),
    Case(ANION_GAP, ok("AG = 16 mEq/L"), 1, 1, "a short lead-in"),
    Case(ANION_GAP, ok("about 16"), 1, 1, "approximate wording, one value"),
    Case(ANION_GAP, ok("16.5"), 0, 1, "outside tolerance: |0.5| > 0.32"),
    Case(ANION_GAP, ok("16 mg/dL"), 0, 1, "the wrong unit"),
    Case(ANION_GAP, ok("14-18"), 0, 1, "a range around the gold"),
    Case(ANION_GAP, ok("16 or 18"), 0, 1, "hedge between two values"),
    Case(ANION_GAP, ok("12, 14, 16, 18"), 0, 1, "a list of values"),
    Case(ANION_GAP, ok("> 15"), 0, 1, "a bound is not a value"),
    Case(ANION_GAP, ok("16 (normal 8-12)"), 0, 1, "several numbers in the block"),
    Case(ANION_GAP, ok("sixteen"), 0, 1, "no digits"),
    # ---- numeric rounding and tolerances
    Case(CALCIUM, ok("9.7"), 1, 1, "rounded to 1 decimal: |0.04| <= 1% of 9.66 = 0.0966"),
    Case(CALCIUM, ok("10"), 0, 1, "rounded to an integer: |0.34| > 0.0966"),
    Case(CALCIUM, ok("9.66 mg/dl"), 1, 1, "unit case does not matter"),
    Case(FLUIDS, ok("1,650 mL"), 1, 1, "absolute tolerance 50: |50| <= 50, thousands separator"),
    Case(FLUIDS, ok("1,700 mL"), 0, 1, "absolute tolerance 50: |100| > 50"),
    Case(FLUIDS, ok("1.6 L"), 0, 1, "other units are not converted: L is not mL"),
    Case(BMI, ok("24.5 kg/m2"), 1, 1, "m2 is m²"),
    Case(BMI, ok("24.5 kg/m^2"), 1, 1, "m^2 is m²"),
    # ---- text: synonyms, spelling, abbreviations, aliases
    Case(CROUP, ok("Croup"), 1, 1, "the common name from the gold's parenthetical"),
    Case(CROUP, ok("Laryngotracheobronchitis"), 1, 1, "the formal name from the parenthetical"),
    Case(CROUP, ok("laryngotracheobronchitis (croup)"), 1, 1, "both names, the other way round"),
    Case(CROUP, ok("croup or epiglottitis"), 0, 1, "hedge between two diagnoses"),
    Case(CROUP, ok("Croup, epiglottitis, bacterial tracheitis"), 0, 1, "a differential list"),
    Case(CROUP, ok("not croup"), 0, 1, "negation"),
    Case(CROUP, ok("croup (epiglottitis)"), 0, 1, "a parenthetical naming another diagnosis"),
    Case(CROUP, ok("Epiglottitis"), 0, 1, "another diagnosis"),
    Case(ANEMIA, ok("Iron deficiency anaemia"), 1, 1, "British spelling"),
    Case(ANEMIA, ok("IDA"), 1, 1, "initials of the gold"),
    Case(DKA, ok("DKA"), 1, 1, "a common abbreviation"),
    Case(COPD, ok("Chronic obstructive pulmonary disease"), 1, 1, "the expansion of an abbreviated gold"),
    Case(METFORMIN, ok("Glucophage"), 1, 1, "meta.aliases"),
    Case(METFORMIN, ok("Metformin and insulin"), 0, 1, "two drugs listed"),
    Case(VARICES, ok("Oesophageal varices"), 1, 1, "British spelling of the gold"),
    Case(HAEMOPHILIA, ok("Hemophilia A"), 1, 1, "American spelling; the A is kept"),
    Case(HAEMOPHILIA, ok("Hemophilia B"), 0, 1, "the letter is part of the name, not an article"),
]


def _columns(cases: list[Case]) -> dict[str, list[Any]]:
    return {
        "answer": [c.question["answer"] for c in cases],
        "answer_type": [c.question["answer_type"] for c in cases],
        "meta": [json.dumps(c.question.get("meta") or {}) for c in cases],
        "options": [json.dumps(c.question.get("options") or {}) for c in cases],
    }


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert sum(c.accuracy == 0 for c in CASES) >= 40  # mostly attempts to game the reward


@pytest.mark.parametrize("case", CASES, ids=[f"{i:02d}-{c.why[:40]}" for i, c in enumerate(CASES)])
def test_adversarial_completion(case: Case) -> None:
    fmt, acc = get_reward_funcs(["format", "accuracy"])
    completions = [[{"role": "assistant", "content": case.completion}]]
    columns = _columns([case])
    assert (acc(completions, **columns)[0], fmt(completions, **columns)[0]) == (case.accuracy, case.format), case.why


def test_the_whole_table_in_one_batch() -> None:
    # the same rows as one TRL batch (mixed answer types in one call)
    (acc,) = get_reward_funcs(["accuracy"])
    assert acc([c.completion for c in CASES], **_columns(CASES)) == [c.accuracy for c in CASES]


# ----------------------------------------------------------------------------- property test
_WORDS = [
    "acute",
    "chronic",
    "renal",
    "hepatic",
    "cardiac",
    "pulmonary",
    "failure",
    "infarction",
    "embolism",
    "stenosis",
    "artery",
    "vein",
    "syndrome",
    "deficiency",
    "toxicity",
    "infection",
    "abscess",
    "tumor",
    "carcinoma",
    "lymphoma",
    "anemia",
    "fever",
    "rash",
    "pneumonia",
    "sepsis",
    "aspirin",
    "heparin",
    "warfarin",
    "insulin",
    "metformin",
    "lithium",
    "steroid",
    "antibiotic",
    "dialysis",
    "surgery",
    "biopsy",
    "observation",
    "transfusion",
    "left",
    "right",
    "anterior",
    "posterior",
    "superior",
    "inferior",
]
_LETTER_FORMS = (
    "{L}",
    "({L})",
    "{L}.",
    "{L})",
    "[{L}]",
    "{L}:",
    "{L} -",
    "option {L}",
    "Option {L}",
    "letter {L}",
    "**{L}**",
    "{l}",
    "({l})",
    "{l}.",
)
_CONNECTORS = (", ", " or ", " and ", "/", " & ", " vs ", "; ", "\n", " ", " and/or ", " or maybe ", ", possibly ")
_PREFIXES = ("", "Answer: ", "The answer is ", "Either ", "Both ")
_SUFFIXES = ("", ".", " are both plausible", " (unsure)", " - hard to say")


def _contains(outer: str, inner: str) -> bool:
    return f" {inner.lower()} " in f" {outer.lower()} "


@st.composite
def choice_questions(draw: st.DrawFn) -> dict[str, Any]:
    """2-6 options of 1-3 words, no option's text containing another's, and a gold letter."""
    n = draw(st.integers(2, 6))
    texts = draw(
        st.lists(
            st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3).map(" ".join),
            min_size=n,
            max_size=n,
            unique_by=str.lower,
        ).filter(lambda ts: not any(a != b and _contains(a, b) for a in ts for b in ts))
    )
    letters = "ABCDEF"[:n]
    return {"options": dict(zip(letters, texts, strict=True)), "answer": draw(st.sampled_from(letters))}


@st.composite
def hedged_completions(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A question and a completion naming two or more distinct options by letter and/or text."""
    question = draw(choice_questions())
    options = question["options"]
    named = draw(st.lists(st.sampled_from(sorted(options)), min_size=2, max_size=len(options), unique=True))
    if draw(st.booleans()):  # often put the gold among them: the case a hedge is paid for
        named[draw(st.integers(0, len(named) - 1))] = question["answer"]
        named = list(dict.fromkeys(named))
        if len(named) < 2:
            named.append(next(k for k in sorted(options) if k != question["answer"]))
    parts = []
    for letter in named:
        if draw(st.booleans()):
            form = draw(st.sampled_from(_LETTER_FORMS))
            parts.append(form.format(L=letter, l=letter.lower()))
        else:
            text = options[letter]
            parts.append(draw(st.sampled_from((text, text.capitalize(), text.upper(), f"the {text}", f"{text}."))))
    body = parts[0]
    for part in parts[1:]:
        body += draw(st.sampled_from(_CONNECTORS)) + part
    answer = draw(st.sampled_from(_PREFIXES)) + body + draw(st.sampled_from(_SUFFIXES))
    return question, f"<think>{draw(st.sampled_from(_WORDS))}</think><answer>{answer}</answer>"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(hedged_completions())
def test_naming_two_options_never_scores(example: tuple[dict[str, Any], str]) -> None:
    question, completion = example
    (acc,) = get_reward_funcs(["accuracy"])
    score = acc(
        [completion], answer=[question["answer"]], answer_type=["choice"], options=[json.dumps(question["options"])]
    )
    assert score == [0.0], (completion, question)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(choice_questions(), st.data())
def test_one_option_by_letter_or_text_scores(question: dict[str, Any], data: st.DataObject) -> None:
    # the property above must not come from a parser that pays nothing: one option named is graded
    letter = data.draw(st.sampled_from(sorted(question["options"])))
    form = data.draw(st.sampled_from(("{L}", "({L})", "{L}.", "Answer: {L}", "({L}) {T}", "{T}")))
    answer = form.format(L=letter, T=question["options"][letter])
    (acc,) = get_reward_funcs(["accuracy"])
    score = acc(
        [f"<think>t</think><answer>{answer}</answer>"],
        answer=[question["answer"]],
        answer_type=["choice"],
        options=[json.dumps(question["options"])],
    )
    assert score == [float(letter == question["answer"])], (answer, question)
