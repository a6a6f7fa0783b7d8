"""The GRPO training entrypoint behind ``medgrpo train`` (the training container's command).

One call of :func:`train` = one training attempt: resolve the model source, load the published
dataset, open (or re-open, after a preemption) the MLflow run in ``medgrpo/train``, train with
TRL's ``GRPOTrainer`` resuming from the newest stored checkpoint, log the final Hugging Face
model folder under the run's ``model/`` artifacts, register it (alias ``challenger``, idempotent
per run) and write ``<output_dir>/result.json`` for the launcher.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medgrpo import storage
from medgrpo.settings import get_settings
from medgrpo.train.config import MedGRPOConfig

log = logging.getLogger(__name__)

EXPERIMENT = "medgrpo/train"
RESULT_FILE = "result.json"
#: Default checkpoint store under the output dir; never "checkpoint-*", which the Trainer rotates away.
DEFAULT_STORE = "stored-checkpoints"


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)


def recipe_params(cfg: MedGRPOConfig, recipe_values: Mapping[str, Any]) -> dict[str, str]:
    """MLflow params: every recipe/override value plus the effective batch geometry."""
    out: dict[str, str] = {}
    _flatten("", dict(recipe_values), out)
    for key in (
        "learning_rate",
        "num_generations",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "generation_batch_size",
        "steps_per_generation",
        "max_completion_length",
        "beta",
        "loss_type",
        "max_steps",
        "seed",
    ):
        out.setdefault(key, str(getattr(cfg, key)))
    return {k[:250]: v[:6000] for k, v in out.items()}


def _load_tokenizer(path: str) -> Any:
    """The model's tokenizer (left padding for generation; EOS as pad when it has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _peft_config(cfg: MedGRPOConfig) -> Any:
    if not cfg.use_peft:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_target_modules),
        task_type="CAUSAL_LM",
    )


def _log_dataset_input(data: Any) -> None:
    """The dataset as the run's input (``mlflow.log_input``, same name/digest as the ingest run) + manifest."""
    import mlflow

    manifest = data.manifest
    files = manifest.get("files") or {}
    if "train.jsonl" in files:
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        path = storage.join(data.source, "train.jsonl")
        source = resolve_dataset_source(path if storage.is_s3(path) else str(Path(path).resolve()))
        dataset: Any = MetaDataset(  # type: ignore[abstract]
            source=source,
            name=f"{manifest.get('name', 'dataset')}-train",
            digest=str(files["train.jsonl"]["sha256"])[:16],
        )
    else:  # generated or manifest-less data: describe the records themselves
        import pandas as pd

        frame = pd.DataFrame([{"id": r["id"], "answer_type": r["answer_type"]} for r in data.train])
        from mlflow.data.pandas_dataset import from_pandas

        dataset = from_pandas(frame, name=data.name, digest=data.sha256[:16])
    mlflow.log_input(dataset, context="train", tags={"dataset_sha256": data.sha256})
    mlflow.log_dict(manifest, "dataset/manifest.json")


def _save_final_model(trainer: Any, tokenizer: Any, cfg: MedGRPOConfig, model_path: str, dest: Path) -> None:
    """A plain Hugging Face folder that ``from_pretrained`` loads; LoRA merged when ``merge_lora``.

    Every rank calls this (``save_model`` gathers ZeRO-3 shards); only the main process writes.
    """
    trainer.save_model(str(dest))
    if not trainer.accelerator.is_main_process:
        return
    if cfg.use_peft and cfg.merge_lora:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        dtype = torch.bfloat16 if cfg.bf16 else torch.float32
        base = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        merged = PeftModel.from_pretrained(base, str(dest)).merge_and_unload()
        for name in ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json"):
            (dest / name).unlink(missing_ok=True)
        merged.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def version_tags(
    cfg: MedGRPOConfig, *, dataset_sha256: str, recipe: str | None, user_tags: Mapping[str, str]
) -> dict[str, str]:
    """Model version tags of DESIGN §8 (user ``--tag`` values added, never overriding lineage)."""
    settings = get_settings()
    tags = {str(k): str(v) for k, v in user_tags.items()}
    tags.update(
        {
            "dataset_sha256": dataset_sha256,
            "recipe": recipe or "",
            "base_model": cfg.model_name_or_path,
            "git_sha": settings.git_sha,
            "image": settings.image,
            "airflow_dag_run": str(user_tags.get("airflow_dag_run", "")),
        }
    )
    return tags


