"""Lifecycle of the library launchers (``kubernetes``: one Pod; ``kubeflow``: TrainJob/PyTorchJob)
driven through the real ``kubernetes`` client against the fake API server of
tests/k8s/fake_apiserver.py (a fake: it simulates the scheduler, kubelet and Kubeflow controllers;
there is no cluster here). These need no S3: reading ``result.json`` is covered by
test_resume_integration.py against a real moto server.
"""

from __future__ import annotations

import time

import pytest
from fake_apiserver import FakeKubernetes, Script
from jobs import SERVER_RECIPE, TINY_RECIPE, container_arg, make_job

from medgrpo.launch import LaunchError
from medgrpo.launch.base import FAILED, SUCCEEDED
from medgrpo.launch.k8s_settings import K8sSettings
from medgrpo.launch.kubeflow_job import KubeflowLauncher
from medgrpo.launch.kubernetes_pod import KubernetesLauncher


def _pod_launcher() -> KubernetesLauncher:
    return KubernetesLauncher(K8sSettings.from_env(), poll_interval=0.05, delete_grace_s=0)


def _run_pods(fake: FakeKubernetes) -> list[dict]:
    return [p for p in fake.list("pods") if p["metadata"]["labels"].get("app.kubernetes.io/component") == "training"]


def _index(fake: FakeKubernetes, method: str, pattern: str, last: bool = False) -> int:
    import re

    hits = [i for i, (m, p) in enumerate(fake.requests) if m == method and re.search(pattern, p)]
    assert hits, f"no {method} {pattern} request in {fake.requests}"
    return hits[-1] if last else hits[0]


