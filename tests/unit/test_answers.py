"""The strict answer parser (medgrpo.answers): blocks, each answer kind, normalisation, diagnostics."""

from __future__ import annotations

import subprocess
import sys

import pytest

from medgrpo.answers import (
    AnswerDiagnostics,
    Question,
    Status,
    answer_diagnostics,
    find_answer_block,
    grade_answer,
    grade_completion,
    is_well_formed,
    normalize_unit,
    parse_answer,
)
from medgrpo.answers.normalize import name_forms, normalize_words, strip_lead

OPTIONS = {"A": "Thiazide diuretic", "B": "Insulin", "C": "Aspirin", "D": "C-reactive protein"}


def choice(answer: str = "A", options: dict[str, str] | None = None) -> Question:
    return Question(answer, "choice", OPTIONS if options is None else options)


# ----------------------------------------------------------------------------- blocks
@pytest.mark.parametrize(
    ("text", "status", "content"),
    [
        ("<think>t</think><answer> A </answer>", Status.OK, "A"),
        ("<answer>A</answer>", Status.OK, "A"),  # no think: still an answer (the format reward judges shape)
        ("<think>t</think>", Status.MISSING, None),
        ("<think>t <answer>A</answer></think>", Status.MISSING, None),  # inside think only
        ("<think>t <answer>A</answer>", Status.MISSING, None),  # inside an unclosed think
        ("<answer>A</answer><answer>B</answer>", Status.HEDGE, None),
        ("<think><answer>B</answer></think><answer>A</answer>", Status.HEDGE, None),  # a draft in think counts
        ("<answer>A", Status.MALFORMED, None),
        ("</answer>A<answer>", Status.MALFORMED, None),
        ("<answer>A</answer></answer>", Status.MALFORMED, None),
        ("<think>t</think><answer>  </answer>", Status.EMPTY, ""),
        ("<answer><think>x</think>A</answer>", Status.MALFORMED, None),
    ],
)
def test_find_answer_block(text: str, status: Status, content: str | None) -> None:
    block = find_answer_block(text)
    assert block.status is status, block.reason
    if status is Status.OK or status is Status.EMPTY:
        assert block.content == content


def test_answer_chars_counts_every_block() -> None:
    # "A or B" (6) + "C" (1), whatever the status
    assert find_answer_block("<answer> A or B </answer><answer>C</answer>").chars == 7


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>t</think><answer>A</answer>", True),
        ("\n <think>t</think>\n<answer>A</answer>\n", True),
        ("<think>t</think><answer>A</answer>.", False),
        ("<think> </think><answer>A</answer>", False),
        ("<think>t</think><answer>A</answer><answer>A</answer>", False),
        ("<think>t</think>so<answer>A</answer>", False),
        ("", False),
    ],
)
def test_is_well_formed(text: str, ok: bool) -> None:
    assert is_well_formed(text) is ok


# ----------------------------------------------------------------------------- choice
@pytest.mark.parametrize(
    ("answer", "status", "letter"),
    [
        ("A", Status.OK, "A"),
        ("[a]", Status.OK, "A"),
        ("A)", Status.OK, "A"),
        ("Answer: (A) Thiazide diuretic", Status.OK, "A"),
        ("thiazide diuretic", Status.OK, "A"),
        ("C-reactive protein", Status.OK, "D"),  # an option text that starts like a letter
        ("The correct option is B", Status.OK, "B"),
        ("B - insulin lowers glucose", Status.OK, "B"),  # letter with a comment naming no other option
        ("Aspirin (C)", Status.OK, "C"),  # its own letter after its text
        ("A fracture", Status.MALFORMED, None),  # "A" is an article here, and no option is named
        ("A, B", Status.LIST, None),
        ("B and/or C", Status.HEDGE, None),
        ("A. Insulin", Status.HEDGE, None),  # letter with another option's text
        ("none of the above", Status.HEDGE, None),
        ("not C", Status.HEDGE, None),
        ("C-D", Status.LIST, None),  # a range
        ("Z", Status.MALFORMED, None),
        ("", Status.EMPTY, None),
    ],
)
def test_choice_parse(answer: str, status: Status, letter: str | None) -> None:
    parsed = parse_answer(answer, choice())
    assert parsed.status is status, parsed.reason
    assert parsed.answer == letter


