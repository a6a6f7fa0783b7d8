"""Promotion from the MLflow UI goes through the gate (issue #9 item 7), end to end on real servers.

MLflow (PostgreSQL) calls the webhook endpoint the medgrpo plugin mounts in the Airflow API server;
with the webhook removed, the deferrable ``registry_watch`` DAG notices the same changes by polling.
Either way ``registry_alias_review`` ignores the platform's own moves, sends a ``challenger`` set by
hand to ``gated_evaluation`` and flags and reverts a ``champion`` set by hand without a passed gate.
One change is made through the MLflow UI itself in the browser; the others through MLflow's REST API
(the handler the UI calls). Evaluations started here are stopped once they have resolved their
candidate (the gate itself is tested in tests/integration/test_gate_flow.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ui_harness import stop_dag, task_states, wait_until, xcom_value

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REVIEW = "registry_alias_review"
GATE = "gated_evaluation"
WATCH = "registry_watch"


# ---------------------------------------------------------------- helpers


def _client(stack: Any) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(stack.mlflow.url, registry_uri=stack.mlflow.url)


def _model_dir(tmp: Path) -> Path:
    """A Hugging Face-shaped folder (config.json) is all the registry checks; no weights are loaded here."""
    folder = tmp / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "qwen2"}\n')
    return folder


def _run_with_model(stack: Any, model_dir: Path) -> str:
    client = _client(stack)
    experiment = client.get_experiment_by_name("medgrpo/train")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("medgrpo/train")
    run = client.create_run(experiment_id)
    client.log_artifacts(run.info.run_id, str(model_dir), "model")
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def _trained_version(stack: Any, model_dir: Path, **tags: str) -> str:
    """Registered as a training run does (lineage tags, alias challenger): the platform's own move."""
    from medgrpo import registry

    lineage = {"dataset_sha256": "d" * 64, "git_sha": "test", "recipe": "tiny", **tags}
    return registry.register_model_version(_run_with_model(stack, model_dir), tags=lineage).version


def _notebook_version(stack: Any, model_dir: Path, **tags: str) -> str:
    """Registered by a person (no lineage, no alias), e.g. from a notebook or the MLflow UI."""
    run_id = _run_with_model(stack, model_dir)
    client = _client(stack)
    source = f"{client.get_run(run_id).info.artifact_uri}/model"
    return str(client.create_model_version(stack.model_name, source, run_id=run_id, tags=tags or None).version)


def _reviews(stack: Any) -> list[dict[str, Any]]:
    return stack.airflow.runs(REVIEW)


def _wait_for_decision(
    stack: Any, known: set[str], alias: str, version: str, *, since: datetime | None = None, timeout: float = 240
) -> tuple[dict, dict]:
    """The first new review run that decided on ``alias`` -> ``version`` (a change seen ``since``): (run, decision)."""
    airflow = stack.airflow
    floor = (since or datetime(2000, 1, 1, tzinfo=UTC)).replace(microsecond=0)

    def find() -> tuple[dict, dict] | None:
        for run in _reviews(stack):
            if run["dag_run_id"] in known or run["state"] not in ("success", "failed"):
                continue
            if task_states(airflow, REVIEW, run["dag_run_id"]).get("review") != "success":
                log = airflow.task_log(REVIEW, run["dag_run_id"], "review")
                raise AssertionError(f"{REVIEW} {run['dag_run_id']}: the review task failed:\n{log[-2000:]}")
            for decision in xcom_value(airflow, REVIEW, run["dag_run_id"], "review") or []:
                change = decision["change"]
                seen = datetime.fromisoformat(change["detected_at"])
                if change["alias"] == alias and change["version"] == version and seen >= floor:
                    return run, decision
        return None

    return wait_until(find, timeout=timeout, what=f"a review of {alias} -> v{version}", interval=2.0)


def _gate_run_for(stack: Any, known: set[str], version: str, timeout: float = 240) -> dict:
    """A new gated_evaluation run whose candidate resolved to ``version``."""
    airflow = stack.airflow

    def find() -> dict | None:
        for run in airflow.runs(GATE):
            if run["dag_run_id"] in known:
                continue
            states = task_states(airflow, GATE, run["dag_run_id"])
            if states.get("resolve_candidate") == "success":
                resolved = xcom_value(airflow, GATE, run["dag_run_id"], "resolve_candidate")
                if resolved["version"] == version:
                    return run
            if states.get("resolve_candidate") == "failed":
                raise AssertionError(
                    f"{GATE} {run['dag_run_id']} failed to resolve its candidate: "
                    + airflow.task_log(GATE, run["dag_run_id"], "resolve_candidate")[-1500:]
                )
        return None

    return wait_until(find, timeout=timeout, what=f"a {GATE} run for v{version}", interval=2.0)


