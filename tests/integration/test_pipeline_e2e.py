"""The whole chain through real services: Airflow 3 (api-server, scheduler, dag-processor,
triggerer; LocalExecutor) and an MLflow server, both on PostgreSQL, with real TRL training.

``medical_ingest`` is triggered through the REST API; Asset events drive ``grpo_training`` and
``gated_evaluation``. A second ingest trains a second version, which is gated against the first.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from medgrpo.demo import find_repo_root, run_chain
from medgrpo.services.airflow_stack import AirflowStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def airflow_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, pg_database: Callable[[str], str], mlflow_server: str
):  # type: ignore[no-untyped-def]
    repo = find_repo_root()
    state = tmp_path_factory.mktemp("state")
    db = pg_database("medgrpo_airflow").replace("postgresql://", "postgresql+psycopg2://", 1)
    stack = AirflowStack(
        home=state / "airflow",
        dags_folder=repo / "dags",
        plugins_folder=repo / "plugins",
        db_uri=db,
        extra_env={
            "MLFLOW_TRACKING_URI": mlflow_server,
            "MEDGRPO_STATE_DIR": str(state),
            "MEDGRPO_MODEL_NAME": "medgrpo-e2e",
            "MEDGRPO_DEFAULT_RECIPE": str(repo / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"),
        },
    )
    stack.start()
    try:
        yield stack, state, mlflow_server
    finally:
        stack.stop()


def test_chain_ingest_train_register_gate_promote(airflow_on_postgres, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    stack, state, tracking_uri = airflow_on_postgres
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", "medgrpo-e2e")
    from medgrpo import registry

    first = run_chain(stack, conf={"dataset_name": "e2e"}, timeout=900)

    # ingest published a complete dataset directory
    dataset = state / "datasets" / "e2e"
    assert sorted(p.name for p in dataset.iterdir()) == [
        "eval.jsonl",
        "manifest.json",
        "quarantine.jsonl",
        "train.jsonl",
    ]
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["counts"]["train"] > 0 and manifest["counts"]["eval"] > 0

    # the training log was streamed into the Airflow task log
    train_log = stack.task_log("grpo_training", first.training_run["dag_run_id"], "train")
    assert "medgrpo train" in train_log or "loss" in train_log

    # a version was registered with lineage tags and gated
    gate = first.gate
    assert gate["verdict"] in {"passed", "rejected"}
    v1 = registry.get_version(gate["version"])
    for tag in (
        "dataset_sha256",
        "recipe",
        "base_model",
        "git_sha",
        "image",
        "airflow_dag_run",
        "gate_verdict",
        "gate_report",
    ):
        assert v1.tags.get(tag), f"version {v1.version} lacks tag {tag}: {sorted(v1.tags)}"
    assert v1.tags["gate_verdict"] == gate["verdict"]
    assert v1.tags["airflow_dag_run"].startswith("grpo_training/")
    assert gate["champion_version"] is None  # first model: nothing to compare against

    # the plugin's task buttons open the MLflow run and the registered version
    links = stack.api(
        "GET", f"/dags/grpo_training/dagRuns/{first.training_run['dag_run_id']}/taskInstances/train/links"
    )
    assert links["extra_links"]["MLflow run"].startswith(f"{tracking_uri}/#/experiments/")
    assert links["extra_links"]["MLflow run"].endswith(f"/runs/{v1.run_id}")
    assert links["extra_links"]["MLflow model version"] == f"{tracking_uri}/#/models/medgrpo-e2e/versions/{v1.version}"
    if gate["verdict"] == "passed":
        champion = registry.get_version_by_alias("champion")
        assert champion is not None and champion.version == v1.version

    # a second ingest trains a second version that is gated against the first
    second = run_chain(stack, conf={"dataset_name": "e2e"}, timeout=900)
    assert second.gate["version"] != gate["version"]
    if gate["verdict"] == "passed":
        assert second.gate["champion_version"] == v1.version
        assert "champion" in second.gate["metrics"]
