"""Two training processes (torchrun, gloo on CPU): one MLflow run, one version, one result.json.

Checks the multi-process guards that a multi-GPU or multi-node launch relies on: only the main
process talks to MLflow and registers, every rank takes part in checkpoint barriers, and every
rank's files (one RNG state per rank) end up in the stored checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"


@pytest.mark.slow
def test_two_process_run_registers_once(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "MEDGRPO_MODEL_NAME": "medgrpo-ddp-test"}
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "out"
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "-m", "medgrpo.cli", "train", "--recipe", str(RECIPE),
         "--output-dir", str(out), "--set", "max_steps=2", "--set", "save_steps=1", "--set", "warmup_sft_steps=0",
         "--set", "log_completions=false"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("trained 2 steps") == 1  # only the main process reports
    result = json.loads((out / "result.json").read_text())
    assert result["model_uri"] == "models:/medgrpo-ddp-test/1"
    stored = out / "stored-checkpoints" / "checkpoint-2"
    assert (stored / "COMPLETE").is_file()
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in stored.iterdir()}
    client = MlflowClient(tracking)
    (experiment,) = [e for e in client.search_experiments() if e.name == "medgrpo/train"]
    assert len(client.search_runs([experiment.experiment_id])) == 1
    assert sorted(m.step for m in client.get_metric_history(result["run_id"], "reward")) == [1, 2]
