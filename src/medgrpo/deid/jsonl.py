"""De-identify a JSONL file (local or s3://): batches, optional worker processes, atomic output.

Line order is kept; the output appears only when every batch (and its canary) succeeded: it is
written to a temporary file next to the destination (or a local temporary file for s3://) and
renamed/uploaded at the end. On any failure nothing exists at the output path and DeidError says
which line or batch failed, never what it contained.

Input lines are bounded like ingest's (:data:`medgrpo.data.sources.MAX_LINE_BYTES`): a longer line
fails the whole file (nothing is published), read without being kept. Where OUTPUT and ``--report``
will go is checked before any work; the report is staged before OUTPUT is published, so a report
that cannot be written leaves no output behind.
"""

from __future__ import annotations

import contextlib
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
    from medgrpo.data.sources import MAX_LINE_BYTES, iter_lines

    try:
        with storage.open_binary(uri) as fh:
            for lineno, raw, length in iter_lines(fh, MAX_LINE_BYTES):
                if raw is None:
                    raise DeidError(f"{uri}: line {lineno}: expected at most {MAX_LINE_BYTES} bytes, found {length}")
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


def _check_target(uri: str, what: str) -> None:
    """Fail early (DeidError) when a local ``uri`` cannot be written: a directory, or below a file or a folder
    we may not write. s3:// locations are checked when written."""
    if storage.is_s3(uri):
        return
    target = Path(uri)
    if target.is_dir():
        raise DeidError(f"{what} {uri}: expected a file path, found a directory")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:  # the nearest folder that exists
        folder = folder.parent
    if not folder.is_dir():
        raise DeidError(f"{what} {uri}: expected a path below a directory, found the file {folder} on the way")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DeidError(f"{what} {uri}: expected a writable directory, found {folder} not writable")


def _stage_local(uri: str, text: str) -> Path:
    """Write ``text`` to a temporary file next to local ``uri`` (renamed into place by the caller)."""
    target = Path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(name, 0o644)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


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
    _check_target(output_uri, "output")
    if report_uri:
        _check_target(report_uri, "report")

    try:
        if storage.is_s3(output_uri):
            fd, tmp_name = tempfile.mkstemp(prefix="medgrpo-deid-", suffix=".jsonl")
        else:
            target = Path(output_uri)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise DeidError(f"output {output_uri}: cannot be written ({err.strerror or type(err).__name__})") from None
    tmp = Path(tmp_name)
    written = 0
    report: dict[str, Any] = {}
    staged_report: Path | None = None
    report_published = output_published = False
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
        if report_uri:  # written (staged) before OUTPUT is published: a report that fails leaves no output
            report_text = json.dumps(report, indent=2, sort_keys=True) + "\n"
            try:
                if storage.is_s3(report_uri):
                    storage.write_text_atomic(report_uri, report_text)
                    report_published = True
                else:
                    staged_report = _stage_local(report_uri, report_text)
            except Exception as err:
                reason = getattr(err, "strerror", None) or type(err).__name__
                raise DeidError(f"report {report_uri}: cannot be written ({reason}); nothing was published") from None
        if storage.is_s3(output_uri):
            storage.upload_file(tmp, output_uri)
            tmp.unlink(missing_ok=True)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, output_uri)
        output_published = True
        if staged_report is not None and report_uri:
            os.replace(staged_report, report_uri)  # same folder: a rename
            staged_report = None
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if staged_report is not None:
            staged_report.unlink(missing_ok=True)
        if report_published and not output_published and report_uri:
            with contextlib.suppress(Exception):  # the s3:// report of an output that was never published
                storage.delete(report_uri)
        if isinstance(err, DeidError | KeyboardInterrupt | SystemExit):
            raise
        raise DeidError(f"de-identifying {input_uri} failed ({type(err).__name__})") from None

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