def test_choice_without_options_reads_letters_only() -> None:
    q = Question("B", "choice")
    assert grade_answer("B. Metformin", q).correct  # text after a letter cannot be checked
    assert grade_answer("(b)", q).correct
    assert not grade_answer("B or C", q).correct
    assert parse_answer("Metformin", q).status is Status.MALFORMED  # option text needs the options


# ----------------------------------------------------------------------------- yes/no/maybe
@pytest.mark.parametrize(
    ("answer", "status", "word"),
    [
        ("Maybe.", Status.OK, "maybe"),
        ("The answer is no", Status.OK, "no"),
        ("probably yes", Status.OK, "yes"),
        ("not yes", Status.HEDGE, None),
        ("yes and no", Status.LIST, None),
        ("either yes or maybe", Status.HEDGE, None),
        ("unclear", Status.MALFORMED, None),
    ],
)
def test_yes_no_maybe_parse(answer: str, status: Status, word: str | None) -> None:
    parsed = parse_answer(answer, Question("yes", "yes_no_maybe"))
    assert parsed.status is status, parsed.reason
    assert parsed.answer == word


# ----------------------------------------------------------------------------- numeric
@pytest.mark.parametrize(
    ("answer", "status", "value", "unit"),
    [
        ("16", Status.OK, 16.0, None),
        ("-3.5 mmol/L", Status.OK, -3.5, "mmol/L"),
        ("1,600 mL", Status.OK, 1600.0, "mL"),
        ("2.5 × 10^3 cells", Status.OK, 2500.0, "cells"),
        ("≈ 7.4", Status.OK, 7.4, None),  # approximately one value, like "about"
        ("≥ 7.4", Status.HEDGE, None, None),  # a bound
        ("16 ± 2", Status.LIST, None, None),
        ("16–18 mEq/L", Status.LIST, None, None),
        ("16 or 17", Status.HEDGE, None, None),
        ("at least 16", Status.HEDGE, None, None),
        ("n/a", Status.MALFORMED, None, None),
    ],
)
def test_numeric_parse(answer: str, status: Status, value: float | None, unit: str | None) -> None:
    parsed = parse_answer(answer, Question("16", "numeric"))
    assert parsed.status is status, parsed.reason
    assert (parsed.value, parsed.unit) == (value, unit)


def test_numeric_unit_with_digits_is_not_a_second_number() -> None:
    q = Question("90", "numeric", meta={"unit": "mL/min/1.73 m2", "tolerance": 0.05})
    assert grade_answer("92 mL/min/1.73 m2", q).correct  # |2| <= 4.5; the unit's 1.73 and 2 are not numbers
    assert not grade_answer("92 mL/min", q).correct  # a different unit


@pytest.mark.parametrize(
    ("written", "given"),
    [("mL/hr", "mL/h"), ("ml per hour", "mL/h"), ("kg/m2", "kg/m²"), ("mcg", "µg"), ("percent", "%"), ("msec", "ms")],
)
def test_normalize_unit_spellings(written: str, given: str) -> None:
    assert normalize_unit(written) == normalize_unit(given)


def test_numeric_tolerances() -> None:
    both = Question("100", "numeric", meta={"tolerance": 0.01, "abs_tolerance": 3})
    assert grade_answer("103", both).correct  # absolute 3 is the wider bound here
    assert not grade_answer("103.5", both).correct
    exact = Question("100", "numeric")
    assert grade_answer("100.00", exact).correct
    assert not grade_answer("100.1", exact).correct  # default relative 1e-6
    with pytest.raises(ValueError, match=r"meta.tolerance must be a number"):
        grade_answer("100", Question("100", "numeric", meta={"tolerance": "wide"}))
    with pytest.raises(ValueError, match="numeric answer must be a decimal string"):
        grade_answer("100", Question("about a hundred", "numeric"))


