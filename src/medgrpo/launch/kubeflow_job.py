"""The ``kubeflow`` backend: one multi-node job per try — a Kubeflow Trainer v2 TrainJob, or a
training-operator PyTorchJob when ``MEDGRPO_K8S_TRAINING_OPERATOR=pytorchjob`` — plus the vLLM
server Pod and Service when the recipe generates in server mode.

The lifecycle mirrors :mod:`medgrpo.launch.kubernetes_pod`: a live job of the same run is
re-attached to (never two at once), a finished one is described and deleted before a retry
creates its own; node pods Pending past ``MEDGRPO_K8S_PENDING_TIMEOUT`` fail the try with the
scheduler's reason; logs of the rank-0 pod are streamed; states, events and the log tail are
collected before the job (and with it its pods) is deleted. The vLLM Pod and Service carry an
ownerReference to the job, so the cluster removes them with it even if no cleanup runs.

:class:`KubeflowJobs` holds the API calls and the status reading; the Airflow trigger
(:mod:`medgrpo_airflow.triggers`) uses it too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from medgrpo.launch import k8s_status
from medgrpo.launch.base import (
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Diagnostics,
    JobHandle,
    JobStatus,
    LaunchError,
    LineSink,
    run_job,
)
from medgrpo.launch.k8s_client import api_client, api_status, log_text, to_dict
from medgrpo.launch.k8s_settings import K8sSettings
from medgrpo.launch.local import read_result
from medgrpo.launch.manifests import (
    LABEL_ATTEMPT,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_RUN,
    MANAGED_BY,
    PYTORCHJOB_API,
    PYTORCHJOB_CONTAINER,
    TRAINJOB_API,
    TRAINJOB_CONTAINER,
    Manifest,
    build_multi_node,
    owner_reference,
    run_selector,
)
from medgrpo.launch.pod_security import violations
from medgrpo.launch.spec import TrainingJob, TrainingResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobKind:
    """A custom resource kind the launcher creates and how to read it."""

    group: str
    version: str
    plural: str
    kind: str
    container: str
    success_condition: str
    #: pod label that marks the rank-0 pod, and its value
    main_label: tuple[str, str]


KINDS = {
    "TrainJob": JobKind(
        *TRAINJOB_API, TRAINJOB_CONTAINER, "Complete", ("batch.kubernetes.io/job-completion-index", "0")
    ),
    "PyTorchJob": JobKind(
        *PYTORCHJOB_API, PYTORCHJOB_CONTAINER, "Succeeded", ("training.kubeflow.org/replica-type", "master")
    ),
}


def kind_for(settings: K8sSettings) -> JobKind:
    return KINDS["PyTorchJob" if settings.training_operator == "pytorchjob" else "TrainJob"]


class KubeflowJobs:
    """API calls and status reading for one namespace's multi-node jobs (sync ``kubernetes`` client)."""

    def __init__(self, client: Any, settings: K8sSettings) -> None:
        self.client = client
        self.settings = settings

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.client)

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.client)

    # ---- reading --------------------------------------------------------------------------------
    def get(self, kind: JobKind, name: str) -> Manifest | None:
        try:
            obj: Manifest = self.custom.get_namespaced_custom_object(
                kind.group, kind.version, self.settings.namespace, kind.plural, name
            )
            return obj
        except Exception as err:
            if api_status(err) == 404:
                return None
            raise

    def list_run(self, kind: JobKind, selector: str) -> list[Manifest]:
        found = self.custom.list_namespaced_custom_object(
            kind.group, kind.version, self.settings.namespace, kind.plural, label_selector=selector
        )
        return list(found.get("items") or [])

    def pods(self, run_key: str, attempt: int, component: str = "training") -> list[Manifest]:
        labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_RUN: run_key, LABEL_ATTEMPT: attempt, LABEL_COMPONENT: component}
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        pods = self.core.list_namespaced_pod(self.settings.namespace, label_selector=selector)
        return sorted((to_dict(self.client, p) for p in pods.items), key=lambda p: p["metadata"]["name"])

    @staticmethod
    def main_pod(kind: JobKind, pods: list[Manifest]) -> Manifest | None:
        key, value = kind.main_label
        for pod in pods:
            if (pod["metadata"].get("labels") or {}).get(key) == value:
                return pod
        return pods[0] if pods else None

    def events(self, name: str) -> list[Manifest]:
        try:
            found = self.core.list_namespaced_event(
                self.settings.namespace, field_selector=f"involvedObject.name={name}"
            )
        except Exception as err:
            log.warning("could not read events of %s: %s", name, err)
            return []
        return [to_dict(self.client, e) for e in found.items]

    def status(self, handle: JobHandle, now: datetime | None = None) -> JobStatus:
        """The job's status: its terminal condition (with the failing pod's reason), else from its pods."""
        kind = KINDS[handle.extra["kind"]]
        obj = self.get(kind, handle.name)
        if obj is None:
            return JobStatus(FAILED, reason="Deleted", message=f"{kind.kind} {handle.name} no longer exists")
        pods = self.pods(handle.extra["run_key"], handle.attempt)
        return job_status(obj, kind, pods, self.settings.pending_timeout, self.events, now=now)

    def read_log(self, pod: str, container: str, **kwargs: Any) -> str:
        return log_text(self.core.read_namespaced_pod_log(pod, self.settings.namespace, container=container, **kwargs))

    # ---- changing -------------------------------------------------------------------------------
    def create(self, obj: Manifest) -> Manifest:
        if obj["kind"] in ("Pod", "Service"):
            create = self.core.create_namespaced_pod if obj["kind"] == "Pod" else self.core.create_namespaced_service
            return to_dict(self.client, create(self.settings.namespace, obj))
        kind = KINDS[obj["kind"]]
        created: Manifest = self.custom.create_namespaced_custom_object(
            kind.group, kind.version, self.settings.namespace, kind.plural, obj
        )
        return created

    def delete_job(self, kind: JobKind, name: str) -> None:
        from kubernetes import client

        try:
            self.custom.delete_namespaced_custom_object(
                kind.group, kind.version, self.settings.namespace, kind.plural, name,
                body=client.V1DeleteOptions(propagation_policy="Background"),
            )  # fmt: skip
            log.info("deleted %s %s/%s", kind.kind, self.settings.namespace, name)
        except Exception as err:
            if api_status(err) != 404:
                raise

    def delete_vllm(self, run_key: str, attempt: int) -> None:
        for pod in self.pods(run_key, attempt, component="vllm-server"):
            self._ignore_404(self.core.delete_namespaced_pod, pod["metadata"]["name"], self.settings.namespace)
        selector = f"{LABEL_RUN}={run_key},{LABEL_ATTEMPT}={attempt},{LABEL_COMPONENT}=vllm-server"
        for svc in self.core.list_namespaced_service(self.settings.namespace, label_selector=selector).items:
            self._ignore_404(self.core.delete_namespaced_service, svc.metadata.name, self.settings.namespace)

    @staticmethod
    def _ignore_404(call: Callable[..., Any], *args: Any) -> None:
        try:
            call(*args)
        except Exception as err:
            if api_status(err) != 404:
                raise

    def describe(self, handle: JobHandle) -> Diagnostics:
        """Status, every pod's container states and events, the job's events and rank 0's log tail."""
        kind = KINDS[handle.extra["kind"]]
        status = self.status(handle)
        pods = self.pods(handle.extra["run_key"], handle.attempt)
        pods += self.pods(handle.extra["run_key"], handle.attempt, component="vllm-server")
        containers: list[str] = []
        events = [f"{kind.kind} {handle.name}: {line}" for line in k8s_status.describe_events(self.events(handle.name))]
        for pod in pods:
            containers += k8s_status.describe_containers(pod)
            events += [
                f"{pod['metadata']['name']}: {e}"
                for e in k8s_status.describe_events(self.events(pod["metadata"]["name"]))
            ]
        tail: list[str] = []
        main = self.main_pod(kind, [p for p in pods if p["metadata"]["labels"].get(LABEL_COMPONENT) == "training"])
        if main is not None:
            try:
                tail = self.read_log(main["metadata"]["name"], kind.container, tail_lines=50).splitlines()
            except Exception as err:
                if api_status(err) not in (400, 404):
                    log.warning("could not read the log tail of %s: %s", main["metadata"]["name"], err)
        return Diagnostics(status, containers=containers, events=events, log_tail=tail)


