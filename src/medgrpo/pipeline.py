"""Task bodies of the Airflow DAGs, as plain functions (no Airflow import).

The DAG files only wire these together; keeping the work here lets it be unit-tested without a
scheduler and keeps DAG parsing cheap. Every function takes and returns small JSON-able values
(URIs, versions, counts), never data.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from medgrpo import storage
from medgrpo.assets import DATASET_ASSET_NAME
from medgrpo.launch.spec import safe_name
from medgrpo.settings import get_settings

log = logging.getLogger(__name__)


DEFAULT_DATASET_NAME = "medgrpo-default"
DATA_SUFFIXES = frozenset({".jsonl", ".json", ".parquet", ".csv"})


def default_sources() -> list[str]:
    """The embedded sample data shipped in the package (what ``make demo`` ingests)."""
    root = resources.files("medgrpo") / "resources" / "samples"
    paths = sorted(str(p) for p in Path(str(root)).glob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no embedded sample data under {root}")
    return paths


def default_dataset_uri(name: str) -> str:
    """Where a dataset called ``name`` is published when the user gives no output location.

    ``MEDGRPO_DATA_ROOT``, else ``<work root>/datasets`` (``MEDGRPO_WORK_URI``; default the state dir).
    """
    return storage.join(get_settings().data_root, name)


def default_runs_root() -> str:
    """Where each training run gets its own folder: ``MEDGRPO_RUNS_ROOT``, else ``<work root>/runs``."""
    return get_settings().runs_root


def require_shared_storage(executor: str) -> None:
    """Fail fast (first task of a DAG run) when Airflow's ``executor`` runs tasks on other machines but a
    location tasks hand to each other is local (see :mod:`medgrpo.executors`)."""
    from medgrpo.executors import require_shared_storage as check

    check(executor)


def default_recipe() -> str:
    """The recipe used when none is given: ``MEDGRPO_DEFAULT_RECIPE`` or the repo's tiny CPU recipe."""
    explicit = os.environ.get("MEDGRPO_DEFAULT_RECIPE")
    if explicit:
        return explicit
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError("no recipe given and no default found: set MEDGRPO_DEFAULT_RECIPE or pass the recipe param")


def _checkpoint_store(dag_id: str, run_id: str) -> str:
    """``<checkpoint root>/<run>``: ``MEDGRPO_CHECKPOINT_ROOT``, else ``<work root>/checkpoints`` (the same
    for every try, so a retry on another worker resumes from the newest checkpoint)."""
    return storage.join(get_settings().checkpoint_root, run_slug(dag_id, run_id))


def run_slug(dag_id: str, run_id: str) -> str:
    """A filesystem/Kubernetes-safe, stable folder name for one DAG run."""
    return safe_name(f"{dag_id}-{run_id}", max_len=100)


# ---- medical_ingest -------------------------------------------------------------------------
def ingest_staging_dir(dag_id: str, run_id: str) -> str:
    """The staging folder of one ingest DAG run, ``<work root>/staging/<run>`` (raw rows until publication;
    see :func:`ingest_cleanup`). Under an s3:// work root the mapped tasks on other workers read it there."""
    return storage.join(get_settings().work_uri, "staging", run_slug(dag_id, run_id))


def ingest_prepare(
    params: Mapping[str, Any], dag_id: str, run_id: str, *, max_shards: int | None = None
) -> dict[str, Any]:
    """Load and validate the sources into canonical shards in the run's staging folder.

    ``max_shards`` is Airflow's ``[core] max_map_length`` (one de-identification task per shard):
    the shard size grows so that the shard count stays within it. A retry starts from scratch.
    """
    from medgrpo.data.ingest import DEFAULT_MAX_SHARDS, prepare

    sources = [s for s in (params.get("sources") or []) if str(s).strip()] or default_sources()
    staging = ingest_staging_dir(dag_id, run_id)
    cop_base = params.get("medmcqa_cop_base")
    result = prepare(
        sources,
        staging,
        fmt=str(params.get("format") or "auto"),
        shard_size=int(params.get("shard_size") or 5000),
        medmcqa_cop_base=None if cop_base is None else int(cop_base),
        max_shards=max_shards or DEFAULT_MAX_SHARDS,
    )
    result["staging"] = staging
    log.info("prepared %d shard(s) from %d source(s)", len(result["shards"]), len(sources))
    return result


