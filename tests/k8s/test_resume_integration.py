"""Cluster training end to end with real storage: a pod evicted mid-run, retried by Airflow, resumes
from the newest checkpoint in the run's S3 checkpoint store and registers one model version.

The Kubernetes API is the fake of tests/k8s/fake_apiserver.py (there is no cluster here), but its
"kubelet" runs the pod's container for real: the exact command and arguments of the generated Pod
(``python -m medgrpo.launch.entrypoint … train …``), with the pod's environment and its
``envFrom`` Secret, the image's ``/opt/medgrpo/training_image`` mapped to the checkout and
``/workspace`` to a scratch folder. S3 is a real moto server, MLflow a real server on PostgreSQL,
training is real TRL on the tiny recipe. The operator is the DAG's KubernetesPodOperator subclass
with the provider's trigger.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow_harness import FakeTaskInstance, defer, first_event, resume, trigger_from
from fake_apiserver import FakeKubernetes, Script
from jobs import ROOT, make_job

from medgrpo import storage
from medgrpo.launch.k8s_settings import K8sSettings
from medgrpo.launch.kubernetes_pod import KubernetesLauncher
from medgrpo.launch.plan import IMAGE_TRAINING_DIR
from medgrpo_airflow.operators import TrainingPodFailed, TrainingPodOperator

pytestmark = [pytest.mark.integration]

S3_SECRET = "medgrpo-s3"


@pytest.fixture
def bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in creds.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEDGRPO_S3_ENDPOINT_URL", moto_server)
    name = f"k8s-{uuid.uuid4().hex[:10]}"
    storage.s3_client().create_bucket(Bucket=name)
    return name


def _container_process(fake_secrets: dict[str, dict[str, str]], scratch: Path) -> Any:
    """A kubelet stand-in: start the pod's first container as a local process group."""

    def start(pod: dict[str, Any]) -> tuple[subprocess.Popen[bytes], Path]:
        container = pod["spec"]["containers"][0]
        work = scratch / pod["metadata"]["name"]
        work.mkdir(parents=True)
        env = {"PATH": os.environ["PATH"], "HOME": str(work), "MEDGRPO_TERMINATION_LOG": str(work / "termination-log")}
        env.update({e["name"]: e["value"] for e in container.get("env", [])})
        for source in container.get("envFrom", []):
            env.update(fake_secrets[source["secretRef"]["name"]])

        def in_image(arg: str) -> str:
            return arg.replace(IMAGE_TRAINING_DIR, str(ROOT / "training_image")).replace("/workspace", str(work))

        argv = [sys.executable if a == "python" else in_image(a) for a in container["command"] + container["args"]]
        proc = subprocess.Popen(
            argv, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        return proc, work / "termination-log"

    return start


def test_library_launcher_runs_a_pod_and_reads_its_published_result(fake_k8s: FakeKubernetes, bucket: str) -> None:
    """Success path of ``KubernetesLauncher.run``: logs streamed, result.json read from S3, pod deleted."""

    def publish(pod: dict[str, Any]) -> list[str]:  # what the entrypoint does at the end of a run
        args = pod["spec"]["containers"][0]["args"]
        out = args[args.index("--output-uri") + 1]
        storage.write_text_atomic(storage.join(out, "result.json"), '{"run_id": "r-1", "model_version": "4"}')
        return ["result published"]

    fake_k8s.default_script = Script(lines=["step 1", "step 2"], on_end=publish)
    lines: list[str] = []
    result = KubernetesLauncher(K8sSettings.from_env(), poll_interval=0.05).run(
        make_job(bucket=bucket), on_line=lines.append
    )
    assert (result.run_id, result.model_version) == ("r-1", "4")
    assert lines[:2] == ["step 1", "step 2"]
    assert fake_k8s.list("pods") == []


@pytest.mark.slow
def test_evicted_pod_is_retried_and_resumes_from_the_newest_checkpoint(
    fake_k8s: FakeKubernetes,
    bucket: str,
    mlflow_server: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from mlflow import MlflowClient

    from medgrpo.train.checkpoints import complete_checkpoints

    model_name = f"medgrpo-k8s-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # forwarded into the pod's environment
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", model_name)
    monkeypatch.setenv("MEDGRPO_K8S_ENV_SECRETS", S3_SECRET)  # credentials reach the pod by Secret only
    secrets = {S3_SECRET: {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}}
    job = make_job(
        bucket=bucket,
        run="resume",
        dataset_uri="synth:32",
        overrides={"max_steps": "6", "save_steps": "2", "warmup_sft_steps": "0", "log_completions": "false"},
    )
    store = str(job.checkpoint_store)
    start = _container_process(secrets, tmp_path / "pods")
    fake_k8s.script(
        lambda pod: pod["metadata"]["name"].endswith("-t1"),
        Script(process=start, evict_when=lambda: bool(complete_checkpoints(store))),
    )
    fake_k8s.script(lambda pod: pod["metadata"]["name"].endswith("-t2"), Script(process=start))

    def make() -> TrainingPodOperator:
        return TrainingPodOperator(
            task_id="train_on_kubernetes",
            job=dataclasses.asdict(job),
            logging_interval=2,
            poll_interval=0.5,
            startup_check_interval_seconds=0.5,
        )

    first_try = FakeTaskInstance(try_number=1)
    deferred = defer(make(), first_try)
    with pytest.raises(TrainingPodFailed, match="Evicted") as err:
        resume(make, deferred, first_try, first_event(trigger_from(deferred), timeout=600))
    assert f"resumes from the newest checkpoint in {store}" in str(err.value)
    stored = [step for step, _ in complete_checkpoints(store)]
    assert stored and max(stored) < 6, f"try 1 should have been evicted mid-run, stored {stored}"

    second_try = FakeTaskInstance(try_number=2)
    deferred = defer(make(), second_try)
    resume(make, deferred, second_try, first_event(trigger_from(deferred), timeout=600))
    result = second_try.xcom["return_value"]  # what publish_cluster_model pulls

    log = capfd.readouterr().out
    assert "resuming from checkpoint" in log  # the retry's trainer picked up try 1's checkpoint
    assert result["model_uri"] == f"models:/{model_name}/1"
    client = MlflowClient(mlflow_server)
    steps = sorted(m.step for m in client.get_metric_history(result["run_id"], "reward"))
    assert steps == list(range(1, 7)), f"every step logged once across the eviction, found {steps}"
    assert len(client.search_model_versions(f"name='{model_name}'")) == 1
    assert [p["metadata"]["name"][-3:] for p in fake_k8s.deleted if p["kind"] == "Pod"] == ["-t1", "-t2"]
    assert fake_k8s.list("pods") == []
