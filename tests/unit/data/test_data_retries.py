"""Every medical_ingest task is safe to retry: run twice, or killed mid-way and run again, the
published dataset is the same; raw staging is gone after success and after a final failure.

The tasks are the DAG's own bodies (:mod:`medgrpo.pipeline`), with de-identification on. "Killed"
is real: the task runs in a child process that ``os._exit``s at a chosen call (no ``finally``
blocks, no cleanup), exactly what a worker killed by the OOM killer or a lost node leaves behind.
The Airflow side (retries, the all-done teardown) is covered by tests/dags/test_ingest_dag_retries.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from medgrpo import pipeline
from medgrpo.data import synth
from medgrpo.data.dataset import read_manifest

DAG_ID, RUN_ID = "medical_ingest", "manual__retry-test"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("MEDGRPO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MEDGRPO_ID_MAP_ROOT", str(tmp_path / "id-maps"))
    monkeypatch.setenv("MEDGRPO_ID_SECRET", "retry-test-id-secret-0123456789")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return dict(os.environ)


def _sources(tmp_path: Path) -> list[str]:
    canonical = tmp_path / "synth.jsonl"
    canonical.write_text("".join(json.dumps(r) + "\n" for r in synth.generate(24, seed=3)))
    medqa = tmp_path / "medqa.jsonl"
    rows = [
        json.dumps(
            {"question": f"Case {i}: which nerve?", "options": {"A": "Axillary", "B": "Radial"}, "answer_idx": "A"}
        )
        for i in range(12)
    ]
    medqa.write_text("\n".join([*rows, '{"question": "broken']) + "\n")
    return [str(canonical), str(medqa)]


def _params(tmp_path: Path, out: str) -> dict[str, Any]:
    return {
        "sources": _sources(tmp_path),
        "format": "auto",
        "dataset_name": "retry",
        "output_uri": out,
        "eval_fraction": 0.25,
        "deidentify": True,
        "policy": None,
        "shard_size": 10,
    }


def _files(out: str) -> dict[str, bytes]:
    return {n: Path(out, n).read_bytes() for n in ("train.jsonl", "eval.jsonl", "quarantine.jsonl")}


def _staged_rows(state: Path) -> list[str]:
    """Files under the run's staging folder other than the small markers (prepare/finalized/publishing)."""
    staging = Path(pipeline.ingest_staging_dir(DAG_ID, RUN_ID))
    assert staging.is_relative_to(state)
    markers = {"prepare.json", "finalized.json", "publishing.json"}
    return sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file() and p.name not in markers)


def _run_all(params: dict[str, Any]) -> dict[str, Any]:
    prepared = pipeline.ingest_prepare(params, DAG_ID, RUN_ID)
    shards = [pipeline.ingest_deidentify_shard(uri, params["policy"]) for uri in prepared["shards"]]
    return pipeline.ingest_finalize(params, prepared, shards)


_CHILD = """
import json, os, sys
import importlib
target, attr, nth, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "after"
module = importlib.import_module(target)
original = getattr(module, attr)
calls = {"n": 0}
def dying(*args, **kwargs):
    calls["n"] += 1
    if calls["n"] == nth and not after:
        os._exit(137)
    result = original(*args, **kwargs)
    if calls["n"] == nth and after:
        os._exit(137)
    return result
setattr(module, attr, dying)
from medgrpo import pipeline
call = json.loads(sys.argv[5])
print(json.dumps(getattr(pipeline, call["fn"])(*call["args"])))
"""


def _killed(env: dict[str, str], kill_at: tuple[str, str, int, str], fn: str, *args: Any) -> None:
    """Run ``pipeline.<fn>(*args)`` in a child that dies (exit 137) at the ``nth`` call of ``module.attr``."""
    module, attr, nth, when = kill_at
    call = json.dumps({"fn": fn, "args": list(args)})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD), module, attr, str(nth), when, call],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 137, (
        f"the child was to be killed mid-way, it exited {proc.returncode}: {proc.stderr[-2000:]}"
    )


