"""The gate stage: evaluate a candidate version and the champion on the same eval split and judge.

:func:`run_gate` downloads both models from the registry, scores them on ``eval.jsonl`` of a
dataset directory, applies :mod:`medgrpo.evaluate.gates`, records everything in one MLflow run
of experiment ``medgrpo/evaluate`` (metrics of both, JSON + Markdown report, per-item
predictions) and tags the candidate version with ``gate_verdict`` and ``gate_report``. It does
not promote: that is a separate, possibly human-approved, step.

Retries are safe: a run is keyed by (model, candidate, champion, eval content, thresholds,
decoding settings). A finished run with the same key is reused as is; an unfinished one (the
previous try died) is resumed and overwritten, so a retry never adds a second run or version tag.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medgrpo import registry
from medgrpo.evaluate.gates import GateThresholds, Verdict, apply_gates, compare_paired
from medgrpo.evaluate.harness import EvalResult, evaluate_model
from medgrpo.evaluate.metrics import paired_bootstrap_diff
from medgrpo.evaluate.report import render_markdown
from medgrpo.settings import get_settings

log = logging.getLogger(__name__)

EXPERIMENT = "medgrpo/evaluate"
REPORT_JSON = "gate_report.json"
REPORT_MD = "gate_report.md"
GATE_KEY_TAG = "medgrpo.gate_key"


@dataclass(frozen=True)
class GateResult:
    """Outcome of :func:`run_gate`."""

    verdict: str  # "passed" | "rejected"
    model_name: str
    candidate_version: str
    champion_version: str | None
    metrics: dict[str, Any]
    gates: list[dict[str, Any]]
    report_uri: str
    run_id: str
    reused: bool = False
    report: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"


# --------------------------------------------------------------------------- data


def _as_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, Mapping):
        return dict(record)
    if hasattr(record, "model_dump"):
        return dict(record.model_dump())
    raise TypeError(f"expected eval records as dicts or pydantic models, found {type(record).__name__}")


def read_eval_records(dataset_dir: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Records of the dataset directory's eval split (first ``limit`` in file order).

    Read through :func:`medgrpo.data.dataset.read_split`, which checks the file against the
    sha256 in the dataset's manifest (raises ``DatasetError`` on a mismatch or a missing file).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of items, found {limit}")
    from medgrpo.data.dataset import read_split

    records = [_as_dict(r) for r in read_split(dataset_dir, "eval")]
    if not records:
        raise ValueError(f"the eval split of {dataset_dir} has no records")
    return records[:limit] if limit else records


def records_sha256(records: Sequence[Mapping[str, Any]]) -> str:
    """Content hash of exactly the records evaluated (order and every field included)."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def dataset_sha256(dataset_dir: str) -> str | None:
    """The dataset's ``content_sha256`` from its manifest (None when the manifest has none)."""
    from medgrpo.data.dataset import read_manifest

    value = read_manifest(dataset_dir, verify=False).get("content_sha256")
    return str(value) if value else None


# --------------------------------------------------------------------------- MLflow


def _experiment_id(client: Any) -> str:
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return str(exp.experiment_id)
    try:
        return str(client.create_experiment(EXPERIMENT))
    except MlflowException:  # created concurrently
        exp = client.get_experiment_by_name(EXPERIMENT)
        if exp is None:
            raise
        return str(exp.experiment_id)


