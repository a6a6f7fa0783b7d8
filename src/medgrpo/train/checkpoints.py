"""Checkpoint store: complete checkpoints copied to a local folder or an s3:// prefix, and resumed from.

Layout under the store (the run's storage prefix)::

    run.json                       {"run_id": <MLflow run>} so a restarted pod continues the same run
    checkpoint-<step>/...          the Trainer's checkpoint folder, uploaded file by file
    checkpoint-<step>/COMPLETE     written last: only checkpoints with it are resumed from

A process killed during an upload leaves a checkpoint without ``COMPLETE``, which is ignored.

The store keeps the recipe's ``save_total_limit`` newest complete checkpoints (plus the best one
when the recipe selects by a metric): :func:`prune_checkpoints` removes older ones marker first, so
a half-removed checkpoint is never resumed from. Each checkpoint is also an MLflow logged model of
the run pointing here (:mod:`medgrpo.train.logged_models`); a pruned one is tagged so.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from medgrpo import storage

log = logging.getLogger(__name__)

MARKER = "COMPLETE"
_CKPT_RE = re.compile(r"checkpoint-(\d+)/" + MARKER + "$")


def complete_checkpoints(store: str) -> list[tuple[int, str]]:
    """``(step, uri)`` of every complete checkpoint in ``store``, oldest first."""
    if not storage.is_s3(store) and not Path(store).is_dir():
        return []
    found = []
    for uri in storage.list_files(store):
        rel = uri[len(store.rstrip("/")) + 1 :].replace("\\", "/")
        match = _CKPT_RE.search(rel)
        if match and rel.count("/") == 1:
            found.append((int(match.group(1)), storage.join(store, f"checkpoint-{match.group(1)}")))
    return sorted(found)


def upload_checkpoint(local_dir: str | Path, store: str, *, complete: bool = True) -> str:
    """Copy one checkpoint folder to ``store`` (and, by default, mark it complete); return its URI there."""
    local_dir = Path(local_dir)
    dest = storage.join(store, local_dir.name)
    storage.upload_dir(local_dir, dest)
    if complete:
        mark_complete(store, local_dir.name)
    log.info("checkpoint stored", extra={"checkpoint": local_dir.name, "dest": dest})
    return dest


def mark_complete(store: str, name: str) -> None:
    """Write the ``COMPLETE`` marker of checkpoint ``name``: from now on it may be resumed from."""
    storage.write_text_atomic(storage.join(store, name, MARKER), "ok\n")


def prune_checkpoints(store: str, *, keep: int | None, protect: frozenset[int] = frozenset()) -> list[int]:
    """Remove complete checkpoints beyond the ``keep`` newest (and not in ``protect``); return their steps.

    ``keep`` None or below 1 keeps everything. The ``COMPLETE`` marker goes first, then the files.
    """
    if not keep or keep < 1:
        return []
    found = complete_checkpoints(store)
    doomed = [(step, uri) for step, uri in found[:-keep] if step not in protect]
    for step, uri in doomed:
        storage.delete(storage.join(uri, MARKER))
        for file_uri in storage.list_files(uri):
            storage.delete(file_uri)
        if not storage.is_s3(uri):
            shutil.rmtree(uri, ignore_errors=True)
        log.info("checkpoint pruned from the store", extra={"step": step, "uri": uri})
    return [step for step, _ in doomed]


def fetch_latest_checkpoint(store: str, output_dir: str | Path) -> Path | None:
    """Download the newest complete checkpoint into ``output_dir`` (reusing a local copy); None if none."""
    found = complete_checkpoints(store)
    if not found:
        return None
    step, uri = found[-1]
    local = Path(output_dir) / f"checkpoint-{step}"
    if storage.is_s3(uri) or Path(uri).resolve() != local.resolve():
        storage.download_dir(uri, local)
    log.info("resuming from checkpoint", extra={"step": step, "source": uri})
    return local


def read_run_id(store: str) -> str | None:
    """The MLflow run id recorded in the store by an earlier attempt of this run, if any."""
    uri = storage.join(store, "run.json")
    if not storage.exists(uri):
        return None
    return str(json.loads(storage.read_text(uri))["run_id"])


def write_run_id(store: str, run_id: str) -> None:
    """Record the MLflow run id so a restarted attempt continues the same run."""
    storage.write_text_atomic(storage.join(store, "run.json"), json.dumps({"run_id": run_id}) + "\n")
