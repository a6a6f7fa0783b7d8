"""``medgrpo demo``: the whole pipeline end to end through real Airflow and a real MLflow server.

Starts an MLflow server (SQLite + local artifacts) and Airflow (api-server, scheduler,
dag-processor, triggerer; SQLite; LocalExecutor) on free loopback ports under a project-local
state folder, and shows both outcomes of the gate:

1. triggers ``medical_ingest`` on the embedded sample data through the REST API and follows the
   Asset-driven chain (``grpo_training`` → ``gated_evaluation``): the trained challenger is gated
   and, when it passes, promoted to ``champion``;
2. triggers ``grpo_training`` again from its form with a deliberately degraded recipe (the reward's
   sign flipped and the learning rate ×4, through the form's ``overrides``) and follows it to its
   gate, which must reject it: the champion does not move.

It also unpauses ``registry_alias_review`` and ``registry_watch`` (when their files are in ``dags/``), so
an alias moved by hand in the MLflow UI while the demo runs is reviewed: a hand-set ``challenger`` is
gated, a hand-set ``champion`` without a passed gate is flagged and reverted (docs/registry-events.md).

It prints each verdict with its reasons, the champion move, the times and where to look, and stops
every process it started. The demo gates with its own permissive policy (``demo``, passed
explicitly as ``MEDGRPO_GATE_POLICY``): the packaged default is the production policy. State is
kept between runs; a second demo gates its new challenger against the first demo's champion.
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

#: The DAGs of the pipeline the demo triggers and follows (waited for and unpaused by :func:`prepare`).
DAG_IDS = ("medical_ingest", "grpo_training", "gated_evaluation", "model_promotion")
#: DAGs that review alias moves made by hand in the MLflow UI while the demo runs, unpaused by ``medgrpo
#: demo`` when their file is in the DAGs folder: ``registry_alias_review`` gates, accepts, or flags and
#: reverts a move, and ``registry_watch`` notices it (the demo sets up no MLflow webhook, the other way
#: moves reach the review). The reviewer first, so that it is unpaused before the first event.
REVIEW_DAG_IDS = ("registry_alias_review", "registry_watch")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = sub.add_parser("demo", help="run the whole pipeline end to end through real Airflow and MLflow")
    parser.add_argument("--state-dir", default=None, help="state folder (default: $MEDGRPO_STATE_DIR or ./.state)")
    parser.add_argument("--repo", default=None, help="repository root holding dags/ (default: found from here)")
    parser.add_argument("--keep-running", action="store_true", help="leave Airflow and MLflow running at the end")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds to wait for the chain (default 1200)")
    parser.add_argument("--airflow-db", default=None, help="Airflow metadata DB URI (default: SQLite in the state dir)")
    parser.add_argument("--mlflow-db", default=None, help="MLflow backend store URI (default: SQLite in the state dir)")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="run the chain on the CeleryExecutor with two workers sharing only S3 (moto), PostgreSQL and Redis "
        "(medgrpo.demo_distributed)",
    )
    parser.add_argument(
        "--gate-policy",
        default="demo",
        help="gate policy the demo's Airflow uses (default: demo, the permissive packaged policy for the tiny model)",
    )
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
    """One training → gate round of the demo, for the summary and for tests."""

    training_run: dict[str, Any]
    evaluation_run: dict[str, Any]
    gate: dict[str, Any]
    seconds: float
    ingest_run: dict[str, Any] | None = None
    promotion: dict[str, Any] | None = None
    not_promoted: dict[str, Any] | None = None
    label: str = ""


def demo_dag_ids(dags_folder: Path) -> tuple[str, ...]:
    """The DAGs ``medgrpo demo`` unpauses: :data:`DAG_IDS`, then those of :data:`REVIEW_DAG_IDS` in ``dags_folder``."""
    return DAG_IDS + tuple(dag_id for dag_id in REVIEW_DAG_IDS if (dags_folder / f"{dag_id}.py").is_file())


def prepare(stack: Any, dag_ids: tuple[str, ...] = DAG_IDS) -> None:
    """Wait until the DAGs ``dag_ids`` (default: the pipeline's) are parsed and unpause them, in that order."""
    stack.wait_for_dags(dag_ids)
    for dag_id in dag_ids:
        stack.unpause(dag_id)


def run_chain(stack: Any, *, conf: dict[str, Any] | None = None, timeout: float = 1200.0) -> DemoOutcome:
    """Trigger ``medical_ingest`` and follow the Asset chain to the gate verdict (and promotion)."""
    prepare(stack)
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
    outcome = _follow_gate(stack, training, known_eval, started, remaining())
    outcome.ingest_run = ingest
    return outcome


def train_and_gate(stack: Any, *, conf: dict[str, Any], timeout: float = 1200.0, label: str = "") -> DemoOutcome:
    """Trigger ``grpo_training`` with ``conf`` (its form's fields) and follow its challenger to the verdict."""
    prepare(stack)
    known_eval = {r["dag_run_id"] for r in stack.runs("gated_evaluation")}
    started = time.monotonic()
    run_id = stack.trigger("grpo_training", conf)
    log.info("triggered grpo_training run %s", run_id)
    training = _require_success(stack, stack.wait_for_run("grpo_training", run_id, timeout))
    outcome = _follow_gate(stack, training, known_eval, started, max(1.0, timeout - (time.monotonic() - started)))
    outcome.label = label
    return outcome


def _follow_gate(
    stack: Any, training: dict[str, Any], known_eval: set[str], started: float, timeout: float
) -> DemoOutcome:
    evaluation = _require_success(stack, stack.wait_for_new_run("gated_evaluation", known_eval, timeout))
    seconds = time.monotonic() - started
    run_id = evaluation["dag_run_id"]
    gate = _xcom(stack, "gated_evaluation", run_id, "evaluate_and_gate")
    states = {ti["task_id"]: ti["state"] for ti in stack.task_instances("gated_evaluation", run_id)}
    promotion = _xcom(stack, "gated_evaluation", run_id, "promote") if states.get("promote") == "success" else None
    skipped = (
        _xcom(stack, "gated_evaluation", run_id, "not_promoted") if states.get("not_promoted") == "success" else None
    )
    return DemoOutcome(training, evaluation, gate, seconds, promotion=promotion, not_promoted=skipped)


def degraded_overrides(recipe: Path) -> dict[str, Any]:
    """Recipe overrides that train a deliberately worse model: every reward weight negated, learning rate ×4.

    GRPO then pays the model for breaking the answer format and for wrong answers, and the larger
    steps erase what the supervised warm-up taught; the gates must reject the result.
    """
    import yaml

    values = yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}
    weights = values.get("reward_weights") or [1.0] * len(values.get("reward_funcs") or ["format", "accuracy"])
    return {
        "reward_weights": [-float(w) for w in weights],
        "learning_rate": 4 * float(values.get("learning_rate") or 5e-4),
    }


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
    if args.distributed:
        from medgrpo.demo_distributed import run as run_distributed

        return run_distributed(args)
    from medgrpo.services.airflow_stack import AirflowStack
    from medgrpo.services.mlflow_server import start_mlflow_server
    from medgrpo.train.tiny import build_tiny_model

    stop_on_signals()
    if args.repo and not (Path(args.repo) / "dags" / "medical_ingest.py").is_file():
        print(f"medgrpo demo: --repo {args.repo}: expected the medgrpo repository (dags/medical_ingest.py), found none")
        return 2
    try:
        repo = find_repo_root(Path(args.repo).resolve() if args.repo else None)
        state = Path(args.state_dir or os.environ.get("MEDGRPO_STATE_DIR") or repo / ".state").resolve()
        state.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # no repository found, or the state folder cannot be made
        print(f"medgrpo demo: {type(err).__name__}: {err}")
        return 2
    os.environ["MEDGRPO_STATE_DIR"] = str(state)
    base_model = state / "models" / "tiny-base"
    recipe = repo / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
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
                "MEDGRPO_DEFAULT_RECIPE": str(recipe),
                # the demo's own permissive gate policy, chosen explicitly (the packaged default is production)
                "MEDGRPO_GATE_POLICY": args.gate_policy,
                # the demo's own permissive setting: synthetic sample data, so record ids may come from the
                # public development key (loudly logged); a MEDGRPO_ID_SECRET in the environment still wins
                "MEDGRPO_ALLOW_DEV_ID_KEY": "true",
            },
        )
        stack.start()
        print(f"Airflow UI: {stack.url}  (user admin, password {stack.password})\nMLflow UI:  {mlflow.url}", flush=True)
        dag_ids = demo_dag_ids(repo / "dags")
        prepare(stack, dag_ids)
        if "registry_alias_review" in dag_ids:
            print("alias moves made in the MLflow UI are reviewed by registry_alias_review (docs/registry-events.md)")
        print("1/2 ingest → train → gate: a challenger trained with the tiny recipe …", flush=True)
        first = run_chain(stack, conf={"dataset_name": "medgrpo-demo"}, timeout=args.timeout)
        first.label = "challenger (tiny recipe)"
        _print_round(1, first)
        print("2/2 train → gate: a deliberately degraded challenger (reward sign flipped, learning rate ×4) …")
        dataset_uri = _xcom(stack, "grpo_training", first.training_run["dag_run_id"], "train").get("dataset_uri")
        second = train_and_gate(
            stack,
            conf={"dataset_uri": dataset_uri, "overrides": degraded_overrides(recipe)},
            timeout=args.timeout,
            label="degraded challenger (reward sign flipped, learning rate ×4)",
        )
        _print_round(2, second)
        code = _print_summary([first, second], stack.url, mlflow.url, args.gate_policy)
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


