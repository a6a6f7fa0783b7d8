"""Which Airflow executors run tasks on one machine, and what the others need from storage.

With the LocalExecutor every task of a DAG run is a process on the same machine, so a local work
root works. With a remote executor (Celery, Kubernetes, Edge, Batch, ECS, …) each task runs on
some worker or in a fresh pod that sees no other task's disk: everything handed from one task to
the next (staging, datasets, runs, checkpoints, id maps) must live in shared object storage, and
MLflow must be a server (or database) every worker reaches. :func:`require_shared_storage` is
called by the first task of each DAG run, so a deployment that gets this wrong fails at once with
a message naming the settings, not three tasks later on a missing file.

No Airflow import: the caller passes Airflow's ``[core] executor`` value.
"""

from __future__ import annotations

import os

from medgrpo.settings import Settings, get_settings

#: Executors whose tasks all run on the machine of the scheduler that started them.
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})
#: Remote executors this platform is tested with (others are treated the same way).
SUPPORTED_REMOTE_EXECUTORS = ("CeleryExecutor", "KubernetesExecutor")
DOCS = "docs/deploy.md, section 'Executors and storage'"


class SharedStorageError(ValueError):
    """A remote executor is configured, but a location the tasks share is local to one machine."""


def executor_names(config_value: str) -> list[str]:
    """Class names of the executors in Airflow's ``[core] executor`` value.

    The value is a comma-separated list whose entries are a class name (``CeleryExecutor``), a
    module path (``airflow.providers.celery.executors.celery_executor.CeleryExecutor``) or
    ``alias:module.path``.
    """
    names = []
    for entry in config_value.split(","):
        entry = entry.strip()
        if entry:
            names.append(entry.rsplit(":", 1)[-1].rsplit(".", 1)[-1])
    return names or ["LocalExecutor"]


def remote_executors(config_value: str) -> list[str]:
    """The configured executors that may run a task on another machine (unknown ones count as remote)."""
    return [name for name in executor_names(config_value) if name not in LOCAL_EXECUTORS]


def _tracking_problem(tracking_uri: str) -> str | None:
    uri = tracking_uri.strip()
    if not uri:
        return "MLFLOW_TRACKING_URI is empty (each worker would create its own SQLite store)"
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        return f"MLFLOW_TRACKING_URI={uri} is a store on one machine's disk (use the MLflow server's http(s):// URL)"
    return None


def shared_storage_problems(config_value: str, settings: Settings, tracking_uri: str) -> list[str]:
    """What is local to one machine although ``config_value`` runs tasks on several (empty: all fine)."""
    if not remote_executors(config_value):
        return []
    problems = [f"{name}={value}" for name, value in settings.local_locations().items()]
    tracking = _tracking_problem(tracking_uri)
    if tracking:
        problems.append(tracking)
    if not os.environ.get("MEDGRPO_ID_SECRET", "").strip() and not settings.allow_dev_id_key:
        # without it each worker would make its own installation id key (medgrpo.data.ids): ids would differ
        problems.append("MEDGRPO_ID_SECRET unset (each worker would use its own installation id key)")
    return problems


def require_shared_storage(config_value: str, *, settings: Settings | None = None, tracking_uri: str = "") -> None:
    """Raise :class:`SharedStorageError` when a remote executor meets local work-root locations.

    ``tracking_uri`` defaults to the settings' ``MLFLOW_TRACKING_URI``.
    """
    settings = settings or get_settings()
    problems = shared_storage_problems(config_value, settings, tracking_uri or settings.tracking_uri)
    if problems:
        executors = ", ".join(remote_executors(config_value))
        raise SharedStorageError(
            f"Airflow's executor {executors} runs each task on its own worker or pod, which cannot read another "
            f"task's local files; expected shared locations and keys, found: {'; '.join(problems)}. "
            f"Set MEDGRPO_WORK_URI to an s3:// prefix (and leave MEDGRPO_DATA_ROOT, MEDGRPO_RUNS_ROOT, "
            f"MEDGRPO_CHECKPOINT_ROOT and MEDGRPO_ID_MAP_ROOT unset or s3://); see {DOCS}"
        )
