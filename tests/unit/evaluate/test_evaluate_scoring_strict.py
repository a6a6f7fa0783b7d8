"""Evaluation grades with the rewards' strict parser: a hedged answer is wrong in the gate metrics."""

from __future__ import annotations

from typing import Any

from medgrpo.evaluate.harness import score_completion, score_completions
from medgrpo.evaluate.metrics import summarize

RECORDS: list[dict[str, Any]] = [
    {
        "id": "q1",
        "source": "medqa",
        "question": "Which artery supplies the inferior wall?",
        "options": {"A": "Left anterior descending artery", "B": "Right coronary artery", "C": "Circumflex"},
        "answer": "B",
        "answer_type": "choice",
        "meta": {},
    },
    {"id": "q2", "source": "pubmedqa", "question": "Does it help?", "answer": "yes", "answer_type": "yes_no_maybe"},
    {
        "id": "q3",
        "source": "open",
        "question": "Diagnosis?",
        "answer": "Croup (laryngotracheobronchitis)",
        "answer_type": "text",
    },
    {
        "id": "q4",
        "source": "synth",
        "question": "Anion gap?",
        "answer": "16",
        "answer_type": "numeric",
        "meta": {"unit": "mEq/L", "tolerance": 0.02},
    },
]


def test_hedges_are_wrong_and_synonyms_right_in_evaluation() -> None:
    hedged = [
        "<think>t</think><answer>A, B, C</answer>",  # every option -> wrong
        "<think>t</think><answer>yes, no, maybe</answer>",  # all three -> wrong
        "<think>t</think><answer>croup or epiglottitis</answer>",  # two diagnoses -> wrong
        "<think>t</think><answer>14-18 mEq/L</answer>",  # a range -> wrong
    ]
    honest = [
        "<think>t</think><answer>Right coronary artery</answer>",  # option text, not the letter -> right
        "<think>t</think><answer>Yes.</answer>",
        "<think>t</think><answer>Croup</answer>",  # the common name from the gold's parenthetical -> right
        "<think>t</think><answer>16 mEq/L</answer>",
    ]
    hedged_items = score_completions(RECORDS, hedged)
    honest_items = score_completions(RECORDS, honest)
    assert [it.correct for it in hedged_items] == [False] * 4
    assert [it.correct for it in honest_items] == [True] * 4
    assert summarize([it.as_dict() for it in hedged_items]).accuracy.value == 0.0
    assert summarize([it.as_dict() for it in honest_items]).accuracy.value == 1.0


def test_two_answer_blocks_are_wrong_and_badly_formed() -> None:
    predicted, correct, format_ok = score_completion("<think>t</think><answer>A</answer><answer>B</answer>", RECORDS[0])
    assert (predicted, correct, format_ok) == (None, False, False)
    predicted, correct, format_ok = score_completion("<think>it is <answer>B</answer></think>", RECORDS[0])
    assert (predicted, correct, format_ok) == (None, False, False)
    # one block with a hedge: what it said is kept for the report, and it is wrong
    assert score_completion("<think>t</think><answer>B or C</answer>", RECORDS[0]) == ("B or C", False, True)
