"""Trainer callback: checkpoint upload and MLflow metrics committed together at each save.

Metrics are buffered and written to MLflow only after the checkpoint covering their step has
been stored (``on_save``, main process only), so a run killed between checkpoints and resumed
logs every step exactly once: the steps after the last stored checkpoint were never written and
are trained (and logged) again. On resume, :func:`replay_log_history` writes the entries of the
resumed checkpoint's ``trainer_state.json`` that MLflow does not have yet (a kill between the
upload and the flush).

Each stored checkpoint also becomes an MLflow logged model of the run at its step
(:func:`medgrpo.train.logged_models.ensure_checkpoint_model`, pointing at the store, no weights
copied), and the metrics of that step are written linked to it. Checkpoints beyond the recipe's
``save_total_limit`` are pruned from the store (the best one kept) and their logged models tagged.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from medgrpo import storage
from medgrpo.train.checkpoints import mark_complete, prune_checkpoints, upload_checkpoint

log = logging.getLogger(__name__)

#: Metric logged with every flushed step; the highest step in its history is the last one logged.
STEP_METRIC = "global_step"


def numeric_metrics(logs: dict[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a Trainer log dict, with keys MLflow accepts."""
    out = {}
    for key, value in logs.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or key == "step":
            continue
        if math.isfinite(value):
            out[key.replace(" ", "_")] = float(value)
    return out


def last_logged_step(run_id: str) -> int:
    """Highest step already written to ``run_id`` (0 for a fresh run)."""
    from mlflow import MlflowClient

    history = MlflowClient().get_metric_history(run_id, STEP_METRIC)
    return max((int(m.step) for m in history), default=0)


def log_steps(
    run_id: str,
    entries: list[tuple[int, dict[str, float]]],
    *,
    model_ids: Mapping[int, str] | None = None,
    dataset: tuple[str, str] | None = None,
) -> None:
    """Write ``(step, metrics)`` entries to MLflow in one batch per step group.

    The metrics of a step in ``model_ids`` are linked to that logged model (a checkpoint saved at
    that step), with ``dataset`` ``(name, digest)`` as the data they were measured on.
    """
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    if not entries:
        return
    now = int(time.time() * 1000)
    by_step: dict[int, dict[str, float]] = {}
    for step, values in entries:  # one value per (key, step): later entries win
        by_step.setdefault(step, {}).update(values)
    metrics: list[Metric] = []
    for step, values in sorted(by_step.items()):
        model_id = (model_ids or {}).get(step)
        linked = (
            {"model_id": model_id, "dataset_name": dataset[0], "dataset_digest": dataset[1]}
            if model_id and dataset
            else {"model_id": model_id}
        )
        values = {**values, STEP_METRIC: float(step)}
        metrics.extend(Metric(key, value, now, step, **linked) for key, value in values.items())
    client = MlflowClient()
    for start in range(0, len(metrics), 900):  # MLflow accepts up to 1000 metrics per batch
        client.log_batch(run_id, metrics=metrics[start : start + 900], synchronous=True)


def replay_log_history(
    run_id: str,
    checkpoint_dir: str | Path,
    *,
    model_ids: Mapping[int, str] | None = None,
    dataset: tuple[str, str] | None = None,
) -> int:
    """Log the checkpoint's ``log_history`` entries past the last logged step; return how many."""
    state_file = Path(checkpoint_dir) / "trainer_state.json"
    if not state_file.is_file():
        return 0
    history = json.loads(state_file.read_text()).get("log_history", [])
    done = last_logged_step(run_id)
    entries = [(int(e["step"]), numeric_metrics(e)) for e in history if int(e.get("step", 0)) > done]
    log_steps(run_id, entries, model_ids=model_ids, dataset=dataset)
    return len(entries)


class MlflowCheckpointCallback(TrainerCallback):
    """Buffers metrics; at each save uploads the checkpoint, then writes the buffered metrics."""

    def __init__(
        self,
        run_id: str,
        store: str,
        completions_table_steps: int = 0,
        *,
        model_tags: Mapping[str, str] | None = None,
        dataset: tuple[str, str] | None = None,
    ) -> None:
        self.run_id = run_id
        self.store = store
        self.completions_table_steps = completions_table_steps
        self.model_tags = dict(model_tags or {})  # lineage tags of every checkpoint logged model
        self.dataset = dataset  # (name, digest) of the training data input
        self.checkpoint_models: dict[int, str] = {}  # step -> logged model id
        self.pending: list[tuple[int, dict[str, float]]] = []
        self._tables_logged: set[str] = set()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if state.is_world_process_zero and logs:
            self.pending.append((state.global_step, numeric_metrics(logs)))

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        """Each node's first process uploads its files; after a barrier the main process marks it complete."""
        from accelerate import PartialState

        checkpoint = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
        if state.is_local_process_zero and checkpoint.is_dir():
            upload_checkpoint(checkpoint, self.store, complete=False)
        PartialState().wait_for_everyone()
        if state.is_world_process_zero:
            mark_complete(self.store, checkpoint.name)
            self.log_checkpoint_model(state.global_step)
            self.flush(args)
            self._prune(args, state)

    def log_checkpoint_model(self, step: int) -> str:
        """The logged model of the stored checkpoint at ``step`` (made once, pointing at the store)."""
        from medgrpo.train.logged_models import checkpoint_model_name, ensure_checkpoint_model

        uri = storage.join(self.store, checkpoint_model_name(step))
        uri = uri if storage.is_s3(uri) else str(Path(uri).resolve())
        self.checkpoint_models[step] = ensure_checkpoint_model(self.run_id, step, uri, tags=self.model_tags)
        return self.checkpoint_models[step]

    def _prune(self, args: TrainingArguments, state: TrainerState) -> None:
        """Keep the recipe's ``save_total_limit`` newest stored checkpoints (and the best one)."""
        from medgrpo.train.logged_models import mark_checkpoint_pruned

        best = Path(str(getattr(state, "best_model_checkpoint", None) or "")).name
        protect = frozenset({int(best.rsplit("-", 1)[1])} if best.startswith("checkpoint-") else set())
        for step in prune_checkpoints(self.store, keep=getattr(args, "save_total_limit", None), protect=protect):
            mark_checkpoint_pruned(self.run_id, step)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            self.flush(args)

    def flush(self, args: TrainingArguments) -> None:
        """Write buffered metrics (and due completion tables) to MLflow."""
        entries, self.pending = self.pending, []
        log_steps(self.run_id, entries, model_ids=self.checkpoint_models, dataset=self.dataset)
        if self.completions_table_steps > 0:
            self._log_completion_tables(Path(str(args.output_dir)) / "completions")

    def _log_completion_tables(self, folder: Path) -> None:
        """TRL writes ``completions_<step>.parquet`` per logging step; log every N-th as an MLflow table."""
        import mlflow
        import pandas as pd

        for path in sorted(folder.glob("completions_*.parquet")):
            step = int(path.stem.rsplit("_", 1)[1])
            if path.name in self._tables_logged or step % self.completions_table_steps:
                continue
            frame = pd.read_parquet(path)
            for column in ("prompt", "completion"):
                if column in frame:
                    frame[column] = [_last_content(v) for v in frame[column]]
            mlflow.MlflowClient().log_table(self.run_id, data=frame, artifact_file=f"completions/step_{step:05d}.json")
            self._tables_logged.add(path.name)


def _last_content(value: Any) -> str:
    """Text of the last message of a conversation (or the value itself as text)."""
    try:
        items = list(value)
        if items and isinstance(items[-1], dict):
            return str(items[-1].get("content", ""))
    except TypeError:
        pass
    return str(value)
