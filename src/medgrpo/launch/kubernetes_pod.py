"""The ``kubernetes`` backend: one training Pod on a GPU node, through the Kubernetes API.

Lifecycle, one Pod per try of a run:

- **submit** lists this run's pods (label ``medgrpo.io/run``). A live one (an earlier try whose
  task process died, a scheduler restart) is re-attached to instead of starting a second; a
  finished one is described (states, events) and deleted; then this try's pod is created.
- **wait** polls the pod: Pending longer than ``MEDGRPO_K8S_PENDING_TIMEOUT`` fails with the
  scheduler's reason; an evicted or preempted pod fails the try, and Airflow's retry starts a new
  pod that resumes from the newest checkpoint in the run's checkpoint store.
- **cleanup** reads container states, events and the log tail before deleting the pod.

The Airflow DAG runs the same Pod through the provider's KubernetesPodOperator instead
(:mod:`medgrpo_airflow.operators`); this class serves the CLI, ``pipeline.run_training`` and tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from medgrpo.launch import k8s_status
from medgrpo.launch.base import FAILED, PENDING, Diagnostics, JobHandle, JobStatus, LaunchError, LineSink, run_job
from medgrpo.launch.k8s_client import api_client, api_status, log_text, to_dict
from medgrpo.launch.k8s_settings import K8sSettings
from medgrpo.launch.local import read_result
from medgrpo.launch.manifests import POD_CONTAINER, Manifest, build_pod, run_selector
from medgrpo.launch.pod_security import violations
from medgrpo.launch.spec import TrainingJob, TrainingResult

log = logging.getLogger(__name__)


class KubernetesLauncher:
    """Runs :class:`TrainingJob` as a single Pod (see the module docstring for the lifecycle)."""

    name = "kubernetes"

    def __init__(
        self,
        settings: K8sSettings | None = None,
        *,
        client: Any = None,
        environ: Mapping[str, str] | None = None,
        poll_interval: float = 5.0,
        delete_grace_s: int = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or K8sSettings.from_env()
        self._client = client
        self.environ = environ
        self.poll_interval = poll_interval
        self.delete_grace_s = delete_grace_s
        self.sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = api_client(self.settings)
        return self._client

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.client)

    def manifests(self, job: TrainingJob) -> list[Manifest]:
        pod = build_pod(job, self.settings, environ=self.environ)
        problems = violations(pod)
        if problems:  # the namespace enforces "restricted": fail here, with the rule, not at admission
            raise LaunchError("training pod breaks Pod Security 'restricted': " + "; ".join(problems))
        return [pod]

    # ---- Launcher protocol ----------------------------------------------------------------------
    def submit(self, job: TrainingJob) -> JobHandle:
        (pod,) = self.manifests(job)
        ns = self.settings.namespace
        live = []
        for existing in self._run_pods(job):
            status = k8s_status.pod_status(existing, POD_CONTAINER)
            if status.done or existing["metadata"].get("deletionTimestamp"):
                self._retire(existing, status)
            else:
                live.append(existing)
        if len(live) > 1:
            names = [p["metadata"]["name"] for p in live]
            raise LaunchError(f"run {job.run_key()} has {len(live)} live pods {names}; expected at most one")
        if live:
            name = live[0]["metadata"]["name"]
            log.info("re-attaching to running pod %s/%s of this run (not starting another)", ns, name)
            return self._handle(job, name, reattached=True)
        try:
            self.core.create_namespaced_pod(ns, pod)
        except Exception as err:
            if api_status(err) != 409:
                raise
            log.info("pod %s/%s already exists: re-attaching", ns, pod["metadata"]["name"])
            return self._handle(job, pod["metadata"]["name"], reattached=True)
        log.info("created training pod %s/%s", ns, pod["metadata"]["name"])
        return self._handle(job, pod["metadata"]["name"])

    def stream_logs(self, handle: JobHandle, on_line: LineSink) -> None:
        """Follow the trainer container's log once it has started (returns early if it never does)."""
        while True:
            pod = self._read(handle)
            if pod is None:
                return
            status = k8s_status.pod_status(pod, POD_CONTAINER)
            if status.phase != PENDING:
                break
            if k8s_status.is_past_pending_timeout(pod, self.settings.pending_timeout):
                return
            self.sleep(self.poll_interval)
        try:
            stream = self.core.read_namespaced_pod_log(
                handle.name, handle.namespace, container=POD_CONTAINER, follow=True, _preload_content=False
            )
            for line in _lines(stream):
                on_line(line)
        except Exception as err:  # a broken log stream must not fail a healthy run: wait() decides
            if api_status(err) in (400, 404):
                return
            log.warning("log stream of %s interrupted: %s", handle.name, err)

    def wait(self, handle: JobHandle, timeout: float | None = None) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pod = self._read(handle)
            if pod is None:
                return JobStatus(
                    FAILED, reason="Deleted", message=f"pod {handle.name} no longer exists (deleted or preempted)"
                )
            status = k8s_status.pod_status(pod, POD_CONTAINER)
            if status.done:
                return status
            if status.phase == PENDING and k8s_status.is_past_pending_timeout(pod, self.settings.pending_timeout):
                return k8s_status.pending_timeout_status(
                    pod, POD_CONTAINER, self._events(handle.namespace, handle.name), self.settings.pending_timeout
                )
            if deadline is not None and time.monotonic() >= deadline:
                return status
            self.sleep(self.poll_interval)

    def result(self, handle: JobHandle, job: TrainingJob) -> TrainingResult:
        return read_result(job.output_uri)

    def cleanup(self, handle: JobHandle) -> Diagnostics:
        """Read the pod's states, events and log tail, then delete it (idempotent)."""
        pod = self._read(handle)
        if pod is None:
            return Diagnostics(JobStatus(FAILED, reason="Deleted", message=f"pod {handle.name} was already gone"))
        diagnostics = self.describe(pod)
        self._delete(handle.namespace, handle.name)
        return diagnostics

    def kill(self, handle: JobHandle) -> None:
        self._delete(handle.namespace, handle.name)

    def run(self, job: TrainingJob, on_line: LineSink | None = None) -> TrainingResult:
        return run_job(self, job, on_line)

    # ---- helpers --------------------------------------------------------------------------------
    def describe(self, pod: Manifest) -> Diagnostics:
        """Status, container states, events and log tail of a pod (nothing is changed)."""
        name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
        events = self._events(ns, name)
        status = k8s_status.pod_status(pod, POD_CONTAINER)
        if status.phase == PENDING and status.reason == "Unschedulable":
            status = k8s_status.pending_timeout_status(pod, POD_CONTAINER, events, self.settings.pending_timeout)
        tail: list[str] = []
        try:
            text = self.core.read_namespaced_pod_log(name, ns, container=POD_CONTAINER, tail_lines=50)
            tail = log_text(text).splitlines()
        except Exception as err:
            if api_status(err) not in (400, 404):
                log.warning("could not read the log tail of %s: %s", name, err)
        return Diagnostics(
            status,
            containers=k8s_status.describe_containers(pod),
            events=k8s_status.describe_events(events),
            log_tail=tail,
        )

    def _retire(self, pod: Manifest, status: JobStatus) -> None:
        diagnostics = self.describe(pod)
        log.info(
            "earlier try's pod %s finished (%s): recording and deleting it", pod["metadata"]["name"], status.describe()
        )
        for line in diagnostics.lines():
            log.info("  %s", line)
        self._delete(pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _handle(self, job: TrainingJob, name: str, *, reattached: bool = False) -> JobHandle:
        return JobHandle(self.name, name, self.settings.namespace, job.attempt, reattached, {"run_key": job.run_key()})

    def _run_pods(self, job: TrainingJob) -> list[Manifest]:
        pods = self.core.list_namespaced_pod(self.settings.namespace, label_selector=run_selector(job))
        return [to_dict(self.client, p) for p in pods.items]

    def _read(self, handle: JobHandle) -> Manifest | None:
        try:
            return to_dict(self.client, self.core.read_namespaced_pod(handle.name, handle.namespace))
        except Exception as err:
            if api_status(err) == 404:
                return None
            raise

    def _events(self, namespace: str, name: str) -> list[Manifest]:
        try:
            events = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
        except Exception as err:
            log.warning("could not read events of %s: %s", name, err)
            return []
        return [to_dict(self.client, e) for e in events.items]

    def _delete(self, namespace: str, name: str) -> None:
        try:
            self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=self.delete_grace_s)
            log.info("deleted pod %s/%s", namespace, name)
        except Exception as err:
            if api_status(err) != 404:
                raise


def _lines(stream: Any) -> Any:
    """Lines of a streamed HTTP response (urllib3), decoded leniently."""
    buffer = b""
    for chunk in stream.stream(4096):
        buffer += chunk
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            yield raw.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")
    stream.release_conn()
