"""``medgrpo demo``: the whole pipeline end to end through real Airflow and a real MLflow server.

Starts an MLflow server (SQLite + local artifacts) and Airflow (api-server, scheduler,
dag-processor, triggerer; SQLite; LocalExecutor) on free loopback ports under a project-local
state folder, triggers ``medical_ingest`` on the embedded sample data through the REST API,
follows the Asset-driven chain (``grpo_training`` → ``gated_evaluation``), prints the registered
version, its evaluation figures and gate verdict, and stops every process it started. State is
kept between runs, so a second demo trains a second version and gates it against the first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

DAG_IDS = ("medical_ingest", "grpo_training", "gated_evaluation", "model_promotion")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = sub.add_parser("demo", help="run the whole pipeline end to end through real Airflow and MLflow")
    parser.add_argument("--state-dir", default=None, help="state folder (default: $MEDGRPO_STATE_DIR or ./.state)")
    parser.add_argument("--repo", default=None, help="repository root holding dags/ (default: found from here)")
    parser.add_argument("--keep-running", action="store_true", help="leave Airflow and MLflow running at the end")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds to wait for the chain (default 1200)")
    parser.add_argument("--airflow-db", default=None, help="Airflow metadata DB URI (default: SQLite in the state dir)")
    parser.add_argument("--mlflow-db", default=None, help="MLflow backend store URI (default: SQLite in the state dir)")
    parser.set_defaults(func=_run)


def find_repo_root(start: Path | None = None) -> Path:
    """The folder holding ``dags/`` and ``training_image/``: searched from ``start``, cwd, then this file."""
    candidates = [start] if start else []
    candidates += [Path.cwd(), Path(__file__).resolve()]
    for base in candidates:
        for folder in [base, *base.parents]:
            if (folder / "dags" / "medical_ingest.py").is_file() and (folder / "training_image").is_dir():
                return folder
    raise FileNotFoundError("could not find the medgrpo repository (a folder with dags/medical_ingest.py); pass --repo")


@dataclass
class DemoOutcome:
    """What one demo run produced, for the summary and for tests."""

    ingest_run: dict[str, Any]
    training_run: dict[str, Any]
    evaluation_run: dict[str, Any]
    gate: dict[str, Any]
    seconds: float
    promotion: dict[str, Any] | None = None


def run_chain(stack: Any, *, conf: dict[str, Any] | None = None, timeout: float = 1200.0) -> DemoOutcome:
    """Trigger ``medical_ingest`` and follow the Asset chain to the gate verdict."""
    stack.wait_for_dags(DAG_IDS)
    for dag_id in DAG_IDS:
        stack.unpause(dag_id)
    known_train = {r["dag_run_id"] for r in stack.runs("grpo_training")}
    known_eval = {r["dag_run_id"] for r in stack.runs("gated_evaluation")}
    started = time.monotonic()
    deadline = started + timeout

    def remaining() -> float:
        return max(1.0, deadline - time.monotonic())

    run_id = stack.trigger("medical_ingest", conf or {})
    log.info("triggered medical_ingest run %s", run_id)
    ingest = _require_success(stack, stack.wait_for_run("medical_ingest", run_id, remaining()))
    training = _require_success(stack, stack.wait_for_new_run("grpo_training", known_train, remaining()))
    evaluation = _require_success(stack, stack.wait_for_new_run("gated_evaluation", known_eval, remaining()))
    gate = _xcom(stack, "gated_evaluation", evaluation["dag_run_id"], "evaluate_and_gate")
    seconds = time.monotonic() - started
    states = {ti["task_id"]: ti["state"] for ti in stack.task_instances("gated_evaluation", evaluation["dag_run_id"])}
    promotion = (
        _xcom(stack, "gated_evaluation", evaluation["dag_run_id"], "promote")
        if states.get("promote") == "success"
        else None
    )
    return DemoOutcome(ingest, training, evaluation, gate, seconds, promotion)


def _require_success(stack: Any, run: dict[str, Any]) -> dict[str, Any]:
    if run["state"] == "success":
        return run
    failed = [ti for ti in stack.task_instances(run["dag_id"], run["dag_run_id"]) if ti["state"] == "failed"]
    details = []
    for ti in failed:
        text = stack.task_log(
            run["dag_id"], run["dag_run_id"], ti["task_id"], ti.get("try_number") or 1, ti.get("map_index", -1)
        )
        details.append(f"--- {ti['task_id']} (try {ti.get('try_number')}):\n" + "\n".join(text.splitlines()[-40:]))
    raise RuntimeError(f"{run['dag_id']} run {run['dag_run_id']} ended {run['state']}\n" + "\n".join(details))


def _xcom(stack: Any, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    entry = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")
    value = entry.get("value")
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGINT into KeyboardInterrupt so the services are always stopped.

    SIGTERM would otherwise kill the demo without running its cleanup, and a shell starts
    background jobs with SIGINT ignored; both would leave Airflow and MLflow running.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)


def _run(args: argparse.Namespace) -> int:
    from medgrpo.services.airflow_stack import AirflowStack
    from medgrpo.services.mlflow_server import start_mlflow_server
    from medgrpo.train.tiny import build_tiny_model

    stop_on_signals()
    repo = find_repo_root(Path(args.repo).resolve() if args.repo else None)
    state = Path(args.state_dir or os.environ.get("MEDGRPO_STATE_DIR") or repo / ".state").resolve()
    state.mkdir(parents=True, exist_ok=True)
    os.environ["MEDGRPO_STATE_DIR"] = str(state)
    base_model = state / "models" / "tiny-base"
    if not (base_model / "config.json").exists():
        print(f"building the tiny base model in {base_model} …", flush=True)
        build_tiny_model(base_model, seed=0)

    print("starting MLflow and Airflow (api-server, scheduler, dag-processor, triggerer) …", flush=True)
    mlflow = None
    stack = None
    code = 1
    try:
        mlflow = start_mlflow_server(state, backend_store_uri=args.mlflow_db)
        stack = AirflowStack(
            home=state / "airflow",
            dags_folder=repo / "dags",
            plugins_folder=repo / "plugins",
            db_uri=args.airflow_db,
            extra_env={
                "MLFLOW_TRACKING_URI": mlflow.url,
                "MEDGRPO_STATE_DIR": str(state),
                "MEDGRPO_DEFAULT_BASE_MODEL": str(base_model),
                "MEDGRPO_DEFAULT_RECIPE": str(repo / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"),
                # the demo's own permissive setting: synthetic sample data, so record ids may come from the
                # public development key (loudly logged); a MEDGRPO_ID_SECRET in the environment still wins
                "MEDGRPO_ALLOW_DEV_ID_KEY": "true",
            },
        )
        stack.start()
        print(f"Airflow UI: {stack.url}  (user admin, password {stack.password})\nMLflow UI:  {mlflow.url}", flush=True)
        outcome = run_chain(stack, conf={"dataset_name": "medgrpo-demo"}, timeout=args.timeout)
        _print_summary(outcome, stack.url, mlflow.url)
        code = 0
        if args.keep_running:
            print("--keep-running: press Ctrl-C to stop Airflow and MLflow", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        code = 0 if code == 0 else 130
    except Exception as err:  # the demo reports any failure in one place, then cleans up
        print(f"demo failed: {err}", flush=True)
        print(f"component logs: {state / 'airflow' / 'logs'}  MLflow log: {state / 'mlflow' / 'server.log'}")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):  # a second signal must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        if stack is not None:
            stack.stop()
        if mlflow is not None:
            mlflow.stop()
    return code


def _print_summary(outcome: DemoOutcome, airflow_url: str, mlflow_url: str) -> None:
    gate = outcome.gate
    name, version = gate.get("model_name"), gate.get("version")
    print("\n=== medgrpo demo: done ===")
    print(f"registered model: {name} version {version}")
    for role in ("candidate", "champion"):
        figures = (gate.get("metrics") or {}).get(role)
        if figures:
            print(
                f"  {role:9s}: "
                + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
            )
    print(f"gate verdict: {gate.get('verdict')}  (report: {gate.get('report_uri')})")
    for line in gate.get("gates_summary") or []:
        print(f"  - {line}")
    if outcome.promotion:
        previous = outcome.promotion.get("previous_champion") or "none"
        print(f"alias champion → version {outcome.promotion['champion']} (previous_champion: {previous})")
    else:
        print("not promoted: champion unchanged")
    print(f"trigger → verdict: {outcome.seconds:.0f} s")
    print(f"Airflow UI: {airflow_url}/dags/gated_evaluation/runs/{outcome.evaluation_run['dag_run_id']}")
    print(f"MLflow UI:  {mlflow_url}/#/models/{name}/versions/{version}")
