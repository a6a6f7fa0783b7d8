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
    """Where a training run stores checkpoints: ``<MEDGRPO_CHECKPOINT_ROOT>/<run>`` when set, else the
    run's own ``<runs root>/<run>/checkpoints``. The same for every try, so a retry (on another worker,
    or in a new pod) resumes from the newest checkpoint."""
    root = get_settings().checkpoint_root
    slug = run_slug(dag_id, run_id)
    return storage.join(root, slug) if root else storage.join(default_runs_root(), slug, "checkpoints")


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
    ``MEDGRPO_ALLOW_REMOTE_CODE=true``) raise ``ValueError`` with one line naming the field, as
    does a ``recipe`` file that does not exist (local backend; a cluster backend's recipe is checked
    against the image by ``choose_backend``).
    """
    from medgrpo.train.recipe_checks import validate_overrides

    recipe = str(params.get("recipe") or "").strip()
    local = str(params.get("backend") or "local") == "local"
    if recipe and local and not storage.is_s3(recipe) and not Path(recipe).is_file():
        raise ValueError(f"recipe: expected a recipe YAML file, found nothing at {recipe}")
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
    params: Mapping[str, Any],
    dataset_events: Sequence[Mapping[str, Any]],
    latest_event: Mapping[str, Any] | None,
    *,
    scheduled: bool = False,
) -> dict[str, Any]:
    """Pick the dataset to train on: the form's value, else the triggering event, else the latest one.

    A ``scheduled`` (cron) run that falls back to the latest dataset trains only when that dataset
    differs from the one the champion was trained on (its ``dataset_sha256`` tag): otherwise the
    result has ``skip`` set and a ``reason`` saying so, and no training runs.
    """
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
    if scheduled and origin == "latest asset event":
        reason = _unchanged_since_champion(dataset_uri)
        if reason:
            log.info("skipping the scheduled training: %s", reason)
            return {"dataset_uri": dataset_uri, "origin": origin, "skip": True, "reason": reason}
    log.info("training on %s (from %s)", dataset_uri, origin)
    return {"dataset_uri": dataset_uri, "origin": origin}


def _unchanged_since_champion(dataset_uri: str) -> str | None:
    """Why training on ``dataset_uri`` would repeat the champion's run (same data), or None."""
    import json

    from medgrpo import registry

    manifest = json.loads(storage.read_text(storage.join(dataset_uri, "manifest.json")))
    sha = str(manifest.get("sha256") or manifest.get("content_sha256") or "")
    champion = registry.get_version_by_alias(registry.CHAMPION)
    if not sha or champion is None or champion.tags.get("dataset_sha256") != sha:
        return None
    return (
        f"no new data since the champion: the latest dataset {dataset_uri} (sha256 {sha[:12]}…) is the one "
        f"{champion.name} version {champion.version} was trained on"
    )


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
GATE_REPORT_KEY = "medgrpo_gate_report_url"