def ingest_deidentify_shard(shard_uri: str, policy: str | None) -> dict[str, Any]:
    """De-identify one shard next to it; return its output URI and audit (counts only, no PHI).

    Safe to retry: the output is written atomically from the staged shard, which stays until the
    dataset is published.
    """
    from medgrpo.data.ingest import deidentify_shard

    if not storage.exists(shard_uri):
        raise FileNotFoundError(
            f"{shard_uri}: expected a staged shard, found none (the run's staging was cleaned up: "
            "clear the whole DAG run, from prepare, to ingest again)"
        )
    out_uri = re.sub(r"\.jsonl$", "", shard_uri) + ".deid.jsonl"
    audit = deidentify_shard(shard_uri, out_uri, policy=policy or None)
    return {"uri": out_uri, "audit": audit}


def ingest_cleanup(dag_id: str, run_id: str) -> str:
    """Remove the run's staged rows once the run cannot retry (the DAG's teardown; idempotent)."""
    from medgrpo.data.ingest import cleanup_staging

    done = cleanup_staging(ingest_staging_dir(dag_id, run_id))
    log.info("ingest staging of %s/%s: %s", dag_id, run_id, done)
    return done


def validate_training_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The grpo_training form's ``overrides`` checked against the recipe fields (first task, no TRL needed).

    Unknown fields, wrong kinds, values out of bounds and remote code (unless
    ``MEDGRPO_ALLOW_REMOTE_CODE=true``) raise ``ValueError`` with one line naming the field.
    """
    from medgrpo.train.recipe_checks import validate_overrides

    return validate_overrides(params.get("overrides"))


def ingest_finalize(
    params: Mapping[str, Any], prepared: Mapping[str, Any], deidentified: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Deduplicate, split, write the manifest and publish the dataset directory atomically."""
    from medgrpo.data.ingest import finalize

    name = str(params.get("dataset_name") or DEFAULT_DATASET_NAME)
    out_dir = str(params.get("output_uri") or "") or default_dataset_uri(name)
    do_deid = bool(params.get("deidentify", True))
    shard_uris = [d["uri"] for d in deidentified] if do_deid else list(prepared["shards"])
    result = finalize(
        shard_uris,
        prepared["staging"],
        out_dir,
        name=name,
        eval_fraction=float(params.get("eval_fraction") or 0.1),
        audits=[d["audit"] for d in deidentified] if do_deid else None,
        policy=str(params.get("policy") or "") or None,
        deid=do_deid,
    )
    manifest = result.manifest
    return {
        "uri": result.out_dir,
        "name": manifest.get("name", name),
        "sha256": manifest.get("sha256") or manifest.get("content_sha256"),
        "counts": result.counts,
    }


