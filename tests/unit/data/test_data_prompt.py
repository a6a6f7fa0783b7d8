"""medgrpo.data.prompt: the one prompt shared by training and evaluation."""

from __future__ import annotations

from medgrpo.data import synth
from medgrpo.data.prompt import SYSTEM_PROMPT, build_messages, render_user_prompt


def test_system_prompt_asks_for_think_and_answer_tags() -> None:
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert tag in SYSTEM_PROMPT


def test_choice_options_rendered_by_letter_in_order() -> None:
    record = {
        "question": "  Which is a beta-blocker?  ",
        "options": {"C": "Metoprolol", "A": "Amlodipine", "B": "Ramipril"},
        "answer": "C",
        "answer_type": "choice",
        "context": None,
    }
    text = render_user_prompt(record)
    assert text.startswith("Which is a beta-blocker?\n\n")
    assert "A. Amlodipine\nB. Ramipril\nC. Metoprolol" in text
    assert text.endswith("Answer with the letter of the correct option.")
    assert "C" not in text.split("C. Metoprolol")[1]  # the answer itself is never rendered


def test_context_and_instruction_per_answer_type() -> None:
    pubmed = {"question": "Does X help?", "context": "RESULTS: it did.", "answer": "yes", "answer_type": "yes_no_maybe"}
    text = render_user_prompt(pubmed)
    assert text.index("Context: RESULTS: it did.") < text.index("Does X help?")
    assert text.endswith("Answer with yes, no or maybe.")
    (calc,) = synth.generate(1, seed=1)
    messages = build_messages(calc)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert calc["question"] in messages[1]["content"]
    assert messages[1]["content"].endswith("Answer with a number (units optional).")