def train(
    cfg: MedGRPOConfig,
    *,
    recipe: str | None = None,
    recipe_values: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    register: bool = True,
) -> dict[str, Any]:
    """Run (or resume) one GRPO training run; return and write the ``result.json`` content.

    Under ``accelerate launch`` every rank calls this; only the main process talks to MLflow,
    registers and writes ``result.json`` (other ranks return an outcome without a run id).
    """
    import mlflow
    from accelerate import PartialState
    from datasets import Dataset
    from trl import GRPOTrainer

    from medgrpo.train.callbacks import MlflowCheckpointCallback, replay_log_history
    from medgrpo.train.checkpoints import complete_checkpoints, fetch_latest_checkpoint
    from medgrpo.train.dataset import load_training_data, to_prompt_rows
    from medgrpo.train.rewards import get_reward_funcs
    from medgrpo.train.sources import resolve_model_source

    started = time.monotonic()
    tags = dict(tags or {})
    if not cfg.dataset:
        raise ValueError("no dataset: give --dataset DIR (a published dataset dir) or set dataset in the recipe")
    state = PartialState()  # initialised by the config (device setup); one per process
    is_main = state.is_main_process
    output_dir = Path(str(cfg.output_dir))
    output_dir.mkdir(parents=True, exist_ok=True)
    store = cfg.checkpoint_store or str(output_dir / DEFAULT_STORE)

    data = load_training_data(cfg.dataset)
    train_rows = to_prompt_rows(data.train, system_prompt=cfg.system_prompt, limit=cfg.max_train_samples, seed=cfg.seed)
    train_dataset = Dataset.from_list(train_rows)
    eval_dataset = None
    if cfg.eval_strategy != "no" and data.eval:
        eval_rows = to_prompt_rows(
            data.eval, system_prompt=cfg.system_prompt, limit=cfg.max_eval_samples, seed=cfg.seed
        )
        eval_dataset = Dataset.from_list(eval_rows)
    reward_funcs = get_reward_funcs(cfg.reward_funcs, cfg.reward_kwargs)
    with state.local_main_process_first():  # one download/build per node, the others reuse it
        model_path = resolve_model_source(cfg.model_name_or_path, output_dir / "model-source")
        checkpoint = fetch_latest_checkpoint(store, output_dir) if cfg.resume and state.is_local_main_process else None
    if cfg.resume and not state.is_local_main_process:  # the node's first process fetched it
        found = complete_checkpoints(store)
        checkpoint = output_dir / f"checkpoint-{found[-1][0]}" if found else None

    run_id = ""
    outcome: dict[str, Any] = {
        "run_id": None,
        "experiment": EXPERIMENT,
        "model_name": None,
        "model_version": None,
        "model_uri": None,
        "metrics": {},
    }
    try:
        if is_main:
            run_id = _open_run(
                cfg, data, store, recipe=recipe, recipe_values=recipe_values, run_name=run_name, tags=tags
            )
            outcome["run_id"] = run_id
        tokenizer = _load_tokenizer(model_path)
        callback = MlflowCheckpointCallback(run_id, store, cfg.completions_table_steps)
        # TRL loads the model from the path with ``model_init_kwargs`` (fp32 master weights unless
        # the recipe sets a dtype; ZeRO-3 sharded construction under DeepSpeed).
        trainer = GRPOTrainer(
            model=model_path,
            reward_funcs=list(reward_funcs),  # type: ignore[arg-type]
            args=cfg,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            callbacks=[callback],
            peft_config=_peft_config(cfg),
        )
        if cfg.warmup_sft_steps and checkpoint is None:
            from medgrpo.train.warmup import sft_warmup

            losses = sft_warmup(
                trainer.model,
                tokenizer,
                data.train,
                steps=cfg.warmup_sft_steps,
                learning_rate=cfg.warmup_sft_learning_rate,
                seed=cfg.seed,
                system_prompt=cfg.system_prompt,
            )
            if is_main:
                for i, loss in enumerate(losses, start=1):
                    mlflow.log_metric("warmup_sft_loss", loss, step=i)
        if checkpoint is not None and is_main:
            replayed = replay_log_history(run_id, checkpoint)
            log.info("resuming", extra={"checkpoint": str(checkpoint), "replayed_log_entries": replayed})
            mlflow.set_tag("resumed_from", checkpoint.name)
        if checkpoint is not None and _checkpoint_is_final(checkpoint):
            # A retry after the last checkpoint: the Trainer would run one step past max_steps when
            # resumed at the end, so load the final weights and state instead of training again.
            from transformers import TrainerState

            log.info("checkpoint is at max_steps: not training again", extra={"checkpoint": str(checkpoint)})
            trainer._load_from_checkpoint(str(checkpoint))
            trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
            train_metrics: dict[str, Any] = {}
        else:
            result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
            train_metrics = dict(result.metrics)

        final_dir = output_dir / "final-model"
        if is_main:
            callback.flush(cfg)
        _save_final_model(trainer, tokenizer, cfg, model_path, final_dir)
        metrics = {k: float(v) for k, v in train_metrics.items() if isinstance(v, (int, float))}
        metrics["global_step"] = float(trainer.state.global_step)
        for entry in reversed(trainer.state.log_history):  # the last per-step training metrics
            if "reward" in entry:
                metrics.update({f"last_{k}": float(v) for k, v in entry.items() if isinstance(v, (int, float))})
                break
        outcome["metrics"] = metrics
        if not is_main:
            return {**outcome, "main_process": False}

        mlflow.log_artifacts(str(final_dir), "model")
        mlflow.set_tag("dataset_sha256", data.sha256)
        if register:
            from medgrpo import registry

            mv = registry.register_model_version(
                run_id,
                "model",
                tags=version_tags(cfg, dataset_sha256=data.sha256, recipe=recipe, user_tags=tags),
                alias="challenger",
            )
            outcome.update(model_name=mv.name, model_version=str(mv.version), model_uri=mv.model_uri)
            mlflow.set_tag("model_uri", mv.model_uri)
        outcome["wall_seconds"] = round(time.monotonic() - started, 1)
        storage.write_text_atomic(str(output_dir / RESULT_FILE), json.dumps(outcome, indent=2) + "\n")
        mlflow.log_dict(outcome, "result.json")
    except BaseException:
        if is_main:
            mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run()
    log.info("training finished", extra={"run_id": run_id, "model_uri": outcome["model_uri"]})
    return outcome


