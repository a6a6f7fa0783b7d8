"""``medgrpo train`` end to end against a real MLflow server, including a kill and resume.

The training process is killed (SIGKILL, as a preempted pod would be) once a checkpoint has been
stored; the rerun must resume from it, end at the same total step count, leave no gap and no
repeat in the logged steps, and produce exactly one registered model version. A third run (a
retried Airflow task after success) must find the same version instead of registering another.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
MAX_STEPS = 8


def _command(out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "medgrpo.cli",
        "train",
        "--recipe",
        str(RECIPE),
        "--dataset",
        "synth:32",
        "--output-dir",
        str(out),
        "--tag",
        "airflow_dag_run=manual__resume-test",
        "--set",
        f"max_steps={MAX_STEPS}",
        "--set",
        "save_steps=2",
        "--set",
        "warmup_sft_steps=0",
        "--set",
        "log_completions=false",
    ]


@pytest.mark.integration
@pytest.mark.slow
def test_kill_and_resume_logs_every_step_once_and_registers_once(tmp_path: Path, mlflow_server: str) -> None:
    from mlflow import MlflowClient

    model_name = f"medgrpo-resume-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "MEDGRPO_MODEL_NAME": model_name}
    out = tmp_path / "out"
    store = out / "stored-checkpoints"
    log_file = (tmp_path / "attempt1.log").open("w")

    # Attempt 1: killed once checkpoint-4 is stored (mid-run: 8 steps).
    proc = subprocess.Popen(_command(out), env=env, stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 150
    while not (store / "checkpoint-4" / "COMPLETE").exists():
        assert proc.poll() is None, f"training exited early: {(tmp_path / 'attempt1.log').read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint-4 within 150 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    log_file.close()
    assert not (out / "result.json").exists()
    run_id = json.loads((store / "run.json").read_text())["run_id"]

    # Attempt 2: resumes the same MLflow run from the newest stored checkpoint.
    second = subprocess.run(_command(out), env=env, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-4000:]
    result = json.loads((out / "result.json").read_text())
    assert result["run_id"] == run_id
    assert result["metrics"]["global_step"] == MAX_STEPS
    assert result["model_uri"] == f"models:/{model_name}/1"

    client = MlflowClient(mlflow_server)
    run = client.get_run(run_id)
    assert run.data.tags["resumed_from"].startswith("checkpoint-")
    resumed_at = int(run.data.tags["resumed_from"].split("-")[1])
    assert 4 <= resumed_at < MAX_STEPS
    for key in ("reward", "loss", "rewards/format/mean"):
        steps = sorted(m.step for m in client.get_metric_history(run_id, key))
        assert steps == list(range(1, MAX_STEPS + 1)), (key, steps)
    versions = client.search_model_versions(f"name = '{model_name}'")
    assert [v.version for v in versions] == ["1"]
    tags = versions[0].tags
    assert tags["airflow_dag_run"] == "manual__resume-test"
    assert tags["recipe"] == str(RECIPE)
    assert tags["base_model"] == "tiny:0"
    assert len(tags["dataset_sha256"]) == 64
    assert client.get_model_version_by_alias(model_name, "challenger").version == "1"

    # Attempt 3 (a retried task after success): same run, same single version.
    third = subprocess.run(_command(out), env=env, capture_output=True, text=True, timeout=240)
    assert third.returncode == 0, third.stderr[-4000:]
    registry_lines = [line for line in third.stderr.splitlines() if "registry" in line or "resum" in line]
    assert json.loads((out / "result.json").read_text())["model_uri"] == f"models:/{model_name}/1", registry_lines
    assert [v.version for v in client.search_model_versions(f"name = '{model_name}'")] == ["1"]
    steps = sorted(m.step for m in client.get_metric_history(run_id, "reward"))
    assert steps == list(range(1, MAX_STEPS + 1))
