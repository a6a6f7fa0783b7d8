"""Operators that run a training job on Kubernetes from the ``grpo_training`` DAG (both deferrable).

- :class:`TrainingPodOperator` — the provider's KubernetesPodOperator running the Pod built by
  :func:`medgrpo.launch.manifests.build_pod` (one node). The provider does the pod lifecycle: a
  deferral to its ``KubernetesPodTrigger`` (logs fetched into the task log every
  ``logging_interval`` seconds), re-attachment of a retry to a live pod of the same task instance
  (labels ``dag_id``/``task_id``/``run_id``; the try number is in the pod's name and labels),
  ``on_finish_action`` (explicit: ``delete_pod``). This subclass adds: the pod from the library,
  ``MEDGRPO_K8S_*`` settings read when the task runs, states/events/log tail recorded before any
  pod of the run is deleted, and failures that carry the cluster's reason (scheduler message,
  eviction, exit code and termination message).
- :class:`TrainJobOperator` — submits (or re-attaches to) the run's Kubeflow TrainJob/PyTorchJob
  through :class:`medgrpo.launch.kubeflow_job.KubeflowLauncher`, defers to
  :class:`medgrpo_airflow.triggers.TrainJobTrigger`, then collects diagnostics and cleans up.

Both return the run's ``result.json`` (read from the job's ``s3://`` output prefix) as their XCom.
Settings are read when the task runs (worker and triggerer environment), never at parse time.
Importing this module imports the Kubernetes provider (and the ``kubernetes`` clients): about
0.6-0.8 s on an idle machine, paid by ``grpo_training`` when the DAG processor parses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from medgrpo.launch.manifests import POD_CONTAINER


class TrainingPodFailed(AirflowException):
    """The training pod failed, was evicted or never started; the message has the cluster's reason."""


def _training_job(job: Mapping[str, Any] | Any, try_number: int) -> Any:
    from medgrpo.launch.spec import TrainingJob

    if not isinstance(job, Mapping):
        raise AirflowException(f"job must be a TrainingJob mapping (from the planning task), found {type(job)}")
    return TrainingJob(**{**dict(job), "attempt": int(try_number)})


def _result_xcom(job: Any) -> dict[str, Any]:
    from medgrpo.launch.local import read_result

    return {**read_result(job.output_uri).as_dict(), "dataset_uri": job.dataset_uri, "output_uri": job.output_uri}


class TrainingPodOperator(KubernetesPodOperator):
    """Run one training try as a Kubernetes Pod (see the module docstring).

    :param job: the run's :class:`~medgrpo.launch.spec.TrainingJob` fields, e.g. an XComArg (templated)
    :param logging_interval: seconds between log fetches into the task log while deferred
    """

    template_fields: Sequence[str] = (*KubernetesPodOperator.template_fields, "job")

    def __init__(
        self,
        *,
        job: Mapping[str, Any] | Any,
        logging_interval: int = 30,
        poll_interval: float = 10,
        on_finish_action: str = "delete_pod",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("deferrable", True)
        kwargs.setdefault("get_logs", True)
        kwargs.setdefault("log_events_on_failure", True)
        kwargs.setdefault("log_pod_spec_on_failure", False)
        kwargs.setdefault("startup_check_interval_seconds", 2)
        super().__init__(
            base_container_name=POD_CONTAINER,
            random_name_suffix=False,
            on_finish_action=on_finish_action,
            on_kill_action="delete_pod",
            logging_interval=logging_interval,
            poll_interval=poll_interval,
            **kwargs,
        )
        self.job = job
        self._described: set[str] = set()
        self._job: Any = None

    # ---- settings, applied when the task runs --------------------------------------------------
    def _apply_settings(self) -> Any:
        from medgrpo.launch.k8s_settings import K8sSettings

        settings = K8sSettings.from_env()
        self.namespace = settings.namespace
        self.kubernetes_conn_id = settings.conn_id
        self.config_file = settings.kubeconfig or None
        self.schedule_timeout_seconds = settings.pending_timeout
        self.startup_timeout_seconds = settings.pending_timeout
        return settings

    def execute(self, context: Any) -> Any:
        self._apply_settings()
        self._job = _training_job(self.job, context["ti"].try_number)
        return super().execute(context)

    def trigger_reentry(self, context: Any, event: dict[str, Any]) -> Any:
        self._apply_settings()
        self._job = _training_job(self.job, context["ti"].try_number)
        super().trigger_reentry(context, event)
        if event.get("status") != "success":
            return None
        result = _result_xcom(self._job)
        # do_xcom_push stays False (True would add the provider's XCom sidecar to the pod): push it here
        context["ti"].xcom_push(key=XCOM_RETURN_KEY, value=result)
        return result

    def on_kill(self) -> None:
        self._apply_settings()
        super().on_kill()

    # ---- the pod ---------------------------------------------------------------------------------
    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> Any:
        """The library's training pod, plus the provider's task-instance labels (what a retry searches by)."""
        from airflow.settings import pod_mutation_hook
        from airflow.version import version as airflow_version
        from kubernetes.client import ApiClient

        from medgrpo.launch.k8s_client import from_dict
        from medgrpo.launch.k8s_settings import K8sSettings
        from medgrpo.launch.manifests import build_pod
        from medgrpo.launch.pod_security import violations

        job = self._job or _training_job(self.job, context["ti"].try_number if context else 1)
        manifest = build_pod(job, K8sSettings.from_env())
        problems = violations(manifest)
        if problems:
            raise AirflowException("training pod breaks Pod Security 'restricted': " + "; ".join(problems))
        pod = from_dict(ApiClient(), manifest, "V1Pod")
        pod.metadata.labels.update(self._get_ti_pod_labels(context))
        pod.metadata.labels["airflow_version"] = airflow_version.replace("+", "-")
        if not dry_run:
            pod.metadata.labels["airflow_kpo_in_cluster"] = str(self.hook.is_in_cluster)
        pod_mutation_hook(pod)
        return pod

    # ---- diagnostics before any deletion ---------------------------------------------------------
    def _describe(self, pod: Any) -> Any:
        """Record the pod's status, container states, events and log tail in the task log (once per pod)."""
        from medgrpo.launch.k8s_client import to_dict
        from medgrpo.launch.k8s_settings import K8sSettings
        from medgrpo.launch.kubernetes_pod import KubernetesLauncher

        launcher = KubernetesLauncher(K8sSettings.from_env(), client=self.client.api_client)
        remote = to_dict(launcher.client, self.client.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace))
        diagnostics = launcher.describe(remote)
        if pod.metadata.name not in self._described:
            self._described.add(pod.metadata.name)
            self.log.info("pod %s before deletion:", pod.metadata.name)
            for line in diagnostics.lines():
                self.log.info("  %s", line)
        return diagnostics

    def process_pod_deletion(self, pod: Any, *, reraise: bool = True) -> bool:
        if pod is not None and pod.metadata.name not in self._described:
            try:
                self._describe(pod)
            except Exception as err:  # diagnostics are best effort; deleting must still happen
                self.log.warning("could not describe pod %s before deletion: %s", pod.metadata.name, err)
        return bool(super().process_pod_deletion(pod, reraise=reraise))

    def cleanup(self, pod: Any, remote_pod: Any, xcom_result: Any = None, context: Any = None) -> None:
        diagnostics = None
        if remote_pod is not None and not self._killed:
            try:
                diagnostics = self._describe(remote_pod)
            except Exception as err:
                self.log.warning("could not describe pod %s: %s", remote_pod.metadata.name, err)
        try:
            super().cleanup(pod=pod, remote_pod=remote_pod, xcom_result=xcom_result, context=context)
        except AirflowException as err:
            if diagnostics is None or diagnostics.status.phase not in ("failed", "pending"):
                raise
            store = getattr(self._job, "checkpoint_store", None)
            hint = f"; a retry resumes from the newest checkpoint in {store}" if store else ""
            raise TrainingPodFailed(
                f"training pod {remote_pod.metadata.name} {diagnostics.status.describe()}{hint}"
            ) from err