def _open_run(
    cfg: MedGRPOConfig,
    data: Any,
    store: str,
    *,
    recipe: str | None,
    recipe_values: Mapping[str, Any] | None,
    run_name: str | None,
    tags: Mapping[str, str],
) -> str:
    """Start the MLflow run (or re-open the one recorded in the store by an earlier attempt)."""
    import mlflow

    from medgrpo.train.checkpoints import read_run_id, write_run_id

    _ensure_tracking_uri()
    mlflow.set_experiment(EXPERIMENT)
    existing = read_run_id(store) if cfg.resume else None
    if existing:
        log.info("continuing mlflow run", extra={"run_id": existing})
        mlflow.start_run(run_id=existing, log_system_metrics=_psutil_available())
        return existing
    run_tags = {**tags, "recipe": recipe or "", "base_model": cfg.model_name_or_path, "dataset": data.source}
    active = mlflow.start_run(run_name=run_name, tags=run_tags, log_system_metrics=_psutil_available())
    run_id = str(active.info.run_id)
    write_run_id(store, run_id)
    mlflow.log_params(recipe_params(cfg, recipe_values or {}))
    _log_dataset_input(data)
    if recipe and Path(recipe).is_file():
        mlflow.log_artifact(recipe, "recipe")
    return run_id


def _checkpoint_is_final(checkpoint: Path) -> bool:
    """True when the checkpoint was saved at the run's last step (its own ``max_steps``)."""
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return 0 < int(state.get("max_steps") or 0) <= int(state.get("global_step") or 0)


def _ensure_tracking_uri() -> None:
    """Point MLflow at ``MLFLOW_TRACKING_URI`` (what the registry module reads too).

    Without it, a sqlite store in the platform state dir is used (and said so). Setting the URI
    explicitly overrides any ``mlflow.set_tracking_uri`` made earlier in the same process.
    """
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        state_dir = get_settings().state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{state_dir / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = uri  # the registry module reads it through medgrpo.settings
        log.warning("MLFLOW_TRACKING_URI is not set; using %s", uri)
    mlflow.set_tracking_uri(uri)


def _psutil_available() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True