def job_status(
    obj: Manifest,
    kind: JobKind,
    pods: list[Manifest],
    pending_timeout: int,
    events_of: Callable[[str], list[Manifest]],
    now: datetime | None = None,
) -> JobStatus:
    """Pure reading of a job and its pods (see :meth:`KubeflowJobs.status`)."""
    now = now or datetime.now(tz=UTC)
    by_condition = k8s_status.job_conditions_status(obj, success=kind.success_condition)
    pod_states = [(p, k8s_status.pod_status(p, kind.container)) for p in pods]
    failed = [(p, s) for p, s in pod_states if s.phase == FAILED]
    if by_condition is not None and by_condition.phase == FAILED and failed:
        pod, state = min(failed, key=_root_cause_first)
        return JobStatus(
            FAILED,
            reason=state.reason or by_condition.reason,
            exit_code=state.exit_code,
            message=f"{by_condition.message} — pod {pod['metadata']['name']}: {state.describe()}".strip(" —"),
        )
    if by_condition is not None and by_condition.phase in (SUCCEEDED, FAILED):
        return by_condition
    if by_condition is not None and by_condition.reason == "Suspended":
        return by_condition  # queued (e.g. by Kueue): waiting for admission is not a pending timeout
    for pod, state in pod_states:
        if state.phase == PENDING and k8s_status.is_past_pending_timeout(pod, pending_timeout, now):
            return k8s_status.pending_timeout_status(
                pod, kind.container, events_of(pod["metadata"]["name"]), pending_timeout
            )
    if not pods:
        created = k8s_status.parse_time(obj["metadata"].get("creationTimestamp"))
        if created is not None and (now - created).total_seconds() > pending_timeout:
            return JobStatus(
                FAILED,
                reason="NoPods",
                message=f"{kind.kind} {obj['metadata']['name']} created no pods within {pending_timeout} s: is the "
                "Kubeflow controller running and its runtime installed? (kubectl describe "
                f"{kind.plural} {obj['metadata']['name']})",
            )
        return JobStatus(PENDING, reason="NoPodsYet")
    if any(s.phase == RUNNING for _, s in pod_states):
        return JobStatus(RUNNING)
    pending = [s for _, s in pod_states if s.phase == PENDING]
    return pending[0] if pending else JobStatus(RUNNING)


