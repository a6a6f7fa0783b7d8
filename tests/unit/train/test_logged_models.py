"""Checkpoint logged models and store pruning (sqlite MLflow), pinned serving requirements, generation defaults."""

from __future__ import annotations

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


def _save(callback: object, out: Path, step: int, reward: float) -> None:
    args = SimpleNamespace(output_dir=str(out), save_total_limit=2)
    state = SimpleNamespace(global_step=step, is_world_process_zero=True, is_local_process_zero=True)
    callback.on_log(args, state, SimpleNamespace(), logs={"reward": reward})  # type: ignore[attr-defined]
    (out / f"checkpoint-{step}").mkdir(parents=True)
    (out / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    callback.on_save(args, state, SimpleNamespace())  # type: ignore[attr-defined]


def test_each_save_is_a_logged_model_linked_to_its_step_and_old_ones_are_pruned(run_id: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from medgrpo.train.callbacks import MlflowCheckpointCallback
    from medgrpo.train.logged_models import checkpoint_models, ensure_checkpoint_model

    store = tmp_path / "store"
    callback = MlflowCheckpointCallback(run_id, str(store), model_tags={"recipe": "r.yaml"}, dataset=("d-train", "abc"))
    for step in (1, 2, 3):
        _save(callback, tmp_path / "out", step, step / 10)
    assert sorted(p.name for p in store.iterdir()) == ["checkpoint-2", "checkpoint-3"]  # save_total_limit=2
    found = checkpoint_models(run_id)
    assert [(s, uri) for s, _, uri in found] == [
        (1, f"{(store / 'checkpoint-1').resolve()} (pruned)"),
        (2, str((store / "checkpoint-2").resolve())),
        (3, str((store / "checkpoint-3").resolve())),
    ]
    client = MlflowClient()
    for step, model_id, _ in found:
        model = client.get_logged_model(model_id)
        assert model.tags["recipe"] == "r.yaml" and model.tags["medgrpo.step"] == str(step)
        (reward,) = [m for m in model.metrics or [] if m.key == "reward"]
        assert (reward.step, reward.value, reward.dataset_name) == (step, step / 10, "d-train")
    assert sorted(o.step for o in client.get_run(run_id).outputs.model_outputs) == [1, 2, 3]
    assert [m.step for m in client.get_metric_history(run_id, "reward")] == [1, 2, 3]  # once each
    # a retried attempt finds the model it made before (no second model, no second output)
    assert ensure_checkpoint_model(run_id, 3, "elsewhere") == found[2][1]
    assert len(client.get_run(run_id).outputs.model_outputs) == 3


def test_prune_keeps_the_protected_best_checkpoint(tmp_path: Path) -> None:
    from medgrpo.train.checkpoints import complete_checkpoints, mark_complete, prune_checkpoints

    store = tmp_path / "store"
    for step in (1, 2, 3, 4):
        (store / f"checkpoint-{step}").mkdir(parents=True)
        (store / f"checkpoint-{step}" / "model.safetensors").write_bytes(b"w")
        mark_complete(str(store), f"checkpoint-{step}")
    assert prune_checkpoints(str(store), keep=None) == []
    assert prune_checkpoints(str(store), keep=2, protect=frozenset({1})) == [2]
    assert [s for s, _ in complete_checkpoints(str(store))] == [1, 3, 4]
    assert not (store / "checkpoint-2").exists()


def test_pip_requirements_are_exact_pins_without_local_labels() -> None:
    from medgrpo.train.logged_models import pip_requirements

    pins = dict(p.split("==") for p in pip_requirements())
    assert {"mlflow", "transformers", "torch", "tokenizers", "safetensors"} <= set(pins)
    assert all(v and "+" not in v for v in pins.values())


def test_generation_defaults_follow_the_recipe_sampling() -> None:
    from medgrpo.train.logged_models import generation_defaults

    sampled = SimpleNamespace(max_completion_length=256, temperature=0.7, top_p=0.9, top_k=0)
    assert generation_defaults(sampled) == {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7, "top_p": 0.9}
    greedy = SimpleNamespace(max_completion_length=32, temperature=0.0, top_p=1.0, top_k=5)
    assert generation_defaults(greedy) == {"max_new_tokens": 32, "do_sample": False}
