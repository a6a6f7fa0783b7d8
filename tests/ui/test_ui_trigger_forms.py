"""Every DAG's trigger form, in a real browser, submits and starts a run (issue #12; issue #9 item 6).

Headless Chromium logs into the Airflow 3 UI as admin, opens each DAG's "Trigger Dag" form, fills
only what is truly required, presses Trigger, and the test sees through the REST API that a run
with exactly that conf exists, was triggered from the UI and started. ``model_promotion`` is run to
the end: the version named in the form becomes ``champion`` in the MLflow registry.
Runs that would go on to work (ingest, training, evaluation) are stopped once started.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ui_harness import stop_dag, task_states, wait_started

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# the forms that must submit with every default (their optional fields empty)
DEFAULT_FORMS = ("medical_ingest", "grpo_training", "gated_evaluation")


def _form_defaults(stack: Any, dag_id: str) -> dict[str, Any]:
    """The conf a form submits untouched: each param's default, as the DAG serialised it."""
    details = stack.api("GET", f"/dags/{dag_id}/details")
    return {name: param.get("value") for name, param in details["params"].items()}


@pytest.mark.parametrize("dag_id", DEFAULT_FORMS)
def test_trigger_form_submits_with_its_defaults(ui_stack, airflow_ui, dag_id: str) -> None:  # type: ignore[no-untyped-def]
    stack = ui_stack.airflow
    try:
        form = airflow_ui.open_trigger_form(dag_id)
        assert form.submittable(), (
            f"the {dag_id} form cannot be submitted with its defaults; shown: {form.error_text() or 'no message'}"
        )
        run_id = form.submit()
        run = wait_started(stack, dag_id, run_id)
        assert run["triggered_by"] == "ui", run
        assert run["conf"] == _form_defaults(stack, dag_id), json.dumps(run["conf"])
        # optional fields arrive as "not given", not as "" or []
        assert all(value not in ("", []) for value in run["conf"].values()), run["conf"]
    finally:
        stop_dag(stack, dag_id)


def _register_tiny_version(tracking_uri: str, model_dir: Path, model_name: str) -> str:
    """A version of the tiny model whose gate passed against the current champion (as the gate records)."""
    from mlflow import MlflowClient

    from medgrpo import registry

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("medgrpo/train")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("medgrpo/train")
    run = client.create_run(experiment_id, tags={"purpose": "ui trigger-form test"})
    client.log_artifacts(run.info.run_id, str(model_dir), "model")
    client.set_terminated(run.info.run_id)
    version = registry.register_model_version(run.info.run_id, tags={"recipe": "tiny"}, model_name=model_name)
    champion = registry.get_version_by_alias(registry.CHAMPION, model_name)
    registry.set_version_tags(
        version.version,
        {"gate_verdict": "passed", "gate_champion_version": champion.version if champion else "none"},
        model_name,
    )
    return version.version


def test_model_promotion_form_moves_champion(ui_stack, airflow_ui, registry_env, tiny_model: Path) -> None:  # type: ignore[no-untyped-def]
    from medgrpo import registry

    stack = ui_stack.airflow
    version = _register_tiny_version(ui_stack.mlflow.url, tiny_model, ui_stack.model_name)
    before = registry.get_version_by_alias(registry.CHAMPION)
    assert before is None or before.version != version
    try:
        form = airflow_ui.open_trigger_form("model_promotion")
        form.fill("Version (required to promote)", version)
        assert form.submittable(), f"Trigger is disabled; shown: {form.error_text() or 'no message'}"
        run_id = form.submit()
        run = stack.wait_for_run("model_promotion", run_id, timeout=240)
        assert run["conf"] == {**_form_defaults(stack, "model_promotion"), "version": version}, run["conf"]
        assert run["triggered_by"] == "ui"
        assert run["state"] == "success", (
            task_states(stack, "model_promotion", run_id),
            stack.task_log("model_promotion", run_id, "apply"),
        )
    finally:
        stop_dag(stack, "model_promotion")
    champion = registry.get_version_by_alias(registry.CHAMPION)
    assert champion is not None and champion.version == version
    assert champion.tags["promoted_by"] == "airflow"
    if before is not None:
        previous = registry.get_version_by_alias(registry.PREVIOUS_CHAMPION)
        assert previous is not None and previous.version == before.version
