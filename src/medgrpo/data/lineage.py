"""Dataset lineage in MLflow: one run per ingest in experiment ``medgrpo/ingest`` (DESIGN §8).

The run logs the train and eval files as ``mlflow.data`` inputs (name, digest = the dataset's
content sha256, source = the published URI), the counts as metrics, the de-identification summary
as params and the manifest as an artifact, and tags ``dataset_sha256`` so a model version tagged
with the same value can be traced back to the exact data.

Only when ``MLFLOW_TRACKING_URI`` is set. If it is set but the server does not answer, ingest
fails before publishing (:class:`LineageError`): a dataset that models may be trained on must be
traceable, and a quiet skip would hide a misconfiguration.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

from medgrpo import storage
from medgrpo.settings import get_settings

log = logging.getLogger(__name__)

EXPERIMENT = "medgrpo/ingest"


class LineageError(RuntimeError):
    """MLFLOW_TRACKING_URI is set but the dataset could not be logged."""


def _probe(uri: str) -> None:
    """Fail fast (seconds, not the client's minutes of retries) when an HTTP tracking server is down."""
    if not uri.startswith(("http://", "https://")):
        return
    import requests

    try:
        requests.get(uri.rstrip("/") + "/health", timeout=5)
    except requests.RequestException as err:
        raise LineageError(
            f"MLFLOW_TRACKING_URI={uri} is set but unreachable ({type(err).__name__}); "
            "start the server or unset the variable to ingest without lineage"
        ) from None


def start(manifest: dict[str, Any], out_dir: str) -> dict[str, Any] | None:
    """Open the ingest run and log the dataset; return ``{"run_id", "experiment"}`` or None."""
    uri = get_settings().tracking_uri
    if not uri:
        log.info("MLFLOW_TRACKING_URI not set: dataset lineage not logged")
        return None
    _probe(uri)
    try:
        import mlflow
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(EXPERIMENT)
        run = mlflow.start_run(run_name=f"ingest-{manifest['name']}")
        mlflow.set_tags(
            {
                "dataset_name": manifest["name"],
                "dataset_sha256": manifest["content_sha256"],
                "dataset_uri": out_dir,
                "git_sha": manifest["code_version"]["git_sha"],
            }
        )
        for split in ("train", "eval"):
            path = storage.join(out_dir, f"{split}.jsonl")
            with warnings.catch_warnings():  # "can be interpreted in multiple ways": all candidates agree
                warnings.simplefilter("ignore", UserWarning)
                source = resolve_dataset_source(path if storage.is_s3(path) else str(Path(path).resolve()))
            dataset = MetaDataset(  # type: ignore[abstract]
                source=source,
                name=f"{manifest['name']}-{split}",
                digest=manifest["files"][f"{split}.jsonl"]["sha256"][:16],
            )
            mlflow.log_input(dataset, context=split, tags={"dataset_sha256": manifest["content_sha256"]})
        mlflow.log_metrics({f"records_{k}": float(v) for k, v in manifest["counts"].items()})
        deid = manifest["deid"]
        mlflow.log_params(
            {
                "deid_enabled": deid.get("enabled"),
                "deid_policy_sha256": deid.get("policy_sha256"),
                "deid_engine_version": deid.get("engine_version"),
                "eval_fraction": manifest["split"]["eval_fraction"],
                "sources": json.dumps(list(manifest["counts_by_source"]))[:500],
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            manifest_path = Path(tmp, "manifest.json")
            manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
            mlflow.log_artifact(str(manifest_path))
        return {"run_id": run.info.run_id, "experiment": EXPERIMENT, "tracking_uri": uri}
    except LineageError:
        raise
    except Exception as err:
        _end_quietly("FAILED")
        raise LineageError(f"could not log the dataset to MLflow at {uri}: {type(err).__name__}: {err}") from None


def _end_quietly(status: str) -> None:
    try:
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.end_run(status=status)
    except Exception:  # the run is already lost; the original error matters more
        log.warning("could not close the MLflow ingest run", exc_info=True)


def end(run: dict[str, Any] | None, *, ok: bool) -> None:
    """Close the run opened by :func:`start` (FINISHED or FAILED)."""
    if run is None:
        return
    _end_quietly("FINISHED" if ok else "FAILED")
