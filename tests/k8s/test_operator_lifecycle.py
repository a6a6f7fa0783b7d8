"""Lifecycle of the DAG's operators — the provider's KubernetesPodOperator subclass (one node) and
the Kubeflow TrainJob operator with its trigger — running their real code, the provider's trigger
and the real ``kubernetes``/``kubernetes_asyncio`` clients against the fake API server of
tests/k8s/fake_apiserver.py (a fake: it simulates the scheduler, kubelet and Kubeflow
controllers; there is no cluster here). The task instance is a stand-in
(tests/k8s/airflow_harness.py); results read from S3 are covered in test_resume_integration.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from airflow_harness import FakeTaskInstance, context_for, defer, first_event, resume, trigger_from
from fake_apiserver import FakeKubernetes, Script
from jobs import make_job

from medgrpo_airflow.operators import TrainingPodFailed, TrainingPodOperator, TrainJobOperator

pytestmark = pytest.mark.timeout(120)


def _pod_operator(job: dict[str, Any]) -> Any:
    return lambda: TrainingPodOperator(
        task_id="train_on_kubernetes",
        job=job,
        logging_interval=1,
        poll_interval=0.2,
        startup_check_interval_seconds=0.2,
    )


def _training_pods(fake: FakeKubernetes) -> list[dict[str, Any]]:
    return [p for p in fake.list("pods") if p["metadata"]["labels"].get("app.kubernetes.io/component") == "training"]


def _one_try(make: Any, ti: FakeTaskInstance) -> Any:
    deferred = defer(make(), ti)
    return resume(make, deferred, ti, first_event(trigger_from(deferred)))


def test_pod_failure_fails_the_try_with_exit_code_and_termination_message(
    fake_k8s: FakeKubernetes, capfd: pytest.CaptureFixture[str]
) -> None:
    fake_k8s.default_script = Script(
        lines=["loading recipe", "Traceback: RecipeError"],
        outcome="fail",
        exit_code=2,
        termination_message="medgrpo train: invalid recipe: reward_weights has 2 values but reward_funcs has 3",
    )
    job = dataclasses.asdict(make_job())
    with pytest.raises(TrainingPodFailed) as err:
        _one_try(_pod_operator(job), FakeTaskInstance())
    assert "exit code 2" in str(err.value)
    assert "reward_weights has 2 values but reward_funcs has 3" in str(err.value)
    out = capfd.readouterr().out
    assert "loading recipe" in out  # the container log reached the task log
    assert "container" in out and "exit_code=2" in out  # states recorded before deletion
    assert _training_pods(fake_k8s) == []


def test_unschedulable_pod_times_out_with_the_scheduler_reason(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(schedule_after=None)
    job = dataclasses.asdict(make_job())
    with pytest.raises(TrainingPodFailed) as err:
        _one_try(_pod_operator(job), FakeTaskInstance())
    message = str(err.value)
    assert "unschedulable for more than 2 s" in message
    assert "Insufficient nvidia.com/gpu" in message and "untolerated taint" in message
    assert _training_pods(fake_k8s) == []


def test_eviction_fails_the_try_and_the_retry_runs_one_new_pod_with_the_same_store(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(outcome="evict", lines=["step 1", "saved checkpoint-1"], run_for=0.3)
    job = dataclasses.asdict(make_job(run="evict-op"))
    make = _pod_operator(job)
    with pytest.raises(TrainingPodFailed) as err:
        _one_try(make, FakeTaskInstance(try_number=1))
    assert "Evicted" in str(err.value) and "low on resource: memory" in str(err.value)
    assert "resumes from the newest checkpoint in s3://medgrpo-test/checkpoints/evict-op" in str(err.value)
    assert _training_pods(fake_k8s) == []  # the evicted pod was described, then deleted

    fake_k8s.default_script = Script(outcome="forever")
    deferred = defer(make(), FakeTaskInstance(try_number=2))
    (pod,) = _training_pods(fake_k8s)
    assert pod["metadata"]["name"].endswith("-t2") and pod["metadata"]["labels"]["try_number"] == "2"
    first = next(p for p in fake_k8s.deleted if p["metadata"]["name"].endswith("-t1"))
    for flag in ("--output-uri", "--checkpoint-store"):
        args = pod["spec"]["containers"][0]["args"]
        old = first["spec"]["containers"][0]["args"]
        assert args[args.index(flag) + 1] == old[old.index(flag) + 1]
    assert deferred.trigger.pod_name == pod["metadata"]["name"]


def test_new_try_reattaches_to_the_running_pod_after_a_worker_or_scheduler_restart(fake_k8s: FakeKubernetes) -> None:
    """Try 1 deferred and its worker died; try 2 finds the live pod by its labels and watches it."""
    fake_k8s.default_script = Script(outcome="forever")
    job = dataclasses.asdict(make_job(run="reattach-op"))
    make = _pod_operator(job)
    first = defer(make(), FakeTaskInstance(try_number=1))
    second = defer(make(), FakeTaskInstance(try_number=2))
    assert second.trigger.pod_name == first.trigger.pod_name
    assert fake_k8s.count("POST", r"/pods$") == 1 and len(_training_pods(fake_k8s)) == 1


def test_triggerer_restart_resumes_watching_the_same_pod(
    fake_k8s: FakeKubernetes, capfd: pytest.CaptureFixture[str]
) -> None:
    fake_k8s.default_script = Script(lines=["step 1", "step 2", "step 3"], run_for=1.5, outcome="fail", exit_code=1)
    job = dataclasses.asdict(make_job(run="triggerer"))
    make = _pod_operator(job)
    ti = FakeTaskInstance()
    deferred = defer(make(), ti)
    trigger_from(deferred)  # a first triggerer picked it up and died: a new one rebuilds it
    event = first_event(trigger_from(deferred))
    assert event["name"] == deferred.trigger.pod_name
    with pytest.raises(TrainingPodFailed, match="exit code 1"):
        resume(make, deferred, ti, event)
    assert "step 3" in capfd.readouterr().out
    assert fake_k8s.count("POST", r"/pods$") == 1 and _training_pods(fake_k8s) == []


def test_killing_the_task_deletes_its_pod(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(outcome="forever")
    job = dataclasses.asdict(make_job())
    operator = _pod_operator(job)()
    defer(operator, FakeTaskInstance())
    assert len(_training_pods(fake_k8s)) == 1
    operator.on_kill()
    assert _training_pods(fake_k8s) == []


# ---- Kubeflow TrainJob operator and trigger ---------------------------------------------------
def _trainjob_operator(job: dict[str, Any]) -> Any:
    return lambda: TrainJobOperator(task_id="train_on_kubeflow", job=job, poll_interval=0.2)


def test_trainjob_eviction_fails_with_reason_and_cleans_up(
    fake_k8s: FakeKubernetes, capfd: pytest.CaptureFixture[str]
) -> None:
    fake_k8s.default_script = Script(lines=["rank0 step 1", "rank0 step 2"], run_for=3)
    fake_k8s.script(lambda pod: "-node-0-1-" in pod["metadata"]["name"], Script(outcome="evict", run_for=0.5))
    job = dataclasses.asdict(make_job(run="kf-evict"))
    with pytest.raises(Exception, match="Evicted") as err:
        _one_try(_trainjob_operator(job), FakeTaskInstance(task_id="train_on_kubeflow"))
    assert "low on resource: memory" in str(err.value)
    assert "rank0 step 1" in capfd.readouterr().out  # streamed by the trigger into the task log
    assert fake_k8s.list("trainjobs") == [] and fake_k8s.list("pods") == []


def test_trainjob_unschedulable_times_out_with_scheduler_reason(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(schedule_after=None)
    job = dataclasses.asdict(make_job(run="kf-pending"))
    with pytest.raises(Exception, match=r"Insufficient nvidia\.com/gpu"):
        _one_try(_trainjob_operator(job), FakeTaskInstance(task_id="train_on_kubeflow"))
    assert fake_k8s.list("trainjobs") == []


def test_trainjob_retry_reattaches_and_a_killed_trigger_deletes_the_job(fake_k8s: FakeKubernetes) -> None:
    import asyncio

    fake_k8s.default_script = Script(outcome="forever")
    job = dataclasses.asdict(make_job(run="kf-reattach"))
    make = _trainjob_operator(job)
    first = defer(make(), FakeTaskInstance(task_id="train_on_kubeflow", try_number=1))
    second = defer(make(), FakeTaskInstance(task_id="train_on_kubeflow", try_number=2))
    assert second.trigger.handle["name"] == first.trigger.handle["name"] and second.trigger.handle["reattached"]
    assert fake_k8s.count("POST", r"/trainjobs$") == 1
    asyncio.run(trigger_from(second).on_kill())  # the user marked the deferred task failed
    assert fake_k8s.list("trainjobs") == [] and fake_k8s.list("pods") == []


def test_contexts_are_what_the_operators_read() -> None:
    ctx = context_for(FakeTaskInstance(try_number=3))
    assert ctx["ti"].try_number == 3 and ctx["run_id"].startswith("manual__")


def test_trainjob_trigger_streams_each_rank0_line_once_and_reports_success(
    fake_k8s: FakeKubernetes, capfd: pytest.CaptureFixture[str]
) -> None:
    from medgrpo.launch.k8s_settings import K8sSettings
    from medgrpo.launch.kubeflow_job import KubeflowLauncher
    from medgrpo_airflow.triggers import TrainJobTrigger, kube_config_dict

    lines = [f"rank0 step {i}" for i in range(1, 9)]
    fake_k8s.default_script = Script(lines=lines, run_for=1.6)
    settings = K8sSettings.from_env()
    handle = KubeflowLauncher(settings).submit(make_job(run="kf-logs"))
    trigger = TrainJobTrigger(
        handle=handle.as_dict(),
        pending_timeout=settings.pending_timeout,
        poll_interval=0.2,
        kubernetes_conn_id=settings.conn_id,
        config_dict=kube_config_dict(settings.kubeconfig),
    )
    event = first_event(trigger)
    assert event["status"] == "success" and event["handle"]["name"] == handle.name
    out = capfd.readouterr().out
    for line in lines:
        assert out.count(f"] {line}") == 1, f"{line!r} streamed {out.count(line)} times"
    assert fake_k8s.count("GET", r"/log\?.*sinceSeconds") > 0  # later polls read only what is new
