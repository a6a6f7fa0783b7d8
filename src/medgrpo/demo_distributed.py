"""``medgrpo demo --distributed``: the same chain on a distributed Airflow whose Celery workers share
nothing but S3, PostgreSQL and Redis.

Starts :class:`~medgrpo.services.distributed.DistributedStack` (moto S3, fresh PostgreSQL databases,
a Redis database of its own, MLflow with its artifacts in S3, Airflow with the CeleryExecutor and two
workers, each in its own empty folder with its own ``HOME`` and ``TMPDIR``), puts the inputs in S3
(the embedded samples plus generated vignettes, and the tiny base model), triggers ``medical_ingest``
and follows the Asset chain (``grpo_training`` → ``gated_evaluation``). It prints which worker ran each
task (the de-identification shards spread over both), the registered version and the gate verdict,
then stops everything it started. Nothing is kept: every run starts from empty storage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medgrpo import storage

log = logging.getLogger(__name__)

CHAIN = ("medical_ingest", "grpo_training", "gated_evaluation")
#: Records generated on top of the embedded samples, so that small shards make a real fan-out.
SYNTH_RECORDS = 360
#: Records per de-identification shard (the form's minimum): about six shards for two workers.
SHARD_SIZE = 100


def inputs_uri(work_uri: str) -> str:
    return storage.join(work_uri, "sources")


def base_model_uri(work_uri: str) -> str:
    return storage.join(work_uri, "models", "tiny-base")


def stage_inputs(work_uri: str, *, synth_records: int = SYNTH_RECORDS) -> dict[str, str]:
    """Put the chain's inputs in S3: the embedded samples and generated vignettes under ``sources/``,
    the tiny base model under ``models/tiny-base``. Returns their URIs."""
    from medgrpo.data import synth
    from medgrpo.pipeline import default_sources
    from medgrpo.train.tiny import build_tiny_model

    sources = inputs_uri(work_uri)
    for path in default_sources():
        storage.upload_file(path, storage.join(sources, Path(path).name))
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in synth.generate(synth_records, seed=17))
    storage.write_text_atomic(storage.join(sources, "generated_vignettes.jsonl"), lines)
    model = base_model_uri(work_uri)
    with storage.scratch_dir("medgrpo-tiny-") as tmp:
        storage.upload_dir(build_tiny_model(tmp / "tiny-base", seed=0), model)
    return {"sources": sources, "base_model": model}


def chain_conf(sources: str) -> dict[str, Any]:
    """The ``medical_ingest`` form of the distributed chain: S3 sources, small shards."""
    return {"dataset_name": "medgrpo-distributed", "sources": [sources], "shard_size": SHARD_SIZE}


def _run_environment(args: argparse.Namespace, work_uri: str) -> dict[str, str]:
    return {
        "MEDGRPO_DEFAULT_BASE_MODEL": base_model_uri(work_uri),
        # the demo's explicit permissive settings (as `medgrpo demo`): its own gate policy for a tiny model
        # trained from scratch, and the public development id key for synthetic data
        "MEDGRPO_GATE_POLICY": str(getattr(args, "gate_policy", None) or "demo"),
        "MEDGRPO_ALLOW_DEV_ID_KEY": "true",
    }


def run(args: argparse.Namespace) -> int:
    """The ``--distributed`` demo (see the module docstring); 0 when the chain completed."""
    from medgrpo.demo import find_repo_root, run_chain, stop_on_signals
    from medgrpo.services.distributed import DistributedStack

    stop_on_signals()
    started = time.monotonic()
    repo = find_repo_root(Path(args.repo).resolve() if args.repo else None)
    state = Path(args.state_dir or os.environ.get("MEDGRPO_STATE_DIR") or repo / ".state").resolve()
    base = state / "distributed"
    shutil.rmtree(base, ignore_errors=True)  # this demo's own throwaway folders from an earlier run
    stack = DistributedStack(base=base, repo=repo)
    stack.extra_env = _run_environment(args, stack.work_uri)
    code = 1
    print("starting moto (S3), MLflow (artifacts in S3), Airflow with the CeleryExecutor and two workers …")
    try:
        stack.start()
        assert stack.airflow is not None and stack.mlflow is not None and stack.redis is not None
        _print_layout(stack)
        os.environ.update(stack.s3_env())  # this process uploads the inputs to the same S3
        staged = stage_inputs(stack.work_uri)
        print(f"inputs in S3: {staged['sources']}/ ; base model {staged['base_model']}", flush=True)
        outcome = run_chain(stack.airflow, conf=chain_conf(staged["sources"]), timeout=args.timeout)
        runs = {
            "medical_ingest": outcome.ingest_run,
            "grpo_training": outcome.training_run,
            "gated_evaluation": outcome.evaluation_run,
        }
        hosts = {dag: stack.task_hosts(dag, run["dag_run_id"]) for dag, run in runs.items() if run}
        _print_summary(stack, hosts, outcome.gate, outcome.seconds, time.monotonic() - started)
        code = 0 if _spread_over_workers(hosts, stack) else 1
        if args.keep_running:
            print(f"--keep-running: Airflow {stack.airflow.url}, MLflow {stack.mlflow.url}; Ctrl-C stops all")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        code = 0 if code == 0 else 130
    except Exception as err:  # reported in one place, then everything is stopped
        print(f"demo --distributed failed: {err}", flush=True)
        print(f"logs: {base / 'workers'}/*.log, {base / 'control-plane'}")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        print("stopping every process it started, dropping its databases and its Redis database …", flush=True)
        stack.stop()
    return code


def _print_layout(stack: Any) -> None:
    print(f"Airflow UI: {stack.airflow.url}  (user admin, password {stack.airflow.password})")
    print(f"MLflow UI:  {stack.mlflow.url}  (artifacts: {stack.mlflow.artifacts_destination})")
    print(f"work root:  {stack.work_uri}  (S3 endpoint {stack.moto.url})")
    print(f"broker:     {stack.redis.url}   metadata + Celery results + MLflow: PostgreSQL (fresh databases)")
    for name, worker in stack.celery.items():
        print(f"worker {name}: queues {','.join(worker.queues)}; its whole disk: {worker.root}", flush=True)


def _label(ti: Mapping[str, Any]) -> str:
    index = ti.get("map_index", -1)
    return f"{ti['task_id']}[{index}]" if index is not None and index >= 0 else str(ti["task_id"])


def _print_summary(
    stack: Any, hosts: Mapping[str, list[dict[str, Any]]], gate: Mapping[str, Any], chain_s: float, total_s: float
) -> None:
    print("\n=== medgrpo demo --distributed: done ===")
    print("which worker ran each task:")
    for dag_id, tis in hosts.items():
        print(f"  {dag_id}:")
        for ti in sorted(tis, key=lambda t: (t["task_id"], t["map_index"])):
            where = ti["worker"] or "-"
            extra = f"  (queue {ti['queue']}, pool {ti['pool']})" if ti["queue"] not in (None, "default") else ""
            print(f"    {_label(ti):28s} {ti['state']!s:8s} {where}{extra}")
    shards = Counter(t["worker"] for t in hosts.get("medical_ingest", []) if t["task_id"] == "deidentify")
    print("de-identification shards per worker: " + ", ".join(f"{w} {n}" for w, n in sorted(shards.items())))
    per_worker = Counter(t["worker"] for tis in hosts.values() for t in tis if t["worker"])
    print("tasks per worker: " + ", ".join(f"{w} {n}" for w, n in sorted(per_worker.items())))
    print(f"registered model: {gate.get('model_name')} version {gate.get('version')}")
    print(f"gate verdict: {gate.get('verdict')}" + (f" ({'; '.join(gate['reasons'])})" if gate.get("reasons") else ""))
    print(f"report: {gate.get('report_uri')}")
    print(f"trigger → verdict: {chain_s:.0f} s; whole demo (start, inputs, chain): {total_s:.0f} s")


def _spread_over_workers(hosts: Mapping[str, list[dict[str, Any]]], stack: Any) -> bool:
    """Both workers ran tasks, the shards included; says so when not (exit status 1)."""
    names = set(stack.celery)
    ran = {t["worker"] for tis in hosts.values() for t in tis if t["worker"]}
    shards = {t["worker"] for t in hosts.get("medical_ingest", []) if t["task_id"] == "deidentify"}
    if ran >= names and shards >= names:
        return True
    print(
        f"demo --distributed FAILED: tasks ran on {sorted(ran)}, shards on {sorted(shards)}; expected {sorted(names)}"
    )
    return False
