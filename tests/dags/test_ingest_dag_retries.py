"""medical_ingest under Airflow's own retry and teardown logic: raw staging never outlives a run.

Runs the real DAG with ``dag.test()`` (Airflow's in-process runner: real task instances, retries,
trigger rules and run state in a SQLite metadata database) in a child process with its own
AIRFLOW_HOME, with retries cut to one and no delay: a run that succeeds, and a run whose
``finalize`` fails on every try. In both, ``cleanup_staging`` (a teardown) runs only after the last
try; the failed run is marked failed and its raw staged rows are gone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medgrpo.data import synth

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

_RUN = r"""
import json, sys
from datetime import timedelta
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags["medical_ingest"]
teardown = dag.get_task("cleanup_staging")
structure = {
    "is_teardown": teardown.is_teardown,
    "upstream": sorted(teardown.upstream_task_ids),
    "trigger_rule": getattr(teardown.trigger_rule, "value", str(teardown.trigger_rule)),
    "setups": sorted(t.task_id for t in dag.tasks if t.is_setup),
}
for task in dag.tasks:
    task.retries, task.retry_delay = 1, timedelta(0)
run = dag.test(run_conf=json.loads(sys.argv[2]))
tries = {ti.task_id: [ti.state, ti.try_number] for ti in run.get_task_instances() if ti.map_index in (-1, 0)}
print(json.dumps({"state": str(run.state), "tries": tries, "structure": structure}))
"""


def _run(env: dict[str, str], state: Path, conf: dict[str, object]) -> dict:
    env = {**env, "MEDGRPO_STATE_DIR": str(state), "MEDGRPO_ID_MAP_ROOT": str(state / "id-maps")}
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(REPO / "dags" / "medical_ingest.py"), json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_teardown_removes_raw_staging_after_success_and_after_the_last_failed_try(
    tmp_path: Path, airflow_home: dict[str, str]
) -> None:
    source = tmp_path / "synth.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in synth.generate(30, seed=1)))

    ok = _run(airflow_home, tmp_path / "ok", {"sources": [str(source)], "output_uri": str(tmp_path / "ds")})
    assert ok["structure"] == {
        "is_teardown": True,
        "upstream": ["deidentify", "finalize", "prepare", "shard_uris"],
        "trigger_rule": "all_done_setup_success",
        "setups": [],
    }
    assert ok["state"] == "success" and ok["tries"]["cleanup_staging"] == ["success", 1]
    staging = next((tmp_path / "ok" / "staging").iterdir())
    assert sorted(p.name for p in staging.rglob("*") if p.is_file()) == [
        "finalized.json", "prepare.json", "publishing.json"
    ]  # fmt: skip
    assert (tmp_path / "ds" / "manifest.json").is_file()

    # finalize fails on every try (its output location is below a file): the run fails, and only
    # after the last try does the teardown remove the raw rows prepare staged
    bad = {"sources": [str(source)], "output_uri": str(source / "ds")}
    failed = _run(airflow_home, tmp_path / "failed", bad)
    assert failed["state"] == "failed"
    assert failed["tries"]["finalize"] == ["failed", 2]
    assert failed["tries"]["cleanup_staging"] == ["success", 1]
    assert list((tmp_path / "failed" / "staging").iterdir()) == []
