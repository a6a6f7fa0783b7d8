"""Every DAG form refuses a bad value itself (its Param schema), or the run fails in its first task
with one line, once (no retries), before anything else runs.

The schema side checks each DAG's own ``Param`` objects, loaded by the DagBag as the scheduler
loads them, against a table of bad values (path traversal in names, values out of range, enums the
code does not know). The first-task side runs ``grpo_training`` for real with ``dag.test()``
(Airflow's in-process runner) with an ``overrides`` object the schema cannot judge.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

#: (dag, param, bad value): each must be refused by the form's own schema.
REFUSED_BY_THE_FORM = [
    ("medical_ingest", "dataset_name", "../../x"),
    ("medical_ingest", "dataset_name", "a/b"),
    ("medical_ingest", "dataset_name", ".hidden"),
    ("medical_ingest", "dataset_name", ""),
    ("medical_ingest", "format", "open_ended"),
    ("medical_ingest", "medmcqa_cop_base", 2),
    ("medical_ingest", "medmcqa_cop_base", "1"),
    ("medical_ingest", "eval_fraction", 0.9),
    ("medical_ingest", "eval_fraction", -0.1),
    ("medical_ingest", "shard_size", 0),
    ("medical_ingest", "shard_size", 10**9),
    ("medical_ingest", "sources", [1, 2]),
    ("medical_ingest", "deidentify", "no"),
    ("grpo_training", "backend", "ssh"),
    ("grpo_training", "max_steps", 0),
    ("grpo_training", "max_steps", -5),
    ("grpo_training", "overrides", [1, 2]),
    ("grpo_training", "overrides", "learning_rate=1"),
    ("gated_evaluation", "min_accuracy", 1.5),
    ("gated_evaluation", "alpha", 0),
    ("gated_evaluation", "bootstrap_resamples", 10),
    ("gated_evaluation", "limit", 0),
    ("model_promotion", "action", "delete"),
]

_SCHEMA_PROBE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
accepted = []
for dag_id, name, value in json.loads(sys.argv[2]):
    param = bag.dags[dag_id].params.get_param(name)
    try:
        param.resolve(value)
    except Exception:
        continue
    accepted.append([dag_id, name, value])
print(json.dumps(accepted))
"""

_RUN = r"""
import json, sys
from datetime import timedelta
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags["grpo_training"]
for task in dag.tasks:
    task.retry_delay = timedelta(0)
run = dag.test(run_conf=json.loads(sys.argv[2]))
print(json.dumps({"state": str(run.state),
                  "tries": {ti.task_id: [str(ti.state), ti.try_number] for ti in run.get_task_instances()}}))
"""


def test_each_form_refuses_bad_values_in_its_schema(airflow_home: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _SCHEMA_PROBE, str(REPO / "dags"), json.dumps(REFUSED_BY_THE_FORM)],
        env=airflow_home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_bad_overrides_fail_the_first_task_once(tmp_path: Path, airflow_home: dict[str, str]) -> None:
    """What the schema cannot judge (the keys and values inside ``overrides``) fails resolve_inputs,
    without retries, with the field named in one line; no training task runs."""
    dataset = tmp_path / "ds"
    dataset.mkdir()
    (dataset / "manifest.json").write_text("{}")
    conf = {"dataset_uri": str(dataset), "overrides": {"num_generations": 0}}
    env = {**airflow_home, "MEDGRPO_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(REPO / "dags" / "grpo_training.py"), json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["state"] == "failed"
    assert result["tries"]["resolve_inputs"] == ["failed", 1]  # refused for good: no retry
    assert all(state != "success" for task, (state, _) in result["tries"].items() if task != "resolve_inputs")
    assert "overrides: num_generations must be >= 2, found 0" in proc.stdout + proc.stderr
