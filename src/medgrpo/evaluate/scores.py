"""Per-item results of a model version on an item set, cached in MLflow and found back.

Scoring a version is the expensive part of a gate (generation), and the same champion is scored
again at every gate. Results are therefore stored once per **(version, item set sha256, decoding
settings)**: one MLflow run in ``medgrpo/evaluate`` (run name ``score-<model>-v<N>-<kind>``) tagged
``medgrpo.score_key`` = a hash of that triple (plus the version's source run and artifact, so a
re-created registered model whose version numbers restart is never confused with the old one),
holding the sample-level rows as ``scores.jsonl`` and the summary metrics. A later gate with the
same key downloads the rows instead of generating (``reused``). An unfinished scoring run (its
process died) is resumed and overwritten, so retries never duplicate runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medgrpo.evaluate.decoding import DecodingSettings
from medgrpo.evaluate.metrics import Metrics, summarize
from medgrpo.settings import get_settings

log = logging.getLogger(__name__)

EXPERIMENT = "medgrpo/evaluate"
SCORE_KEY_TAG = "medgrpo.score_key"
SCORES_ARTIFACT = "scores.jsonl"


@dataclass(frozen=True)
class ScoredSet:
    """Sample-level rows of one version on one item set under one decoding (cached or fresh)."""

    model_name: str
    version: str
    kind: str  # "eval" | "phi_probe"
    items_sha256: str
    decoding: DecodingSettings
    rows: tuple[dict[str, Any], ...]
    run_id: str
    reused: bool
    seconds: float

    def metrics(self, records: Sequence[Mapping[str, Any]]) -> Metrics:
        """Summary metrics, with the answer diagnostics recomputed from the stored completions."""
        from medgrpo.answers import answer_diagnostics

        by_id = {str(r["id"]): r for r in records}
        diag = answer_diagnostics([r["completion"] for r in self.rows], [by_id[str(r["id"])] for r in self.rows])
        figures = {k: v for k, v in diag.as_dict().items() if k != "n"}
        return summarize(list(self.rows), max_new_tokens=self.decoding.max_new_tokens, diagnostics=figures)


def score_key(version: Any, items_sha256: str, decoding: DecodingSettings, kind: str) -> str:
    """Cache key of (version, item set, decoding): ``version`` is a :class:`medgrpo.registry.ModelVersion`."""
    parts = {
        "model": version.name,
        "version": version.version,
        "run_id": version.run_id,
        "source": version.source,
        "items_sha256": items_sha256,
        "decoding": decoding.as_dict(),
        "kind": kind,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def experiment_id(client: Any) -> str:
    """The id of ``medgrpo/evaluate`` (created on first use; safe when two processes race)."""
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


def find_run(client: Any, experiment: str, tag: str, key: str) -> Any | None:
    """The newest FINISHED run tagged ``tag = key``, else the newest unfinished one, else None."""
    runs = client.search_runs(
        [experiment], filter_string=f"tags.`{tag}` = '{key}'", max_results=20, order_by=["start_time DESC"]
    )
    finished = [r for r in runs if r.info.status == "FINISHED"]
    return (finished or list(runs) or [None])[0]


def download_text(run_id: str, path: str) -> str | None:
    """An artifact's text, or None when the run has no such artifact (its writer died first)."""
    import mlflow.artifacts

    uri = get_settings().tracking_uri or None
    with tempfile.TemporaryDirectory(prefix="medgrpo-artifact-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"runs:/{run_id}/{path}", dst_path=tmp, tracking_uri=uri
            )
        except Exception:  # absent: MLflow raises several types depending on the artifact store
            return None
        return Path(local).read_text(encoding="utf-8")


def _load_rows(run_id: str) -> list[dict[str, Any]] | None:
    text = download_text(run_id, SCORES_ARTIFACT)
    if text is None:
        return None
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def score_version(
    version: Any,
    records: Sequence[Mapping[str, Any]],
    decoding: DecodingSettings,
    *,
    kind: str,
    items_sha256: str,
    model_dir: Callable[[], Path],
    batch_size: int = 16,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    tags: Mapping[str, str] | None = None,
) -> ScoredSet:
    """Rows of ``version`` on ``records`` under ``decoding``: from the cache, else generated and stored.

    ``model_dir()`` is called only when generation is needed (it downloads the model).
    """
    from mlflow.entities import Metric, Param, RunTag

    from medgrpo import registry
    from medgrpo.evaluate.harness import evaluate_model

    client = registry.client()
    experiment = experiment_id(client)
    key = score_key(version, items_sha256, decoding, kind)
    previous = find_run(client, experiment, SCORE_KEY_TAG, key)
    if previous is not None and previous.info.status == "FINISHED":
        rows = _load_rows(previous.info.run_id)
        if rows is not None:
            log.info(
                "reusing cached scores",
                extra={"version": version.version, "kind": kind, "run_id": previous.info.run_id},
            )
            return ScoredSet(
                version.name,
                version.version,
                kind,
                items_sha256,
                decoding,
                tuple(rows),
                previous.info.run_id,
                True,
                0.0,
            )
    run_tags = {
        SCORE_KEY_TAG: key,
        "model_name": version.name,
        "version": version.version,
        "kind": kind,
        "items_sha256": items_sha256,
        **{str(k): str(v) for k, v in (tags or {}).items()},
    }
    if previous is not None:
        run_id = previous.info.run_id
        client.update_run(run_id, status="RUNNING")
    else:
        run_id = client.create_run(
            experiment, tags=run_tags, run_name=f"score-{version.name}-v{version.version}-{kind}"
        ).info.run_id
    started = time.monotonic()
    try:
        result = evaluate_model(
            model_dir(), records, decoding=decoding, batch_size=batch_size, device=device, progress=progress
        )
        rows = [it.as_dict() for it in result.items]
        now = int(datetime.now(UTC).timestamp() * 1000)
        existing = client.get_run(run_id).data.params
        params = {f"decoding_{k}": str(v) for k, v in decoding.summary().items()}
        params.update(n_items=str(result.metrics.n), items_sha256=items_sha256)
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in sorted(result.metrics.flat().items())],
            params=[Param(k, v[:6000]) for k, v in params.items() if k not in existing],
            tags=[RunTag("seconds", f"{result.seconds:.1f}")],
        )
        client.log_text(run_id, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), SCORES_ARTIFACT)
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    seconds = time.monotonic() - started
    log.info("scored version", extra={"version": version.version, "kind": kind, "run_id": run_id, "seconds": seconds})
    return ScoredSet(version.name, version.version, kind, items_sha256, decoding, tuple(rows), run_id, False, seconds)
