"""Registered checkpoints are real MLflow models (issue #14), against a real MLflow server on PostgreSQL.

One tiny GRPO training run (``medgrpo train`` on an ingested synthetic dataset; 6 steps, a
checkpoint every 2, the store keeping 2) is shared by the module. Then: checkpoints are logged
models linked to their steps and pointing at the store; the registered version is a transformers
logged model with a model card; ``mlflow.pyfunc`` and ``mlflow models serve`` answer a chat request
from ``models:/<name>@champion``; a retried training task registers nothing new; evaluation and
the training container's model source read the same URI; the gate writes its part of the card; an
evaluation run links the models it scored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
MAX_STEPS = 6
CHAT = {"messages": [{"role": "user", "content": "What is the anion gap for Na 140, Cl 104, HCO3 24?"}]}


@dataclass(frozen=True)
class Trained:
    tracking: str
    model_name: str
    dataset_dir: str
    out: Path
    env: dict[str, str]
    result: dict[str, Any]
    train_command: list[str]


def _run(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv[:4]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-6000:]}"
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, mlflow_server: str) -> Trained:
    tmp = tmp_path_factory.mktemp("mlflow-models")
    model_name = f"medgrpo-models-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "MEDGRPO_MODEL_NAME": model_name}
    cli = [sys.executable, "-m", "medgrpo.cli"]
    _run([*cli, "synth", "-n", "60", str(tmp / "synth.jsonl")], env, 60)
    dataset_dir = str(tmp / "dataset")
    _run([*cli, "ingest", str(tmp / "synth.jsonl"), dataset_dir, "--name", "models-test"], env, 300)
    out = tmp / "out"
    command = [*cli, "train", "--recipe", str(RECIPE), "--dataset", dataset_dir, "--output-dir", str(out),
               "--tag", "airflow_dag_run=manual__models-test"]  # fmt: skip
    for item in (f"max_steps={MAX_STEPS}", "save_steps=2", "save_total_limit=2", "warmup_sft_steps=0",
                 "log_completions=false", "completions_table_steps=0"):  # fmt: skip
        command += ["--set", item]
    _run(command, env, 900)
    result = json.loads((out / "result.json").read_text())
    return Trained(mlflow_server, model_name, dataset_dir, out, env, result, command)


@pytest.fixture
def tracking_env(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking)
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", trained.model_name)
    mlflow.set_tracking_uri(trained.tracking)
    return trained


@pytest.fixture
def champion(tracking_env: Trained) -> str:
    """The trained version made champion directly (the gate and promotion have their own tests)."""
    from mlflow import MlflowClient

    version = str(tracking_env.result["model_version"])
    MlflowClient().set_registered_model_alias(tracking_env.model_name, "champion", version)
    return f"models:/{tracking_env.model_name}@champion"


def _logged_models(run_id: str, model_type: str | None = None) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment = client.get_run(run_id).info.experiment_id
    where = f"source_run_id = '{run_id}'" + (f" AND model_type = '{model_type}'" if model_type else "")
    return list(client.search_logged_models(experiment_ids=[experiment], filter_string=where))


def test_checkpoints_are_logged_models_at_their_steps_pointing_at_the_store(tracking_env: Trained) -> None:
    from mlflow import MlflowClient

    from medgrpo.train.logged_models import remote_files

    client = MlflowClient()
    run_id = tracking_env.result["run_id"]
    models = {m.name: m for m in _logged_models(run_id, "grpo-checkpoint")}
    assert sorted(models) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    outputs = {(o.model_id, o.step) for o in client.get_run(run_id).outputs.model_outputs}
    rewards = {m.step: m.value for m in client.get_metric_history(run_id, "reward")}
    store = tracking_env.out / "stored-checkpoints"
    for step in (2, 4, 6):
        model = client.get_logged_model(models[f"checkpoint-{step}"].model_id)
        assert (model.model_id, step) in outputs
        assert model.tags["medgrpo.checkpoint_uri"] == str((store / f"checkpoint-{step}").resolve())
        assert model.tags["mlflow.model.isExternal"] == "true"
        assert model.tags["dataset_sha256"] and model.tags["recipe"] == str(RECIPE)
        linked = {m.key: m for m in model.metrics or []}
        assert linked["reward"].step == step and linked["reward"].value == rewards[step]
        assert linked["reward"].dataset_name == "models-test-train"
        assert set(remote_files(model.artifact_location)) == {"MLmodel"}  # a pointer: no weights copied
    # save_total_limit=2: the store keeps checkpoints 4 and 6; checkpoint-2's model says it was pruned
    assert sorted(p.name for p in store.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-6"]
    assert (store / "checkpoint-6" / "COMPLETE").is_file()
    assert client.get_logged_model(models["checkpoint-2"].model_id).tags["medgrpo.checkpoint_status"] == "pruned"


def test_registered_version_is_a_transformers_logged_model_with_a_model_card(tracking_env: Trained) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    run_id = tracking_env.result["run_id"]
    mv = client.get_model_version(tracking_env.model_name, tracking_env.result["model_version"])
    (logged,) = [m for m in _logged_models(run_id) if m.name == "model"]
    assert logged.model_id == tracking_env.result["logged_model_id"]
    assert mv.source == f"models:/{logged.model_id}" and mv.run_id == run_id
    assert str(logged.status.name if hasattr(logged.status, "name") else logged.status) == "READY"
    assert (logged.model_id, MAX_STEPS) in {(o.model_id, o.step) for o in client.get_run(run_id).outputs.model_outputs}
    assert {m.key for m in logged.metrics or []} >= {"reward", "loss", "global_step"}
    checkpoint_6 = next(m for m in _logged_models(run_id, "grpo-checkpoint") if m.name == "checkpoint-6")
    assert logged.tags["medgrpo.checkpoint_model_id"] == checkpoint_6.model_id
    assert logged.tags["recipe_artifact"] == f"runs:/{run_id}/recipe/config.yaml"
    for key in ("dataset_sha256", "recipe", "base_model", "git_sha", "image", "airflow_dag_run", "dataset_name"):
        assert mv.tags[key], key
    assert [f.path for f in client.list_artifacts(run_id) if f.path == "model"] == []  # no second full copy

    card = mv.description
    assert len(card) <= 5000
    for text in (f"# {tracking_env.model_name} version {mv.version}", "## Intended use", "Not for clinical decisions",
                 mv.tags["dataset_sha256"], "De-identification policy `clinical`", "format × 0.5",
                 "accuracy × 1", "## Training figures", "final step 6", "checkpoint-6", "Not gated yet"):  # fmt: skip
        assert text in card, text

    import mlflow.artifacts

    from medgrpo.train.logged_models import remote_files

    files = remote_files(logged.artifact_location)
    assert {"MLmodel", "model/model.safetensors", "model/generation_config.json", "requirements.txt",
            "components/tokenizer/chat_template.jinja", "input_example.json"} <= set(files)  # fmt: skip
    requirements = Path(mlflow.artifacts.download_artifacts(f"{logged.artifact_location}/requirements.txt")).read_text()
    assert "transformers==" in requirements and "torch==" in requirements and "mlflow==" in requirements


def test_pyfunc_loads_the_champion_and_answers_a_chat_request(champion: str) -> None:
    import mlflow

    model = mlflow.pyfunc.load_model(champion)
    assert model.metadata.signature.inputs.input_names()[0] == "messages"
    (answer,) = model.predict({**CHAT, "max_tokens": 8})
    assert answer["object"] == "chat.completion" and answer["model"] == champion.split(":/")[1].split("@")[0]
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(answer["choices"][0]["message"]["content"], str)
    assert 0 < answer["usage"]["completion_tokens"] <= 8


def test_mlflow_models_serve_answers_over_rest(champion: str, tracking_env: Trained, tmp_path: Path) -> None:
    from medgrpo.services.process import ManagedProcess, free_port, wait_http

    port = free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    argv = [str(mlflow_cli), "models", "serve", "-m", champion, "--env-manager", "local", "-h", "127.0.0.1",
            "-p", str(port), "--workers", "1"]  # fmt: skip
    env = {**tracking_env.env, "PATH": f"{mlflow_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # as in the venv
    server = ManagedProcess("mlflow-models-serve", argv, env, tmp_path / "serve.log").start()
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", timeout=180, proc=server)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({**CHAT, "max_tokens": 8}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as resp:
            assert resp.status == 200
            body = json.loads(resp.read())
    finally:
        server.stop()
    answer = body[0] if isinstance(body, list) else body
    assert answer["object"] == "chat.completion", body
    assert answer["choices"][0]["message"]["role"] == "assistant"


def test_a_retried_training_task_registers_nothing_new(tracking_env: Trained) -> None:
    from mlflow import MlflowClient

    from medgrpo import registry

    client = MlflowClient()
    run_id = tracking_env.result["run_id"]
    before = {m.model_id for m in _logged_models(run_id)}
    _run(tracking_env.train_command, tracking_env.env, 600)  # the Airflow task retried after success
    again = json.loads((tracking_env.out / "result.json").read_text())
    assert again["run_id"] == run_id and again["model_uri"] == tracking_env.result["model_uri"]
    assert again["logged_model_id"] == tracking_env.result["logged_model_id"]
    assert {m.model_id for m in _logged_models(run_id)} == before
    assert [v.version for v in client.search_model_versions(f"name = '{tracking_env.model_name}'")] == ["1"]
    mv = registry.register_model_version(
        run_id, "model", model_id=again["logged_model_id"], tags={"retried": "yes"}, alias="challenger"
    )
    assert mv.version == "1" and mv.tags["retried"] == "yes"
    steps = sorted(m.step for m in client.get_metric_history(run_id, "reward"))
    assert steps == list(range(1, MAX_STEPS + 1))


def test_evaluation_and_training_read_the_same_model_uri(champion: str, tracking_env: Trained, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medgrpo import registry
    from medgrpo.cli import main
    from medgrpo.train.sources import registry_origin, resolve_model_source

    local = registry.download_model(champion, tmp_path / "download")
    names = {p.name for p in local.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    tokenizer = AutoTokenizer.from_pretrained(local)
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        CHAT["messages"], tokenize=False, add_generation_prompt=True
    )
    assert type(AutoModelForCausalLM.from_pretrained(local)).__name__ == "Qwen2ForCausalLM"

    source = resolve_model_source(champion, tmp_path / "model-source")  # the training container's path
    assert (Path(source) / "config.json").is_file() and (Path(source) / "tokenizer_config.json").is_file()
    assert registry_origin(tmp_path / "model-source")["model_uri"] == tracking_env.result["model_uri"]

    argv = ["evaluate", "--model", champion, "--dataset", tracking_env.dataset_dir, "--limit", "2",
            "--max-new-tokens", "8", "--out", str(tmp_path / "eval.json")]  # fmt: skip
    assert main(argv) == 0
    assert json.loads((tmp_path / "eval.json").read_text())["metrics"]["n"] == 2


def test_gate_writes_its_part_of_the_card_and_a_later_gate_replaces_it(tracking_env: Trained) -> None:
    from mlflow import MlflowClient

    from medgrpo.model_card import GATE_START, record_gate_verdict

    version = tracking_env.result["model_version"]
    report = {  # the fields a gate report carries (medgrpo.gate_report/2)
        "created_at": "2026-01-01T00:00:00+00:00",
        "n_items": 6,
        "eval_sha256": "ab" * 32,
        "policy": {"name": "demo"},
        "candidate": {
            "metrics": {"accuracy": {"value": 0.5, "low": 0.19, "high": 0.81}, "format_rate": {"value": 1.0}}
        },
        "champion": None,
        "verdict": {"verdict": "rejected", "reasons": ["accuracy 50.0% below min_accuracy 60.0%"]},
    }
    record_gate_verdict(version, report, report_uri="runs:/x/gate_report.html")
    report["verdict"] = {"verdict": "passed", "reasons": []}
    record_gate_verdict(version, report, report_uri="runs:/y/gate_report.html")
    card = MlflowClient().get_model_version(tracking_env.model_name, version).description
    assert card.count(GATE_START) == 1 and "**passed**" in card and "rejected" not in card
    assert "runs:/y/gate_report.html" in card and "Not gated yet" not in card
    assert "## Intended use" in card and "final step 6" in card  # the training part is kept


def test_evaluation_run_links_the_models_it_scored(tracking_env: Trained) -> None:
    from mlflow import MlflowClient

    from medgrpo import registry
    from medgrpo.model_lineage import link_evaluation_run

    client = MlflowClient()
    experiment = client.get_experiment_by_name("medgrpo/evaluate")
    exp_id = experiment.experiment_id if experiment else client.create_experiment("medgrpo/evaluate")
    run_id = client.create_run(exp_id).info.run_id
    candidate = registry.get_version(tracking_env.result["model_version"])
    for _ in range(2):  # a resumed gate run links again: nothing is duplicated
        ids = link_evaluation_run(
            run_id, dataset_dir=tracking_env.dataset_dir, scored={"candidate": candidate, "champion": None}
        )
    assert ids == {"candidate": tracking_env.result["logged_model_id"]}
    run = client.get_run(run_id)
    assert [i.model_id for i in run.inputs.model_inputs] == [tracking_env.result["logged_model_id"]]
    assert [
        (d.dataset.name, [t.value for t in d.tags if t.key == "mlflow.data.context"]) for d in run.inputs.dataset_inputs
    ] == [("models-test-eval", ["eval"])]
    assert run.data.tags["medgrpo.candidate_model_id"] == tracking_env.result["logged_model_id"]


def test_an_interrupted_upload_is_resumed_without_sending_the_uploaded_files_again(
    tracking_env: Trained, tiny_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A try that died mid-upload left a PENDING logged model with some files: the retry completes it."""
    import mlflow
    from mlflow import MlflowClient

    from medgrpo.train import logged_models as lm

    client = MlflowClient()
    experiment = client.get_experiment_by_name("medgrpo/train").experiment_id
    run_id = client.create_run(experiment).info.run_id
    pending = mlflow.initialize_logged_model(name="model", source_run_id=run_id, experiment_id=experiment)
    staging = tmp_path / "first-try"
    kwargs = {"card_markdown": "# card", "generation": {"max_new_tokens": 8}, "served_name": "resume-test"}
    lm.save_mlflow_model(tiny_model, staging, logged_model=pending, run_id=run_id, **kwargs)
    weights = staging / "model" / "model.safetensors"
    from mlflow.artifacts import get_artifact_repository

    get_artifact_repository(pending.artifact_location).log_artifact(str(weights), "model")  # then the pod died

    with caplog.at_level("INFO", logger=lm.__name__):
        done = lm.publish_model(run_id, tiny_model, step=1, staging=tmp_path / "retry", tags={}, params={}, **kwargs)
    assert done.model_id == pending.model_id and lm._is_ready(done)
    (record,) = [r for r in caplog.records if r.getMessage() == "registered logged model uploaded"]
    assert record.skipped == 1 and record.uploaded >= 5  # type: ignore[attr-defined]  # the weights were not re-sent
    assert [m.model_id for m in _logged_models(run_id)] == [pending.model_id]  # no second model
    files = lm.remote_files(done.artifact_location)
    assert files["model/model.safetensors"] == weights.stat().st_size and "MLmodel" in files
    again = lm.upload_resumable(staging, done.artifact_location)
    assert again["uploaded"] == 1 and again["skipped"] == len(files) - 1  # only MLmodel is always re-sent
    (answer,) = mlflow.pyfunc.load_model(f"models:/{done.model_id}").predict({**CHAT, "max_tokens": 4})
    assert answer["model"] == "resume-test"