def _gate_of(outcome: DemoOutcome) -> dict[str, Any]:
    return outcome.gate or {}


def _print_round(number: int, outcome: DemoOutcome) -> None:
    """One round's verdict, reasons and champion move, printed as soon as it is known."""
    gate = _gate_of(outcome)
    name, version = gate.get("model_name"), gate.get("version")
    against = f"champion v{gate['champion_version']}" if gate.get("champion_version") else "no champion"
    verdict = str(gate.get("verdict", "?")).upper()
    print(f"\n[{number}] {outcome.label or 'challenger'}: {name} v{version} vs {against}: {verdict}", flush=True)
    for role in ("candidate", "champion"):
        figures = (gate.get("metrics") or {}).get(role)
        if figures:
            print(
                f"    {role:9s}: "
                + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
            )
    for line in gate.get("gates_summary") or []:
        print(f"    {line}")
    if gate.get("reasons"):
        label = "rejected because" if gate.get("verdict") == "rejected" else "undecided because"
        for reason in gate["reasons"]:
            print(f"    {label}: {reason}")
    print(f"    power: {gate.get('power', '-')}")
    if outcome.promotion:
        previous = outcome.promotion.get("previous_champion") or "none"
        print(f"    → PROMOTED: alias champion → v{outcome.promotion['champion']} (previous_champion: {previous})")
    else:
        print(f"    → NOT PROMOTED: champion unchanged ({gate.get('champion_version') or 'none'})")
    print(f"    trigger → verdict: {outcome.seconds:.0f} s; report: {gate.get('report_url') or gate.get('report_uri')}")


