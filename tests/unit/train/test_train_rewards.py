"""Reward functions: hand-built completions with the expected value worked out in a comment."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

from medgrpo.train import rewards as R


def conv(text: str) -> list[dict[str, str]]:
    """A conversational completion as TRL passes it."""
    return [{"role": "assistant", "content": text}]


GOOD = "<think>Na - (Cl + HCO3) = 140 - 124</think><answer>16</answer>"


# ----------------------------------------------------------------------------- extraction/scoring
def test_extract_answer_takes_the_single_block_and_strips() -> None:
    assert R.extract_answer("<think>t</think><answer>  B \n</answer>") == "B"
    # two blocks: which one counts is not for the model to choose -> no answer
    assert R.extract_answer("<answer>A</answer> then <answer>  B \n</answer>") is None
    # the only block is inside <think> -> no answer
    assert R.extract_answer("<think>maybe <answer>A</answer></think>") is None
    assert R.extract_answer("no tags") is None
    assert R.extract_answer("<answer>unclosed") is None
    assert R.extract_answer("") is None


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [
        ("B", 1.0),
        ("(B)", 1.0),
        ("B. Metformin", 1.0),
        ("b", 1.0),
        ("Answer: B", 1.0),
        ("[b]", 1.0),
        ("The answer is B", 1.0),
        ("C", 0.0),
        ("Because of metformin", 0.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_choice_letter_extraction(predicted: str | None, expected: float) -> None:
    # "Because ..." starts with the letter B but is a word, not a letter: no match -> 0.0
    assert R.score_answer(predicted, "B", "choice", None) == expected


@pytest.mark.parametrize(
    ("predicted", "meta", "expected"),
    [
        ("16", None, 1.0),  # exact
        ("16.0 mEq/L", None, 1.0),  # units ignored, 16.0 == 16
        ("16.1", None, 0.0),  # default tolerance 1e-6 relative: |16.1-16| = 0.1 > 1.6e-5
        ("16.1", {"tolerance": 0.01}, 1.0),  # 0.1 <= 0.01 * 16 = 0.16
        ("16.2", {"tolerance": 0.01}, 0.0),  # 0.2 > 0.16
        ("16.1", '{"tolerance": 0.01}', 1.0),  # meta as a JSON string column
        ("1,600", None, 0.0),  # 1600 != 16
        ("about sixteen", None, 0.0),  # no number
    ],
)
def test_numeric_relative_tolerance(predicted: str, meta: object, expected: float) -> None:
    assert R.score_answer(predicted, "16", "numeric", meta) == expected  # type: ignore[arg-type]


def test_numeric_thousands_separator_and_negative() -> None:
    assert R.score_answer("1,600 mL", "1600", "numeric", None) == 1.0
    assert R.score_answer("-3.5", "-3.5", "numeric", {}) == 1.0
    assert R.score_answer("3.5", "-3.5", "numeric", {"tolerance": 0.5}) == 0.0  # |7| > 0.5*3.5


@pytest.mark.parametrize(
    ("predicted", "answer", "expected"),
    [
        ("yes", "yes", 1.0),
        ("Yes.", "yes", 1.0),
        ("No, because", "no", 1.0),
        ("maybe", "no", 0.0),
        ("yesterday", "yes", 0.0),
    ],
)
def test_yes_no_maybe(predicted: str, answer: str, expected: float) -> None:
    assert R.score_answer(predicted, answer, "yes_no_maybe", None) == expected


def test_text_normalised_match_and_aliases() -> None:
    # "The Metformin." -> lower, no punctuation, no article -> "metformin"
    assert R.score_answer("The Metformin.", "metformin", "text", None) == 1.0
    assert R.score_answer("glucophage", "metformin", "text", {"aliases": ["Glucophage"]}) == 1.0
    assert R.score_answer("insulin", "metformin", "text", None) == 0.0


def test_unknown_answer_type_and_bad_meta_raise() -> None:
    with pytest.raises(ValueError, match="answer_type must be one of"):
        R.score_answer("x", "x", "essay", None)
    with pytest.raises(ValueError, match="meta must be a JSON object string"):
        R.score_answer("1", "1", "numeric", "{not json")


# ----------------------------------------------------------------------------- issue #16 rows
ISSUE_16_ROWS = [
    # (completion, gold, answer_type, accuracy, format)
    ("<think>x</think><answer>A, B, C, D</answer>", "A", "choice", 0.0, 1.0),  # every option listed
    ("<think>x</think><answer>A or B</answer>", "A", "choice", 0.0, 1.0),  # hedge between two
    ("<think>x</think><answer>B</answer><answer>A</answer>", "A", "choice", 0.0, 0.0),  # two answer blocks
    ("<think>x</think><answer>yes, no, maybe</answer>", "yes", "yes_no_maybe", 0.0, 1.0),  # all three
    ("<think>x</think><answer>Croup</answer>", "Croup (laryngotracheobronchitis)", "text", 1.0, 1.0),  # common name
]


def test_issue_16_rows_through_the_registry() -> None:
    fmt, acc = R.get_reward_funcs(["format", "accuracy"])
    completions = [conv(row[0]) for row in ISSUE_16_ROWS]
    columns = {
        "answer": [row[1] for row in ISSUE_16_ROWS],
        "answer_type": [row[2] for row in ISSUE_16_ROWS],
        "meta": ["{}"] * len(ISSUE_16_ROWS),
    }
    assert acc(completions, **columns) == [row[3] for row in ISSUE_16_ROWS]
    assert fmt(completions, **columns) == [row[4] for row in ISSUE_16_ROWS]


# ----------------------------------------------------------------------------- reward functions
def test_format_reward() -> None:
    completions = [
        conv(GOOD),  # exact shape -> 1.0
        conv("  <think>x</think>\n<answer>y</answer>\n"),  # surrounding whitespace allowed -> 1.0
        conv("<answer>16</answer>"),  # no think -> 0.0
        conv(GOOD + " trailing"),  # text after the answer -> 0.0
        conv("<think></think><answer>16</answer>"),  # empty think -> 0.0
    ]
    assert R.format_reward(completions) == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert R.format_reward([GOOD]) == [1.0]  # plain-string completions work too


def test_format_reward_rejects_doubles_text_outside_and_nesting() -> None:
    completions = [
        "<think>a</think><answer>B</answer><answer>A</answer>",  # second answer block -> 0.0
        "<think>a</think><think>b</think><answer>A</answer>",  # second think block -> 0.0
        "Sure! <think>a</think><answer>A</answer>",  # text before the think block -> 0.0
        "<think>a <answer>A</answer></think>",  # answer only inside think -> 0.0
        "<answer>A</answer><think>a</think>",  # answer before think -> 0.0
        "<think>a</think><answer> </answer>",  # blank answer -> 0.0
        "<think>a</think>\n\n<answer>A</answer>\n",  # whitespace between and after -> 1.0
    ]
    assert R.format_reward(completions) == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def test_tag_count_reward() -> None:
    # GOOD: each of 4 tags once -> 4 * 0.25 = 1.0
    # "<think>a</think>": 2 tags once -> 0.5
    # "<answer>1</answer><answer>2</answer>": answer tags twice -> 0.0; think tags absent -> 0.0
    completions = [conv(GOOD), conv("<think>a</think>"), conv("<answer>1</answer><answer>2</answer>")]
    assert R.tag_count_reward(completions) == [1.0, 0.5, 0.0]


def test_accuracy_reward_reads_columns_including_json_meta() -> None:
    completions = [
        conv(GOOD),  # 16 vs "16" -> 1.0
        conv("<think>t</think><answer>(c)</answer>"),  # letter C vs "C" -> 1.0
        conv("<think>t</think><answer>16.5</answer>"),  # |0.5| > 0.01*16=0.16 -> 0.0
        conv("16"),  # no <answer> tag -> 0.0
    ]
    scores = R.accuracy_reward(
        completions,
        answer=["16", "C", "16", "16"],
        answer_type=["numeric", "choice", "numeric", "numeric"],
        meta=[json.dumps({"tolerance": 0.01}), None, {"tolerance": 0.01}, "{}"],
    )
    assert scores == [1.0, 1.0, 0.0, 0.0]


def test_accuracy_reward_reads_the_options_column() -> None:
    # option text instead of the letter needs the options; they arrive as a JSON string column
    options = json.dumps({"A": "Left anterior descending", "B": "Right coronary artery", "C": "Circumflex"})
    completions = [
        conv("<think>t</think><answer>Right coronary artery</answer>"),  # B's text -> 1.0
        conv("<think>t</think><answer>A. Right coronary artery</answer>"),  # letter A with B's text -> 0.0
        conv("<think>t</think><answer>Right coronary artery</answer>"),  # no options column value -> 0.0
    ]
    scores = R.accuracy_reward(
        completions, answer=["B"] * 3, answer_type=["choice"] * 3, meta=["{}"] * 3, options=[options, options, None]
    )
    assert scores == [1.0, 0.0, 0.0]


def test_accuracy_reward_logs_answer_diagnostics_through_trl_callables() -> None:
    logged: dict[str, list[float]] = {}
    extra: dict[str, list[Any]] = {}
    completions = [
        conv("<think>t</think><answer>A or B</answer>"),  # hedge, 6 answer characters
        conv("<think>t</think><answer>A, B</answer>"),  # list, 4
        conv("<think>t</think>"),  # missing -> counts as empty, 0
        conv("<think>t</think><answer>A</answer>"),  # ok, 1
    ]
    R.accuracy_reward(
        completions,
        answer=["A"] * 4,
        answer_type=["choice"] * 4,
        log_metric=lambda name, value: logged.setdefault(name, []).append(value),
        log_extra=lambda column, values: extra.setdefault(column, []).extend(values),
    )
    assert logged == {
        "answers/hedge_share": [0.25],
        "answers/list_share": [0.25],
        "answers/empty_share": [0.25],
        "answers/malformed_share": [0.0],
        "answers/mean_answer_chars": [(6 + 4 + 0 + 1) / 4],
    }
    assert extra == {"answer_status": ["hedge", "list", "missing", "ok"]}


def test_accuracy_reward_requires_columns() -> None:
    with pytest.raises(ValueError, match="needs the dataset column 'answer'"):
        R.accuracy_reward([conv(GOOD)], answer_type=["numeric"])
    with pytest.raises(ValueError, match="has 2 values for 1 completions"):
        R.accuracy_reward([conv(GOOD)], answer=["1", "2"], answer_type=["numeric"])


def test_cosine_scaled_reward_worked_values() -> None:
    f = R.get_cosine_scaled_reward(max_len=100)  # defaults: wrong -1..-0.5, correct 0.5..1.0
    cols: dict[str, list[Any]] = {"answer": ["16"] * 4, "answer_type": ["numeric"] * 4, "meta": [None] * 4}
    right = conv("<think>x</think><answer>16</answer>")
    wrong = conv("<think>x</think><answer>17</answer>")
    ids = [[0] * 0, [0] * 50, [0] * 100, [0] * 50]
    scores = f([right, right, right, wrong], completion_ids=ids, **cols)
    # correct, L=0:   0.5 + 0.5*(1.0-0.5)*(1+cos 0)      = 1.0
    # correct, L=50:  0.5 + 0.5*0.5*(1+cos(pi/2)=1)      = 0.75
    # correct, L=100: 0.5 + 0.5*0.5*(1+cos pi = 0)       = 0.5
    # wrong,   L=50:  -0.5 + 0.5*(-1.0+0.5)*(1+0)        = -0.75
    assert scores == pytest.approx([1.0, 0.75, 0.5, -0.75])
    # without completion_ids the length is in characters: 35 chars of 100 -> cos(0.35 pi)
    (char_score,) = f([right], **{k: v[:1] for k, v in cols.items()})
    assert char_score == pytest.approx(0.5 + 0.25 * (1 + math.cos(0.35 * math.pi)))
    assert f.__name__ == "cosine"


def test_repetition_penalty_worked_values() -> None:
    f = R.get_repetition_penalty_reward(ngram_size=2, max_penalty=-1.0)
    # "a b a b a b": bigrams ab ba ab ba ab -> 2 unique of 5 -> -1 * (1 - 2/5) = -0.6
    # "a b c d": 3 bigrams, all unique -> -0.0
    # "a": shorter than an n-gram -> 0.0
    assert f([conv("a b a b a b"), conv("a b c d"), conv("a")]) == pytest.approx([-0.6, 0.0, 0.0])
    with pytest.raises(ValueError, match="max_penalty must be <= 0"):
        R.get_repetition_penalty_reward(max_penalty=0.5)


def test_registry_builds_named_functions_and_fails_fast() -> None:
    funcs = R.get_reward_funcs(["format", "accuracy", "cosine"], {"cosine": {"max_len": 64}})
    assert [f.__name__ for f in funcs] == ["format", "accuracy", "cosine"]
    with pytest.raises(ValueError, match=r"unknown reward function\(s\) \['acuracy'\]"):
        R.get_reward_funcs(["format", "acuracy"])
    with pytest.raises(ValueError, match="not in reward_funcs"):
        R.get_reward_funcs(["format"], {"cosine": {"max_len": 3}})
    with pytest.raises(ValueError, match="bad parameters for reward 'cosine'"):
        R.get_reward_funcs(["cosine"], {"cosine": {"max_length": 3}})
    with pytest.raises(ValueError, match="reward_funcs is empty"):
        R.get_reward_funcs([])
    # the judge is opt-in and needs an endpoint: no silent default
    with pytest.raises(ValueError, match="judge reward needs base_url"):
        R.get_reward_funcs(["judge"])
    (judge,) = R.get_reward_funcs(["judge"], {"judge": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}})
    assert judge.__name__ == "judge"


def test_rewards_module_does_not_import_torch() -> None:
    code = "import sys, medgrpo.train.rewards; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
