"""grpo_training: launch the training container (local / Kubernetes / Kubeflow) and register the model.

Runs when a new de-identified dataset is published (Asset) or weekly (cron), or from the form.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, get_current_context, task

from medgrpo_airflow.assets import CHALLENGER_MODEL, DEIDENTIFIED_DATASET
from medgrpo_airflow.params import backend_param, optional

DOC = """
### Train with GRPO and register a challenger

Launches `medgrpo train --recipe …` (the training image's entrypoint) on the chosen **backend**, streams
its log into this task's log, and registers the final model in MLflow as a new version of
`medgrpo-qwen2.5` with alias `challenger` and lineage tags (dataset sha256, recipe, base model, git sha,
image, this DAG run). A retry resumes from the newest checkpoint and finds the same model version.
Registration emits the `medgrpo_challenger_model` Asset, which triggers `gated_evaluation`.
"""


@dag(
    dag_id="grpo_training",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * 1", timezone="UTC"), assets=DEIDENTIFIED_DATASET
    ),
    catchup=False,
    max_active_runs=1,
    tags=["medgrpo", "training", "gpu"],
    doc_md=DOC,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "dataset_uri": optional(
            "string",
            title="Dataset",
            description="Published dataset dir (local or s3://); empty = the triggering one, else the latest.",
        ),
        "recipe": optional(
            "string",
            title="Recipe",
            description="Recipe YAML (training_image/recipes/<model>/grpo/*.yaml); empty = the tiny CPU recipe.",
        ),
        "base_model": optional(
            "string",
            title="Base model",
            description="Local path, s3:// prefix, hf://org/name or models:/name@alias; empty = the recipe's model.",
        ),
        "backend": backend_param(),
        "max_steps": optional(
            "integer",
            minimum=1,
            title="Max steps",
            description="Override the recipe's max_steps; empty = keep the recipe's.",
        ),
        "overrides": optional(
            "object",
            title="Recipe overrides",
            description='Extra recipe fields to override, e.g. {"learning_rate": 1e-5}.',
        ),
    },
)
def grpo_training() -> None:
    @task(inlets=[DEIDENTIFIED_DATASET])
    def resolve_inputs() -> dict:
        from medgrpo.pipeline import resolve_training_inputs

        ctx = get_current_context()
        triggering = ctx.get("triggering_asset_events") or {}
        events = [dict(e.extra or {}) for e in triggering.get(DEIDENTIFIED_DATASET, [])] if triggering else []
        history = ctx["inlet_events"][DEIDENTIFIED_DATASET]
        latest = dict(history[-1].extra or {}) if len(history) else None
        return resolve_training_inputs(ctx["params"], events, latest)

    @task(outlets=[CHALLENGER_MODEL], execution_timeout=timedelta(hours=24))
    def train(inputs: dict) -> dict:
        import logging

        from medgrpo.pipeline import mlflow_links, run_training

        ctx = get_current_context()
        log = logging.getLogger("medgrpo.train.container")
        result = run_training(ctx["params"], inputs, dag_id=ctx["dag"].dag_id, run_id=ctx["run_id"], on_line=log.info)
        ctx["outlet_events"][CHALLENGER_MODEL].extra = {
            "model_name": result["model_name"],
            "version": result["model_version"],
            "dataset_uri": result["dataset_uri"],
            "run_id": result["run_id"],
        }
        links = mlflow_links(run_id=result["run_id"], model_name=result["model_name"], version=result["model_version"])
        for key, url in links.items():
            ctx["ti"].xcom_push(key=key, value=url)
        return result

    train(resolve_inputs())


grpo_training()
