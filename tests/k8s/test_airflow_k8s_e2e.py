"""``grpo_training`` with ``backend=kubernetes`` and then ``backend=kubeflow`` through a real Airflow 3
deployment (api-server, scheduler, dag-processor, triggerer; LocalExecutor on PostgreSQL): the branch
routes to the KubernetesPodOperator task, the pod is watched by the provider's trigger in the real
triggerer, its log lands in the task log, an evicted first try is retried by Airflow with a new pod,
and the registered result is published as the challenger Asset event; the kubeflow run goes through
``TrainJobOperator`` and ``medgrpo_airflow.triggers.TrainJobTrigger``, imported by the triggerer.

Kubernetes is the fake API server of tests/k8s/fake_apiserver.py (there is no cluster here); its
scripted pods stand in for the training container (the real container is exercised in
test_resume_integration.py). S3 is a real moto server.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_apiserver import FakeKubernetes, Script
from jobs import ROOT

from medgrpo import storage
from medgrpo.services.airflow_stack import AirflowStack

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def _log(stack: AirflowStack, run_id: str, task_id: str, attempt: int) -> str:
    try:
        return stack.task_log("grpo_training", run_id, task_id, try_number=attempt)
    except Exception as err:  # reported with the other logs when the run did not succeed
        return f"(no log: {err})"


def test_cluster_backends_through_airflow_with_eviction_retry(
    fake_k8s: FakeKubernetes,
    moto_server: str,
    pg_database: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in {**creds, "MEDGRPO_S3_ENDPOINT_URL": moto_server}.items():
        monkeypatch.setenv(key, value)
    bucket = f"k8s-e2e-{uuid.uuid4().hex[:8]}"
    storage.s3_client().create_bucket(Bucket=bucket)
    dataset = f"s3://{bucket}/datasets/med"
    storage.write_text_atomic(f"{dataset}/manifest.json", json.dumps({"name": "med", "sha256": "0" * 64}))

    def publish(pod: dict[str, Any]) -> list[str]:  # what the entrypoint does when training succeeded
        args = pod["spec"]["containers"][0]["args"]
        out = args[args.index("--output-uri") + 1]
        result = {"run_id": "mlflow-run-1", "model_name": "medgrpo-qwen2.5", "model_version": "7", "metrics": {}}
        storage.write_text_atomic(storage.join(out, "result.json"), json.dumps(result))
        return ["result published"]

    fake_k8s.script(
        lambda pod: pod["metadata"]["name"].endswith("-t1"),
        Script(lines=["try one: step 1", "try one: checkpoint-1 stored"], run_for=2, outcome="evict"),
    )
    fake_k8s.script(
        lambda pod: pod["metadata"]["name"].endswith("-t2"),
        Script(lines=["resuming from checkpoint-1", "try two: step 2"], run_for=2, on_end=publish),
    )
    stack = AirflowStack(
        home=tmp_path / "airflow",
        dags_folder=ROOT / "dags",
        plugins_folder=ROOT / "plugins",
        db_uri=pg_database("medgrpo_k8s_e2e").replace("postgresql://", "postgresql+psycopg2://", 1),
        extra_env={
            "MEDGRPO_STATE_DIR": str(tmp_path / "state"),
            "MEDGRPO_WORK_URI": f"s3://{bucket}/work",  # runs and checkpoints go under it
            "MEDGRPO_K8S_PENDING_TIMEOUT": "120",
        },
    )
    fake_k8s.script(  # kubeflow: rank 0 of the TrainJob publishes the result, like the entrypoint
        lambda pod: "-node-0-0-" in pod["metadata"]["name"],
        Script(lines=["rank0: step 1", "rank0: step 2"], run_for=2, on_end=publish),
    )
    stack.start()
    try:
        stack.wait_for_dags(["grpo_training"])
        stack.unpause("grpo_training")
        pod_run = _run(stack, {"backend": "kubernetes", "dataset_uri": dataset})
        pods_of_pod_run = [p["metadata"]["name"] for p in fake_k8s.deleted if p["kind"] == "Pod"]
        posts_of_pod_run = fake_k8s.count("POST", r"/pods$")
        trainjob_run = _run(stack, {"backend": "kubeflow", "dataset_uri": dataset})
    finally:
        stack.stop()

    states, logs, published = pod_run
    assert states["_run"] == "success", _details(pod_run)
    first_log, second_log = logs[("train_on_kubernetes", 1)], logs[("train_on_kubernetes", 2)]
    assert states["choose_backend"] == ("success", 1)
    assert states["train"][0] == "skipped" and states["train_on_kubeflow"][0] == "skipped"
    assert states["train_on_kubernetes"] == ("success", 2)
    assert states["publish_cluster_model"][0] == "success"
    assert "try one: step 1" in first_log and "Evicted" in first_log
    assert "resumes from the newest checkpoint in s3://" in first_log
    assert "resuming from checkpoint-1" in second_log and "try two: step 2" in second_log
    assert "mlflow-run-1" in json.dumps(published), published  # the result the pod published, as XCom
    assert [name[-3:] for name in pods_of_pod_run] == ["-t1", "-t2"], pods_of_pod_run  # one pod per try
    assert posts_of_pod_run == 2

    states, logs, published = trainjob_run
    assert states["_run"] == "success", _details(trainjob_run)
    assert states["train_on_kubeflow"] == ("success", 1) and states["train_on_kubernetes"][0] == "skipped"
    assert "rank0: step 2" in logs[("train_on_kubeflow", 1)]  # written by TrainJobTrigger in the triggerer
    assert "mlflow-run-1" in json.dumps(published), published
    assert fake_k8s.count("POST", r"/trainjobs$") == 1
    assert fake_k8s.list("trainjobs") == [] and fake_k8s.list("pods") == []


def _run(stack: AirflowStack, conf: dict[str, Any]) -> tuple[dict[str, Any], dict[Any, str], Any]:
    """Trigger grpo_training, wait, and collect task states, every try's log and the published XCom."""
    run_id = stack.trigger("grpo_training", conf)
    run = stack.wait_for_run("grpo_training", run_id, timeout=600)
    states: dict[str, Any] = {
        t["task_id"]: (t["state"], t["try_number"]) for t in stack.task_instances("grpo_training", run_id)
    }
    logs = {
        (task_id, attempt): _log(stack, run_id, task_id, attempt)
        for task_id, (_, tries) in states.items()
        for attempt in range(1, tries + 1)
    }
    states["_run"] = run["state"]
    try:
        published = stack.api(
            "GET", f"/dags/grpo_training/dagRuns/{run_id}/taskInstances/publish_cluster_model/xcomEntries/return_value"
        )
    except RuntimeError as err:
        published = {"error": str(err)}
    return states, logs, published


def _details(run: tuple[dict[str, Any], dict[Any, str], Any]) -> str:
    states, logs, _ = run
    return f"states: {states}\n" + "\n".join(f"--- {k} ---\n{v[-3000:]}" for k, v in logs.items())
