"""Harness: scoring of hand-built completions, and generation mechanics on the tiny model.

An untrained tiny model is (almost) never right, so the model tests check mechanics only:
order, batching invariance, determinism, token budgets and input validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from medgrpo.evaluate.decoding import DecodingSettings
from medgrpo.evaluate.harness import evaluate_model, read_chat_template, score_completions


def _records(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i % 3 == 0:
            out.append(
                {
                    "id": f"medqa-{i:016x}",
                    "source": "medqa",
                    "question": "Which drug is first line for uncomplicated hypertension?" + " Explain." * (i % 4),
                    "options": {"A": "thiazide", "B": "insulin", "C": "aspirin"},
                    "answer": "A",
                    "answer_type": "choice",
                    "meta": {},
                }
            )
        else:
            out.append(
                {
                    "id": f"synth-{i:016x}",
                    "source": "synth",
                    "question": f"Calculate the anion gap: sodium {130 + i} mEq/L, chloride 100, bicarbonate 24.",
                    "options": None,
                    "answer": str(6 + i),
                    "answer_type": "numeric",
                    "meta": {"tolerance": 0.05},
                }
            )
    return out


def test_score_completions_hand_built() -> None:
    records = _records(3)  # choice (A), numeric 7, numeric 8
    completions = [
        "<think>thiazides lower pressure</think><answer>A</answer>",  # correct, well-formed
        "<think>130+1-124</think> <answer>7.2 mEq/L</answer>",  # 7.2 within 5% of 7 -> correct
        "the answer is <answer>9</answer>",  # wrong and not in format
    ]
    items = score_completions(records, completions, new_tokens=[5, 6, 7])
    assert [it.correct for it in items] == [True, True, False]
    assert [it.format_ok for it in items] == [True, True, False]
    assert [it.predicted for it in items] == ["A", "7.2 mEq/L", "9"]
    assert [it.id for it in items] == [r["id"] for r in records]
    assert items[2].new_tokens == 7


def test_score_completions_without_answer_tag_is_wrong() -> None:
    items = score_completions(_records(1), ["<think>no idea</think>"])
    assert items[0].predicted is None
    assert not items[0].correct
    assert not items[0].format_ok


def test_score_completions_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 records, 1 completions"):
        score_completions(_records(2), ["x"])


def test_generation_is_batch_invariant_and_deterministic(tiny_model: Path) -> None:
    records = _records(7)
    if torch.cuda.is_available():
        pytest.skip("the default device would be cuda here; see test_evaluate_harness_cuda.py")
    one = evaluate_model(tiny_model, records, batch_size=1, max_new_tokens=12)
    four = evaluate_model(tiny_model, records, batch_size=4, max_new_tokens=12)
    again = evaluate_model(tiny_model, records, batch_size=4, max_new_tokens=12)
    assert [it.id for it in four.items] == [r["id"] for r in records]  # input order kept
    assert [it.completion for it in one.items] == [it.completion for it in four.items]
    assert [it.completion for it in four.items] == [it.completion for it in again.items]
    assert all(0 <= it.new_tokens <= 12 for it in four.items)
    assert four.metrics.n == 7
    assert {k: four.config[k] for k in ("max_new_tokens", "temperature", "samples", "batch_size", "device")} == {
        "max_new_tokens": 12,
        "temperature": 0.0,
        "samples": 1,
        "batch_size": 4,
        "device": "cpu",
    }
    assert all(it.answer_status for it in four.items)  # every completion has the strict parser's status


def test_sampling_gives_each_item_its_samples_reproducibly(tiny_model: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("the default device would be cuda here")
    records = _records(3)
    decoding = DecodingSettings(max_new_tokens=8, temperature=1.0, samples=3, seed=5)
    first = evaluate_model(tiny_model, records, decoding=decoding, batch_size=2)
    again = evaluate_model(tiny_model, records, decoding=decoding, batch_size=2)
    assert [(it.id, it.sample) for it in first.items] == [(r["id"], s) for r in records for s in range(3)]
    assert [it.completion for it in first.items] == [it.completion for it in again.items]
    assert len({it.completion for it in first.items}) > 1  # sampled, not greedy
    assert first.metrics.n == 3 and first.metrics.samples_per_item == 3
    assert first.config["temperature"] == 1.0 and first.config["samples"] == 3


def test_the_settings_system_prompt_and_chat_template_shape_the_prompt(tiny_model: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    from transformers import PreTrainedTokenizerBase

    original = PreTrainedTokenizerBase.apply_chat_template

    def spy(self, conversation, **kwargs):  # type: ignore[no-untyped-def]
        text = original(self, conversation, **kwargs)
        seen.append(str(text))
        return text

    monkeypatch.setattr(PreTrainedTokenizerBase, "apply_chat_template", spy)
    template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}[assistant] "
    decoding = DecodingSettings(max_new_tokens=2, system_prompt="Answer tersely.", chat_template=template)
    evaluate_model(tiny_model, _records(1), decoding=decoding, device="cpu")
    assert seen and seen[0].startswith("[system] Answer tersely.\n[user] ")
    assert read_chat_template(tiny_model)  # the tiny model saves its template with the tokenizer


def test_progress_reports_every_batch(tiny_model: Path) -> None:
    calls: list[tuple[int, int]] = []
    evaluate_model(tiny_model, _records(5), batch_size=2, max_new_tokens=4, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_rejects_bad_inputs(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="eval split is empty"):
        evaluate_model(tiny_model, [])
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        evaluate_model(tmp_path, _records(1))
    with pytest.raises(ValueError, match="batch_size must be >= 1, found 0"):
        evaluate_model(tiny_model, _records(1), batch_size=0)
    dup = _records(2)
    dup[1]["id"] = dup[0]["id"]
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:<n>', found 'tpu'"):
        evaluate_model(tiny_model, _records(1), device="tpu")
    with pytest.raises(ValueError, match=r"dtype must be one of .* found 'int8'"):
        evaluate_model(tiny_model, _records(1), device="cpu", dtype="int8")
    with pytest.raises(ValueError, match="unique"):
        evaluate_model(tiny_model, dup)
    with pytest.raises(ValueError, match=r"lacks field\(s\) \['answer_type'\]"):
        evaluate_model(tiny_model, [{"id": "x-00000000", "question": "q", "answer": "a"}])
