"""The GRPO training entrypoint behind ``medgrpo train`` (the training container's command).

One call of :func:`train` = one training attempt: resolve the model source, load the published
dataset, open (or re-open, after a preemption) the MLflow run in ``medgrpo/train``, train with
TRL's ``GRPOTrainer`` resuming from the newest stored checkpoint (each stored checkpoint is an
MLflow logged model of the run at its step, pointing at the store), publish the final (or, with
``load_best_model_at_end``, the best) weights once as the run's logged model ``model`` in the
transformers flavor (:mod:`medgrpo.train.logged_models`), register it (alias ``challenger``,
idempotent per run) with its model card (:mod:`medgrpo.model_card`) and write
``<output_dir>/result.json`` for the launcher.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import replace
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


def _train_dataset_ref(data: Any) -> tuple[str, str]:
    """``(name, digest)`` of the training data as an MLflow dataset (what :func:`_log_dataset_input` logs)."""
    files = data.manifest.get("files") or {}
    if isinstance(files.get("train.jsonl"), Mapping) and files["train.jsonl"].get("sha256"):
        return f"{data.manifest.get('name') or 'dataset'}-train", str(files["train.jsonl"]["sha256"])[:16]
    return str(data.name), str(data.sha256)[:16]


def _log_dataset_input(data: Any) -> None:
    """The dataset as the run's input (``mlflow.log_input``, same name/digest as the ingest run) + manifest."""
    import mlflow

    from medgrpo.model_lineage import split_dataset

    manifest = data.manifest
    dataset: Any = split_dataset(data.source, manifest, "train")
    if dataset is None:  # generated or manifest-less data: describe the records themselves
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


def lineage_tags(
    cfg: MedGRPOConfig, data: Any, *, recipe: str | None, run_id: str, user_tags: Mapping[str, str]
) -> dict[str, str]:
    """Tags of the run's logged models: where the data, the recipe and the base model came from."""
    settings = get_settings()
    tags = {
        "dataset_name": str(data.name),
        "dataset_sha256": str(data.sha256),
        "dataset_uri": str(data.source),
        "recipe": recipe or "",
        "base_model": cfg.model_name_or_path,
        "git_sha": settings.git_sha,
        "image": settings.image,
        "airflow_dag_run": str(user_tags.get("airflow_dag_run", "")),
    }
    if recipe and Path(recipe).is_file() and run_id:
        tags["recipe_artifact"] = f"runs:/{run_id}/recipe/{Path(recipe).name}"
    return {k: v for k, v in tags.items() if v}


#: Figures of the last logged step shown on the model card (besides every reward's mean).
CARD_FIGURES = (
    "global_step",
    "train_runtime",
    "train_loss",
    "last_reward",
    "last_reward_std",
    "last_completions/mean_length",
)
#: Recipe fields shown on the model card.
CARD_HYPERPARAMETERS = (
    "learning_rate",
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_completion_length",
    "temperature",
    "beta",
    "loss_type",
    "max_steps",
    "use_peft",
    "warmup_sft_steps",
    "seed",
)


def _selected_weights(cfg: MedGRPOConfig, state: Any) -> tuple[int, str]:
    """``(step, description)`` of the weights that are registered: the best checkpoint or the final step."""
    best = Path(str(getattr(state, "best_model_checkpoint", None) or "")).name
    if cfg.load_best_model_at_end and best.startswith("checkpoint-"):
        return int(best.rsplit("-", 1)[1]), (
            f"best {best} ({cfg.metric_for_best_model} = {getattr(state, 'best_metric', None)})"
        )
    return int(state.global_step), f"final step {int(state.global_step)}"


def _card_facts(
    cfg: MedGRPOConfig,
    data: Any,
    *,
    run_id: str,
    recipe: str | None,
    lineage: Mapping[str, str],
    metrics: Mapping[str, float],
    selected: str,
    base_resolved: str,
) -> Any:
    from medgrpo.model_card import CheckpointRef, TrainingFacts
    from medgrpo.train.logged_models import checkpoint_models, generation_defaults

    figures = {k: metrics[k] for k in CARD_FIGURES if k in metrics}
    figures.update({k: v for k, v in sorted(metrics.items()) if k.startswith("last_rewards/") and k.endswith("/mean")})
    return TrainingFacts(
        model_name=get_settings().model_name,
        base_model=cfg.model_name_or_path,
        base_model_resolved=base_resolved,
        run_id=run_id,
        dataset_manifest=data.manifest,
        dataset_sha256=str(data.sha256),
        dataset_uri=str(data.source),
        recipe=recipe or "",
        reward_funcs=list(cfg.reward_funcs),
        reward_weights=list(cfg.reward_weights) if cfg.reward_weights is not None else None,
        hyperparameters={k: getattr(cfg, k) for k in CARD_HYPERPARAMETERS if hasattr(cfg, k)},
        figures=figures,
        selected=selected,
        generation=generation_defaults(cfg),
        checkpoints=[CheckpointRef(step, mid, uri) for step, mid, uri in checkpoint_models(run_id)],
        lineage={k: lineage[k] for k in ("git_sha", "image", "airflow_dag_run", "recipe_artifact") if k in lineage},
    )


