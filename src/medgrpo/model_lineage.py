"""Lineage between runs, datasets and logged models in MLflow, in both directions.

- A dataset split is the same MLflow dataset everywhere (:func:`split_dataset`): name
  ``<manifest name>-<split>``, digest = the split file's sha256 prefix, source = its URI. The
  ingest run, the training run (``train``) and the evaluation runs (``eval``) log it as an input,
  so MLflow links the dataset to every run that used it.
- The evaluation run names the logged models it scored (:func:`link_evaluation_run`): they
  become model inputs of the run (the candidate and the champion) and their ids run tags
  (``medgrpo.candidate_model_id``, ``medgrpo.champion_model_id``), so MLflow shows the run on each
  logged model's page and the models on the run's.

The gate calls :func:`link_evaluation_run` once it has created (or resumed) its run.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medgrpo import storage

log = logging.getLogger(__name__)


def split_dataset(dataset_dir: str, manifest: Mapping[str, Any], split: str) -> Any | None:
    """The MLflow dataset of ``split`` of a published dataset directory; None when the manifest lacks it."""
    info = (manifest.get("files") or {}).get(f"{split}.jsonl")
    if not isinstance(info, Mapping) or not info.get("sha256"):
        return None
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    path = storage.join(dataset_dir, f"{split}.jsonl")
    with warnings.catch_warnings():  # "can be interpreted in multiple ways": all candidates agree
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(path if storage.is_s3(path) else str(Path(path).resolve()))
    return MetaDataset(  # type: ignore[abstract]
        source=source, name=f"{manifest.get('name') or 'dataset'}-{split}", digest=str(info["sha256"])[:16]
    )


def version_model_id(model_name: str, version: str) -> str | None:
    """The logged model id behind a registered version (None for a version made from a run folder)."""
    from medgrpo import registry

    mv = registry.client().get_model_version(model_name, version)
    source = str(mv.source or "")
    return getattr(mv, "model_id", None) or (source[len("models:/") :] if source.startswith("models:/m-") else None)


def link_evaluation_run(
    run_id: str,
    *,
    dataset_dir: str,
    scored: Mapping[str, Any],
) -> dict[str, str]:
    """Link an evaluation run to the eval split it read and the logged models it scored.

    ``scored``: role (``candidate``, ``champion``) -> :class:`medgrpo.registry.ModelVersion` (or
    None for a missing champion; versions made from a run folder have no logged model and are
    skipped). Safe to call again: inputs already there are not logged twice. Returns role ->
    logged model id.
    """
    from mlflow.entities import DatasetInput, InputTag, LoggedModelInput
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    from medgrpo import registry
    from medgrpo.data.dataset import read_manifest

    c = registry.client()
    run = c.get_run(run_id)
    manifest = read_manifest(dataset_dir, verify=False)
    dataset = split_dataset(dataset_dir, manifest, "eval")
    have_models = {i.model_id for i in (run.inputs.model_inputs if run.inputs else [])}
    have_data = {(i.dataset.name, i.dataset.digest) for i in (run.inputs.dataset_inputs if run.inputs else [])}
    model_ids: dict[str, str] = {}
    for role, mv in scored.items():
        if mv is None:
            continue
        model_id = version_model_id(mv.name, mv.version)
        if model_id:
            model_ids[role] = model_id
    datasets = []
    if dataset is not None and (dataset.name, dataset.digest) not in have_data:
        tags = [InputTag(MLFLOW_DATASET_CONTEXT, "eval")]
        if manifest.get("content_sha256"):
            tags.append(InputTag("dataset_sha256", str(manifest["content_sha256"])))
        datasets.append(DatasetInput(dataset._to_mlflow_entity(), tags=tags))
    models = [LoggedModelInput(mid) for mid in sorted(set(model_ids.values()) - have_models)]
    if datasets or models:
        c.log_inputs(run_id, datasets=datasets or None, models=models or None)
    for role, mid in model_ids.items():
        c.set_tag(run_id, f"medgrpo.{role}_model_id", mid)
    log.info("evaluation run linked", extra={"run_id": run_id, "models": model_ids})
    return model_ids
