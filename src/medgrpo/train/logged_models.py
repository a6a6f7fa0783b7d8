"""MLflow 3 logged models of a training run: one per stored checkpoint, one full model to register.

- **Checkpoint models** (:func:`ensure_checkpoint_model`): each checkpoint the trainer stores
  becomes an *external* logged model ``checkpoint-<step>`` of the run, output at that step, whose
  tag ``medgrpo.checkpoint_uri`` points at the checkpoint in the run's checkpoint store. No weights
  are copied into MLflow; the step's metrics are linked to it (logged with its ``model_id``).
- **The registered model** (:func:`publish_model`): the final (or best) weights saved once with the
  ``transformers`` flavor (task ``llm/v1/chat``: a chat-messages signature and input example,
  tokenizer and chat template, generation config, pinned pip requirements) into a logged model
  ``model`` of the run, uploaded file by file so a retry uploads only what is missing (MLflow
  splits large files into multipart uploads where the artifact store supports it). A retry after a
  finished upload finds the ``READY`` model and uploads nothing.

Every function is idempotent per (run, name): a retried attempt finds what an earlier one made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REGISTERED_NAME = "model"
CHECKPOINT_MODEL_TYPE = "grpo-checkpoint"
REGISTERED_MODEL_TYPE = "transformers"
TAG_ROLE = "medgrpo.role"  # "checkpoint" | "registered"
TAG_STEP = "medgrpo.step"
TAG_CHECKPOINT_URI = "medgrpo.checkpoint_uri"
TAG_CHECKPOINT_STATUS = "medgrpo.checkpoint_status"  # "stored" | "pruned"
TAG_CHECKPOINT_MODEL = "medgrpo.checkpoint_model_id"
#: Distributions pinned in the registered model's ``requirements.txt`` (those installed).
PINNED_DISTRIBUTIONS = ("mlflow", "transformers", "torch", "tokenizers", "safetensors", "accelerate", "jinja2")
CHAT_INPUT_EXAMPLE = {
    "messages": [
        {"role": "user", "content": "A patient has Na 140, Cl 104 and HCO3 24 mmol/L. What is the anion gap?"}
    ],
    "max_tokens": 64,
}


def checkpoint_model_name(step: int) -> str:
    """The logged model name of the checkpoint at ``step`` (the checkpoint folder's own name)."""
    return f"checkpoint-{int(step)}"


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def find_logged_model(run_id: str, name: str) -> Any | None:
    """The run's logged model called ``name``: the READY one if any, else the newest; None when absent."""
    client = _client()
    experiment = client.get_run(run_id).info.experiment_id
    found = list(
        client.search_logged_models(
            experiment_ids=[experiment],
            filter_string=f"source_run_id = '{run_id}' AND name = '{name}'",
            order_by=[{"field_name": "creation_timestamp", "ascending": False}],
        )
    )
    ready = [m for m in found if _is_ready(m)]
    return (ready or found or [None])[0]


def _is_ready(model: Any) -> bool:
    from mlflow.entities import LoggedModelStatus

    return bool(model.status == LoggedModelStatus.READY)


def _ensure_output(run_id: str, model_id: str, step: int) -> None:
    """Record ``model_id`` as an output of ``run_id`` at ``step`` unless it already is."""
    from mlflow.entities import LoggedModelOutput

    client = _client()
    outputs = client.get_run(run_id).outputs
    if any(o.model_id == model_id and int(o.step) == int(step) for o in (outputs.model_outputs if outputs else [])):
        return
    client.log_outputs(run_id, [LoggedModelOutput(model_id, int(step))])


def ensure_checkpoint_model(
    run_id: str, step: int, checkpoint_uri: str, *, tags: Mapping[str, str] | None = None
) -> str:
    """The id of the external logged model of the stored checkpoint at ``step`` (created on first call)."""
    import mlflow

    name = checkpoint_model_name(step)
    existing = find_logged_model(run_id, name)
    if existing is not None and _is_ready(existing):
        _ensure_output(run_id, existing.model_id, step)
        return str(existing.model_id)
    all_tags = {
        **{str(k): str(v) for k, v in (tags or {}).items()},
        TAG_ROLE: "checkpoint",
        TAG_STEP: str(int(step)),
        TAG_CHECKPOINT_URI: checkpoint_uri,
        TAG_CHECKPOINT_STATUS: "stored",
    }
    experiment = _client().get_run(run_id).info.experiment_id
    model = mlflow.create_external_model(
        name=name, source_run_id=run_id, tags=all_tags, model_type=CHECKPOINT_MODEL_TYPE, experiment_id=experiment
    )
    _ensure_output(run_id, model.model_id, step)
    log.info("checkpoint logged model", extra={"step": step, "model_id": model.model_id, "uri": checkpoint_uri})
    return str(model.model_id)


def checkpoint_models(run_id: str) -> list[tuple[int, str, str]]:
    """``(step, model id, checkpoint URI)`` of the run's checkpoint logged models, by step (pruned ones marked)."""
    client = _client()
    experiment = client.get_run(run_id).info.experiment_id
    found = client.search_logged_models(
        experiment_ids=[experiment],
        filter_string=f"source_run_id = '{run_id}' AND model_type = '{CHECKPOINT_MODEL_TYPE}'",
    )
    out = {}
    for m in found:
        if not _is_ready(m) or TAG_STEP not in m.tags:
            continue
        uri = m.tags.get(TAG_CHECKPOINT_URI, "")
        if m.tags.get(TAG_CHECKPOINT_STATUS) == "pruned":
            uri += " (pruned)"
        out[int(m.tags[TAG_STEP])] = (int(m.tags[TAG_STEP]), str(m.model_id), uri)
    return [out[step] for step in sorted(out)]


def mark_checkpoint_pruned(run_id: str, step: int) -> None:
    """Tag the checkpoint's logged model ``medgrpo.checkpoint_status=pruned`` (its files were removed)."""
    model = find_logged_model(run_id, checkpoint_model_name(step))
    if model is not None:
        _client().set_logged_model_tags(model.model_id, {TAG_CHECKPOINT_STATUS: "pruned"})


def link_step_metrics(
    run_id: str, model_id: str, step: int, keys: Sequence[str], *, dataset: tuple[str, str] | None = None
) -> int:
    """Link the run's metrics ``keys`` at ``step`` to ``model_id``; return how many were linked.

    The values are written again with the model id and their original timestamps (MLflow keeps one
    run metric per key, step, timestamp and value, so the run's history does not grow).
    """
    from mlflow.entities import Metric

    client = _client()
    linked: list[Any] = []
    for key in sorted(set(keys)):
        for m in client.get_metric_history(run_id, key):
            if int(m.step) == int(step) and not m.model_id:
                linked.append(
                    Metric(
                        key=m.key,
                        value=m.value,
                        timestamp=m.timestamp,
                        step=m.step,
                        model_id=model_id,
                        dataset_name=dataset[0] if dataset else None,
                        dataset_digest=dataset[1] if dataset else None,
                    )
                )
    for start in range(0, len(linked), 900):
        client.log_batch(run_id, metrics=linked[start : start + 900], synchronous=True)
    return len(linked)


# --------------------------------------------------------------------------- the registered model


def pip_requirements() -> list[str]:
    """Exact pins of the installed serving dependencies (local version labels such as ``+cpu`` dropped)."""
    pins = []
    for dist in PINNED_DISTRIBUTIONS:
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        pins.append(f"{dist}=={version.split('+', 1)[0]}")
    return pins


def generation_defaults(cfg: Any) -> dict[str, Any]:
    """Serving defaults: the sampling the policy was trained under (the recipe's decoding, as the gate uses it)."""
    from medgrpo.evaluate.decoding import decoding_from_recipe

    decoding = decoding_from_recipe(cfg)
    out: dict[str, Any] = {"max_new_tokens": decoding.max_new_tokens, "do_sample": not decoding.greedy}
    if not decoding.greedy:
        out["temperature"] = decoding.temperature
        out["top_p"] = decoding.top_p
        if decoding.top_k > 0:
            out["top_k"] = decoding.top_k
    return out


def save_mlflow_model(
    hf_dir: Path,
    dest: Path,
    *,
    logged_model: Any,
    run_id: str,
    card_markdown: str,
    generation: Mapping[str, Any],
    served_name: str,
) -> Path:
    """Write the MLflow model folder (``transformers`` flavor, ``llm/v1/chat``) of ``hf_dir`` into ``dest``.

    ``served_name`` replaces the local training path MLflow records as the source model name (what
    chat responses report as ``model``).
    """
    import huggingface_hub
    import mlflow
    from mlflow.models import Model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (hf_dir / "config.json").is_file():
        found = sorted(p.name for p in hf_dir.iterdir()) if hf_dir.is_dir() else []
        raise ValueError(
            f"{hf_dir} is not a full Hugging Face model (no config.json; found {found}): "
            "a LoRA run must set merge_lora: true to be registered"
        )
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype="auto")
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"the tokenizer in {hf_dir} has no chat template: the chat task needs one")
    for key, value in generation.items():
        setattr(model.generation_config, key, value)
    if dest.exists():
        shutil.rmtree(dest)
    mlflow_model = Model(
        artifact_path=logged_model.artifact_location,
        model_uuid=logged_model.model_id,
        run_id=run_id,
        model_id=logged_model.model_id,
    )
    mlflow.transformers.save_model(
        {"model": model, "tokenizer": tokenizer},
        str(dest),
        task="llm/v1/chat",
        mlflow_model=mlflow_model,
        pip_requirements=pip_requirements(),
        model_card=huggingface_hub.ModelCard(card_markdown),
        input_example=CHAT_INPUT_EXAMPLE,
        model_config=dict(generation),
    )
    saved = Model.load(str(dest / "MLmodel"))
    saved.flavors["transformers"]["source_model_name"] = served_name
    saved.save(str(dest / "MLmodel"))
    return dest


