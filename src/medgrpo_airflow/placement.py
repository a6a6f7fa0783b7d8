"""Where DAG tasks run: the Celery queue and Airflow pool of accelerator work, and the preflight check.

Read while the DAG processor parses the files, so only environment reads happen at import and in
:func:`gpu_task` / :func:`cluster_task` (no I/O, no Variable, no database).

- ``MEDGRPO_GPU_QUEUE``: the Celery queue that only workers with accelerators consume. Tasks that run
  a model inside the Airflow worker go there: ``train`` with the ``local`` backend and
  ``evaluate_and_gate``. Unset: Airflow's default queue (every worker; right for the LocalExecutor).
- ``MEDGRPO_GPU_POOL``: the Airflow pool those tasks hold a slot of (slots = accelerators available
  to Airflow workers). Unset: ``default_pool``.
- ``MEDGRPO_CLUSTER_POOL``: the pool bounding concurrent cluster jobs. With the ``kubernetes`` and
  ``kubeflow`` backends the Airflow task only submits and watches a job (holds no GPU), so it stays on
  the default queue in this pool.

A named pool must exist before a task using it is scheduled, or the task waits for ever:
``airflow pools set <name> <slots> "<description>"`` (docs/deploy.md, "Executors and storage").
"""

from __future__ import annotations

import os

GPU_QUEUE_ENV = "MEDGRPO_GPU_QUEUE"
GPU_POOL_ENV = "MEDGRPO_GPU_POOL"
CLUSTER_POOL_ENV = "MEDGRPO_CLUSTER_POOL"


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def gpu_task() -> dict[str, str]:
    """``queue``/``pool`` arguments of a task that runs a model in the Airflow worker (only those set)."""
    placement = {"queue": _env(GPU_QUEUE_ENV), "pool": _env(GPU_POOL_ENV)}
    return {key: value for key, value in placement.items() if value}


def cluster_task() -> dict[str, str]:
    """``pool`` argument of a task that submits and watches a cluster job (default queue; empty when unset)."""
    pool = _env(CLUSTER_POOL_ENV)
    return {"pool": pool} if pool else {}


def require_shared_storage() -> None:
    """First task of a DAG run: fail (no retry) when the executor runs tasks on other machines but the work
    root, a root under it, the id-map root or the MLflow store is local (:mod:`medgrpo.executors`)."""
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import AirflowFailException

    from medgrpo.executors import SharedStorageError
    from medgrpo.pipeline import require_shared_storage as check

    try:
        check(conf.get("core", "executor", fallback="LocalExecutor"))
    except SharedStorageError as err:
        raise AirflowFailException(str(err)) from None
