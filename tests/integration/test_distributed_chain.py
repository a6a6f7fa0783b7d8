"""The chain on a distributed Airflow: the CeleryExecutor with two workers that share nothing but S3
(a real moto server), PostgreSQL and Redis — real Airflow, MLflow (artifacts in S3), TRL training.

Run once (``medgrpo.services.distributed.DistributedStack``, the stack of ``make demo-distributed``),
it checks that

- both workers ran tasks, the mapped de-identification shards included, and the accelerator tasks
  went to the GPU queue and pool (the worker consuming it);
- each worker's folder (working directory, HOME, TMPDIR, AIRFLOW_HOME, scratch) is emptied after every
  task it runs — by a Celery ``task_postrun`` hook inside the worker (``celery_task_hooks.py``), before
  it takes its next task — and the chain still completes: no task reads what an earlier task left on a
  worker's disk, and after each worker's last task its disk holds nothing the results depend on
  (dataset, model, gate report and checkpoints are read back afterwards);
- tasks leave no scratch behind: nothing was ever found in a worker's TMPDIR or working directory;
- no asset event, XCom value or MLflow tag (runs, logged models, model versions) holds a path inside
  either worker's folder, and MLflow's artifacts are in S3, not on the server's disk.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medgrpo.demo import find_repo_root, run_chain
from medgrpo.demo_distributed import chain_conf, stage_inputs
from medgrpo.services.distributed import ARTIFACT_BUCKET, DistributedStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOOKS = "celery_task_hooks.CELERY_CONFIG"  # tests/integration/celery_task_hooks.py, on the workers' PYTHONPATH


def _wipes(stack: DistributedStack, name: str) -> list[dict[str, Any]]:
    journal = stack.worker_root(name).with_name(f"{name}.wipes.jsonl")
    return [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []


def _wait_idle(stack: DistributedStack, timeout: float = 120) -> None:
    """Until no worker holds a task (a run is terminal a moment before its last task's log is shipped)."""
    deadline = time.monotonic() + timeout
    while any(w.busy() is not False for w in stack.celery.values()):
        if time.monotonic() > deadline:
            raise TimeoutError("a worker still holds a task after the chain finished")
        time.sleep(1)


@pytest.fixture(scope="module")
def distributed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedStack]:
    repo = find_repo_root()
    stack = DistributedStack(base=tmp_path_factory.mktemp("distributed"), repo=repo)
    stack.worker_env = {
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(repo / "tests" / "integration"), os.environ.get("PYTHONPATH")) if p
        ),
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": HOOKS,
    }
    stack.extra_env = {
        "MEDGRPO_MODEL_NAME": "medgrpo-distributed",
        "MEDGRPO_DEFAULT_BASE_MODEL": f"{stack.work_uri}/models/tiny-base",
        "MEDGRPO_ALLOW_DEV_ID_KEY": "true",
    }
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def _ran_by(hosts: dict[str, list[dict[str, Any]]], worker: str) -> list[dict[str, Any]]:
    return [{**t, "dag_id": dag} for dag, tis in hosts.items() for t in tis if t["worker"] == worker]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
    elif value is not None:
        yield str(value)


def _worker_paths_in(value: Any, roots: list[str]) -> list[str]:
    return [s for s in _strings(value) for root in roots if root in s]


def _all_xcom_values(stack: DistributedStack) -> list[dict[str, Any]]:
    assert stack.airflow is not None
    entries = stack.airflow.api("GET", "/dags/~/dagRuns/~/taskInstances/~/xcomEntries", params={"limit": 1000})
    out = []
    for e in entries["xcom_entries"]:
        path = f"/dags/{e['dag_id']}/dagRuns/{e['run_id']}/taskInstances/{e['task_id']}/xcomEntries/{e['key']}"
        value = stack.airflow.api("GET", path, params={"map_index": e["map_index"]})
        out.append({"where": f"{e['dag_id']}.{e['task_id']}[{e['map_index']}] {e['key']}", "value": value["value"]})
    return out