def resolve_candidate(params: Mapping[str, Any], model_events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Which versions to gate and on which data: the form, else every triggering event, else ``challenger``.

    Several challenger events collapse into one run when they arrive faster than runs start; each
    is gated, oldest first (``candidates``; ``timestamp`` orders them, event order otherwise).
    ``version``/``dataset_uri`` at the top name the newest. The eval items come from the dataset
    the candidate was trained on (the event's or the version's ``dataset_uri``) unless the form
    names another dataset.
    """
    from medgrpo import registry

    chosen = str(params.get("candidate") or "").strip()
    events = sorted(enumerate(model_events), key=lambda ie: (str(ie[1].get("timestamp") or ""), ie[0]))
    wanted: list[tuple[str, Mapping[str, Any]]] = (
        [(chosen, {})]
        if chosen
        else [(str(e.get("version") or ""), e) for _, e in events if e.get("version")] or [(registry.CHALLENGER, {})]
    )
    candidates: list[dict[str, Any]] = []
    for ref, event in wanted:
        version = registry.resolve(ref, str(event.get("model_name") or "") or None)
        if any(c["version"] == version.version and c["model_name"] == version.name for c in candidates):
            continue  # the same version announced twice
        dataset_uri = (
            str(params.get("dataset_uri") or "").strip()
            or str(event.get("dataset_uri") or "")
            or version.tags.get("dataset_uri", "")
        )
        if not dataset_uri:
            raise ValueError(
                f"no dataset to evaluate {version.name} version {version.version} on: the dataset_uri param is "
                "empty, the triggering event names none and the version has no dataset_uri tag"
            )
        candidates.append({"model_name": version.name, "version": version.version, "dataset_uri": dataset_uri})
    return {**candidates[-1], "candidates": candidates}


def gate_policy_from_params(params: Mapping[str, Any]) -> tuple[Any, str]:
    """The gate policy a run uses: ``gate_policy`` (name or file; empty = ``MEDGRPO_GATE_POLICY``, else
    production) with the form's non-empty field values on top."""
    from medgrpo.evaluate.policy import load_policy, policy_fields

    policy, source = load_policy(str(params.get("gate_policy") or "") or None)
    return policy.with_overrides({f.name: params.get(f.name) for f in policy_fields()}), source


def gate_candidate(
    params: Mapping[str, Any], candidate: Mapping[str, Any], *, dag_run: str, policy: Any = None, source: str = ""
) -> dict[str, Any]:
    """Gate one candidate against the champion (scores, gates, report, version tags); a small summary."""
    from medgrpo.evaluate.runner import run_gate

    if policy is None:
        policy, source = gate_policy_from_params(params)
    result = run_gate(
        str(candidate["version"]),
        str(candidate["dataset_uri"]),
        policy=policy,
        policy_source=source,
        model_name=str(candidate["model_name"]),
        limit=int(params.get("limit") or 0) or None,
        tags={"airflow_dag_run": dag_run},
    )
    figures = {
        role: {
            k: (v.get("value") if isinstance(v, Mapping) else v)
            for k, v in side.items()
            if k in ("n", "accuracy", "format_rate", "extraction_failures")
        }
        for role, side in result.metrics.items()
        if role in ("candidate", "champion")
    }
    links = mlflow_links(run_id=result.run_id, model_name=result.model_name, version=result.candidate_version)
    base = mlflow_ui_base()
    if base and MLFLOW_RUN_KEY in links:
        links[GATE_REPORT_KEY] = f"{links[MLFLOW_RUN_KEY]}/artifactPath/{result.report_uri.rsplit('/', 1)[-1]}"
    return {
        "verdict": result.verdict,
        "model_name": result.model_name,
        "version": result.candidate_version,
        "champion_version": result.champion_version,
        "policy": result.report["policy"]["name"],
        "metrics": figures,
        "reasons": result.reasons,
        "power": result.report["verdict"]["power"]["statement"],
        "gates_summary": [_gate_line(g) for g in result.gates],
        "report_uri": result.report_uri,
        "report_url": links.get(GATE_REPORT_KEY),
        "run_id": result.run_id,
        "links": links,
    }


def gate_candidates(params: Mapping[str, Any], resolved: Mapping[str, Any], *, dag_run: str) -> dict[str, Any]:
    """Gate every resolved candidate, oldest first; the newest that passed is the one offered for promotion.

    All candidates are compared with the same champion (nothing is promoted in between), so the
    promotion stays a compare-and-set against it. The top-level fields describe the selected
    candidate (else the newest); ``results`` lists every verdict.
    """
    policy, source = gate_policy_from_params(params)
    candidates = list(resolved.get("candidates") or [resolved])
    results = [gate_candidate(params, c, dag_run=dag_run, policy=policy, source=source) for c in candidates]
    passed = [r for r in results if r["verdict"] == "passed"]
    chosen = passed[-1] if passed else results[-1]
    for r in results:
        log.info("gate %s v%s: %s %s", r["model_name"], r["version"], r["verdict"].upper(), "; ".join(r["reasons"]))
    if len(passed) > 1:
        log.info("%d candidates passed; offering the newest, v%s, for promotion", len(passed), chosen["version"])
    return {
        **chosen,
        "selected": chosen["version"] if passed else None,
        "results": [{k: v for k, v in r.items() if k != "links"} for r in results],
    }


def _gate_line(gate: Mapping[str, Any]) -> str:
    mark = {"pass": "pass", "fail": "FAIL", "insufficient": "INSUFFICIENT"}.get(str(gate.get("status")), "?")
    value = float(gate.get("value", float("nan")))
    line = f"[{mark}] {gate.get('name')}: {value:.4g} {gate.get('comparison')} {float(gate.get('threshold', 0)):.4g}"
    return f"{line} ({gate['detail']})" if gate.get("detail") else line


def not_promoted_summary(verdict: Mapping[str, Any], *, auto_promote: bool) -> dict[str, Any]:
    """Why a gated_evaluation run moved no alias (logged, and kept in XCom for the UI)."""
    results = verdict.get("results") or [verdict]
    why = [
        f"v{r['version']}: {r['verdict']}" + (f": {'; '.join(r['reasons'])}" if r["reasons"] else "") for r in results
    ]
    if verdict.get("verdict") == "passed" and not auto_promote:
        why.append("auto_promote is off: promote from model_promotion")
    for line in why:
        log.info("not promoted: %s", line)
    return {"promoted": False, "champion_version": verdict.get("champion_version"), "why": why}


def promote_version(
    version: str, *, expected_champion: str | None = "from-gate", force_reason: str | None = None
) -> dict[str, Any]:
    """Move alias ``champion`` to ``version`` if its gate passed against the current champion.

    ``expected_champion`` is the champion the gate compared with (``from-gate``: the version's
    ``gate_champion_version`` tag); a non-empty ``force_reason`` overrides the checks and is recorded.
    """
    from medgrpo import registry
    from medgrpo.faults import fault_point

    fault_point("promote.start")  # fault-injection tests only (medgrpo.faults); a no-op otherwise
    forced = bool((force_reason or "").strip())
    return registry.promote(
        version,
        actor=os.environ.get("MEDGRPO_ACTOR") or "airflow",
        expected_champion=expected_champion,
        force=forced,
        reason=force_reason if forced else None,
    )


def rollback_champion() -> dict[str, Any]:
    """Make ``previous_champion`` the champion again."""
    from medgrpo import registry

    return registry.rollback(actor=os.environ.get("MEDGRPO_ACTOR") or "airflow")
