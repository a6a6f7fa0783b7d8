"""Metric commits at checkpoints: buffered steps, replay after a kill, one value per step (sqlite MLflow)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture
def run_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("medgrpo/train-test")
    yield str(client.create_run(experiment).info.run_id)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None: back to the environment's URI


def _steps(run_id: str, key: str) -> list[int]:
    from mlflow import MlflowClient

    return sorted(m.step for m in MlflowClient().get_metric_history(run_id, key))


def test_numeric_metrics_filters() -> None:
    from medgrpo.train.callbacks import numeric_metrics

    logs = {"loss": 0.5, "reward": 1, "flag": True, "text": "x", "nan": float("nan"), "step": 3, "a b": 2.0}
    assert numeric_metrics(logs) == {"loss": 0.5, "reward": 1.0, "a_b": 2.0}


def test_on_save_uploads_then_commits_buffered_steps(run_id: str, tmp_path: Path) -> None:
    from medgrpo.train.callbacks import MlflowCheckpointCallback, last_logged_step

    out = tmp_path / "out"
    store = str(tmp_path / "store")
    callback = MlflowCheckpointCallback(run_id, store)
    args = SimpleNamespace(output_dir=str(out))
    control = SimpleNamespace()
    for step in (1, 2):
        state = SimpleNamespace(global_step=step, is_world_process_zero=True, is_local_process_zero=True)
        callback.on_log(args, state, control, logs={"reward": step / 10})  # type: ignore[arg-type]
    assert _steps(run_id, "reward") == []  # nothing is written before a checkpoint is stored
    (out / "checkpoint-2").mkdir(parents=True)
    (out / "checkpoint-2" / "trainer_state.json").write_text("{}")
    callback.on_save(args, state, control)  # type: ignore[arg-type]
    assert (Path(store) / "checkpoint-2" / "COMPLETE").is_file()
    assert _steps(run_id, "reward") == [1, 2]
    assert last_logged_step(run_id) == 2


def test_replay_logs_only_steps_mlflow_lacks(run_id: str, tmp_path: Path) -> None:
    from medgrpo.train.callbacks import log_steps, replay_log_history

    log_steps(run_id, [(1, {"reward": 0.1}), (2, {"reward": 0.2})])
    checkpoint = tmp_path / "checkpoint-4"
    checkpoint.mkdir()
    history = [{"step": s, "reward": s / 10, "loss": 1.0} for s in (1, 2, 3, 4)]
    (checkpoint / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    assert replay_log_history(run_id, checkpoint) == 2  # steps 3 and 4 (killed between upload and flush)
    assert _steps(run_id, "reward") == [1, 2, 3, 4]
    assert replay_log_history(run_id, checkpoint) == 0  # idempotent
    assert _steps(run_id, "reward") == [1, 2, 3, 4]


def test_same_step_entries_merge_into_one_value_per_key(run_id: str) -> None:
    from medgrpo.train.callbacks import STEP_METRIC, log_steps

    log_steps(run_id, [(6, {"reward": 0.5}), (6, {"train_runtime": 3.0})])  # TRL's end-of-train log at step 6
    assert _steps(run_id, STEP_METRIC) == [6]
    assert _steps(run_id, "train_runtime") == [6]


def test_commands_module_imports_without_heavy_libraries() -> None:
    code = (
        "import sys, medgrpo.train.commands, medgrpo.train.rewards;"
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'datasets', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