def _mlflow_records(tracking_uri: str) -> list[dict[str, Any]]:
    """Tags (and params) of every run and logged model, and tags and source of every model version."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    out: list[dict[str, Any]] = []
    for run in client.search_runs(experiments, max_results=1000):
        out.append({"where": f"run {run.info.run_id}", "tags": run.data.tags, "artifacts": run.info.artifact_uri})
    for model in client.search_logged_models(experiment_ids=experiments, max_results=1000):
        out.append({"where": f"logged model {model.model_id}", "tags": model.tags, "uri": model.artifact_location})
    for mv in client.search_model_versions(max_results=1000):
        out.append({"where": f"version {mv.name}/{mv.version}", "tags": mv.tags, "source": mv.source})
    return out


def test_chain_on_celery_workers_sharing_only_s3_postgres_and_redis(
    distributed: DistributedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = distributed
    assert stack.airflow is not None and stack.mlflow is not None and stack.moto is not None
    for key, value in {**stack.s3_env(), "MLFLOW_TRACKING_URI": stack.mlflow.url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", "medgrpo-distributed")
    staged = stage_inputs(stack.work_uri)
    outcome = run_chain(stack.airflow, conf=chain_conf(staged["sources"]), timeout=1500)
    _wait_idle(stack)

    # both workers ran tasks, the de-identification shards included
    runs = {
        "medical_ingest": outcome.ingest_run,
        "grpo_training": outcome.training_run,
        "gated_evaluation": outcome.evaluation_run,
    }
    hosts = {dag: stack.task_hosts(dag, run["dag_run_id"]) for dag, run in runs.items() if run}
    workers = set(stack.celery)
    ran = {t["worker"] for tis in hosts.values() for t in tis if t["state"] == "success"}
    shards = [t for t in hosts["medical_ingest"] if t["task_id"] == "deidentify"]
    assert len(shards) >= 4, shards
    assert {t["worker"] for t in shards} == workers, shards
    assert ran == workers, hosts
    # accelerator work went to the GPU queue and pool, hence to the worker consuming it
    gpu_tasks = [
        t for t in hosts["grpo_training"] + hosts["gated_evaluation"] if t["task_id"] in {"train", "evaluate_and_gate"}
    ]
    assert [(t["queue"], t["pool"], t["worker"]) for t in gpu_tasks] == [("gpu", "gpu", "worker-b")] * 2, gpu_tasks

    # each worker's folder was emptied after every task it ran (the chain completed all the same)
    wipes = {name: _wipes(stack, name) for name in workers}
    for name in workers:
        ran_here = {(t["dag_id"], t["task_id"], t["map_index"]) for t in _ran_by(hosts, name)}
        wiped_after = {
            (w["task"].get("dag_id"), w["task"].get("task_id"), w["task"].get("map_index")) for w in wipes[name]
        }
        assert ran_here and ran_here <= wiped_after, (name, ran_here - wiped_after)
        assert [str(p) for p in stack.worker_root(name).rglob("*") if p.is_file()] == []
    gate = outcome.gate
    assert gate["verdict"] in {"passed", "rejected", "insufficient_evidence"}

    # no asset event, XCom value or MLflow tag points into a worker's folder
    roots = sorted(
        {str(stack.worker_root(n)) for n in workers} | {str(stack.worker_root(n).resolve()) for n in workers}
    )
    events = stack.airflow.api("GET", "/assets/events", params={"limit": 100})["asset_events"]
    assert len(events) >= 2, events  # the dataset and the challenger
    leaks = [(f"asset event {e['id']}", p) for e in events for p in _worker_paths_in(e["extra"], roots)]
    xcoms = _all_xcom_values(stack)
    assert any(x["where"].startswith("medical_ingest.prepare") for x in xcoms)
    leaks += [(x["where"], p) for x in xcoms for p in _worker_paths_in(x["value"], roots)]
    records = _mlflow_records(stack.mlflow.url)
    assert any(r["where"].startswith("version ") for r in records)
    leaks += [(r["where"], p) for r in records for p in _worker_paths_in(r, roots)]
    assert leaks == [], leaks
    published = next(e["extra"] for e in events if e["extra"].get("sha256"))
    assert published["uri"].startswith(f"{stack.work_uri}/datasets/")

    # MLflow's artifacts are in S3 (proxied by the server), none on the server's disk
    listing = stack.moto.client().list_objects_v2(Bucket=ARTIFACT_BUCKET, MaxKeys=1000)
    artifact_keys = [o["Key"] for o in listing.get("Contents", [])]
    assert any(k.endswith("model.safetensors") for k in artifact_keys), artifact_keys[:20]
    assert list(stack.mlflow.artifacts_dir.rglob("*")) == []

    # with every worker's disk empty, what the chain produced is all still there
    from medgrpo import registry, storage

    manifest = json.loads(storage.read_text(f"{published['uri']}/manifest.json"))
    assert manifest["content_sha256"] == published["sha256"] or manifest.get("sha256") == published["sha256"]
    version = registry.get_version(gate["version"], "medgrpo-distributed")
    assert version.tags.get("gate_verdict") == gate["verdict"]
    model_dir = registry.download_model(version.model_uri, tmp_path / "model")
    assert any(model_dir.rglob("*.safetensors"))
    assert any(u.endswith("/result.json") for u in storage.list_files(f"{stack.work_uri}/runs"))
    assert any("/checkpoints/" in u for u in storage.list_files(f"{stack.work_uri}/runs")), "checkpoints in S3"

    # tasks removed their local scratch: nothing was ever found in a worker's TMPDIR or working directory
    left = [
        f for name in workers for w in wipes[name] for f in w["removed"] if f"/{name}/tmp/" in f or f"/{name}/cwd/" in f
    ]
    assert left == [], f"tasks left files in TMPDIR or their working directory: {left[:20]}"
