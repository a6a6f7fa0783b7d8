"""De-identify a JSONL file (local or s3://): batches, optional worker processes, atomic output.

Line order is kept; the output appears only when every batch (and its canary) succeeded: it is
written to a temporary file next to the destination (or a local temporary file for s3://) and
renamed/uploaded at the end. On any failure nothing exists at the output path and DeidError says
which line or batch failed, never what it contained.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from medgrpo import storage
from medgrpo.deid.errors import DeidError

log = logging.getLogger(__name__)

_WORKER: Any = None
_WORKER_FIELDS: list[str] | None = None


def _read_batches(uri: str, batch_size: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Yield (index of the first record, records) per batch; DeidError on a bad line (line number only)."""
    batch: list[dict[str, Any]] = []
    first = 0
    count = 0
    try:
        with storage.open_binary(uri) as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.decode("utf-8").strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DeidError(f"{uri}: line {lineno}: not valid JSON ({err.msg} at column {err.colno})") from None
                if not isinstance(record, dict):
                    raise DeidError(f"{uri}: line {lineno}: expected a JSON object, found {type(record).__name__}")
                batch.append(record)
                count += 1
                if len(batch) >= batch_size:
                    yield first, batch
                    first, batch = count, []
    except UnicodeDecodeError:
        raise DeidError(f"{uri}: not UTF-8 text (after record {count})") from None
    except FileNotFoundError:
        raise DeidError(f"input {uri} does not exist") from None
    if batch:
        yield first, batch


def _init_worker(policy: str | None, fields: list[str] | None) -> None:
    global _WORKER, _WORKER_FIELDS
    from medgrpo.deid import load_deidentifier

    _WORKER = load_deidentifier(policy)
    _WORKER_FIELDS = fields


def _work(item: tuple[int, list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], Any]:
    first, records = item
    try:
        return _WORKER.process_batch(records, _WORKER_FIELDS, offset=first)
    except DeidError:
        raise
    except Exception as err:  # never let an exception carrying text cross the process boundary
        raise DeidError(f"batch starting at record #{first} failed ({type(err).__name__})") from None


def deidentify_jsonl(
    input_uri: str,
    output_uri: str,
    *,
    text_fields: Sequence[str] | None = None,
    policy: str | None = None,
    report_uri: str | None = None,
    workers: int = 1,
    batch_size: int = 256,
) -> dict[str, Any]:
    """De-identify ``input_uri`` into ``output_uri``; return (and optionally write) the audit report."""
    from medgrpo.deid import load_deidentifier

    if workers < 1:
        raise DeidError(f"workers must be >= 1, found {workers}")
    if batch_size < 1:
        raise DeidError(f"batch_size must be >= 1, found {batch_size}")
    started = time.perf_counter()
    deid = load_deidentifier(policy)  # fails early on a bad policy; also merges worker audits
    fields = list(text_fields) if text_fields is not None else None

    if storage.is_s3(output_uri):
        fd, tmp_name = tempfile.mkstemp(prefix="medgrpo-deid-", suffix=".jsonl")
    else:
        target = Path(output_uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    written = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            batches = _read_batches(input_uri, batch_size)
            if workers == 1:
                for first, records in batches:
                    new, audit = deid.process_batch(records, fields, offset=first)
                    deid.merge_audit(audit)
                    for rec in new:
                        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    written += len(new)
            else:
                ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
                with ctx.Pool(workers, initializer=_init_worker, initargs=(policy, fields)) as pool:
                    for new, audit in pool.imap(_work, batches, chunksize=1):
                        deid.merge_audit(audit)
                        for rec in new:
                            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                        written += len(new)
            out.flush()
            os.fsync(out.fileno())
        if storage.is_s3(output_uri):
            storage.upload_file(tmp, output_uri)
            tmp.unlink(missing_ok=True)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, output_uri)
    except DeidError:
        tmp.unlink(missing_ok=True)
        raise
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, KeyboardInterrupt | SystemExit):
            raise
        raise DeidError(f"de-identifying {input_uri} failed ({type(err).__name__})") from None

    report = deid.audit()
    report.update(
        {
            "input": input_uri,
            "output": output_uri,
            "text_fields": fields,
            "workers": workers,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    if report_uri:
        storage.write_text_atomic(report_uri, json.dumps(report, indent=2, sort_keys=True) + "\n")
    log.info("de-identified file", extra={"records": written, "entities": sum(report["entities"].values())})
    return report


def merge_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Combine the audit reports of shards de-identified separately (dynamic task mapping) into one.

    All shards must have run under the same policy and engine; counts are summed.
    """
    if not reports:
        raise DeidError("merge_reports: expected at least one shard report, found none")
    first = reports[0]
    for i, rep in enumerate(reports[1:], start=1):
        for key in ("policy_sha256", "engine_version"):
            if rep.get(key) != first.get(key):
                raise DeidError(f"merge_reports: shard {i} has a different {key} than shard 0")
    merged: dict[str, Any] = {
        "records": 0,
        "records_touched": 0,
        "canary_checks": 0,
        "entities": {},
        "entities_by_field": {},
        "shards": len(reports),
    }
    for rep in reports:
        for key in ("records", "records_touched", "canary_checks"):
            merged[key] += int(rep.get(key, 0))
        for etype, n in rep.get("entities", {}).items():
            merged["entities"][etype] = merged["entities"].get(etype, 0) + n
        for fname, counts in rep.get("entities_by_field", {}).items():
            target = merged["entities_by_field"].setdefault(fname, {})
            for etype, n in counts.items():
                target[etype] = target.get(etype, 0) + n
    for key in ("policy_name", "policy_sha256", "engine_version"):
        merged[key] = first.get(key)
    return merged