def test_pod_success_streams_logs_then_collects_and_deletes(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(lines=["loading recipe", "step 1 reward=0.1", "step 2 reward=0.4"], run_for=0.4)
    launcher = _pod_launcher()
    handle = launcher.submit(make_job())
    lines: list[str] = []
    launcher.stream_logs(handle, lines.append)
    status = launcher.wait(handle)
    diagnostics = launcher.cleanup(handle)

    assert lines == ["loading recipe", "step 1 reward=0.1", "step 2 reward=0.4"]
    assert status.phase == SUCCEEDED and status.exit_code == 0
    assert any("terminated reason=Completed exit_code=0" in c for c in diagnostics.containers)
    assert any("Scheduled" in e for e in diagnostics.events)
    assert _run_pods(fake_k8s) == []  # deleted
    # logs, events and the pod's state were read before it was deleted
    delete = _index(fake_k8s, "DELETE", r"/pods/")
    assert _index(fake_k8s, "GET", r"/log\?", last=True) < delete
    assert _index(fake_k8s, "GET", r"/events\?", last=True) < delete


def test_pod_failure_carries_exit_code_and_termination_message(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(
        lines=["medgrpo train: invalid recipe: num_generations (3) must divide 16"],
        outcome="fail",
        exit_code=2,
        termination_message="medgrpo train: invalid recipe: num_generations (3) must divide 16",
    )
    with pytest.raises(LaunchError) as err:
        _pod_launcher().run(make_job())
    message = str(err.value)
    assert "exit code 2" in message
    assert "num_generations (3) must divide 16" in message
    assert _run_pods(fake_k8s) == []


def test_unschedulable_pod_fails_after_pending_timeout_with_scheduler_reason(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(schedule_after=None)
    started = time.monotonic()
    with pytest.raises(LaunchError) as err:
        _pod_launcher().run(make_job())
    elapsed = time.monotonic() - started
    message = str(err.value)
    assert "unschedulable for more than 2 s" in message
    assert "Insufficient nvidia.com/gpu" in message and "untolerated taint" in message
    assert "FailedScheduling" in message  # the scheduler's events are in the diagnostics
    assert 2 <= elapsed < 15
    assert _run_pods(fake_k8s) == []


def test_retry_reattaches_to_a_live_pod_instead_of_starting_a_second(fake_k8s: FakeKubernetes) -> None:
    """A worker died while its pod ran (scheduler restart): the next try re-attaches to that pod."""
    fake_k8s.default_script = Script(outcome="forever")
    first = _pod_launcher().submit(make_job(run="reattach", attempt=1))
    again = _pod_launcher().submit(make_job(run="reattach", attempt=2))  # a fresh launcher: no shared state
    assert again.reattached and again.name == first.name
    assert fake_k8s.count("POST", r"/pods$") == 1
    assert len(_run_pods(fake_k8s)) == 1
    _pod_launcher().kill(again)
    assert _run_pods(fake_k8s) == []


def test_retry_after_eviction_records_and_deletes_the_old_pod_then_starts_one(fake_k8s: FakeKubernetes) -> None:
    """Try 1 is evicted and its worker never cleaned up; try 2 describes and deletes it, then
    starts its own pod with the same output and checkpoint locations (so it resumes)."""
    fake_k8s.default_script = Script(outcome="evict", lines=["step 1", "checkpoint-1 stored"], run_for=0.2)
    launcher = _pod_launcher()
    first = launcher.submit(make_job(run="evicted", attempt=1))
    status = launcher.wait(first)
    assert status.phase == FAILED and status.reason == "Evicted"
    assert "low on resource: memory" in status.message

    fake_k8s.default_script = Script()
    second = _pod_launcher().submit(make_job(run="evicted", attempt=2))
    pods = _run_pods(fake_k8s)
    assert [p["metadata"]["name"] for p in pods] == [second.name] != [first.name]
    assert second.name.endswith("-t2") and first.name.endswith("-t1")
    deleted = next(p for p in fake_k8s.deleted if p["metadata"]["name"] == first.name)
    for flag in ("--output-uri", "--checkpoint-store"):
        assert container_arg(pods[0], flag) == container_arg(deleted, flag)
    assert _pod_launcher().wait(second).phase == SUCCEEDED


def test_cleanup_is_idempotent_and_kill_stops_a_running_pod(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(outcome="forever")
    launcher = _pod_launcher()
    handle = launcher.submit(make_job())
    launcher.kill(handle)
    assert _run_pods(fake_k8s) == []
    assert launcher.cleanup(handle).status.reason == "Deleted"  # already gone: nothing to do, no error


@pytest.mark.parametrize("operator", ["trainer-v2", "pytorchjob"])
def test_multi_node_job_with_vllm_server_runs_streams_and_cleans_up(
    fake_k8s: FakeKubernetes, monkeypatch: pytest.MonkeyPatch, operator: str
) -> None:
    monkeypatch.setenv("MEDGRPO_K8S_TRAINING_OPERATOR", operator)
    monkeypatch.setenv("MEDGRPO_K8S_NUM_NODES", "3")
    fake_k8s.default_script = Script(lines=["rank0 step 1", "rank0 step 2"], run_for=0.3)
    fake_k8s.script(lambda pod: "vllm" in pod["metadata"]["name"], Script(outcome="forever", lines=["vllm ready"]))
    launcher = KubeflowLauncher(K8sSettings.from_env(), poll_interval=0.05)
    handle = launcher.submit(make_job(recipe=str(SERVER_RECIPE)))
    kind = "trainjobs" if operator == "trainer-v2" else "pytorchjobs"
    assert fake_k8s.count("POST", rf"/{kind}$") == 1
    vllm = [p for p in fake_k8s.list("pods") if "vllm" in p["metadata"]["name"]]
    assert len(vllm) == 1 and vllm[0]["metadata"]["ownerReferences"][0]["name"] == handle.name
    assert len(_run_pods(fake_k8s)) == 3  # one pod per node

    lines: list[str] = []
    launcher.stream_logs(handle, lines.append)
    assert launcher.wait(handle).phase == SUCCEEDED
    diagnostics = launcher.cleanup(handle)

    assert lines == ["rank0 step 1", "rank0 step 2"]
    assert len([c for c in diagnostics.containers if "exit_code=0" in c]) == 3
    assert fake_k8s.list(kind) == [] and fake_k8s.list("pods") == [] and fake_k8s.list("services") == []


def test_multi_node_eviction_fails_the_try_with_the_pod_reason(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(run_for=5)
    fake_k8s.script(lambda pod: "-node-0-1-" in pod["metadata"]["name"], Script(outcome="evict", run_for=0.2))
    with pytest.raises(LaunchError) as err:
        KubeflowLauncher(K8sSettings.from_env(), poll_interval=0.05).run(make_job(recipe=str(TINY_RECIPE)))
    message = str(err.value)
    assert "reason Evicted" in message and "low on resource: memory" in message
    assert fake_k8s.list("trainjobs") == [] and fake_k8s.list("pods") == []


def test_multi_node_unschedulable_node_times_out_with_scheduler_reason(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(schedule_after=None)
    with pytest.raises(LaunchError, match=r"Insufficient nvidia\.com/gpu"):
        KubeflowLauncher(K8sSettings.from_env(), poll_interval=0.1).run(make_job())
    assert fake_k8s.list("trainjobs") == []


def test_multi_node_retry_reattaches_to_live_job(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.default_script = Script(outcome="forever")
    first = KubeflowLauncher(K8sSettings.from_env()).submit(make_job(run="kf", attempt=1))
    again = KubeflowLauncher(K8sSettings.from_env()).submit(make_job(run="kf", attempt=2))
    assert again.reattached and again.name == first.name and again.attempt == 1
    assert fake_k8s.count("POST", r"/trainjobs$") == 1
    KubeflowLauncher(K8sSettings.from_env()).kill(again)
    assert fake_k8s.list("trainjobs") == [] and fake_k8s.list("pods") == []
