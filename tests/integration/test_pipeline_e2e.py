"""The whole chain through real services: Airflow 3 (api-server, scheduler, dag-processor, triggerer;
LocalExecutor) and an MLflow server, both on PostgreSQL, with real TRL training; one stack for the module.

1. The demo's two rounds: ``medical_ingest`` → ``grpo_training`` → ``gated_evaluation`` promotes a trained
   challenger; a deliberately degraded one (reward sign flipped through the form's ``overrides``) is
   rejected with its reason, in MLflow tags and in the Airflow run, and the champion does not move.
2. Approval (Airflow human-in-the-loop, answered through the REST API) of a better challenger: Reject
   leaves the champion; an Approve that comes after the champion was changed by hand moves nothing
   (compare-and-set); ``model_promotion`` refuses a rejected version, force-promotes it with a reason,
   rolls back; an Approve against the current champion promotes; rollback restores the previous champion.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from medgrpo.demo import degraded_overrides, find_repo_root, run_chain, train_and_gate
from medgrpo.services.airflow_stack import AirflowStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "medgrpo-e2e"
GATE = "gated_evaluation"
PROMOTION = "model_promotion"


@pytest.fixture(scope="module")
def airflow_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, pg_database: Callable[[str], str], mlflow_server: str
):  # type: ignore[no-untyped-def]
    repo = find_repo_root()
    state = tmp_path_factory.mktemp("state")
    db = pg_database("medgrpo_airflow").replace("postgresql://", "postgresql+psycopg2://", 1)
    stack = AirflowStack(
        home=state / "airflow",
        dags_folder=repo / "dags",
        plugins_folder=repo / "plugins",
        db_uri=db,
        extra_env={
            "MLFLOW_TRACKING_URI": mlflow_server,
            "MEDGRPO_STATE_DIR": str(state),
            "MEDGRPO_MODEL_NAME": MODEL,
            "MEDGRPO_DEFAULT_RECIPE": str(repo / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"),
            "MEDGRPO_GATE_POLICY": "demo",  # chosen explicitly, as the demo does
            "MEDGRPO_ALLOW_DEV_ID_KEY": "true",
        },
    )
    stack.start()
    try:
        yield stack, state, mlflow_server, repo
    finally:
        stack.stop()


@pytest.fixture
def registry_env(airflow_on_postgres, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    _, _, tracking, _ = airflow_on_postgres
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", MODEL)
    from medgrpo import registry

    return registry


def _states(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in stack.task_instances(dag_id, run_id)}


def _xcom(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> Any:
    entry = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")
    value = entry.get("value")
    return json.loads(value) if isinstance(value, str) else value


def _champion(registry: Any) -> str | None:
    mv = registry.get_version_by_alias("champion")
    return mv.version if mv else None


def test_demo_promotes_a_trained_challenger_and_rejects_a_degraded_one(
    airflow_on_postgres, registry_env, capsys
) -> None:  # type: ignore[no-untyped-def]
    stack, state, tracking, repo = airflow_on_postgres
    registry = registry_env
    from medgrpo.cli import main

    first = run_chain(stack, conf={"dataset_name": "e2e"}, timeout=900)

    # ingest published a complete dataset directory; the training log was streamed into the task log
    dataset = state / "datasets" / "e2e"
    assert sorted(p.name for p in dataset.iterdir()) == [
        "eval.jsonl",
        "manifest.json",
        "quarantine.jsonl",
        "train.jsonl",
    ]
    assert "loss" in stack.task_log("grpo_training", first.training_run["dag_run_id"], "train")

    # round 1: no champion yet, the demo policy's floors decide: passed and promoted
    gate = first.gate
    assert gate["verdict"] == "passed", gate["gates_summary"]
    assert gate["champion_version"] is None and gate["policy"] == "demo"
    v1 = registry.get_version(gate["version"])
    lineage = ("dataset_sha256", "recipe", "base_model", "git_sha", "image", "airflow_dag_run", "decoding")
    for tag in (*lineage, "gate_verdict", "gate_report"):
        assert v1.tags.get(tag), f"version {v1.version} lacks tag {tag}: {sorted(v1.tags)}"
    decoding = json.loads(v1.tags["decoding"])
    assert decoding["max_new_tokens"] == 32 and decoding["samples"] == 8  # the tiny recipe's completions
    assert first.promotion is not None and first.promotion["champion"] == v1.version
    assert _champion(registry) == v1.version and v1.tags["promoted_by"] == "airflow"

    # the task buttons: MLflow run and version of the training; the HTML gate report of the gate
    links = stack.api(
        "GET", f"/dags/grpo_training/dagRuns/{first.training_run['dag_run_id']}/taskInstances/train/links"
    )
    assert links["extra_links"]["MLflow run"].startswith(f"{tracking}/#/experiments/")
    assert links["extra_links"]["MLflow model version"] == f"{tracking}/#/models/{MODEL}/versions/{v1.version}"
    gate_links = stack.api(
        "GET", f"/dags/{GATE}/dagRuns/{first.evaluation_run['dag_run_id']}/taskInstances/evaluate_and_gate/links"
    )
    report_link = gate_links["extra_links"]["Gate report"]
    assert report_link.startswith(f"{tracking}/#/experiments/") and report_link.endswith(
        "/artifactPath/gate_report.html"
    )

    # round 2: the degraded challenger (reward sign flipped) is rejected, with reasons everywhere
    dataset_uri = _xcom(stack, "grpo_training", first.training_run["dag_run_id"], "train")["dataset_uri"]
    recipe = repo / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
    second = train_and_gate(
        stack, conf={"dataset_uri": dataset_uri, "overrides": degraded_overrides(recipe)}, timeout=900
    )
    bad = second.gate
    assert bad["verdict"] == "rejected", bad["gates_summary"]
    assert bad["champion_version"] == v1.version
    assert any(r.startswith("[FAIL] min_format_rate") for r in bad["reasons"]), bad["reasons"]
    assert second.promotion is None
    states = _states(stack, GATE, second.evaluation_run["dag_run_id"])
    assert states["promote"] == "skipped" and states["not_promoted"] == "success"
    assert any("rejected: [FAIL] min_format_rate" in line for line in second.not_promoted["why"])  # type: ignore[index]
    v2 = registry.get_version(bad["version"])
    assert v2.tags["gate_verdict"] == "rejected" and "min_format_rate" in v2.tags["gate_reasons"]
    import mlflow.artifacts

    assert "REJECTED" in mlflow.artifacts.load_text(v2.tags["gate_report"])
    assert json.loads(v2.tags["decoding"]) == decoding  # the degraded recipe kept the decoding settings
    assert _champion(registry) == v1.version

    # promoting the rejected version by hand is refused and moves nothing
    assert main(["promote", "--version", v2.version]) != 0
    assert "gate_verdict is 'rejected'" in capsys.readouterr().err
    assert _champion(registry) == v1.version


# --------------------------------------------------------------------------- approval and promotion


def _strong_version(tracking: str, tiny_model: Path, tmp_path: Path) -> tuple[str, str]:
    """A better model than the trained tiny champion on multiple-choice items, registered; and those items."""
    from mcq_models import build_strong_model, choice_record, write_dataset
    from mlflow import MlflowClient

    from medgrpo import registry
    from medgrpo.evaluate.decoding import DecodingSettings

    folder = build_strong_model(tiny_model, tmp_path / "strong")
    client = MlflowClient(tracking)
    exp = client.get_experiment_by_name("medgrpo/train")
    run = client.create_run(exp.experiment_id if exp else client.create_experiment("medgrpo/train"))
    client.log_artifacts(run.info.run_id, str(folder), "model")
    client.set_terminated(run.info.run_id)
    decoding = DecodingSettings(max_new_tokens=16).to_json()
    mv = registry.register_model_version(run.info.run_id, tags={"recipe": "test", "decoding": decoding})
    dataset = write_dataset(tmp_path / "mcq", [choice_record(i, 2) for i in range(30)])
    return mv.version, dataset


def _wait(what: str, check: Callable[[], Any], timeout: float = 300.0, every: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _gate_awaiting_approval(stack: AirflowStack, conf: dict[str, Any]) -> str:
    """Trigger gated_evaluation through the REST API and wait until its approval task asks for input."""
    run_id = stack.trigger(GATE, conf)

    def asking() -> bool:
        stack.check_alive()
        states = _states(stack, GATE, run_id)
        if states.get("evaluate_and_gate") == "failed" or states.get("not_promoted") == "success":
            verdict = _xcom(stack, GATE, run_id, "evaluate_and_gate") if states.get("not_promoted") else None
            raise AssertionError(f"{GATE} {run_id} did not reach approval: {states} {verdict}")
        try:
            stack.api("GET", f"/dags/{GATE}/dagRuns/{run_id}/taskInstances/await_approval/-1/hitlDetails")
        except RuntimeError:
            return False
        return True

    _wait(f"{GATE} {run_id} to ask for approval", asking)
    # Airflow race, seen in CI: an answer given within ~0.2 s of the request resumes the task before the
    # scheduler has processed the executor's event for the deferring try; the scheduler then finds the task
    # queued while its executor says success, marks the try failed (up_for_retry) and the retry asks again,
    # ignoring the answer. A person needs longer than that to read the request; this test waits as long.
    time.sleep(5)
    return run_id


def _answer(stack: AirflowStack, run_id: str, option: str) -> dict[str, Any]:
    stack.api(
        "PATCH",
        f"/dags/{GATE}/dagRuns/{run_id}/taskInstances/await_approval/-1/hitlDetails",
        json_body={"chosen_options": [option]},
    )
    return stack.wait_for_run(GATE, run_id, timeout=300)


def _promotion(stack: AirflowStack, conf: dict[str, Any]) -> tuple[dict[str, Any], str]:
    run_id = stack.trigger(PROMOTION, conf)
    run = stack.wait_for_run(PROMOTION, run_id, timeout=300)
    return run, stack.task_log(PROMOTION, run_id, "apply")


def test_approval_compare_and_set_and_model_promotion_through_rest(  # type: ignore[no-untyped-def]
    airflow_on_postgres, registry_env, tiny_model: Path, tmp_path: Path
) -> None:
    stack, _, tracking, _ = airflow_on_postgres
    registry = registry_env
    champion = _champion(registry)
    assert champion is not None, "the demo test leaves a champion"
    rejected = next(
        mv.version for mv in map(registry.get_version, range(1, 10)) if mv.tags.get("gate_verdict") == "rejected"
    )
    better, mcq = _strong_version(tracking, tiny_model, tmp_path)
    conf = {"candidate": better, "dataset_uri": mcq, "require_approval": True}

    # a clinician rejects: the verdict stays passed, nothing moves
    run_id = _gate_awaiting_approval(stack, conf)
    verdict = _xcom(stack, GATE, run_id, "evaluate_and_gate")
    assert verdict["verdict"] == "passed" and verdict["champion_version"] == champion, verdict
    detail = stack.api("GET", f"/dags/{GATE}/dagRuns/{run_id}/taskInstances/await_approval/-1/hitlDetails")
    assert f"version {better} to champion" in detail["subject"] and "bootstrap_non_inferiority" in detail["body"]
    run = _answer(stack, run_id, "Reject")
    assert run["state"] == "success" and _states(stack, GATE, run_id)["promote"] == "skipped"
    assert _champion(registry) == champion

    # while the next approval waits, the champion is changed by hand: model_promotion refuses a rejected
    # version, then force-promotes it with a reason
    run_id = _gate_awaiting_approval(stack, conf)
    run, log = _promotion(stack, {"action": "promote", "version": rejected})
    assert run["state"] == "failed" and "gate_verdict is 'rejected'" in log
    assert _champion(registry) == champion
    run, log = _promotion(stack, {"action": "promote", "version": rejected, "force_reason": "e2e: hand override"})
    assert run["state"] == "success", log
    forced = registry.get_version(rejected)
    assert forced.tags["promotion_forced"] == "true" and forced.tags["promotion_reason"] == "e2e: hand override"
    assert _champion(registry) == rejected
    # ... so the approval that follows is compare-and-set: it moves nothing and says why
    run = _answer(stack, run_id, "Approve")
    assert run["state"] == "failed" and _states(stack, GATE, run_id)["promote"] == "failed"
    assert f"compared it with version {champion}, but the champion is now version {rejected}" in stack.task_log(
        GATE, run_id, "promote"
    )
    assert _champion(registry) == rejected

    # rollback from the form restores the champion the gate compared with
    run, log = _promotion(stack, {"action": "rollback"})
    assert run["state"] == "success", log
    assert _champion(registry) == champion

    # now an approval promotes (the finished gate evaluation is reused, not re-scored)
    run_id = _gate_awaiting_approval(stack, conf)
    assert _xcom(stack, GATE, run_id, "evaluate_and_gate")["run_id"] == verdict["run_id"]
    run = _answer(stack, run_id, "Approve")
    assert run["state"] == "success" and _states(stack, GATE, run_id)["promote"] == "success"
    assert _champion(registry) == better
    assert registry.get_version_by_alias("previous_champion").version == champion
    assert registry.get_version(better).tags["promoted_by"] == "airflow"

    # and a rollback restores the previous champion
    run, log = _promotion(stack, {"action": "rollback"})
    assert run["state"] == "success", log
    assert _champion(registry) == champion
    assert registry.get_version(better).tags["rolled_back_by"] == "airflow"