def _wait_alias(alias: str, version: str | None, timeout: float = 120) -> None:
    from medgrpo import registry

    def now() -> bool:
        mv = registry.get_version_by_alias(alias)
        return (mv.version if mv else None) == version

    wait_until(now, timeout=timeout, what=f"{alias} to point at {version}", interval=1.0)


def _platform_champion(stack: Any, model_dir: Path) -> str:
    """Train-register a version, give it a passed gate and promote it as the platform does."""
    from medgrpo import registry

    current = registry.get_version_by_alias(registry.CHAMPION)
    version = _trained_version(stack, model_dir)
    gate = {"gate_verdict": "passed", "gate_champion_version": current.version if current else "none"}
    registry.set_version_tags(version, gate)
    registry.promote(version, actor="test-platform")
    return version


@pytest.fixture
def unpaused(ui_stack):  # type: ignore[no-untyped-def]
    """The review DAG and gated_evaluation run while a test needs them; paused (runs stopped) after."""
    airflow = ui_stack.airflow
    for dag_id in (REVIEW, GATE):
        airflow.unpause(dag_id)
    yield
    for dag_id in (REVIEW, GATE, WATCH):
        stop_dag(airflow, dag_id)


@pytest.fixture
def webhook(ui_stack, registry_env):  # type: ignore[no-untyped-def]
    """The MLflow webhook for alias changes, pointing at the plugin's endpoint; deleted after."""
    from mlflow.entities.webhook import WebhookEvent

    client = _client(ui_stack)
    hook = client.create_webhook(
        name=f"medgrpo-alias-{ui_stack.model_name}",
        url=ui_stack.webhook_url,
        events=[WebhookEvent("model_version_alias", "created")],
        secret=ui_stack.webhook_secret,
    )
    yield hook
    client.delete_webhook(hook.webhook_id)


# ---------------------------------------------------------------- webhook path


def test_endpoint_accepts_mlflows_signature_and_refuses_a_wrong_secret(ui_stack, webhook) -> None:  # type: ignore[no-untyped-def]
    from mlflow.entities.webhook import WebhookEvent

    client = _client(ui_stack)
    # MLflow's own test delivery (an example payload for another model): signed, verified, ignored
    good = client.test_webhook(webhook.webhook_id)
    assert good.success and good.response_status == 200, (good.response_status, good.response_body, good.error_message)
    assert '"ignored"' in str(good.response_body)
    impostor = client.create_webhook(
        name="impostor",
        url=ui_stack.webhook_url,
        events=[WebhookEvent("model_version_alias", "created")],
        secret="not-the-secret",
    )
    try:
        bad = client.test_webhook(impostor.webhook_id)
    finally:
        client.delete_webhook(impostor.webhook_id)
    assert not bad.success and bad.response_status == 401, (bad.response_status, bad.response_body)
    assert "signature does not match" in str(bad.response_body)


def test_webhook_challenger_by_hand_is_gated_and_platform_moves_are_ignored(  # type: ignore[no-untyped-def]
    ui_stack, registry_env, webhook, unpaused, tmp_path: Path
) -> None:
    from medgrpo import registry

    model_dir = _model_dir(tmp_path)
    known_reviews = {r["dag_run_id"] for r in _reviews(ui_stack)}
    known_gates = {r["dag_run_id"] for r in ui_stack.airflow.runs(GATE)}

    # the platform registers a trained version (challenger): recognised, ignored
    trained = _trained_version(ui_stack, model_dir)
    run, decision = _wait_for_decision(ui_stack, known_reviews, "challenger", trained)
    assert decision["action"] == "ignore" and "registered by a training run" in decision["reason"], decision
    assert decision["change"]["source"] == "webhook"
    known_reviews.add(run["dag_run_id"])

    # a person registers a version with its dataset and sets challenger by hand: gated
    dataset = str(ui_stack.state_dir / "datasets" / "hand-picked")
    by_hand = _notebook_version(ui_stack, model_dir, dataset_uri=dataset)
    registry.client().set_registered_model_alias(ui_stack.model_name, "challenger", by_hand)
    run, decision = _wait_for_decision(ui_stack, known_reviews, "challenger", by_hand)
    assert decision["action"] == "gate", decision
    assert run["state"] == "success", task_states(ui_stack.airflow, REVIEW, run["dag_run_id"])
    request = xcom_value(ui_stack.airflow, REVIEW, run["dag_run_id"], "request_gate", map_index=0)
    assert request["version"] == by_hand and request["model_name"] == ui_stack.model_name
    gate_run = _gate_run_for(ui_stack, known_gates, by_hand)
    events = ui_stack.airflow.api("GET", f"/dags/{GATE}/dagRuns/{gate_run['dag_run_id']}/upstreamAssetEvents")[
        "asset_events"
    ]
    assert any(e["extra"].get("version") == by_hand and e["source_dag_id"] == REVIEW for e in events), events
    assert registry.get_version(by_hand).tags.get("gate_requested_at")