def _root_cause_first(item: tuple[Manifest, JobStatus]) -> tuple[int, str]:
    """Order failed pods so the cause comes first: evicted/preempted, then the earliest to end."""
    pod, state = item
    disrupted = state.reason in ("Evicted", *k8s_status.DISRUPTION_REASONS)
    ended = [
        str(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt") or "~")
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
    ]
    return (0 if disrupted else 1, min(ended, default="~"))


class KubeflowLauncher:
    """Runs a :class:`TrainingJob` across ``MEDGRPO_K8S_NUM_NODES`` nodes (see the module docstring)."""

    name = "kubeflow"

    def __init__(
        self,
        settings: K8sSettings | None = None,
        *,
        client: Any = None,
        environ: Mapping[str, str] | None = None,
        poll_interval: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or K8sSettings.from_env()
        self._client = client
        self.environ = environ
        self.poll_interval = poll_interval
        self.sleep = sleep

    @property
    def jobs(self) -> KubeflowJobs:
        if self._client is None:
            self._client = api_client(self.settings)
        return KubeflowJobs(self._client, self.settings)

    def manifests(self, job: TrainingJob) -> list[Manifest]:
        objects = build_multi_node(job, self.settings, environ=self.environ)
        problems = [p for obj in objects for p in violations(obj)]
        if problems:
            raise LaunchError("multi-node job breaks Pod Security 'restricted': " + "; ".join(problems))
        return objects

    # ---- Launcher protocol ----------------------------------------------------------------------
    def submit(self, job: TrainingJob) -> JobHandle:
        objects = self.manifests(job)
        kind = kind_for(self.settings)
        jobs = self.jobs
        live: list[Manifest] = []
        for existing in jobs.list_run(kind, run_selector(job)):
            attempt = int(existing["metadata"]["labels"].get(LABEL_ATTEMPT, "0"))
            handle = self._handle(job, existing["metadata"]["name"], attempt=attempt)
            status = jobs.status(handle)
            if status.done or existing["metadata"].get("deletionTimestamp"):
                diagnostics = jobs.describe(handle)
                log.info(
                    "earlier try's %s %s finished (%s): recording and deleting it",
                    kind.kind,
                    handle.name,
                    status.describe(),
                )
                for line in diagnostics.lines():
                    log.info("  %s", line)
                self._delete(handle)
            else:
                live.append(existing)
        if len(live) > 1:
            raise LaunchError(f"run {job.run_key()} has {len(live)} live {kind.kind}s; expected at most one")
        if live:
            meta = live[0]["metadata"]
            log.info("re-attaching to running %s %s of this run (not starting another)", kind.kind, meta["name"])
            return self._handle(job, meta["name"], attempt=int(meta["labels"][LABEL_ATTEMPT]), reattached=True)
        main = objects[-1]
        try:
            created = jobs.create(main)
        except Exception as err:
            if api_status(err) != 409:
                raise
            log.info("%s %s already exists: re-attaching", kind.kind, main["metadata"]["name"])
            return self._handle(job, main["metadata"]["name"], reattached=True)
        log.info("created %s %s/%s", kind.kind, self.settings.namespace, main["metadata"]["name"])
        for extra in objects[:-1]:  # the vLLM server: owned by the job, removed with it
            extra = {**extra, "metadata": {**extra["metadata"], "ownerReferences": [owner_reference(created)]}}
            jobs.create(extra)
            log.info("created %s %s (vLLM generation server)", extra["kind"], extra["metadata"]["name"])
        return self._handle(job, main["metadata"]["name"])

    def stream_logs(self, handle: JobHandle, on_line: LineSink) -> None:
        """Follow the rank-0 pod's log once it runs (returns early if the job ends or stays pending)."""
        kind = KINDS[handle.extra["kind"]]
        jobs = self.jobs
        while True:
            status = jobs.status(handle)
            pods = jobs.pods(handle.extra["run_key"], handle.attempt)
            main = jobs.main_pod(kind, pods)
            if status.done:
                return
            if main is not None and k8s_status.pod_status(main, kind.container).phase != PENDING:
                break
            self.sleep(self.poll_interval)
        try:
            from medgrpo.launch.kubernetes_pod import _lines

            stream = jobs.core.read_namespaced_pod_log(
                main["metadata"]["name"], self.settings.namespace, container=kind.container,
                follow=True, _preload_content=False,
            )  # fmt: skip
            for line in _lines(stream):
                on_line(line)
        except Exception as err:
            if api_status(err) not in (400, 404):
                log.warning("log stream of %s interrupted: %s", main["metadata"]["name"], err)

    def wait(self, handle: JobHandle, timeout: float | None = None) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        jobs = self.jobs
        while True:
            status = jobs.status(handle)
            if status.done or (deadline is not None and time.monotonic() >= deadline):
                return status
            self.sleep(self.poll_interval)

    def result(self, handle: JobHandle, job: TrainingJob) -> TrainingResult:
        return read_result(job.output_uri)

    def cleanup(self, handle: JobHandle) -> Diagnostics:
        diagnostics = self.jobs.describe(handle)
        self._delete(handle)
        return diagnostics

    def kill(self, handle: JobHandle) -> None:
        self._delete(handle)

    def run(self, job: TrainingJob, on_line: LineSink | None = None) -> TrainingResult:
        return run_job(self, job, on_line)

    # ---- helpers --------------------------------------------------------------------------------
    def _delete(self, handle: JobHandle) -> None:
        jobs = self.jobs
        jobs.delete_job(KINDS[handle.extra["kind"]], handle.name)
        jobs.delete_vllm(handle.extra["run_key"], handle.attempt)

    def _handle(
        self, job: TrainingJob, name: str, *, attempt: int | None = None, reattached: bool = False
    ) -> JobHandle:
        kind = kind_for(self.settings)
        return JobHandle(
            self.name,
            name,
            self.settings.namespace,
            job.attempt if attempt is None else attempt,
            reattached,
            {"kind": kind.kind, "run_key": job.run_key()},
        )
