"""The harness on a GPU: same completions as on the CPU in float32, and bfloat16 runs end to end.

Runs only where torch sees a CUDA device (skipped on the CPU-only CI machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medgrpo.evaluate.harness import evaluate_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _records(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"synth-{i:016x}",
            "source": "synth",
            "question": f"Calculate the corrected calcium: calcium {8 + i / 10:.1f} mg/dL, albumin 3.0 g/dL."
            * (1 + i % 3),
            "options": None,
            "answer": f"{8 + i / 10 + 0.8:.1f}",
            "answer_type": "numeric",
            "meta": {"tolerance": 0.02},
        }
        for i in range(9)
    ]


def test_cuda_float32_matches_cpu(tiny_model: Path) -> None:
    records = _records(9)
    cpu = evaluate_model(tiny_model, records, batch_size=4, max_new_tokens=16, device="cpu")
    gpu = evaluate_model(tiny_model, records, batch_size=4, max_new_tokens=16, device="cuda", dtype="float32")
    assert gpu.config["device"] == "cuda" and gpu.config["dtype"] == "float32"
    same = sum(a.completion == b.completion for a, b in zip(cpu.items, gpu.items, strict=True))
    # TF32/kernel differences may flip a near-tie argmax late in a sequence; nearly all must agree
    assert same >= 8, [(a.completion, b.completion) for a, b in zip(cpu.items, gpu.items, strict=True)]


def test_cuda_default_is_bfloat16_and_batch_invariant_in_shape(tiny_model: Path) -> None:
    records = _records(9)
    result = evaluate_model(tiny_model, records, batch_size=3, max_new_tokens=8)
    assert result.config["device"] == "cuda" and result.config["dtype"] == "bfloat16"
    assert [it.id for it in result.items] == [r["id"] for r in records]
    assert all(0 <= it.new_tokens <= 8 for it in result.items)
