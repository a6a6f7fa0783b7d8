"""grpo_training: launch the training container (local / Kubernetes / Kubeflow) and register the model.

Runs when a new de-identified dataset is published (Asset) or weekly (cron), or from the form.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, get_current_context, task

from medgrpo_airflow.assets import CHALLENGER_MODEL, DEIDENTIFIED_DATASET
from medgrpo_airflow.operators import TrainingPodOperator, TrainJobOperator
from medgrpo_airflow.params import backend_param, optional
from medgrpo_airflow.placement import cluster_task, gpu_task

DOC = """
### Train with GRPO and register a challenger

Launches `medgrpo train --recipe …` (the training image's entrypoint) on the chosen **backend**, streams
its log into this task's log, and registers the final model in MLflow as a new version of
`medgrpo-qwen2.5` with alias `challenger` and lineage tags (dataset sha256, recipe, base model, git sha,
image, this DAG run). A retry resumes from the newest checkpoint and finds the same model version.
Registration emits the `medgrpo_challenger_model` Asset, which triggers `gated_evaluation`.

Backends: `local` (task `train`, a subprocess), `kubernetes` (task `train_on_kubernetes`, one GPU pod
through the KubernetesPodOperator, deferrable) and `kubeflow` (task `train_on_kubeflow`, a multi-node
Kubeflow TrainJob/PyTorchJob, deferrable); cluster runs need `s3://` data, output and checkpoint
locations (docs/kubernetes.md). `choose_backend` checks the cluster job before anything is submitted.

Placement: `train` (local backend: the model runs in the Airflow worker) goes to the Celery queue
`MEDGRPO_GPU_QUEUE` and pool `MEDGRPO_GPU_POOL`, so only workers with accelerators take it; the cluster
tasks hold no GPU and stay on the default queue in pool `MEDGRPO_CLUSTER_POOL` (bounds concurrent jobs).
Data, runs and checkpoints live under the work root (`MEDGRPO_WORK_URI`); with a remote executor it must be
`s3://` and `resolve_inputs` refuses to start otherwise.
"""

#: Backend (the form's enum, from medgrpo.launch.BACKENDS) -> the task that trains with it.
TRAIN_TASKS = {"local": "train", "kubernetes": "train_on_kubernetes", "kubeflow": "train_on_kubeflow"}
#: Airflow pool bounding concurrent cluster jobs (MEDGRPO_CLUSTER_POOL; unset: the default pool).
CLUSTER_POOL = cluster_task().get("pool")


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
        from medgrpo_airflow.placement import require_shared_storage

        require_shared_storage()
        ctx = get_current_context()
        triggering = ctx.get("triggering_asset_events") or {}
        events = [dict(e.extra or {}) for e in triggering.get(DEIDENTIFIED_DATASET, [])] if triggering else []
        try:  # a bad overrides object fails here, once (no retry), in one line naming the field
            from medgrpo.pipeline import validate_training_params

            validate_training_params(ctx["params"])
        except ValueError as err:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(err)) from None
        history = ctx["inlet_events"][DEIDENTIFIED_DATASET]
        latest = dict(history[-1].extra or {}) if len(history) else None
        scheduled = ctx["dag_run"].run_type == "scheduled"
        inputs = resolve_training_inputs(ctx["params"], events, latest, scheduled=scheduled)
        if inputs.get("skip"):  # a cron run with no new data since the champion's dataset: say so, train nothing
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(inputs["reason"])
        return inputs

    @task.branch
    def choose_backend(inputs: dict) -> str:
        """The training task of the form's backend; a cluster job is planned and checked here first."""
        from medgrpo.launch import CLUSTER_BACKENDS
        from medgrpo.pipeline import plan_cluster_training

        ctx = get_current_context()
        backend = str(ctx["params"].get("backend") or "local")
        if backend not in TRAIN_TASKS:
            raise ValueError(f"backend {backend!r} has no training task in grpo_training; known: {sorted(TRAIN_TASKS)}")
        if backend in CLUSTER_BACKENDS:
            try:
                job = plan_cluster_training(ctx["params"], inputs, dag_id=ctx["dag"].dag_id, run_id=ctx["run_id"])
            except ValueError as err:  # settings, locations, recipe: a retry would fail the same way
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(f"cannot train on {backend}: {err}") from None
            ctx["ti"].xcom_push(key="job", value=job)
        return TRAIN_TASKS[backend]

    @task(outlets=[CHALLENGER_MODEL], execution_timeout=timedelta(hours=24), **gpu_task())
    def train(inputs: dict) -> dict:
        import logging

        from medgrpo.pipeline import run_training

        ctx = get_current_context()
        log = logging.getLogger("medgrpo.train.container")
        result = run_training(ctx["params"], inputs, dag_id=ctx["dag"].dag_id, run_id=ctx["run_id"], on_line=log.info)
        _announce(ctx, result)
        return result

    @task(outlets=[CHALLENGER_MODEL], trigger_rule="none_failed_min_one_success")
    def publish_cluster_model() -> dict:
        """Emit the challenger Asset event and MLflow links for the cluster try that succeeded."""
        ctx = get_current_context()
        found = [r for r in ctx["ti"].xcom_pull(task_ids=[TRAIN_TASKS["kubernetes"], TRAIN_TASKS["kubeflow"]]) if r]
        if not found:
            raise ValueError("no cluster training result in XCom (train_on_kubernetes / train_on_kubeflow)")
        _announce(ctx, found[0])
        return dict(found[0])

    inputs = resolve_inputs()
    choice = choose_backend(inputs)
    local = train(inputs)
    on_kubernetes = TrainingPodOperator(
        task_id=TRAIN_TASKS["kubernetes"], job=choice["job"], execution_timeout=timedelta(hours=48), pool=CLUSTER_POOL
    )
    on_kubeflow = TrainJobOperator(
        task_id=TRAIN_TASKS["kubeflow"], job=choice["job"], execution_timeout=timedelta(hours=72), pool=CLUSTER_POOL
    )
    choice >> [local, on_kubernetes, on_kubeflow]
    [on_kubernetes, on_kubeflow] >> publish_cluster_model()


def _announce(ctx: dict, result: dict) -> None:
    """The registered version as the challenger Asset event, and MLflow links on this task."""
    from medgrpo.pipeline import mlflow_links

    ctx["outlet_events"][CHALLENGER_MODEL].extra = {
        "model_name": result["model_name"],
        "version": result["model_version"],
        "dataset_uri": result["dataset_uri"],
        "run_id": result["run_id"],
    }
    links = mlflow_links(run_id=result["run_id"], model_name=result["model_name"], version=result["model_version"])
    for key, url in links.items():
        ctx["ti"].xcom_push(key=key, value=url)


grpo_training()
