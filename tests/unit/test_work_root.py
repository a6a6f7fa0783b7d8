"""One work root (MEDGRPO_WORK_URI) with overridable folders under it, and the refusal of a local work
root (or MLflow store) when Airflow's executor runs tasks on other machines."""

from __future__ import annotations

from pathlib import Path

import pytest

from medgrpo import pipeline
from medgrpo.executors import SharedStorageError, executor_names, remote_executors, require_shared_storage
from medgrpo.settings import Settings

ROOT_VARS = ("MEDGRPO_WORK_URI", "MEDGRPO_DATA_ROOT", "MEDGRPO_RUNS_ROOT", "MEDGRPO_CHECKPOINT_ROOT")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*ROOT_VARS, "MEDGRPO_ID_MAP_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEDGRPO_STATE_DIR", str(tmp_path / "state"))


def test_without_a_work_root_everything_stays_under_the_state_dir(tmp_path: Path) -> None:
    s = Settings.from_env()
    state = str(tmp_path / "state")
    assert (s.work_uri, s.data_root, s.runs_root, s.checkpoint_root) == (
        state,
        f"{state}/datasets",
        f"{state}/runs",
        "",
    )
    assert pipeline.default_dataset_uri("d") == f"{state}/datasets/d"
    assert pipeline.ingest_staging_dir("medical_ingest", "manual__1") == f"{state}/staging/medical-ingest-manual-1"


def test_an_s3_work_root_holds_staging_datasets_runs_checkpoints_and_id_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDGRPO_WORK_URI", "s3://lake/medgrpo/")
    from medgrpo.data import ids

    assert pipeline.default_dataset_uri("d") == "s3://lake/medgrpo/datasets/d"
    assert pipeline.default_runs_root() == "s3://lake/medgrpo/runs"
    assert pipeline.ingest_staging_dir("medical_ingest", "r") == "s3://lake/medgrpo/staging/medical-ingest-r"
    job = pipeline.training_job({}, {"dataset_uri": "s3://lake/medgrpo/datasets/d"}, dag_id="grpo_training", run_id="r")
    assert job.output_uri == "s3://lake/medgrpo/runs/grpo-training-r"
    assert job.checkpoint_store == "s3://lake/medgrpo/runs/grpo-training-r/checkpoints"  # inside the run's folder
    assert ids.id_map_root() == "s3://lake/medgrpo/id-maps"
    assert Settings.from_env().local_locations() == {}


def test_the_three_roots_stay_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDGRPO_WORK_URI", "s3://lake/w")
    monkeypatch.setenv("MEDGRPO_DATA_ROOT", "s3://published/data")
    monkeypatch.setenv("MEDGRPO_CHECKPOINT_ROOT", "s3://fast/ckpt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDGRPO_RUNS_ROOT", "relative-runs")
    s = Settings.from_env()
    assert s.data_root == "s3://published/data"
    assert s.checkpoint_root == "s3://fast/ckpt"
    job = pipeline.training_job({}, {"dataset_uri": "s3://published/data/d"}, dag_id="grpo_training", run_id="r")
    assert job.checkpoint_store == "s3://fast/ckpt/grpo-training-r"
    assert s.runs_root == str(tmp_path / "relative-runs")  # absolute: tasks start in other folders
    assert s.local_locations() == {"MEDGRPO_RUNS_ROOT": str(tmp_path / "relative-runs")}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MEDGRPO_WORK_URI", "gs://bucket/x", "expected a local folder or an s3:// prefix, found 'gs://bucket/x'"),
        ("MEDGRPO_WORK_URI", "s3:///nobucket", "no bucket"),
        ("MEDGRPO_CHECKPOINT_ROOT", "file:///tmp/x", "MEDGRPO_CHECKPOINT_ROOT: expected a local folder"),
    ],
)
def test_a_location_storage_cannot_reach_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Settings.from_env()


def test_executor_names_are_read_from_every_config_form() -> None:
    assert executor_names("") == ["LocalExecutor"]
    assert executor_names("LocalExecutor") == ["LocalExecutor"]
    assert executor_names("airflow.providers.celery.executors.celery_executor.CeleryExecutor") == ["CeleryExecutor"]
    assert executor_names("LocalExecutor, k8s:airflow.providers.cncf.kubernetes.executors.x.KubernetesExecutor") == [
        "LocalExecutor",
        "KubernetesExecutor",
    ]
    assert remote_executors("LocalExecutor") == []
    assert remote_executors("LocalExecutor,CeleryExecutor") == ["CeleryExecutor"]
    assert remote_executors("my.company.ExoticExecutor") == ["ExoticExecutor"]  # unknown: assume remote