class TrainJobOperator(BaseOperator):
    """Run one training try as a Kubeflow TrainJob (or PyTorchJob) across several nodes (deferrable).

    :param job: the run's :class:`~medgrpo.launch.spec.TrainingJob` fields, e.g. an XComArg (templated)
    :param poll_interval: seconds between status polls (and log fetches) in the trigger
    :param on_finish_action: ``delete_job`` (default) or ``keep_job`` (kept for inspection)
    """

    template_fields: Sequence[str] = ("job",)
    ui_color = "#c6e2ff"

    def __init__(
        self,
        *,
        job: Mapping[str, Any] | Any,
        poll_interval: float = 15,
        on_finish_action: str = "delete_job",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_finish_action not in ("delete_job", "keep_job"):
            raise ValueError(f"on_finish_action must be delete_job or keep_job, found {on_finish_action!r}")
        self.job = job
        self.poll_interval = poll_interval
        self.on_finish_action = on_finish_action
        self._handle: Any = None

    def _launcher(self) -> Any:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        from medgrpo.launch.k8s_settings import K8sSettings
        from medgrpo.launch.kubeflow_job import KubeflowLauncher

        settings = K8sSettings.from_env()
        hook = KubernetesHook(conn_id=settings.conn_id, config_file=settings.kubeconfig or None)
        return KubeflowLauncher(settings, client=hook.api_client)

    def execute(self, context: Any) -> None:
        from medgrpo_airflow.triggers import TrainJobTrigger, kube_config_dict

        launcher = self._launcher()
        job = _training_job(self.job, context["ti"].try_number)
        handle = launcher.submit(job)
        self._handle = handle
        context["ti"].xcom_push(key="kubeflow_job", value=handle.as_dict())
        self.log.info(
            "%s %s/%s %s; deferring until it finishes",
            handle.extra["kind"],
            handle.namespace,
            handle.name,
            "re-attached" if handle.reattached else "submitted",
        )
        settings = launcher.settings
        self.defer(
            trigger=TrainJobTrigger(
                handle=handle.as_dict(),
                pending_timeout=settings.pending_timeout,
                poll_interval=self.poll_interval,
                kubernetes_conn_id=settings.conn_id,
                config_dict=kube_config_dict(settings.kubeconfig),
            ),
            method_name="execute_complete",
            timeout=self.execution_timeout + timedelta(minutes=5) if self.execution_timeout else None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from medgrpo.launch.base import JobHandle

        handle = JobHandle.from_dict(event["handle"])
        self._handle = handle
        launcher = self._launcher()
        if self.on_finish_action == "delete_job":
            diagnostics = launcher.cleanup(handle)
        else:
            diagnostics = launcher.jobs.describe(handle)
        for line in diagnostics.lines():
            self.log.info("%s", line)
        if event.get("status") != "success":
            job = _training_job(self.job, context["ti"].try_number)
            hint = f"; a retry resumes from the newest checkpoint in {job.checkpoint_store}"
            raise AirflowException(
                f"{handle.extra['kind']} {handle.name} {event.get('message') or event.get('status')}{hint}"
            )
        return _result_xcom(_training_job(self.job, context["ti"].try_number))

    def on_kill(self) -> None:
        if self._handle is not None:
            self.log.info("task killed: deleting %s %s", self._handle.extra["kind"], self._handle.name)
            self._launcher().kill(self._handle)