def _print_summary(outcomes: list[DemoOutcome], airflow_url: str, mlflow_url: str, policy: str) -> int:
    """The closing summary; exit status 1 when the degraded challenger was not rejected."""
    first, second = outcomes
    print("\n=== medgrpo demo: done ===")
    print(f"gate policy: {policy} (the demo's permissive policy; deployments default to 'production')")
    for number, outcome in enumerate(outcomes, start=1):
        gate = _gate_of(outcome)
        moved = (
            f"promoted to champion (previous_champion: {outcome.promotion.get('previous_champion') or 'none'})"
            if outcome.promotion
            else "not promoted"
        )
        reasons = "; ".join(gate.get("reasons") or []) or "all gates passed"
        print(f"  {number}. v{gate.get('version')} {gate.get('verdict')}: {moved} — {reasons}")
        print(f"     Airflow: {airflow_url}/dags/gated_evaluation/runs/{outcome.evaluation_run['dag_run_id']}")
        print(f"     MLflow:  {mlflow_url}/#/models/{gate.get('model_name')}/versions/{gate.get('version')}")
    total = sum(o.seconds for o in outcomes)
    print(f"trigger → verdict: {first.seconds:.0f} s + {second.seconds:.0f} s = {total:.0f} s")
    if first.gate.get("verdict") != "passed":
        print(
            "note: the first challenger was not promoted; on a state where an earlier demo already made a "
            "champion from the same data and recipe, its answers can match the champion's and the gate rightly "
            "finds insufficient evidence."
        )
    if second.gate.get("verdict") != "rejected" or second.promotion:
        print("demo FAILED: the degraded challenger was not rejected")
        return 1
    return 0