def test_local_executor_accepts_a_local_work_root() -> None:
    require_shared_storage("LocalExecutor", tracking_uri="sqlite:///mlflow.db")


@pytest.mark.parametrize("executor", ["CeleryExecutor", "KubernetesExecutor", "LocalExecutor,CeleryExecutor"])
def test_a_remote_executor_with_a_local_work_root_fails_naming_each_setting(executor: str, tmp_path: Path) -> None:
    with pytest.raises(SharedStorageError) as err:
        require_shared_storage(executor, tracking_uri="http://mlflow:5000")
    text = str(err.value)
    state = tmp_path / "state"
    for name, value in (("WORK_URI", state), ("DATA_ROOT", state / "datasets"), ("RUNS_ROOT", state / "runs")):
        assert f"MEDGRPO_{name}={value};" in text
    assert "MEDGRPO_CHECKPOINT_ROOT" not in text.split(". Set")[0]  # unset: checkpoints are inside the runs root
    assert f"MEDGRPO_ID_MAP_ROOT={tmp_path / 'state' / 'id-maps'}" in text
    assert "Set MEDGRPO_WORK_URI to an s3:// prefix" in text and "Executors and storage" in text


def test_a_remote_executor_with_s3_and_an_mlflow_server_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDGRPO_WORK_URI", "s3://lake/w")
    require_shared_storage("CeleryExecutor", tracking_uri="http://mlflow:5000")
    require_shared_storage("CeleryExecutor", tracking_uri="postgresql://db/mlflow")


def test_a_remote_executor_needs_the_deployment_id_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each worker would otherwise make its own installation id key, and ids would differ per worker."""
    monkeypatch.setenv("MEDGRPO_WORK_URI", "s3://lake/w")
    monkeypatch.delenv("MEDGRPO_ID_SECRET", raising=False)
    monkeypatch.delenv("MEDGRPO_ALLOW_DEV_ID_KEY", raising=False)
    with pytest.raises(SharedStorageError, match="MEDGRPO_ID_SECRET unset"):
        require_shared_storage("CeleryExecutor", tracking_uri="http://mlflow:5000")
    require_shared_storage("LocalExecutor", tracking_uri="http://mlflow:5000")  # one machine: its own key is fine
    monkeypatch.setenv("MEDGRPO_ID_SECRET", "a-deployment-secret-of-32-chars!")
    require_shared_storage("CeleryExecutor", tracking_uri="http://mlflow:5000")


@pytest.mark.parametrize(
    ("tracking", "found"),
    [("", "MLFLOW_TRACKING_URI is empty"), ("sqlite:///x.db", "sqlite:///x.db is a store on one machine")],
)
def test_a_remote_executor_needs_a_shared_mlflow_store(
    monkeypatch: pytest.MonkeyPatch, tracking: str, found: str
) -> None:
    monkeypatch.setenv("MEDGRPO_WORK_URI", "s3://lake/w")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    with pytest.raises(SharedStorageError, match=found):
        require_shared_storage("CeleryExecutor")


def test_a_local_id_map_root_is_refused_under_a_remote_executor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEDGRPO_WORK_URI", "s3://lake/w")
    monkeypatch.setenv("MEDGRPO_ID_MAP_ROOT", str(tmp_path / "maps"))
    with pytest.raises(SharedStorageError, match=f"MEDGRPO_ID_MAP_ROOT={tmp_path / 'maps'}"):
        require_shared_storage("CeleryExecutor", tracking_uri="http://mlflow:5000")


def test_dag_placement_reads_only_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from medgrpo_airflow import placement

    for name in (placement.GPU_QUEUE_ENV, placement.GPU_POOL_ENV, placement.CLUSTER_POOL_ENV):
        monkeypatch.delenv(name, raising=False)
    assert placement.gpu_task() == {} and placement.cluster_task() == {}
    monkeypatch.setenv(placement.GPU_QUEUE_ENV, "gpu")
    assert placement.gpu_task() == {"queue": "gpu"}
    monkeypatch.setenv(placement.GPU_POOL_ENV, "gpu_slots")
    monkeypatch.setenv(placement.CLUSTER_POOL_ENV, "cluster_jobs")
    assert placement.gpu_task() == {"queue": "gpu", "pool": "gpu_slots"}
    assert placement.cluster_task() == {"pool": "cluster_jobs"}


def test_the_first_task_fails_without_retry_under_celery_with_a_local_work_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from medgrpo_airflow.placement import require_shared_storage as preflight

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with pytest.raises(AirflowFailException, match="CeleryExecutor runs each task on its own worker"):
        preflight()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    preflight()