def remote_files(artifact_uri: str) -> dict[str, int | None]:
    """``relative path -> size`` of every file under an artifact URI (recursive)."""
    from mlflow.artifacts import get_artifact_repository

    repo = get_artifact_repository(artifact_uri)
    out: dict[str, int | None] = {}
    pending: list[str | None] = [None]
    while pending:
        for info in repo.list_artifacts(pending.pop()):
            if info.is_dir:
                pending.append(info.path)
            else:
                out[info.path] = info.file_size
    return out


@contextlib.contextmanager
def _multipart_upload() -> Iterator[None]:
    """Let MLflow use multipart uploads through the tracking server unless the user said otherwise.

    MLflow falls back to one request per file where the server's artifact store cannot do
    multipart (a local folder), so enabling it is safe.
    """
    key = "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"
    if key in os.environ:
        yield
        return
    os.environ[key] = "true"
    try:
        yield
    finally:
        os.environ.pop(key, None)


def upload_resumable(local_dir: Path, artifact_uri: str) -> dict[str, int]:
    """Upload the files of ``local_dir`` missing (or of another size) under ``artifact_uri``; ``MLmodel`` last.

    Returns ``{"uploaded": files, "skipped": files, "bytes": uploaded bytes}``.
    """
    from mlflow.artifacts import get_artifact_repository

    repo = get_artifact_repository(artifact_uri)
    there = remote_files(artifact_uri)
    files = sorted((p for p in local_dir.rglob("*") if p.is_file()), key=lambda p: (p.name == "MLmodel", str(p)))
    stats = {"uploaded": 0, "skipped": 0, "bytes": 0}
    with _multipart_upload():
        for path in files:
            rel = path.relative_to(local_dir).as_posix()
            size = path.stat().st_size
            if there.get(rel) == size and path.name != "MLmodel":
                stats["skipped"] += 1
                continue
            parent = str(Path(rel).parent.as_posix())
            repo.log_artifact(str(path), None if parent == "." else parent)
            stats["uploaded"] += 1
            stats["bytes"] += size
    return stats


