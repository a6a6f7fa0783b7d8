"""The tiny model builder: deterministic, fast, loadable, and its tokenizer covers the prompts."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    from medgrpo.train.tiny import build_tiny_model

    started = time.perf_counter()
    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "a", seed=0)
    return path, time.perf_counter() - started


def test_build_is_deterministic_per_seed_and_fast(built: tuple[Path, float], tmp_path: Path) -> None:
    from medgrpo.train.tiny import build_tiny_model

    path, seconds = built
    assert seconds < 15, f"building took {seconds:.1f} s"
    again = build_tiny_model(tmp_path / "b", seed=0)
    assert _digest(again) == _digest(path)
    other = build_tiny_model(tmp_path / "c", seed=1)
    assert _digest(other)["model.safetensors"] != _digest(path)["model.safetensors"]


def test_loads_with_auto_classes_and_is_tiny(built: tuple[Path, float]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, _ = built
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    n_params = sum(p.numel() for p in model.parameters())
    assert 50_000 < n_params < 1_000_000
    assert 500 < len(tok) <= 3000
    assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>"
    assert model.config.vocab_size == len(tok)


def test_chat_template_and_tags_round_trip(built: tuple[Path, float]) -> None:
    from transformers import AutoTokenizer

    from medgrpo.data.prompt import SYSTEM_PROMPT, build_messages

    tok = AutoTokenizer.from_pretrained(built[0])
    record = {"question": "Sodium 140, chloride 100, bicarbonate 24: anion gap?", "answer_type": "numeric"}
    text = str(tok.apply_chat_template(build_messages(record), add_generation_prompt=True, tokenize=False))
    assert text.startswith("<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n<|im_start|>user\n")
    assert text.endswith("<|im_start|>assistant\n")
    answer = "<think>140 - 124</think><answer>16</answer>"
    ids = tok(answer, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == answer  # tags survive special-token skipping
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) == 1
    # the system prompt is covered by the trained merges: far fewer tokens than bytes
    assert len(tok(SYSTEM_PROMPT)["input_ids"]) < len(SYSTEM_PROMPT) / 3


def test_cli_tiny_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from medgrpo.cli import main

    assert main(["tiny-model", str(tmp_path / "m"), "--seed", "3"]) == 0
    assert (tmp_path / "m" / "config.json").is_file()
    assert "parameters" in capsys.readouterr().out


def test_rejects_too_small_vocab(tmp_path: Path) -> None:
    from medgrpo.train.tiny import build_tiny_model

    with pytest.raises(ValueError, match="vocab_size must be at least 400"):
        build_tiny_model(tmp_path, vocab_size=100)