# ----------------------------------------------------------------------------- text
def test_normalize_words_and_name_forms() -> None:
    assert normalize_words("The Haemorrhage, oedema & tumour.") == "hemorrhage edema tumor"
    assert normalize_words("Hepatitis A") == "hepatitis a"  # a trailing letter is not an article
    assert normalize_words("A pulmonary embolism") == "pulmonary embolism"
    assert "mi" in name_forms("myocardial infarction")
    assert "diabetic ketoacidosis" in name_forms("dka")
    assert strip_lead("The most likely diagnosis is: **croup**.") == "croup"


@pytest.mark.parametrize(
    ("answer", "correct", "status"),
    [
        ("Pulmonary embolism", True, Status.OK),
        ("PE", True, Status.OK),  # initials of the gold
        ("Likely pulmonary embolism", True, Status.OK),  # a qualifier, one name
        ("pulmonary-embolism", True, Status.OK),  # hyphen vs space
        ("Pulmonary embolus", False, Status.OK),  # near miss: for the judge, not the matcher
        ("PE vs pneumothorax", False, Status.HEDGE),
        ("PE; pneumonia", False, Status.LIST),
        ("no PE", False, Status.HEDGE),
    ],
)
def test_text_matching(answer: str, correct: bool, status: Status) -> None:
    grade = grade_answer(answer, Question("Pulmonary embolism", "text"))
    assert (grade.correct, grade.status) == (correct, status), grade.detail


def test_text_gold_with_a_connector_still_matches_itself() -> None:
    q = Question("Hand, foot and mouth disease", "text")
    assert grade_answer("hand foot and mouth disease", q).correct
    assert not grade_answer("Hand, foot and mouth disease or measles", q).correct


def test_text_aliases_must_be_a_list() -> None:
    with pytest.raises(ValueError, match=r"meta\.aliases must be a list"):
        grade_answer("x", Question("y", "text", meta={"aliases": "x"}))


# ----------------------------------------------------------------------------- questions
def test_question_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="answer_type must be one of"):
        Question("x", "essay")
    with pytest.raises(ValueError, match="one option letter, found 'AB'"):
        Question("AB", "choice")
    with pytest.raises(ValueError, match=r"'E' is not one of the option letters \['A', 'B'\]"):
        Question("E", "choice", {"A": "x", "B": "y"})
    with pytest.raises(ValueError, match="options must be a JSON object string"):
        Question.from_columns("A", "choice", None, "{A: x")
    q = Question.from_record({"answer": "b", "answer_type": "choice", "options": '{"a": "x", "b": "y"}'})
    assert (q.answer, dict(q.options)) == ("b", {"A": "x", "B": "y"})


# ----------------------------------------------------------------------------- diagnostics
def test_answer_diagnostics_shares_and_length() -> None:
    records = [{"answer": "A", "answer_type": "choice", "options": OPTIONS}] * 5
    completions = [
        "<think>t</think><answer>A or B</answer>",  # hedge, 6 chars
        "<think>t</think><answer>A, B, C</answer>",  # list, 7 chars
        "<think>t</think><answer></answer>",  # empty, 0 chars
        "<think>t</think><answer>A. Thiazide diuretic</answer>",  # ok, 20 chars
        "<think>t</think><answer>Q</answer>",  # malformed, 1 char
    ]
    diag = answer_diagnostics(completions, records)
    assert diag == AnswerDiagnostics(
        n=5, hedge_share=0.2, list_share=0.2, empty_share=0.2, malformed_share=0.2, mean_answer_chars=34 / 5
    )
    assert diag.as_metrics()["answers/hedge_share"] == 0.2
    assert "answers/n" not in diag.as_metrics()
    assert answer_diagnostics([], []).n == 0
    with pytest.raises(ValueError, match="2 completions, 1 records"):
        answer_diagnostics(["a", "b"], records[:1])


def test_grade_completion_detail_says_why() -> None:
    grade = grade_completion("<think>t</think><answer>16 mg</answer>", Question("16", "numeric", meta={"unit": "mL"}))
    assert not grade.correct
    assert grade.status is Status.OK
    assert grade.detail == "unit 'mg' is not 'mL'"


def test_answers_package_imports_nothing_heavy() -> None:
    code = (
        "import sys, medgrpo.answers; print(sorted(m for m in ('torch', 'transformers', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
