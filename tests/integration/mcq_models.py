"""Helpers of the gate tests: multiple-choice items whose answer is always ``A``, a dataset directory of
them, and a real tiny model that learnt that regularity (a model better than the tiny GRPO champion)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any


def choice_record(i: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed * 1000 + i)
    return {
        "id": f"mcq-{seed}-{i:04d}",
        "source": ("medqa", "medmcqa")[i % 2],
        "question": f"A {rng.randint(20, 80)}-year-old patient presents with "
        f"{rng.choice(['fever', 'cough', 'chest pain', 'headache'])}. Which is the most likely diagnosis?",
        "options": {"A": "the finding", "B": "distractor one", "C": "distractor two", "D": "distractor three"},
        "answer": "A",
        "answer_type": "choice",
        "context": None,
        "explanation": None,
        "meta": {},
    }


def write_dataset(out: Path, eval_records: list[dict[str, Any]], sha: str = "f" * 64) -> str:
    """A published dataset directory (manifest with per-file sha256) holding ``eval_records``."""
    out.mkdir(parents=True, exist_ok=True)
    evaluation = "".join(json.dumps(r) + "\n" for r in eval_records)
    files = {"eval.jsonl": evaluation, "train.jsonl": "", "quarantine.jsonl": ""}
    table = {}
    for name, text in files.items():
        (out / name).write_text(text)
        table[name] = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "bytes": len(text.encode())}
    manifest = {"name": "t", "content_sha256": sha, "sha256": sha, "files": table}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return str(out)


def build_strong_model(tiny_model: Path, out: Path) -> Path:
    """The tiny model after 30 supervised steps on choice items answered ``A`` (100% on such items)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medgrpo.train.warmup import sft_warmup

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    sft_warmup(model, tok, [choice_record(i, 1) for i in range(32)], steps=30, learning_rate=3e-3, seed=0)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
