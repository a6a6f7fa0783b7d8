"""The trigger that watches a Kubeflow TrainJob/PyTorchJob for :class:`~medgrpo_airflow.operators.TrainJobOperator`.

Runs in the triggerer (imported there by its path, ``medgrpo_airflow.triggers.TrainJobTrigger``):
polls the job and its pods with ``kubernetes_asyncio`` through the provider's
``AsyncKubernetesHook`` (same connection handling as the KubernetesPodOperator), writes the rank-0
pod's new log lines into the task log on every poll, and fires one event when the job is done —
succeeded, failed (with the failing pod's reason), or stuck Pending past the pending timeout
(with the scheduler's message). The status rules are the library's
(:func:`medgrpo.launch.kubeflow_job.job_status`), shared with the CLI launcher.

A triggerer restart re-creates the trigger from :meth:`serialize` and it simply resumes watching
(log lines since its creation may be repeated). A user kill (Airflow 3.3+ calls :meth:`on_kill`)
deletes the job; a triggerer shutdown does not.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def kube_config_dict(path: str) -> dict[str, Any] | None:
    """The kubeconfig at ``path`` as a dict for the trigger (None: use the connection / in-cluster)."""
    if not path:
        return None
    import yaml

    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return dict(data) if isinstance(data, dict) else None


def _constant(events: list[dict[str, Any]]) -> Callable[[str], list[dict[str, Any]]]:
    return lambda _name: events


class TrainJobTrigger(BaseTrigger):
    """Fires when the job in ``handle`` (a :class:`~medgrpo.launch.base.JobHandle` as dict) is done."""

    def __init__(
        self,
        *,
        handle: dict[str, Any],
        pending_timeout: int,
        poll_interval: float = 15,
        kubernetes_conn_id: str | None = "kubernetes_default",
        config_dict: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.handle = handle
        self.pending_timeout = pending_timeout
        self.poll_interval = poll_interval
        self.kubernetes_conn_id = kubernetes_conn_id
        self.config_dict = config_dict
        self._last_log: str | None = None
        self._fired = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "medgrpo_airflow.triggers.TrainJobTrigger",
            {
                "handle": self.handle,
                "pending_timeout": self.pending_timeout,
                "poll_interval": self.poll_interval,
                "kubernetes_conn_id": self.kubernetes_conn_id,
                "config_dict": self.config_dict,
            },
        )

    def _hook(self) -> Any:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook

        return AsyncKubernetesHook(conn_id=self.kubernetes_conn_id, config_dict=self.config_dict)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from kubernetes_asyncio import client as aclient

        from medgrpo.launch.kubeflow_job import KINDS, job_status

        kind = KINDS[self.handle["extra"]["kind"]]
        name, namespace = self.handle["name"], self.handle["namespace"]
        self.log.info("watching %s %s/%s every %s s", kind.kind, namespace, name, self.poll_interval)
        try:
            async with self._hook().get_conn() as api:
                custom, core = aclient.CustomObjectsApi(api), aclient.CoreV1Api(api)
                while True:
                    try:
                        obj = await custom.get_namespaced_custom_object(
                            kind.group, kind.version, namespace, kind.plural, name
                        )
                    except aclient.ApiException as err:
                        if err.status != 404:
                            raise
                        yield self._event("failed", f"{kind.kind} {name} no longer exists (deleted)")
                        return
                    pods = await self._pods(api, core)
                    status = job_status(obj, kind, pods, self.pending_timeout, _constant([]))
                    if status.phase == "failed" and status.reason in ("Unschedulable", "PendingTimeout"):
                        stuck = next(p for p in pods if p["status"].get("phase", "Pending") == "Pending")
                        events = await self._events(api, core, stuck["metadata"]["name"])
                        status = job_status(obj, kind, pods, self.pending_timeout, _constant(events))
                    await self._emit_logs(core, kind, pods)
                    if status.done:
                        yield self._event("success" if status.succeeded else "failed", status.describe())
                        return
                    await asyncio.sleep(self.poll_interval)
        except Exception as err:  # the operator turns this into a task failure with the message
            self.log.exception("watching %s %s failed", kind.kind, name)
            yield self._event("error", f"watching {kind.kind} {name} failed: {type(err).__name__}: {err}")

    def _event(self, status: str, message: str) -> TriggerEvent:
        self._fired = True
        return TriggerEvent({"status": status, "message": message, "handle": self.handle})

    async def _pods(self, api: Any, core: Any) -> list[dict[str, Any]]:
        from medgrpo.launch.manifests import LABEL_ATTEMPT, LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_RUN, MANAGED_BY

        labels = {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_RUN: self.handle["extra"]["run_key"],
            LABEL_ATTEMPT: self.handle["attempt"],
            LABEL_COMPONENT: "training",
        }
        found = await core.list_namespaced_pod(
            self.handle["namespace"], label_selector=",".join(f"{k}={v}" for k, v in labels.items())
        )
        pods = [api.sanitize_for_serialization(p) for p in found.items]
        return sorted(pods, key=lambda p: p["metadata"]["name"])

    async def _events(self, api: Any, core: Any, pod_name: str) -> list[dict[str, Any]]:
        found = await core.list_namespaced_event(
            self.handle["namespace"], field_selector=f"involvedObject.name={pod_name}"
        )
        return [api.sanitize_for_serialization(e) for e in found.items]

    async def _emit_logs(self, core: Any, kind: Any, pods: list[dict[str, Any]]) -> None:
        """Write the rank-0 pod's log lines newer than the last one written into the task log."""
        from kubernetes_asyncio import client as aclient

        from medgrpo.launch.k8s_client import log_text
        from medgrpo.launch.k8s_status import parse_time
        from medgrpo.launch.kubeflow_job import KubeflowJobs

        main = KubeflowJobs.main_pod(kind, pods)
        if main is None or not (main.get("status") or {}).get("containerStatuses"):
            return
        kwargs: dict[str, Any] = {"container": kind.container, "timestamps": True}
        last = parse_time(self._last_log) if self._last_log else None
        if last is not None:  # only what is new since the last line written (plus a second of overlap)
            kwargs["since_seconds"] = max(1, math.ceil((datetime.now(tz=UTC) - last).total_seconds()) + 1)
        try:
            text = log_text(
                await core.read_namespaced_pod_log(main["metadata"]["name"], self.handle["namespace"], **kwargs)
            )
        except aclient.ApiException as err:
            if err.status in (400, 404):  # not started yet, or gone
                return
            raise
        for raw in text.splitlines():
            stamp, _, line = raw.partition(" ")
            if self._last_log is not None and stamp <= self._last_log:
                continue
            self._last_log = stamp
            self.log.info("[%s] %s", main["metadata"]["name"], line)

    async def on_kill(self) -> None:
        """The user killed the deferred task (Airflow 3.3+): delete the job (its pods go with it)."""
        if self._fired:
            return
        from kubernetes_asyncio import client as aclient

        from medgrpo.launch.kubeflow_job import KINDS

        kind = KINDS[self.handle["extra"]["kind"]]
        self.log.info("task killed: deleting %s %s", kind.kind, self.handle["name"])
        async with self._hook().get_conn() as api:
            try:
                await aclient.CustomObjectsApi(api).delete_namespaced_custom_object(
                    kind.group, kind.version, self.handle["namespace"], kind.plural, self.handle["name"],
                    body=aclient.V1DeleteOptions(propagation_policy="Background"),
                )  # fmt: skip
            except aclient.ApiException as err:
                if err.status != 404:
                    raise