def _publish_and_register(
    cfg: MedGRPOConfig,
    trainer: Any,
    tokenizer: Any,
    data: Any,
    callback: Any,
    final_dir: Path,
    *,
    run_id: str,
    recipe: str | None,
    recipe_values: Mapping[str, Any] | None,
    user_tags: Mapping[str, str],
    metrics: Mapping[str, float],
    register: bool,
) -> dict[str, Any]:
    """Publish the run's logged model ``model`` (once) and register it with its card; return outcome fields."""
    import mlflow

    from medgrpo.model_card import training_card, write_training_card
    from medgrpo.train.callbacks import STEP_METRIC, numeric_metrics
    from medgrpo.train.logged_models import (
        REGISTERED_NAME,
        TAG_CHECKPOINT_MODEL,
        generation_defaults,
        link_step_metrics,
        publish_model,
    )
    from medgrpo.train.sources import registry_origin

    step, selected = _selected_weights(cfg, trainer.state)
    lineage = lineage_tags(cfg, data, recipe=recipe, run_id=run_id, user_tags=user_tags)
    origin = registry_origin(Path(str(cfg.output_dir)) / "model-source")
    facts = _card_facts(
        cfg,
        data,
        run_id=run_id,
        recipe=recipe,
        lineage=lineage,
        metrics=metrics,
        selected=selected,
        base_resolved=(origin or {}).get("model_uri", ""),
    )
    model_tags = dict(lineage)
    checkpoint_id = callback.checkpoint_models.get(step)
    if checkpoint_id:
        model_tags[TAG_CHECKPOINT_MODEL] = checkpoint_id
    logged = publish_model(
        run_id,
        final_dir,
        step=step,
        staging=Path(str(cfg.output_dir)) / "mlflow-model",
        tags=model_tags,
        params=recipe_params(cfg, recipe_values or {}),
        card_markdown=training_card(facts),
        generation=generation_defaults(cfg),
        served_name=facts.model_name,
    )
    keys = {STEP_METRIC}
    for entry in trainer.state.log_history:
        if int(entry.get("step", -1)) == step:
            keys.update(numeric_metrics(entry))
    link_step_metrics(run_id, logged.model_id, step, sorted(keys), dataset=callback.dataset)
    mlflow.set_tag("logged_model_id", logged.model_id)
    out: dict[str, Any] = {"logged_model_id": logged.model_id, "registered_step": step}
    if not register:
        return out
    from medgrpo import registry
    from medgrpo.evaluate.decoding import decoding_tags
    from medgrpo.faults import fault_point

    fault_point("train.register")  # fault-injection tests only (medgrpo.faults); a no-op otherwise
    mv = registry.register_model_version(
        run_id,
        REGISTERED_NAME,
        model_id=logged.model_id,
        # the decoding settings the gate evaluates this version (and its champion) with
        tags={
            **version_tags(cfg, dataset_sha256=data.sha256, recipe=recipe, user_tags=user_tags),
            "dataset_name": str(data.name),
            **decoding_tags(cfg, tokenizer),
        },
        alias="challenger",
    )
    write_training_card(
        mv.name,
        mv.version,
        training_card(replace(facts, model_name=mv.name, version=mv.version, logged_model_id=logged.model_id)),
    )
    mlflow.set_tag("model_uri", mv.model_uri)
    return {**out, "model_name": mv.name, "model_version": str(mv.version), "model_uri": mv.model_uri}


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
        callback = MlflowCheckpointCallback(
            run_id,
            store,
            cfg.completions_table_steps,
            model_tags=lineage_tags(cfg, data, recipe=recipe, run_id=run_id, user_tags=tags),
            dataset=_train_dataset_ref(data),
        )
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
            callback.log_checkpoint_model(int(checkpoint.name.rsplit("-", 1)[1]))
            replayed = replay_log_history(
                run_id, checkpoint, model_ids=callback.checkpoint_models, dataset=callback.dataset
            )
            log.info("resuming", extra={"checkpoint": str(checkpoint), "replayed_log_entries": replayed})
            mlflow.set_tag("resumed_from", checkpoint.name)
        if checkpoint is not None and _checkpoint_is_final(checkpoint):
            # A retry after the last checkpoint: the Trainer would run one step past max_steps when
            # resumed at the end, so load the final weights and state instead of training again.
            from transformers import TrainerState

            log.info("checkpoint is at max_steps: not training again", extra={"checkpoint": str(checkpoint)})
            trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
            trainer._load_from_checkpoint(str(_weights_to_register(cfg, trainer.state, checkpoint, store)))
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

        mlflow.set_tag("dataset_sha256", data.sha256)
        outcome.update(
            _publish_and_register(
                cfg,
                trainer,
                tokenizer,
                data,
                callback,
                final_dir,
                run_id=run_id,
                recipe=recipe,
                recipe_values=recipe_values,
                user_tags=tags,
                metrics=metrics,
                register=register,
            )
        )
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


def _weights_to_register(cfg: MedGRPOConfig, state: Any, checkpoint: Path, store: str) -> Path:
    """The checkpoint whose weights a retry after the last step registers: the best one, or ``checkpoint``.

    The best checkpoint is never pruned from the store (see the checkpoint callback), so it is
    fetched from there when the Trainer's local copy is gone.
    """
    step, _ = _selected_weights(cfg, state)
    if step == int(state.global_step):
        return checkpoint
    local = checkpoint.parent / f"checkpoint-{step}"
    if not (local / "trainer_state.json").is_file():
        storage.download_dir(storage.join(store, local.name), local)
    return local


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
