"""Celery configuration for the distributed-chain test's workers: Airflow's defaults plus a
``task_postrun`` hook that empties the worker's folder after every task it runs.

Loaded inside each worker through ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=celery_task_hooks.CELERY_CONFIG``
(this folder on the workers' ``PYTHONPATH``). The hook runs in the process that ran the task, after
Airflow's supervisor has finished it (log shipped to S3) and before the message is acknowledged, so
with concurrency 1 and prefetch 1 the worker takes its next task only from an empty folder: each task
finds the disk of a brand-new worker. Every wipe is journaled beside the folder, in
``<worker folder>.wipes.jsonl`` (outside what is wiped), with the task and the files that were there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import task_postrun

from medgrpo.services.celery_workers import WORKER_ROOT_ENV, empty_worker_folder

CELERY_CONFIG = DEFAULT_CELERY_CONFIG


def _task_of(args: Any) -> dict[str, Any]:
    try:
        ti = json.loads(args[0]).get("ti") or {}
        return {k: ti.get(k) for k in ("dag_id", "task_id", "run_id", "map_index", "try_number")}
    except (TypeError, ValueError, IndexError, AttributeError):
        return {"unparsed": repr(args)[:200]}


@task_postrun.connect
def empty_folder_after_task(args: Any = None, state: str | None = None, **_: Any) -> None:
    root = os.environ.get(WORKER_ROOT_ENV)
    if not root:
        return
    removed = empty_worker_folder(root)
    entry = {"task": _task_of(args), "celery_state": state, "removed": removed}
    with open(Path(root).with_name(Path(root).name + ".wipes.jsonl"), "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
