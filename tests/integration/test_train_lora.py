"""LoRA variant: adapters trained, merged at save, registered model is a plain Qwen2 folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"


@pytest.mark.slow
def test_lora_training_saves_a_merged_plain_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from medgrpo.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", "medgrpo-lora-test")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    overrides = ["max_steps=2", "warmup_sft_steps=0", "use_peft=true", "lora_r=8", "lora_alpha=16",
                 "learning_rate=1e-3", "log_completions=false"]  # fmt: skip
    argv = ["train", "--recipe", str(RECIPE), "--output-dir", str(out)]
    for item in overrides:
        argv += ["--set", item]
    assert main(argv) == 0
    final = out / "final-model"
    names = {p.name for p in final.iterdir()}
    assert "model.safetensors" in names and "adapter_config.json" not in names
    merged = AutoModelForCausalLM.from_pretrained(final)
    base = AutoModelForCausalLM.from_pretrained(out / "model-source" / "tiny-0")
    assert type(merged).__name__ == "Qwen2ForCausalLM"
    assert not any("lora" in name for name, _ in merged.named_parameters())
    changed = [n for (n, a), (_, b) in zip(merged.named_parameters(), base.named_parameters(), strict=True)
               if not torch.equal(a, b)]  # fmt: skip
    assert changed and all("proj" in n for n in changed)  # only LoRA-targeted projections moved
    assert json.loads((out / "result.json").read_text())["model_uri"] == "models:/medgrpo-lora-test/1"