def test_webhook_champion_by_hand_without_gate_is_flagged_and_reverted(  # type: ignore[no-untyped-def]
    ui_stack, registry_env, webhook, unpaused, tmp_path: Path, mlflow_ui
) -> None:
    from medgrpo import registry

    model_dir = _model_dir(tmp_path)
    known = {r["dag_run_id"] for r in _reviews(ui_stack)}
    gated = _platform_champion(ui_stack, model_dir)
    run, decision = _wait_for_decision(ui_stack, known, "champion", gated)
    assert decision["action"] == "ignore" and "promoted_at" in decision["reason"], decision
    known.add(run["dag_run_id"])

    rejected = _notebook_version(ui_stack, model_dir, gate_verdict="rejected", gate_champion_version=gated)
    started, set_at = time.monotonic(), datetime.now(UTC)
    mlflow_ui.set_alias(ui_stack.model_name, rejected, "champion")  # a person, in the MLflow UI
    run, decision = _wait_for_decision(ui_stack, known, "champion", rejected)
    assert decision["action"] == "flag" and "gate_verdict is 'rejected'" in decision["reason"], decision
    assert decision["reverted"] and decision["restore_to"] == gated, decision
    # flagged in an Airflow run: the run fails on purpose, naming the version and the revert
    assert run["state"] == "failed"
    states = task_states(ui_stack.airflow, REVIEW, run["dag_run_id"])
    assert states["review"] == "success" and states["flag_ungated_champions"] == "failed", states
    flag_log = ui_stack.airflow.task_log(REVIEW, run["dag_run_id"], "flag_ungated_champions")
    assert f"champion set by hand on v{rejected} without a passed gate" in flag_log
    assert f"reverted to v{gated}" in flag_log
    # flagged on the version, and champion is back on the gated version
    _wait_alias("champion", gated)
    tags = registry.get_version(rejected).tags
    assert "without a passed gate" in tags["ungated_champion_flag"] and tags["ungated_champion_reverted_to"] == gated
    print(f"manual champion v{rejected} flagged and reverted to v{gated} in {time.monotonic() - started:.0f} s")
    # the revert itself is an alias move: recognised as the platform's own
    known.add(run["dag_run_id"])
    _, decision = _wait_for_decision(ui_stack, known, "champion", gated, since=set_at)
    assert decision["action"] == "ignore" and "restored_at" in decision["reason"], decision


# ---------------------------------------------------------------- watcher path (no webhook)


def test_watcher_without_webhook_reviews_the_same_changes(  # type: ignore[no-untyped-def]
    ui_stack, registry_env, unpaused, tmp_path: Path
) -> None:
    from medgrpo import registry

    airflow = ui_stack.airflow
    assert _client(ui_stack).list_webhooks() == [] or all(
        w.url != ui_stack.webhook_url for w in _client(ui_stack).list_webhooks()
    ), "a webhook is still registered: this test must see the watcher's events only"
    model_dir = _model_dir(tmp_path)
    gated = _platform_champion(ui_stack, model_dir)
    known = {r["dag_run_id"] for r in _reviews(ui_stack)}
    known_gates = {r["dag_run_id"] for r in airflow.runs(GATE)}

    airflow.unpause(WATCH)
    # the watch task defers (polling in the triggerer) once it has its baseline
    wait_until(
        lambda: any(
            task_states(airflow, WATCH, r["dag_run_id"]).get("watch_aliases") == "deferred" for r in airflow.runs(WATCH)
        ),
        timeout=180,
        what="the registry_watch task to defer",
        interval=2.0,
    )
    by_hand = _notebook_version(ui_stack, model_dir, dataset_uri=str(ui_stack.state_dir / "datasets" / "w"))
    ungated = _notebook_version(ui_stack, model_dir)
    client = registry.client()
    client.set_registered_model_alias(ui_stack.model_name, "challenger", by_hand)
    client.set_registered_model_alias(ui_stack.model_name, "champion", ungated)

    _, gate_decision = _wait_for_decision(ui_stack, known, "challenger", by_hand)
    _, flag_decision = _wait_for_decision(ui_stack, known, "champion", ungated)
    assert gate_decision["action"] == "gate" and gate_decision["change"]["source"] == "watcher", gate_decision
    assert flag_decision["action"] == "flag" and flag_decision["change"]["source"] == "watcher", flag_decision
    assert flag_decision["change"]["previous_version"] == gated
    _wait_alias("champion", gated)
    _gate_run_for(ui_stack, known_gates, by_hand)
    assert "gate_verdict is 'missing'" in registry.get_version(ungated).tags["ungated_champion_flag"]