def _gate_key(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _find_run(client: Any, experiment_id: str, key: str) -> Any | None:
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{GATE_KEY_TAG}` = '{key}'", max_results=10, order_by=["start_time DESC"]
    )
    finished = [r for r in runs if r.info.status == "FINISHED"]
    return (finished or list(runs) or [None])[0]


def _load_report(run_id: str) -> dict[str, Any] | None:
    import mlflow.artifacts

    uri = get_settings().tracking_uri or None
    with tempfile.TemporaryDirectory(prefix="medgrpo-report-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"runs:/{run_id}/{REPORT_JSON}", dst_path=tmp, tracking_uri=uri
            )
        except Exception:  # the report was never written (the try died before the end)
            return None
        report: dict[str, Any] = json.loads(Path(local).read_text(encoding="utf-8"))
    return report


def _log_run(client: Any, run_id: str, report: dict[str, Any], results: dict[str, EvalResult]) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(datetime.now(UTC).timestamp() * 1000)
    metrics: dict[str, float] = {}
    for role, result in results.items():
        metrics.update(result.metrics.flat(prefix=f"{role}_"))
    comp = report.get("comparison")
    if comp:
        for key in ("accuracy_diff", "p_value_regression", "champion_only", "candidate_only"):
            metrics[key] = float(comp[key])
    metrics["gate_passed"] = float(report["verdict"]["verdict"] == "passed")
    params = {
        "model_name": report["model_name"],
        "candidate_version": report["candidate"]["version"],
        "champion_version": (report.get("champion") or {}).get("version") or "none",
        "dataset_dir": report["dataset_dir"],
        "n_items": str(report["n_items"]),
        "limit": str(report.get("limit")),
        **{f"threshold_{k}": str(v) for k, v in report["thresholds"].items()},
        **{f"eval_{k}": str(v) for k, v in report["eval_config"].items()},
    }
    existing = client.get_run(run_id).data.params
    fresh = [Param(k, v[:6000]) for k, v in params.items() if k not in existing]
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())],
        params=fresh,
        tags=[RunTag("gate_verdict", report["verdict"]["verdict"])],
    )
    for role, result in results.items():
        lines = "\n".join(json.dumps(it.as_dict(), ensure_ascii=False) for it in result.items) + "\n"
        client.log_text(run_id, lines, f"predictions/{role}.jsonl")
    client.log_text(run_id, render_markdown(report), REPORT_MD)
    client.log_dict(run_id, report, REPORT_JSON)  # last: its presence marks a complete run


# --------------------------------------------------------------------------- the stage


def run_gate(
    candidate: str,
    dataset_dir: str,
    *,
    thresholds: GateThresholds | None = None,
    model_name: str | None = None,
    limit: int | None = None,
    tags: Mapping[str, str] | None = None,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    seed: int = 0,
    device: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> GateResult:
    """Evaluate ``candidate`` (version number or alias) against the champion and record the verdict.

    ``tags`` are added to the MLflow evaluation run (e.g. ``airflow_dag_run``). ``progress(role,
    done, total)`` reports generation progress per model. Does not move any alias.
    """
    thresholds = thresholds or GateThresholds()
    name = registry.resolve_model_name(model_name)
    cand = registry.resolve(candidate, name)
    champ = registry.get_version_by_alias(registry.CHAMPION, name)
    if champ is not None and champ.version == cand.version:
        log.info("candidate is the current champion; comparing against thresholds only")
        champ = None
    records = read_eval_records(dataset_dir, limit)
    eval_sha = records_sha256(records)
    eval_config = {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "seed": seed, "decoding": "greedy"}
    key = _gate_key(
        {
            "model": name,
            "candidate": cand.version,
            "champion": champ.version if champ else None,
            "eval_sha256": eval_sha,
            "thresholds": thresholds.as_dict(),
            "max_new_tokens": max_new_tokens,
            "seed": seed,
        }
    )
    client = registry.client()
    experiment_id = _experiment_id(client)
    previous = _find_run(client, experiment_id, key)
    if previous is not None and previous.info.status == "FINISHED":
        report = _load_report(previous.info.run_id)
        if report is not None:
            log.info("reusing finished gate run", extra={"run_id": previous.info.run_id, "gate_key": key})
            return _finish(name, cand.version, previous.info.run_id, report, reused=True)

    run_tags = {
        GATE_KEY_TAG: key,
        "model_name": name,
        "candidate_version": cand.version,
        "champion_version": champ.version if champ else "none",
        "eval_sha256": eval_sha,
        **{str(k): str(v) for k, v in (tags or {}).items()},
    }
    if previous is not None:
        run_id = previous.info.run_id
        log.info("resuming unfinished gate run", extra={"run_id": run_id, "gate_key": key})
        client.update_run(run_id, status="RUNNING")
    else:
        run = client.create_run(experiment_id, tags=run_tags, run_name=f"gate-{name}-v{cand.version}")
        run_id = run.info.run_id
    try:
        results: dict[str, EvalResult] = {}
        with tempfile.TemporaryDirectory(prefix="medgrpo-gate-") as tmp:
            roles = [("candidate", cand)] + ([("champion", champ)] if champ else [])
            for role, mv in roles:
                local = registry.download_model(mv.model_uri, Path(tmp, role))
                callback = (lambda done, total, role=role: progress(role, done, total)) if progress else None
                results[role] = evaluate_model(
                    local, records, max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed, progress=callback
                )
        report = _build_report(
            name, cand, champ, dataset_dir, records, eval_sha, limit, thresholds, eval_config, results
        )
        _log_run(client, run_id, report, results)
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return _finish(name, cand.version, run_id, report, reused=False)


def _build_report(
    name: str,
    cand: registry.ModelVersion,
    champ: registry.ModelVersion | None,
    dataset_dir: str,
    records: Sequence[Mapping[str, Any]],
    eval_sha: str,
    limit: int | None,
    thresholds: GateThresholds,
    eval_config: dict[str, Any],
    results: Mapping[str, EvalResult],
) -> dict[str, Any]:
    cand_result = results["candidate"]
    comparison: dict[str, Any] | None = None
    verdict: Verdict
    if champ is not None:
        champ_by_id = results["champion"].correct_by_id
        ids = [it.id for it in cand_result.items]
        cand_vec = [it.correct for it in cand_result.items]
        champ_vec = [champ_by_id[i] for i in ids]
        paired = compare_paired(cand_vec, champ_vec)
        _, low, high = paired_bootstrap_diff(cand_vec, champ_vec, seed=0)
        comparison = {**paired.as_dict(), "bootstrap_low": low, "bootstrap_high": high}
        verdict = apply_gates(cand_result.metrics, thresholds, comparison=paired)
    else:
        verdict = apply_gates(cand_result.metrics, thresholds)

    def side(mv: registry.ModelVersion, role: str) -> dict[str, Any]:
        result = results[role]
        return {
            "version": mv.version,
            "run_id": mv.run_id,
            "model_uri": mv.model_uri,
            "metrics": result.metrics.as_dict(),
            "seconds": round(result.seconds, 3),
        }

    return {
        "schema": "medgrpo.gate_report/1",
        "model_name": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset_dir": dataset_dir,
        "dataset_sha256": dataset_sha256(dataset_dir),
        "eval_sha256": eval_sha,
        "n_items": len(records),
        "limit": limit,
        "eval_config": eval_config,
        "thresholds": thresholds.as_dict(),
        "candidate": side(cand, "candidate"),
        "champion": side(champ, "champion") if champ else None,
        "comparison": comparison,
        "verdict": verdict.as_dict(),
    }


def _finish(name: str, version: str, run_id: str, report: dict[str, Any], *, reused: bool) -> GateResult:
    """Tag the candidate version with the verdict (idempotent) and build the result."""
    report_uri = f"runs:/{run_id}/{REPORT_JSON}"
    label = report["verdict"]["verdict"]
    registry.set_version_tags(
        version,
        {
            "gate_verdict": label,
            "gate_report": report_uri,
            "gate_run_id": run_id,
            "gate_eval_sha256": report["eval_sha256"],
            "gate_champion_version": (report.get("champion") or {}).get("version") or "none",
            "gate_accuracy": f"{report['candidate']['metrics']['accuracy']['value']:.4f}",
        },
        name,
    )
    metrics = {"candidate": report["candidate"]["metrics"]}
    if report.get("champion"):
        metrics["champion"] = report["champion"]["metrics"]
    if report.get("comparison"):
        metrics["comparison"] = report["comparison"]
    log.info("gate verdict", extra={"model_name": name, "version": version, "verdict": label, "run_id": run_id})
    return GateResult(
        verdict=label,
        model_name=name,
        candidate_version=version,
        champion_version=(report.get("champion") or {}).get("version"),
        metrics=metrics,
        gates=list(report["verdict"]["gates"]),
        report_uri=report_uri,
        run_id=run_id,
        reused=reused,
        report=report,
    )