def test_each_task_twice_after_it_finished(tmp_path: Path, env: dict[str, str]) -> None:
    baseline = tmp_path / "baseline"
    _run_all(_params(tmp_path, str(baseline)))

    out = str(tmp_path / "twice")
    params = {**_params(tmp_path, out), "dataset_name": "retry"}
    pipeline.ingest_prepare(params, DAG_ID, RUN_ID)
    prepared = pipeline.ingest_prepare(params, DAG_ID, RUN_ID)  # retried after it had finished
    shards = []
    for uri in prepared["shards"]:
        pipeline.ingest_deidentify_shard(uri, None)
        shards.append(pipeline.ingest_deidentify_shard(uri, None))
    first = pipeline.ingest_finalize(params, prepared, shards)
    manifest = read_manifest(out)
    assert _staged_rows(tmp_path / "state") == []  # raw rows gone after publication
    second = pipeline.ingest_finalize(params, prepared, shards)  # retried after it had published
    assert second == first
    assert read_manifest(out) == manifest  # not published again (same created_at, same MLflow run)
    assert pipeline.ingest_cleanup(DAG_ID, RUN_ID).startswith("published")
    pipeline.ingest_cleanup(DAG_ID, RUN_ID)
    assert _files(out) == _files(str(baseline))
    assert manifest["content_sha256"] == read_manifest(str(baseline))["content_sha256"]


@pytest.mark.parametrize(
    ("stage", "kill_at"),
    [
        ("prepare", ("medgrpo.storage", "write_text_atomic", 2, "after")),  # after the second shard
        ("deidentify", ("medgrpo.storage", "write_text_atomic", 1, "before")),  # before its output exists
        ("finalize", ("medgrpo.storage", "_fsync_tree", 1, "before")),  # in the middle of publish_dir
        ("finalize", ("medgrpo.data.ingest", "_publish_with_lineage", 1, "after")),  # published, not recorded
    ],
    ids=["prepare-mid-shards", "deidentify-before-output", "finalize-mid-publish", "finalize-after-publish"],
)
def test_a_task_killed_mid_way_and_retried(
    tmp_path: Path, env: dict[str, str], stage: str, kill_at: tuple[str, str, int, str]
) -> None:
    baseline = tmp_path / "baseline"
    _run_all(_params(tmp_path, str(baseline)))
    out = str(tmp_path / "out")
    params = _params(tmp_path, out)

    if stage == "prepare":
        _killed(env, kill_at, "ingest_prepare", params, DAG_ID, RUN_ID)
    prepared = pipeline.ingest_prepare(params, DAG_ID, RUN_ID)
    shards = []
    for index, uri in enumerate(prepared["shards"]):
        if stage == "deidentify" and index == 1:
            _killed(env, kill_at, "ingest_deidentify_shard", uri, None)
        shards.append(pipeline.ingest_deidentify_shard(uri, None))
    published_by_killed_try = None
    if stage == "finalize":
        _killed(env, kill_at, "ingest_finalize", params, prepared, shards)
        if Path(out, "manifest.json").exists():
            published_by_killed_try = read_manifest(out)
    pipeline.ingest_finalize(params, prepared, shards)
    pipeline.ingest_cleanup(DAG_ID, RUN_ID)

    assert _files(out) == _files(str(baseline))
    manifest = read_manifest(out)
    assert manifest["content_sha256"] == read_manifest(str(baseline))["content_sha256"]
    if published_by_killed_try is not None:
        assert manifest == published_by_killed_try  # the retry found its own publication
    assert _staged_rows(tmp_path / "state") == []
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert leftovers == []  # no half-built dataset next to the published one


def test_final_failure_removes_raw_staging(tmp_path: Path, env: dict[str, str]) -> None:
    params = _params(tmp_path, str(tmp_path / "out"))
    prepared = pipeline.ingest_prepare(params, DAG_ID, RUN_ID)
    assert _staged_rows(tmp_path / "state")  # raw shards, raw quarantine, id map
    # every try of deidentify/finalize failed: the teardown runs once nothing can retry
    assert pipeline.ingest_cleanup(DAG_ID, RUN_ID).startswith("not published")
    assert not Path(pipeline.ingest_staging_dir(DAG_ID, RUN_ID)).exists()
    with pytest.raises(FileNotFoundError, match="clear the whole DAG run"):
        pipeline.ingest_deidentify_shard(prepared["shards"][0], None)
    with pytest.raises(Exception, match="run the whole ingest again"):
        pipeline.ingest_finalize(params, prepared, [])
    assert not Path(tmp_path / "out").exists()
