"""Checkpoint store: complete checkpoints copied to a local folder or an s3:// prefix, and resumed from.

Layout under the store (the run's storage prefix)::

    run.json                       {"run_id": <MLflow run>} so a restarted pod continues the same run
    checkpoint-<step>/...          the Trainer's checkpoint folder, uploaded file by file
    checkpoint-<step>/COMPLETE     written last: only checkpoints with it are resumed from

A process killed during an upload leaves a checkpoint without ``COMPLETE``, which is ignored.
"""

from __future__ import annotations

import json
import logging
import re
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