def publish_model(
    run_id: str,
    hf_dir: Path,
    *,
    step: int,
    staging: Path,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    card_markdown: str,
    generation: Mapping[str, Any],
    served_name: str,
) -> Any:
    """The run's READY logged model ``model`` holding ``hf_dir`` in the transformers flavor (made once).

    A first call saves and uploads it; a call after a failed upload reuses the PENDING model and
    uploads the missing files; a call after success returns the READY model untouched.
    """
    import mlflow
    from mlflow.entities import LoggedModelStatus

    client = _client()
    existing = find_logged_model(run_id, REGISTERED_NAME)
    if existing is not None and _is_ready(existing):
        log.info("registered logged model already uploaded", extra={"model_id": existing.model_id})
        return existing
    if existing is None:
        experiment = client.get_run(run_id).info.experiment_id
        model = mlflow.initialize_logged_model(
            name=REGISTERED_NAME,
            source_run_id=run_id,
            tags={**{str(k): str(v) for k, v in tags.items()}, TAG_ROLE: "registered", TAG_STEP: str(step)},
            params={str(k)[:250]: str(v)[:6000] for k, v in params.items()},
            model_type=REGISTERED_MODEL_TYPE,
            experiment_id=experiment,
        )
    else:
        model = existing
        log.info("resuming the upload of the registered logged model", extra={"model_id": model.model_id})
    _ensure_output(run_id, model.model_id, step)
    save_mlflow_model(
        hf_dir,
        staging,
        logged_model=model,
        run_id=run_id,
        card_markdown=card_markdown,
        generation=generation,
        served_name=served_name,
    )
    stats = upload_resumable(staging, model.artifact_location)
    model = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("registered logged model uploaded", extra={"model_id": model.model_id, **stats})
    return model


def artifact_bytes(artifact_uri: str) -> int:
    """Total size of the files under an artifact URI."""
    return sum(int(size or 0) for size in remote_files(artifact_uri).values())