# ---- grpo_training --------------------------------------------------------------------------
def resolve_training_inputs(
    params: Mapping[str, Any], dataset_events: Sequence[Mapping[str, Any]], latest_event: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Pick the dataset to train on: the form's value, else the triggering event, else the latest one."""
    dataset_uri = str(params.get("dataset_uri") or "").strip()
    origin = "params"
    if not dataset_uri and dataset_events:
        dataset_uri, origin = str(dataset_events[-1].get("uri") or ""), "triggering asset event"
    if not dataset_uri and latest_event:
        dataset_uri, origin = str(latest_event.get("uri") or ""), "latest asset event"
    if not dataset_uri:
        raise ValueError(
            "no dataset to train on: the dataset_uri param is empty and no de-identified dataset has been "
            f"published yet (asset {DATASET_ASSET_NAME}); run medical_ingest first"
        )
    if not storage.exists(storage.join(dataset_uri, "manifest.json")):
        raise FileNotFoundError(f"dataset {dataset_uri} has no manifest.json (expected a published dataset dir)")
    log.info("training on %s (from %s)", dataset_uri, origin)
    return {"dataset_uri": dataset_uri, "origin": origin}


def training_job(
    params: Mapping[str, Any], inputs: Mapping[str, Any], *, dag_id: str, run_id: str, attempt: int = 1
) -> Any:
    """The :class:`~medgrpo.launch.spec.TrainingJob` of a DAG run, from the form and the resolved inputs.

    The output prefix depends only on the DAG run, so a retried task resumes from the newest
    checkpoint of the failed try and registration finds the same version (idempotent).
    """
    from medgrpo.launch import TrainingJob

    settings = get_settings()
    overrides = {str(k): str(v) for k, v in dict(params.get("overrides") or {}).items()}
    if int(params.get("max_steps") or 0) > 0:
        overrides["max_steps"] = str(int(params["max_steps"]))
    return TrainingJob(
        recipe=str(params.get("recipe") or "") or default_recipe(),
        dataset_uri=str(inputs["dataset_uri"]),
        output_uri=storage.join(default_runs_root(), run_slug(dag_id, run_id)),
        run_name=run_slug(dag_id, run_id)[:60],
        model=str(params.get("base_model") or "") or os.environ.get("MEDGRPO_DEFAULT_BASE_MODEL") or None,
        tags={"airflow_dag_run": f"{dag_id}/{run_id}", "image": settings.image},
        overrides=overrides,
        image=settings.image,
        checkpoint_store=_checkpoint_store(dag_id, run_id),
        attempt=attempt,
    )


def plan_cluster_training(
    params: Mapping[str, Any], inputs: Mapping[str, Any], *, dag_id: str, run_id: str
) -> dict[str, Any]:
    """The checked job a cluster backend (``kubernetes``/``kubeflow``) runs, as JSON-able fields.

    Builds its manifests once so every problem (local paths where a pod needs s3://, a recipe
    not shipped in the image, a bad ``MEDGRPO_K8S_*`` value) fails here, with its reason, before
    anything is submitted.
    """
    import dataclasses

    from medgrpo.launch.k8s_settings import K8sSettings
    from medgrpo.launch.manifests import build_manifests, with_cluster_defaults

    backend = str(params.get("backend") or "local")
    k8s = K8sSettings.from_env()
    job = with_cluster_defaults(training_job(params, inputs, dag_id=dag_id, run_id=run_id))
    job = dataclasses.replace(job, image=k8s.image_ref, tags={**job.tags, "image": k8s.image_ref})
    build_manifests(job, k8s, backend)
    return dataclasses.asdict(job)


def run_training(
    params: Mapping[str, Any],
    inputs: Mapping[str, Any],
    *,
    dag_id: str,
    run_id: str,
    on_line: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Launch ``medgrpo train`` through the chosen backend (``params["backend"]``) and return its result."""
    from medgrpo.launch import get_launcher

    job = training_job(params, inputs, dag_id=dag_id, run_id=run_id)
    result = get_launcher(str(params.get("backend") or "local")).run(job, on_line=on_line)
    return {**result.as_dict(), "dataset_uri": job.dataset_uri, "output_uri": job.output_uri}


# ---- links shown in the Airflow UI ----------------------------------------------------------
MLFLOW_RUN_KEY = "medgrpo_mlflow_run_url"
MODEL_VERSION_KEY = "medgrpo_model_version_url"


def mlflow_ui_base() -> str | None:
    """The MLflow UI address: ``MEDGRPO_MLFLOW_UI_URL``, else an http(s) tracking URI, else None."""
    explicit = os.environ.get("MEDGRPO_MLFLOW_UI_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    tracking = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return tracking.rstrip("/") if tracking.startswith(("http://", "https://")) else None


def mlflow_links(
    *, run_id: str | None = None, model_name: str | None = None, version: str | None = None
) -> dict[str, str]:
    """XCom key → URL for the plugin's extra links (only the ones that can be built)."""
    base = mlflow_ui_base()
    links: dict[str, str] = {}
    if not base:
        return links
    if run_id:
        from mlflow.tracking import MlflowClient

        experiment_id = MlflowClient().get_run(run_id).info.experiment_id
        links[MLFLOW_RUN_KEY] = f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
    if model_name and version:
        links[MODEL_VERSION_KEY] = f"{base}/#/models/{model_name}/versions/{version}"
    return links


# ---- gated_evaluation / model_promotion ------------------------------------------------------
def resolve_candidate(params: Mapping[str, Any], model_events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Which version to gate and on which data: the form, else the triggering event, else ``challenger``.

    The eval items come from the dataset the candidate was trained on (its ``dataset_uri``
    version tag) unless the form names another dataset.
    """
    from medgrpo import registry

    latest = dict(model_events[-1]) if model_events else {}
    candidate = str(params.get("candidate") or "").strip() or str(latest.get("version") or "") or registry.CHALLENGER
    version = registry.resolve(candidate)
    dataset_uri = (
        str(params.get("dataset_uri") or "").strip()
        or str(latest.get("dataset_uri") or "")
        or version.tags.get("dataset_uri", "")
    )
    if not dataset_uri:
        raise ValueError(
            f"no dataset to evaluate {version.name} version {version.version} on: the dataset_uri param is empty, "
            "the triggering event names none and the version has no dataset_uri tag"
        )
    return {"model_name": version.name, "version": version.version, "dataset_uri": dataset_uri}


def gate_candidate(params: Mapping[str, Any], candidate: Mapping[str, Any], *, dag_run: str) -> dict[str, Any]:
    """Evaluate candidate and champion on the same eval items, apply the gates, tag the verdict."""
    from medgrpo.evaluate.gates import GateThresholds
    from medgrpo.evaluate.runner import run_gate

    thresholds = GateThresholds(
        min_accuracy=float(params.get("min_accuracy") or 0.0),
        min_format_rate=float(params.get("min_format_rate") or 0.0),
        margin=float(params["margin"]) if params.get("margin") is not None else GateThresholds.margin,
        alpha=float(params.get("alpha") or 0.05),
    )
    result = run_gate(
        str(candidate["version"]),
        str(candidate["dataset_uri"]),
        thresholds=thresholds,
        model_name=str(candidate["model_name"]),
        limit=int(params.get("limit") or 0) or None,
        tags={"airflow_dag_run": dag_run},
    )
    figures = {
        role: {
            k: (v.get("value") if isinstance(v, Mapping) else v)
            for k, v in side.items()
            if k in ("n", "accuracy", "format_rate")
        }
        for role, side in result.metrics.items()
        if role in ("candidate", "champion")
    }
    return {
        "verdict": result.verdict,
        "model_name": result.model_name,
        "version": result.candidate_version,
        "champion_version": result.champion_version,
        "metrics": figures,
        "gates_summary": [_gate_line(g) for g in result.gates],
        "report_uri": result.report_uri,
        "run_id": result.run_id,
        "links": mlflow_links(run_id=result.run_id, model_name=result.model_name, version=result.candidate_version),
    }


def _gate_line(gate: Mapping[str, Any]) -> str:
    status = "pass" if gate.get("passed") else "FAIL"
    value = float(gate.get("value", float("nan")))
    line = f"[{status}] {gate.get('name')}: {value:.4f} {gate.get('comparison')} {gate.get('threshold')}"
    return f"{line} ({gate['detail']})" if gate.get("detail") else line


def promote_version(version: str) -> dict[str, Any]:
    """Move alias ``champion`` to ``version`` (the old champion becomes ``previous_champion``)."""
    from medgrpo import registry

    return registry.promote(version, actor=os.environ.get("MEDGRPO_ACTOR") or "airflow")


def rollback_champion() -> dict[str, Any]:
    """Make ``previous_champion`` the champion again."""
    from medgrpo import registry

    return registry.rollback(actor=os.environ.get("MEDGRPO_ACTOR") or "airflow")
