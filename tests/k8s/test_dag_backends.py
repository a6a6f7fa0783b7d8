"""The grpo_training form offers every registered backend, and each has its training task: the
provider's KubernetesPodOperator in deferrable mode with an explicit on_finish_action for
``kubernetes``, the deferrable TrainJob operator for ``kubeflow`` (parsed in a fresh interpreter,
as the DAG processor does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from medgrpo.launch import BACKENDS

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "grpo_training.py"

_PROBE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["grpo_training"]
tasks = {}
for t in dag.tasks:
    tasks[t.task_id] = {
        "class": type(t).__name__,
        "bases": [c.__name__ for c in type(t).__mro__],
        "deferrable": getattr(t, "deferrable", None),
        "on_finish_action": getattr(getattr(t, "on_finish_action", None), "value", None),
        "trigger_rule": getattr(t.trigger_rule, "value", t.trigger_rule),
        "upstream": sorted(t.upstream_task_ids),
        "retries": t.retries,
    }
print(json.dumps({"errors": {k: str(v)[-800:] for k, v in bag.import_errors.items()},
                  "enum": dag.params.get_param("backend").schema["enum"],
                  "tasks": tasks}))
"""


def _probe() -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": tempfile.mkdtemp(prefix="airflow-home-"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(DAG_FILE)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_form_offers_every_backend_and_each_has_its_training_task() -> None:
    found = _probe()
    assert found["errors"] == {}
    assert found["enum"] == list(BACKENDS) == ["local", "kubernetes", "kubeflow"]
    tasks = found["tasks"]
    assert tasks["choose_backend"]["upstream"] == ["resolve_inputs"]
    for task_id in ("train", "train_on_kubernetes", "train_on_kubeflow"):
        assert "choose_backend" in tasks[task_id]["upstream"]
        assert tasks[task_id]["retries"] >= 2  # an evicted try is retried (and resumes)
    pod = tasks["train_on_kubernetes"]
    assert "KubernetesPodOperator" in pod["bases"] and pod["deferrable"] is True
    assert pod["on_finish_action"] == "delete_pod"
    assert tasks["train_on_kubeflow"]["class"] == "TrainJobOperator"
    assert tasks["publish_cluster_model"]["upstream"] == ["train_on_kubeflow", "train_on_kubernetes"]
    assert tasks["publish_cluster_model"]["trigger_rule"] == "none_failed_min_one_success"
