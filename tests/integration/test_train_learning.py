"""Proof that GRPO learns: on the tiny model, the mean reward on held-out synth problems rises.

Seeded and CPU-only (< 3 min on 2 cores). The tiny model (~150k parameters) first gets a short
supervised warm-up so that the answer format is sometimes produced (a random model never writes
it, and GRPO cannot reinforce what it never samples). Then ``medgrpo.train.grpo.train`` runs GRPO
on the tiny recipe, and the same held-out prompts are sampled from the warm-up model and from the
trained model with the same seed. The stated margin: the mean of the recipe's weighted reward
(0.5 x format + 0.5 x tag_count + 1.0 x accuracy) rises by at least 0.10 (absolute), and the
format reward by at least 0.15, on 64 held-out problems x 4 samples (measured: format 0.24 -> 0.54,
weighted 0.39 -> 0.69). Accuracy on clinical calculations stays ~0 for a model this small; the gain
comes from format compliance, which is what the rewards make learnable here.

The format reward is the strict one (exactly one think block and one answer block, nothing
outside): with the 40-step warm-up used before it, only ~4-7% of samples were well-formed, too few
groups had any reward variance, and the measured gain fell to +0.08. A 60-step warm-up starts the
model at ~24% strict format, where GRPO has both signal and room to improve.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
WEIGHTS = {"format": 0.5, "tag_count": 0.5, "accuracy": 1.0}


def _sample_rewards(model_dir: Path, records: list[dict[str, Any]], *, samples: int, seed: int) -> dict[str, float]:
    """Mean per-reward scores of ``samples`` sampled completions per record (temperature 1, 32 tokens)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medgrpo.data.prompt import build_messages
    from medgrpo.train.rewards import get_reward_funcs

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    prompts = [tok.apply_chat_template(build_messages(r), add_generation_prompt=True, tokenize=False) for r in records]
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=32,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            num_return_sequences=samples,
            pad_token_id=tok.pad_token_id,
        )
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    expanded = [r for r in records for _ in range(samples)]
    columns = {
        "answer": [r["answer"] for r in expanded],
        "answer_type": [r["answer_type"] for r in expanded],
        "meta": [json.dumps(r["meta"]) for r in expanded],
    }
    funcs = get_reward_funcs(list(WEIGHTS))
    means = {f.__name__: sum(f(texts, **columns)) / len(texts) for f in funcs}
    means["weighted"] = sum(WEIGHTS[name] * means[name] for name in WEIGHTS)
    return means


@pytest.mark.slow
def test_grpo_raises_mean_reward_on_synth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medgrpo.data.synth import generate
    from medgrpo.train.config import load_recipe
    from medgrpo.train.grpo import train
    from medgrpo.train.tiny import build_tiny_model
    from medgrpo.train.warmup import sft_warmup

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # a sqlite store puts run artifacts under ./mlruns
    train_records = list(generate(96, seed=11))
    held_out = list(generate(64, seed=12345))

    base = build_tiny_model(tmp_path / "tiny", seed=0)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    sft_warmup(model, tok, train_records, steps=60, learning_rate=3e-3, seed=0)
    warm = tmp_path / "warm"
    model.save_pretrained(warm)
    tok.save_pretrained(warm)

    dataset = tmp_path / "data"
    dataset.mkdir()
    (dataset / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train_records))

    cfg = load_recipe(
        RECIPE,
        overrides=[
            "warmup_sft_steps=0",
            "max_steps=30",
            "save_steps=100",
            "max_train_samples=96",
            "log_completions=false",
        ],
        explicit={"model_name_or_path": str(warm), "dataset": str(dataset), "output_dir": str(tmp_path / "out")},
    )
    outcome = train(cfg, recipe=str(RECIPE), register=False)
    assert outcome["metrics"]["global_step"] == 30

    before = _sample_rewards(warm, held_out, samples=4, seed=7)
    after = _sample_rewards(tmp_path / "out" / "final-model", held_out, samples=4, seed=7)
    print(f"held-out mean rewards before GRPO {before} after {after}")
    assert after["weighted"] - before["weighted"] >= 0.10, (before, after)
    assert after["format"] - before["format"] >= 0.15, (before, after)
