"""Ingest: sources → canonical, validated, de-identified, de-duplicated, split, published dataset.

Three stages, each taking and returning URIs or small JSON-able dicts so an Airflow DAG can run
them as separate tasks (de-identification fanned out over shards); :func:`ingest` runs exactly
these three in sequence, so the CLI and the DAG share one code path:

1. :func:`prepare` — read every source incrementally, detect formats, convert, validate; write
   canonical shards and the raw quarantine to a *staging* location (never the published dataset).
2. :func:`deidentify_shard` — de-identify one shard through :mod:`medgrpo.deid`.
3. :func:`finalize` — exact de-duplication, the deterministic split, quarantine de-identification,
   the manifest, MLflow lineage, and atomic publication.

Keys computed in :func:`prepare` from the *raw* content travel with each staged record so the
later stages never need raw text: ``exact`` (content hash, for de-duplication across sources) and
``near`` (hash of the normalised question, the split key). Why raw: see :mod:`medgrpo.data.schema`.

Split: a record goes to eval when ``int(near[:15], 16) / 16**15 < eval_fraction``. It depends on
the record's own normalised question only, so (a) it is deterministic, (b) appending data never
moves an existing item, and (c) near-duplicates (same normalised question, e.g. the same stem
with reordered options, or the same item from two sources) always land on the same side.

Counts add up by construction and are checked before publishing:
``read = train + eval + quarantined + duplicates``. A "read" is one physical row (a JSONL line,
a list element, a keyed entry, a parquet/dataset row); blank lines are not rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

from medgrpo import storage
from medgrpo.data import dedup, formats, ids
from medgrpo.data.schema import (
    RecordError,
    dedup_keys,
    dumps_line,
    nested_deeper_than,
    source_name,
    validate_record,
)
from medgrpo.data.sources import MAX_RECORD_LINE_BYTES, Input, Row, SourceError, expand, iter_lines
from medgrpo.faults import fault_point

log = logging.getLogger(__name__)

SPLITS = ("train", "eval")
DATASET_FILES = ("train.jsonl", "eval.jsonl", "quarantine.jsonl")
TEXT_FIELDS = ["question", "options", "context", "explanation"]
# meta keys our own converters write (structured, PHI-free); any other meta entry is de-identified
SAFE_META_KEYS = frozenset(
    {
        "calculator", "unit", "tolerance", "difficulty", "decimals", "inputs",
        "meta_info", "cop_base", "subject_name", "topic_name", "choice_type", "year",
        ids.PATIENT_META_KEY,  # a keyed pseudonym by now (prepare replaced the source's value)
    }
)  # fmt: skip
_FREE_META = "_meta_free"
QUARANTINE_RAW = "quarantine.raw.jsonl"
PREPARE_STATE = "prepare.json"
ID_MAP_STAGED = "id-map.phi.jsonl"  # source ids (PHI): staging only, then the protected id-map root
FINALIZED = "finalized.json"  # what finalize published: a retried finalize returns it
PUBLISHING = "publishing.json"  # written just before publication: a retry recognises its own dataset
MAX_LISTED_INPUTS = 1000
#: Airflow's default ``[core] max_map_length``: de-identification is one mapped task per shard.
DEFAULT_MAX_SHARDS = 1024


class IngestError(RuntimeError):
    """Ingest cannot produce a dataset; the message is one line naming the source or the step."""


@dataclass
class IngestResult:
    """What :func:`finalize` (and :func:`ingest`) published."""

    out_dir: str
    manifest: dict[str, Any]
    counts: dict[str, int]
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One human line: where, and how many read/train/eval/quarantined/duplicates."""
        c = self.counts
        return (
            f"{self.out_dir}: read {c['read']}, train {c['train']}, eval {c['eval']}, "
            f"quarantined {c['quarantined']}, duplicates {c['duplicates']} "
            f"(sha256 {self.manifest['content_sha256'][:12]})"
        )


# --- stage 1: prepare -------------------------------------------------------------------------


class _ShardWriter:
    """Writes staged rows into ``shards/shard-NNNNN.jsonl`` of at most ``size`` rows each.

    At most ``max_shards`` shards (de-identification is one mapped Airflow task per shard, bounded
    by ``[core] max_map_length``): when one more shard would be needed, neighbouring shards are
    merged pairwise and the shard size doubles, so the shard count stays bounded and row order is kept.
    """

    def __init__(self, staging_dir: str, size: int, max_shards: int = DEFAULT_MAX_SHARDS) -> None:
        self.staging_dir, self.size, self.max_shards = staging_dir, size, max_shards
        self.buffer: list[str] = []
        self.uris: list[str] = []

    def add(self, item: Mapping[str, Any]) -> None:
        self.buffer.append(dumps_line(item))
        if len(self.buffer) >= self.size:
            self.flush()

    def _uri(self, index: int) -> str:
        return storage.join(self.staging_dir, "shards", f"shard-{index:05d}.jsonl")

    def flush(self) -> None:
        if not self.buffer:
            return
        if len(self.uris) >= self.max_shards:
            self._grow()
        uri = self._uri(len(self.uris))
        storage.write_text_atomic(uri, "\n".join(self.buffer) + "\n")
        self.uris.append(uri)
        self.buffer = []

    def _grow(self) -> None:
        """Merge shard pairs (0+1 → 0, 2+3 → 1, …) and double the shard size."""
        merged: list[str] = []
        for index in range(0, len(self.uris), 2):
            pair = self.uris[index : index + 2]
            text = "".join(storage.read_text(uri) for uri in pair)
            target = self._uri(len(merged))
            storage.write_text_atomic(target, text)
            merged.append(target)
        for uri in self.uris[len(merged) :]:
            storage.delete(uri)
        self.uris = merged
        self.size *= 2
        log.info("shard size grown to %d rows to keep at most %d shards (max_map_length)", self.size, self.max_shards)


class _LocalOrRemote:
    """A JSONL file written locally and, for an s3:// destination, uploaded on close.

    ``private`` files (raw rows, source ids) are readable by their owner only (0600).
    """

    def __init__(self, dest: str, *, private: bool = False) -> None:
        self.dest = dest
        self.count = 0
        if storage.is_s3(dest):
            fd, self.path = tempfile.mkstemp(suffix=".jsonl")  # 0600
        else:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            self.path = f"{dest}.tmp-{uuid.uuid4().hex[:8]}"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
        self.fh: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, item: Mapping[str, Any]) -> None:
        self.fh.write(dumps_line(item) + "\n")
        self.count += 1

    def close(self) -> None:
        self.fh.close()
        if storage.is_s3(self.dest):
            storage.upload_file(self.path, self.dest)
            Path(self.path).unlink(missing_ok=True)
        else:
            os.replace(self.path, self.dest)


def _clear_staging(staging_dir: str) -> None:
    """Remove what an earlier try of this run staged (a retried prepare starts from nothing)."""
    if storage.is_s3(staging_dir):
        for uri in storage.list_files(staging_dir):
            storage.delete(uri)
    else:
        shutil.rmtree(staging_dir, ignore_errors=True)
        Path(staging_dir).mkdir(parents=True, exist_ok=True)
        os.chmod(staging_dir, 0o700)  # raw rows and source ids: the owner only


def _read_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the source could not be read" (not bugs): OS, network, S3 client."""
    errors: list[type[BaseException]] = [OSError, EOFError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += [BotoCoreError, ClientError]
    except ImportError:  # boto3 is a dependency, but reading local files does not need it
        pass
    return tuple(errors)


def _choose_format(inp: Input, fmt: str) -> tuple[str | None, str]:
    """The format of one input (given, or detected from its first rows) and a note why."""
    if fmt != "auto":
        return fmt, "given"
    sample = [row.value for row in islice(inp.open_rows(), formats.DETECT_ROWS) if row.error is None]
    detected = formats.detect(sample)
    if detected:
        return detected, "detected"
    first = sample[0] if sample else None
    found = formats.safe_keys(first) if sample else "no parseable rows"
    return None, (
        f"format: expected rows of one of {', '.join(formats.FORMATS)} (auto-detected from keys), "
        f"found {found} in {inp.uri}"
    )


def _convert(row_value: Any, fmt: str, medmcqa_base: tuple[int | None, str]) -> dict[str, Any]:
    if not isinstance(row_value, Mapping):
        raise RecordError(f"record: expected a JSON object ({fmt} format), found {formats.describe(row_value)}")
    if fmt == "medmcqa":
        base, why = medmcqa_base
        return formats.from_medmcqa(row_value, base=base, why=why)
    return formats.CONVERTERS[fmt](row_value)


_PENDING_ID = "pending"  # stands in for the published id while a record is validated


def _deep_as_text(raw: Any, cap: int = 20_000) -> str | None:
    """A deeply nested raw row as (capped) JSON text for the quarantine, or None if even that fails."""
    try:
        text = json.dumps(raw, ensure_ascii=False)
    except (RecursionError, TypeError, ValueError):
        return None
    return text if len(text) <= cap else text[:cap] + "…"


def _take_source_id(record: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The record without its own ``id`` (validated with a placeholder) and that source id, if any."""
    given = record.get("id")
    if given is None or (isinstance(given, str) and not given.strip()):
        return {**record, "id": _PENDING_ID}, None
    if isinstance(given, bool) or not isinstance(given, str | int):
        raise RecordError(f"id: expected a string or integer source id, found {formats.describe(given)}")
    return {**record, "id": _PENDING_ID}, ids.canonical_value(given)


def _staged(key: ids.IdKey, row_value: Any, fmt: str, base: tuple[int | None, str], ref: str) -> dict[str, Any]:
    """One staged item: the validated record under its published id, its keys, and its source-id map entries."""
    pending, source_id = _take_source_id(_convert(row_value, fmt, base))
    record = validate_record(pending)
    exact, near = dedup_keys(record)
    scrubbed = ids.scrub_record(key, record, exact, ref, source_id=source_id)
    # id uniqueness is checked on the source's own id (reused with other content: quarantined)
    sid = key.pseudonym("source id", f"{record['source']}\x1f{source_id}", prefix="") if source_id else None
    return {
        "record": scrubbed.record,
        "exact": exact[:32],
        "near": near[:32],
        "fmt": fmt,
        **({"sid": sid} if sid else {}),
        "_map": scrubbed.entries,
    }


def prepare(
    sources: Sequence[str],
    staging_dir: str,
    *,
    fmt: str = "auto",
    shard_size: int = 5000,
    medmcqa_cop_base: int | None = None,
    max_shards: int = DEFAULT_MAX_SHARDS,
) -> dict[str, Any]:
    """Stage 1: load, convert and validate every source; write shards and the raw quarantine.

    Writes ``staging_dir/shards/shard-00000.jsonl`` …, ``staging_dir/quarantine.raw.jsonl`` (raw
    rows: staging only, never published before de-identification), ``staging_dir/id-map.phi.jsonl``
    (the source ids each published id / pseudonym replaced) and ``staging_dir/prepare.json``.
    Records get their published ids here (:mod:`medgrpo.data.ids`), from the raw content.
    ``medmcqa_cop_base`` (0 or 1) states MedMCQA's ``cop`` numbering instead of detecting it per
    file. At most ``max_shards`` shards are written (the shard size grows to fit). A retried
    prepare starts from an empty staging folder. Returns ``{"shards": [uri, ...], "counts": {...},
    "state": uri}``. Raises :class:`IngestError` (one line, naming the source) when a source is
    unreadable or yields no usable record, or when the id key is missing.
    """
    if not sources:
        raise IngestError("no sources given: expected at least one file, folder, s3:// prefix or hf:// dataset")
    if fmt != "auto" and fmt not in formats.FORMATS:
        raise IngestError(f"--format: expected auto or one of {', '.join(formats.FORMATS)}, found {fmt!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise IngestError(f"shard_size: expected a positive number of rows, found {shard_size}")
    if medmcqa_cop_base not in (None, 0, 1) or isinstance(medmcqa_cop_base, bool):
        raise IngestError(f"--medmcqa-cop-base: expected 0 or 1, found {medmcqa_cop_base!r}")
    if max_shards < 2:
        raise IngestError(f"max_shards: expected at least 2 (Airflow's [core] max_map_length), found {max_shards}")
    try:
        key = ids.load_key()
    except ids.IdKeyError as err:
        raise IngestError(str(err)) from None
    _clear_staging(staging_dir)
    shards = _ShardWriter(staging_dir, shard_size, max_shards)
    quarantine = _LocalOrRemote(storage.join(staging_dir, QUARANTINE_RAW), private=True)
    id_map = _IdMapCollector(storage.join(staging_dir, ID_MAP_STAGED))
    per_source: list[dict[str, Any]] = []
    inputs_info: list[dict[str, Any]] = []
    first_reason: dict[int, str] = {}
    ctx = _PrepareContext(key, shards, quarantine, id_map, first_reason, medmcqa_cop_base)
    try:
        for index, spec in enumerate(sources):
            try:
                inputs = expand(spec)
            except SourceError as err:
                raise IngestError(str(err)) from None
            stats = {"source": spec, "read": 0, "staged": 0, "quarantined": 0, "formats": {}}
            per_source.append(stats)
            for inp in inputs:
                try:
                    info = _prepare_input(inp, index, fmt, ctx, stats)
                except SourceError as err:
                    raise IngestError(str(err).splitlines()[0]) from None
                if len(inputs_info) < MAX_LISTED_INPUTS:
                    inputs_info.append(info)
        shards.flush()
    finally:
        quarantine.close()
        id_map.close()
    for index, stats in enumerate(per_source):
        if stats["staged"] == 0:
            why = first_reason.get(index, "no rows")
            raise IngestError(
                f"{stats['source']}: nothing usable read ({stats['read']} rows, {stats['quarantined']} quarantined; "
                f"first reason: {why})"
            )
    counts = {
        "read": sum(s["read"] for s in per_source),
        "staged": sum(s["staged"] for s in per_source),
        "quarantined": sum(s["quarantined"] for s in per_source),
    }
    state = {
        "sources": list(sources),
        "per_source": per_source,
        "inputs": inputs_info,
        "inputs_total": sum(len(s["formats"]) for s in per_source),
        "counts": counts,
        "shards": shards.uris,
        "shard_size": shards.size,
        "quarantine_raw": quarantine.dest,
        "id_map": {"staged": id_map.dest, "entries": id_map.count},
        "ids": {"method": ids.METHOD, "key": key.kind, "key_fingerprint": key.fingerprint},
    }
    state_uri = storage.join(staging_dir, PREPARE_STATE)
    storage.write_text_atomic(state_uri, json.dumps(state, indent=1))
    log.info("prepared %s", json.dumps(counts))
    return {"shards": shards.uris, "counts": counts, "state": state_uri}


class _IdMapCollector(_LocalOrRemote):
    """The staged source-id map (PHI, 0600): one entry per replaced source id, each patient once."""

    def __init__(self, dest: str) -> None:
        super().__init__(dest, private=True)
        self._patients: set[str] = set()

    def add(self, entries: Sequence[Mapping[str, Any]]) -> None:
        for entry in entries:
            if entry["kind"] == "patient_id":
                if entry["published_id"] in self._patients:
                    continue
                self._patients.add(entry["published_id"])
                entry = {k: v for k, v in entry.items() if k != "source_ref"}
            self.write(entry)


@dataclass
class _PrepareContext:
    """What every input of one prepare shares."""

    key: ids.IdKey
    shards: _ShardWriter
    quarantine: _LocalOrRemote
    id_map: _IdMapCollector
    first_reason: dict[int, str]
    cop_base: int | None


def _prepare_input(inp: Input, index: int, fmt: str, ctx: _PrepareContext, stats: dict[str, Any]) -> dict[str, Any]:
    chosen, why = _choose_format(inp, fmt)
    base: tuple[int | None, str] = (None, "")
    if chosen == "medmcqa" and ctx.cop_base is not None:
        base = (ctx.cop_base, "given (--medmcqa-cop-base)")
    elif chosen == "medmcqa":
        base = formats.medmcqa_base(
            row.value.get("cop") for row in inp.open_rows() if row.error is None and isinstance(row.value, Mapping)
        )
    info: dict[str, Any] = {
        "source": inp.spec, "uri": inp.uri, "format": chosen, "read": 0, "staged": 0, "quarantined": 0,
    }  # fmt: skip
    if chosen == "medmcqa":
        info["cop_base"] = base[0]
        info["cop_base_from"] = "given" if ctx.cop_base is not None else "detected"
    stats["formats"][inp.uri] = chosen
    rows: Iterator[Row]
    try:
        rows = inp.open_rows()
    except Exception as err:  # storage or datasets failure while opening
        raise IngestError(f"{inp.uri}: could not open ({type(err).__name__}: {err})") from None

    raw_source = source_name(chosen or "unknown")

    def bad(ref: str, reason: str, raw: Any) -> None:
        if nested_deeper_than(raw):  # kept as (capped) text: de-identification walks it, and must not recurse
            raw = _deep_as_text(raw)
        scrubbed = ids.scrub_raw(ctx.key, raw, raw_source, ref)
        ctx.id_map.add(scrubbed.entries)
        ctx.quarantine.write({"source_ref": ref, "reason": reason, "record": scrubbed.record, "src": index})
        info["quarantined"] += 1
        stats["quarantined"] += 1
        ctx.first_reason.setdefault(index, f"{ref}: {reason}")

    try:
        for row in rows:
            info["read"] += 1
            stats["read"] += 1
            if row.error is not None:
                bad(row.ref, row.error, row.text)
                continue
            if chosen is None:
                bad(row.ref, why, row.value)
                continue
            try:
                item = _staged(ctx.key, row.value, chosen, base, row.ref)
            except RecordError as err:
                bad(row.ref, str(err), row.value)
                continue
            ctx.id_map.add(item.pop("_map"))
            ctx.shards.add({**item, "ref": row.ref, "src": index})
            info["staged"] += 1
            stats["staged"] += 1
    except _read_errors() as err:  # a read failure mid-stream (network, storage); bugs propagate as they are
        raise IngestError(
            f"{inp.uri}: reading failed after {info['read']} rows ({type(err).__name__}: {err})"
        ) from None
    return info


# --- stage 2: de-identify ---------------------------------------------------------------------


def _read_jsonl(uri: str) -> Iterator[dict[str, Any]]:
    """The items of a staged JSONL file (lines bounded: a longer line means the file is corrupt)."""
    with storage.open_binary(uri) as fh:
        for number, line, length in iter_lines(fh, MAX_RECORD_LINE_BYTES):
            if line is None:
                raise IngestError(
                    f"{uri}:{number}: expected a staged line of at most {MAX_RECORD_LINE_BYTES} bytes, found {length}"
                )
            if line.strip():
                yield json.loads(line)


def _split_meta(record: dict[str, Any]) -> dict[str, Any]:
    """Move meta entries we did not write ourselves into a top-level field that gets de-identified."""
    meta = record.get("meta") or {}
    free = {k: v for k, v in meta.items() if k not in SAFE_META_KEYS}
    if not free:
        return record
    out = dict(record)
    out["meta"] = {k: v for k, v in meta.items() if k in SAFE_META_KEYS}
    out[_FREE_META] = free
    return out


def _join_meta(record: dict[str, Any]) -> dict[str, Any]:
    if _FREE_META not in record:
        return record
    out = dict(record)
    free = out.pop(_FREE_META)
    out["meta"] = {**(out.get("meta") or {}), **(free if isinstance(free, dict) else {})}
    return out


# formats of published QA corpora: their default policy is public-benchmark (DESIGN §8a)
PUBLIC_BENCHMARK_FORMATS = frozenset({"medqa", "medmcqa", "pubmedqa", "verifiable"})
PROTECTED_FIELDS = ("options", "answer")
DEID_QUARANTINE = "deid_quarantine"


def policy_for(fmt: str | None, policy: str | None = None) -> str:
    """The de-identification policy for a source of format ``fmt``: ``policy`` when given (a name or a
    file, for every source), else ``public-benchmark`` for published QA formats, else the default for
    sources of unknown kind (``MEDGRPO_DEID_POLICY`` or ``clinical``)."""
    if policy:
        return policy
    if fmt in PUBLIC_BENCHMARK_FORMATS:
        return "public-benchmark"
    from medgrpo.deid.policy import default_policy_name

    return default_policy_name()


def deidentify_items(deid: Any, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str | None]]:
    """De-identify canonical records in order; answers and options of a publishable record are never altered.

    Free-text fields (question, context, explanation, free-form meta) are de-identified. Options and
    text answers are only *checked*: when the policy would change one, the record gets a quarantine
    reason (field and entity types, never text) instead; its options and answer are then returned
    de-identified too, so no staged file downstream holds PHI (the record is never published as an item).
    """
    prepared = [_split_meta(r) for r in records]
    out: list[dict[str, Any] | None] = [None] * len(prepared)
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, rec in enumerate(prepared):
        fields = list(TEXT_FIELDS)
        fields.remove("options")
        if _FREE_META in rec:
            fields.append(_FREE_META)
        groups.setdefault(tuple(fields), []).append(i)
    for field_names, indexes in groups.items():
        done = deid.deidentify_records([prepared[i] for i in indexes], text_fields=list(field_names))
        if len(done) != len(indexes):
            raise RuntimeError(f"de-identification returned {len(done)} records for {len(indexes)}")
        for i, rec in zip(indexes, done, strict=True):
            out[i] = _join_meta(rec)
    reasons: list[str | None] = [None] * len(prepared)
    protected = [
        {"options": r.get("options"), "answer": r.get("answer") if r.get("answer_type") == "text" else None}
        for r in prepared
    ]
    checked, _ = deid.process_batch(protected, list(PROTECTED_FIELDS))  # counted nowhere: nothing is changed
    for i, (before, after) in enumerate(zip(protected, checked, strict=True)):
        changed = []
        options = before["options"] if isinstance(before["options"], dict) else {}
        for key, text in options.items():
            if (after["options"] or {}).get(key) != text:
                changed.append(f"options.{key}")
        if before["answer"] is not None and after["answer"] != before["answer"]:
            changed.append("answer")
        if changed:
            quarantined = out[i]
            if quarantined is not None:  # nothing downstream may hold the original values
                if isinstance(before["options"], dict):
                    quarantined["options"] = after["options"]
                if before["answer"] is not None:
                    quarantined["answer"] = after["answer"]
            types = sorted({s.entity for f in changed for s in deid.analyze(_field_text(before, f))})
            reasons[i] = (
                f"deid: {', '.join(changed)} would be altered by de-identification "
                f"({', '.join(types) or 'identifier'}) under policy {deid.policy.name}; "
                "answers and options are never changed"
            )
    return [r for r in out if r is not None], reasons


def _field_text(record: Mapping[str, Any], path: str) -> str:
    if path == "answer":
        return str(record.get("answer") or "")
    return str((record.get("options") or {}).get(path.split(".", 1)[1], ""))


def deidentify_records(deid: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """De-identify canonical records in order (free text only; see :func:`deidentify_items`)."""
    return deidentify_items(deid, records)[0]


_DEIDENTIFIERS: dict[tuple[str | None, str], Any] = {}


def _load_deidentifier(policy: str | None) -> Any:
    """A de-identifier for ``policy`` (a built-in name, a file, or ``None`` for the default), loaded once per
    process and policy content (fails closed)."""
    from medgrpo.deid import load_deidentifier  # type: ignore[attr-defined,unused-ignore]
    from medgrpo.deid.policy import BUILTIN_POLICIES

    digest = ""
    if policy and policy not in BUILTIN_POLICIES and storage.exists(policy):  # a missing file: DeidError below
        digest = hashlib.sha256(storage.read_bytes(policy)).hexdigest()
    key = (policy, digest)
    if key not in _DEIDENTIFIERS:
        _DEIDENTIFIERS[key] = load_deidentifier(policy)
    return _DEIDENTIFIERS[key]


def audit_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``after − before`` for cumulative audit dicts (numbers subtract, nested dicts recurse)."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        prev = before.get(key)
        if isinstance(value, Mapping):
            out[key] = audit_delta(prev if isinstance(prev, Mapping) else {}, value)
            out[key] = {k: v for k, v in out[key].items() if v != 0}
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value - (prev if isinstance(prev, int | float) and not isinstance(prev, bool) else 0)
        else:
            out[key] = value
    return out


def deidentify_shard(shard_uri: str, out_uri: str, *, policy: str | None = None) -> dict[str, Any]:
    """Stage 2: de-identify one staged shard into ``out_uri``; return that shard's audit dict.

    Each record goes through the policy of its source (:func:`policy_for`: ``policy`` for all when given).
    A record whose answer or options the policy would alter is written unchanged there and marked with
    a ``deid_quarantine`` reason; :func:`finalize` quarantines it. The audit is counts only, per policy.
    Fails closed: any de-identification error (``DeidError``) propagates and nothing is written.
    """
    items = list(_read_jsonl(shard_uri))
    by_policy: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_policy.setdefault(policy_for(item.get("fmt"), policy), []).append(i)
    results: list[dict[str, Any] | None] = [None] * len(items)
    audits: dict[str, dict[str, Any]] = {}
    for name, indexes in by_policy.items():
        deid = _load_deidentifier(name)
        before = dict(deid.audit())
        records, reasons = deidentify_items(deid, [items[i]["record"] for i in indexes])
        for i, rec, reason in zip(indexes, records, reasons, strict=True):
            results[i] = {**items[i], "record": rec, **({DEID_QUARANTINE: reason} if reason else {})}
        audit = audit_delta(before, deid.audit())
        audit["quarantined_protected_fields"] = sum(1 for r in reasons if r)
        audits[str(audit.get("policy_name") or name)] = audit
    lines = [dumps_line(r) for r in results if r is not None]
    fault_point("deid.shard")  # fault-injection tests only (medgrpo.faults); a no-op otherwise
    storage.write_text_atomic(out_uri, "\n".join(lines) + ("\n" if lines else ""))
    total = merge_audits([{**a, "policies": {k: a}} for k, a in audits.items()])
    total["shard"] = shard_uri
    return total


def merge_audits(audits: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum per-shard audits into one summary: totals, and per policy (counts add; a policy name must always
    mean the same policy content)."""
    total: dict[str, Any] = {"records": 0, "records_touched": 0, "entities": {}, "entities_by_field": {}}
    per_policy: dict[str, dict[str, Any]] = {}
    engines: set[str] = set()

    def add(into: dict[str, Any], audit: Mapping[str, Any]) -> None:
        into["records"] = into.get("records", 0) + int(audit.get("records", 0))
        into["records_touched"] = into.get("records_touched", 0) + int(audit.get("records_touched", 0))
        into.setdefault("entities", {})
        into.setdefault("entities_by_field", {})
        for etype, n in (audit.get("entities") or {}).items():
            into["entities"][etype] = into["entities"].get(etype, 0) + int(n)
        for fname, per in (audit.get("entities_by_field") or {}).items():
            slot = into["entities_by_field"].setdefault(fname, {})
            if isinstance(per, Mapping):
                for etype, n in per.items():
                    slot[etype] = slot.get(etype, 0) + int(n)

    for audit in audits:
        add(total, audit)
        if audit.get("engine_version"):
            engines.add(str(audit["engine_version"]))
        policies = audit.get("policies") or (
            {str(audit.get("policy_name") or "default"): audit} if audit.get("policy_sha256") else {}
        )
        for name, pa in policies.items():
            slot = per_policy.setdefault(name, {"policy_sha256": pa.get("policy_sha256")})
            if slot["policy_sha256"] != pa.get("policy_sha256"):
                raise IngestError(f"de-identification audits disagree on the content of policy {name!r}")
            add(slot, pa)
            slot["quarantined_protected_fields"] = slot.get("quarantined_protected_fields", 0) + int(
                pa.get("quarantined_protected_fields", 0)
            )
    total["policies"] = per_policy
    shas = {p["policy_sha256"] for p in per_policy.values() if p.get("policy_sha256")}
    total["policy_sha256"] = shas.pop() if len(shas) == 1 else None
    total["policy_name"] = next(iter(per_policy)) if len(per_policy) == 1 else None
    total["engine_version"] = ", ".join(sorted(engines)) or None
    return total


# --- stage 3: finalize ------------------------------------------------------------------------


class _HashedWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = open(path, "wb")  # noqa: SIM115 (closed in close())
        self.sha = hashlib.sha256()
        self.records = 0
        self.bytes = 0

    def write(self, item: Mapping[str, Any]) -> None:
        data = (dumps_line(item) + "\n").encode("utf-8")
        self.fh.write(data)
        self.sha.update(data)
        self.records += 1
        self.bytes += len(data)

    def close(self) -> dict[str, Any]:
        self.fh.close()
        return {"sha256": self.sha.hexdigest(), "bytes": self.bytes, "records": self.records}


def _iter_items(uris: Sequence[str]) -> Iterator[dict[str, Any]]:
    for uri in uris:
        yield from _read_jsonl(uri)


def _id_key(record_id: Any) -> int:
    return int(hashlib.sha256(str(record_id).encode("utf-8")).hexdigest()[:16], 16)


def eval_bucket(near: str) -> float:
    """Position of a split key in [0, 1): the record is in eval when this is below eval_fraction."""
    return int(near[:15], 16) / 16**15


def _new_counts() -> dict[str, int]:
    return {"read": 0, "train": 0, "eval": 0, "quarantined": 0, "duplicates": 0}


def finalize(
    deid_shard_uris: Sequence[str],
    staging_dir: str,
    out_dir: str,
    *,
    name: str | None = None,
    eval_fraction: float = 0.1,
    audits: Sequence[Mapping[str, Any]] | None = None,
    policy: str | None = None,
    deid: bool | None = None,
    cleanup_staging: bool = True,
) -> IngestResult:
    """Stage 3: de-duplicate, split, de-identify the quarantine, write the manifest, publish.

    ``deid`` says whether the shards were de-identified: ``False`` (the CLI's ``--no-deid``) is
    recorded in the manifest and publishes quarantined rows as read; ``None`` (default) infers it
    from ``audits`` (given: de-identified; ``None``: not), but still de-identifies the quarantine,
    so forgetting an argument can only under-claim, never publish raw PHI. Otherwise quarantined
    raw rows are de-identified with ``policy`` before they are written (a row whose
    de-identification fails is published with ``record: null``).

    The source-id map is copied to the protected id-map root (:func:`medgrpo.data.ids.id_map_root`)
    before the dataset is published; the manifest says where and how many entries, never what.

    Safe to retry: after a successful publication the staged rows (raw shards, de-identified
    shards, raw quarantine, staged id map) are deleted unless ``cleanup_staging=False`` (raw PHI
    should not outlive the run) and ``finalized.json`` records what was published, so a retried
    finalize returns that result instead of failing on the missing shards. A finalize that died
    after publishing but before recording it finds its own publication (same content) and does not
    publish or log lineage twice.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise IngestError(f"--eval-fraction: expected a number in [0, 1), found {eval_fraction}")
    done = _finalized(staging_dir, out_dir)
    if done is not None:
        if cleanup_staging:
            _remove_staged_data(staging_dir, deid_shard_uris)
        return done
    state = _read_state(staging_dir)
    _require_shards(deid_shard_uris, staging_dir)
    result = _finalize(deid_shard_uris, staging_dir, state, out_dir, name, eval_fraction, audits, policy, deid)
    if cleanup_staging:
        _remove_staged_data(staging_dir, deid_shard_uris)
    log.info("published %s %s", out_dir, json.dumps(result.counts))
    return result


def _finalized(staging_dir: str, out_dir: str) -> IngestResult | None:
    """What an earlier, successful try of this finalize published (``finalized.json``), or None."""
    uri = storage.join(staging_dir, FINALIZED)
    if not storage.exists(uri):
        return None
    done = json.loads(storage.read_text(uri))
    if done["out_dir"] != out_dir:
        raise IngestError(
            f"{staging_dir}: this staging was already published to {done['out_dir']}, not {out_dir}; "
            "run prepare again to publish elsewhere"
        )
    log.info("finalize already published %s (sha256 %s): nothing to do", out_dir, done["manifest"]["content_sha256"])
    return IngestResult(done["out_dir"], done["manifest"], done["counts"], done.get("quarantine_reasons", {}))


def _read_state(staging_dir: str) -> dict[str, Any]:
    uri = storage.join(staging_dir, PREPARE_STATE)
    if not storage.exists(uri):
        raise IngestError(
            f"{uri}: expected the state prepare writes, found none (staging removed after a failed run? "
            "run the whole ingest again)"
        )
    state: dict[str, Any] = json.loads(storage.read_text(uri))
    return state


def _require_shards(uris: Sequence[str], staging_dir: str) -> None:
    missing = [uri for uri in uris if not storage.exists(uri)]
    if missing:
        raise IngestError(
            f"{missing[0]}: expected a staged shard, found none ({len(missing)} of {len(uris)} missing; "
            f"staging {staging_dir} was cleaned up: run the whole ingest again)"
        )


def _finalize(
    deid_shard_uris: Sequence[str],
    staging_dir: str,
    state: dict[str, Any],
    out_dir: str,
    name: str | None,
    eval_fraction: float,
    audits: Sequence[Mapping[str, Any]] | None,
    policy: str | None,
    deid: bool | None,
) -> IngestResult:
    deidentified = deid if deid is not None else audits is not None
    name = check_name(name) if name else _default_name(out_dir)
    by_source = [_new_counts() for _ in state["sources"]]
    by_record_source: dict[str, dict[str, int]] = {}
    reasons: dict[str, int] = {}
    build = _build_dir(out_dir, staging_dir)
    try:
        writers = {n: _HashedWriter(build / n) for n in DATASET_FILES}
        late = _LocalOrRemote(str(build / ".late-quarantine.jsonl"))  # removed before publishing
        check = deid is not False  # de-identification must keep records valid (without it they are unchanged)
        with tempfile.TemporaryDirectory(prefix="medgrpo-dedup-") as workdir:
            plan = dedup.DedupPlan(workdir)
            for pos, item in enumerate(_iter_items(deid_shard_uris)):  # pass 1: keys only
                if item.get(DEID_QUARANTINE):
                    plan.add_invalid(pos, str(item[DEID_QUARANTINE]))
                    continue
                if check:
                    try:
                        validate_record(item["record"])
                    except RecordError as err:
                        plan.add_invalid(pos, str(err))
                        continue
                plan.add(pos, int(item["exact"][:16], 16), _id_key(item.get("sid") or item["record"].get("id")))
            codes = dedup.statuses(plan.resolve())
            # pass 2: write (codes is endless: one per position, KEEP past the last planned one)
            for item, (code, why) in zip(_iter_items(deid_shard_uris), codes, strict=False):
                src, record = int(item["src"]), item["record"]
                if code == dedup.DUPLICATE:
                    by_source[src]["duplicates"] += 1
                    continue
                if code != dedup.KEEP:
                    reason = (
                        f"after de-identification: {why}"
                        if code == dedup.INVALID
                        else "id: expected each source id once per source, found one an earlier record "
                        "with different content already uses"
                    )
                    late.write({"source_ref": item["ref"], "reason": reason, "record": record, "src": src})
                    continue
                split = "eval" if eval_bucket(item["near"]) < eval_fraction else "train"
                writers[f"{split}.jsonl"].write(record)
                by_source[src][split] += 1
                per = by_record_source.setdefault(record["source"], {"train": 0, "eval": 0})
                per[split] += 1
        late.close()
        try:
            quarantine_audit = _write_quarantine(
                state["quarantine_raw"], late.dest, writers["quarantine.jsonl"], by_source, reasons, deid, policy
            )
        finally:
            Path(late.dest).unlink(missing_ok=True)
        files = {n: w.close() for n, w in writers.items()}
        for stats, src_state in zip(by_source, state["per_source"], strict=True):
            stats["read"] = int(src_state["read"])
        counts = _new_counts()
        for stats in by_source:
            for k in counts:
                counts[k] += stats[k]
        _check_counts(counts, by_source, state)
        content_sha = hashlib.sha256(
            "".join(f"{n} {files[n]['sha256']}\n" for n in DATASET_FILES).encode("utf-8")
        ).hexdigest()
        deid_summary: dict[str, Any]
        if deidentified:
            deid_summary = {"enabled": True, **merge_audits(list(audits or []))}
            deid_summary["quarantine"] = quarantine_audit
            deid_summary["policy_by_source"] = _policy_by_source(state, policy)
        elif deid is False:
            deid_summary = {"enabled": False, "reason": "--no-deid: the caller declared the sources free of PHI"}
        else:
            deid_summary = {
                "enabled": False,
                "reason": "finalize received no de-identification audits: records published as staged",
                "quarantine": quarantine_audit,
            }
        manifest = _manifest(
            name, content_sha, files, counts, by_source, by_record_source, state, eval_fraction, deid_summary, reasons
        )
        manifest["ids"] = {
            **state.get("ids", {}),
            "source_id_map": _publish_id_map(state, name, manifest["version"], out_dir),
        }
        manifest = _publish_once(build, out_dir, manifest, staging_dir)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    result = IngestResult(out_dir=out_dir, manifest=manifest, counts=counts, quarantine_reasons=reasons)
    done = {"out_dir": out_dir, "manifest": manifest, "counts": counts, "quarantine_reasons": reasons}
    storage.write_text_atomic(storage.join(staging_dir, FINALIZED), json.dumps(done))
    return result


def _publish_once(build: Path, out_dir: str, manifest: dict[str, Any], staging_dir: str) -> dict[str, Any]:
    """Publish (with lineage) unless an earlier try of this finalize already published this content.

    ``publishing.json`` is written just before publication; when it names the same content and
    ``out_dir`` already holds a manifest with that content, the earlier try got as far as publishing
    and its manifest (with its MLflow run) is the result.
    """
    intent_uri = storage.join(staging_dir, PUBLISHING)
    sha = manifest["content_sha256"]
    if storage.exists(intent_uri) and not storage.is_s3(staging_dir):
        _remove_interrupted_publication(out_dir, Path(intent_uri).stat().st_mtime - 1)
    if storage.exists(intent_uri) and json.loads(storage.read_text(intent_uri)).get("content_sha256") == sha:
        manifest_uri = storage.join(out_dir, "manifest.json")
        published = json.loads(storage.read_text(manifest_uri)) if storage.exists(manifest_uri) else None
        if isinstance(published, dict) and published.get("content_sha256") == sha:
            log.info("an earlier try already published %s (sha256 %s): not publishing again", out_dir, sha[:12])
            return published
    storage.write_text_atomic(intent_uri, json.dumps({"out_dir": out_dir, "content_sha256": sha}))
    _publish_with_lineage(build, out_dir, manifest)
    return manifest


def _publish_id_map(state: Mapping[str, Any], name: str, version: str, out_dir: str) -> dict[str, Any]:
    """Copy the staged source-id map (PHI) to the protected id-map root, with its PHI header.

    Written before the dataset is published (a published dataset always has its map); the name
    depends only on the dataset name and version, so a retry rewrites the same file.
    """
    staged = (state.get("id_map") or {}).get("staged")
    entries = int((state.get("id_map") or {}).get("entries", 0))
    summary: dict[str, Any] = {"classification": "PHI", "entries": entries, "uri": None}
    if not staged or entries == 0:
        return summary
    root = ids.id_map_root()
    if _inside(root, out_dir):
        raise IngestError(
            f"{ids.ID_MAP_ROOT_ENV}: expected a protected location outside the dataset directory, found {root} "
            f"inside {out_dir}"
        )
    dest = storage.join(root, storage_safe(name), f"{version}.id-map.phi.jsonl")
    header = ids.map_header(dataset=name, version=version, entries=entries, key=state.get("ids", {}))
    with tempfile.TemporaryDirectory(prefix="medgrpo-idmap-") as tmp:
        local = Path(tmp, "map.jsonl")
        fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, storage.open_binary(staged) as src:
            out.write((dumps_line(header) + "\n").encode("utf-8"))
            shutil.copyfileobj(src, out)
        if not storage.is_s3(dest):
            Path(root).mkdir(parents=True, exist_ok=True, mode=0o700)
            Path(dest).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        storage.upload_file(local, dest)
    if not storage.is_s3(dest):
        os.chmod(dest, 0o600)
    summary["uri"] = dest
    return summary


def storage_safe(name: str) -> str:
    """A dataset name as one path component (no separators, no '..')."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return safe or "dataset"


def _inside(child: str, parent: str) -> bool:
    """Whether ``child`` is ``parent`` or below it (local paths resolved; s3:// by prefix)."""
    if storage.is_s3(child) or storage.is_s3(parent):
        return (child.rstrip("/") + "/").startswith(parent.rstrip("/") + "/")
    c, p = Path(child).resolve(), Path(parent).resolve()
    return c == p or p in c.parents


def _policy_by_source(state: Mapping[str, Any], policy: str | None) -> dict[str, list[str]]:
    """Which de-identification policy each source went through (one per detected format)."""
    out: dict[str, list[str]] = {}
    for src in state.get("per_source", []):
        formats = sorted({str(f) for f in (src.get("formats") or {}).values() if f})
        out[str(src["source"])] = sorted({policy_for(f, policy) for f in formats}) or [policy_for(None, policy)]
    return out


def _remove_staged_data(staging_dir: str, deid_shard_uris: Sequence[str] = ()) -> None:
    """Delete the staged rows of a published run: raw and de-identified shards, raw quarantine, id map.

    Keeps ``prepare.json`` and ``finalized.json`` (counts and URIs only), which make a retry a no-op.
    """
    state_uri = storage.join(staging_dir, PREPARE_STATE)
    state = json.loads(storage.read_text(state_uri)) if storage.exists(state_uri) else {}
    uris = [
        *state.get("shards", []),
        *deid_shard_uris,
        state.get("quarantine_raw"),
        (state.get("id_map") or {}).get("staged"),
    ]
    for folder in ("shards", "deid"):  # raw shards, and the de-identified ones written next to them or here
        if storage.is_s3(staging_dir):
            uris += storage.list_files(storage.join(staging_dir, folder))
        else:
            shutil.rmtree(Path(staging_dir, folder), ignore_errors=True)
    for uri in uris:
        if uri:
            try:
                storage.delete(uri)
            except Exception:  # cleanup must not turn a published dataset into a failed task
                log.warning("could not delete staged file %s", uri, exc_info=True)


def cleanup_staging(staging_dir: str) -> str:
    """Remove a run's staging once it can no longer be retried; return what was done.

    After a publication only the markers stay (:func:`finalize` already removed the rows; this
    repeats it in case it died half-way). When nothing was published (the run failed for good), the
    whole staging folder goes: raw rows must not outlive a failed run either.
    """
    if storage.exists(storage.join(staging_dir, FINALIZED)):
        _remove_staged_data(staging_dir)
        return "published: staged rows removed, markers kept"
    if storage.is_s3(staging_dir):
        files = storage.list_files(staging_dir)
        for uri in files:
            storage.delete(uri)
    else:
        files = storage.list_files(staging_dir) if Path(staging_dir).exists() else []
        shutil.rmtree(staging_dir, ignore_errors=True)
    return f"not published: staging removed ({len(files)} files)"


def check_name(name: str) -> str:
    """A dataset name given by the user, or IngestError: one path-safe component (no '/', no '..')."""
    import re

    from medgrpo.data import DATASET_NAME_PATTERN

    if not isinstance(name, str) or not re.fullmatch(DATASET_NAME_PATTERN, name):
        raise IngestError(
            f"--name: expected letters, digits, '.', '_', '-' (starting with a letter or digit, at most 128), "
            f"found {name!r}"[:300]
        )
    return name


def _default_name(out_dir: str) -> str:
    return storage_safe(Path(out_dir.rstrip("/")).name or "dataset")


def _build_dir(out_dir: str, staging_dir: str) -> Path:
    """A fresh local folder to assemble the dataset in (next to a local destination: same filesystem).

    Named after the run's staging folder, so a retry removes what a killed try of the same run left.
    """
    if storage.is_s3(out_dir):
        return Path(tempfile.mkdtemp(prefix="medgrpo-dataset-"))
    target = Path(out_dir).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.build-{hashlib.sha256(staging_dir.encode('utf-8')).hexdigest()[:8]}-"
    for stale in target.parent.glob(prefix + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))


def _remove_interrupted_publication(out_dir: str, since: float) -> None:
    """Remove the hidden ``.<name>.incoming-*`` folder a try killed inside publication left (local only).

    Only folders created after this run's ``publishing.json`` (``since``): the DAG runs one ingest
    at a time, so those are this run's own.
    """
    if storage.is_s3(out_dir):
        return  # an interrupted S3 upload is overwritten by the retry (same version folder)
    target = Path(out_dir).resolve()
    for stale in target.parent.glob(f".{target.name}.incoming-*"):
        if stale.stat().st_mtime >= since:
            shutil.rmtree(stale, ignore_errors=True)
            log.info("removed %s, left by an interrupted try of this run", stale)


def _reason_kind(reason: str) -> str:
    """The field part of a reason ("cop", "line", "answer") for the manifest's reason histogram."""
    head = reason.split(":", 1)[0].strip()
    return head if len(head) <= 40 else "other"


def _write_quarantine(
    raw_uri: str,
    late_path: str,
    writer: _HashedWriter,
    by_source: list[dict[str, int]],
    reasons: dict[str, int],
    deid: bool | None,
    policy: str | None,
) -> dict[str, Any] | None:
    """Publishable quarantine rows: raw rows de-identified in batches (or withheld if that fails)."""
    deidentifier = _load_deidentifier(policy) if deid is not False else None
    before = dict(deidentifier.audit()) if deidentifier is not None else {}

    def rows() -> Iterator[dict[str, Any]]:
        yield from _read_jsonl(raw_uri)
        yield from _read_jsonl(late_path)

    batch: list[dict[str, Any]] = []

    def flush() -> None:
        records: list[dict[str, Any] | None] = [{"record": row["record"]} for row in batch]
        if deidentifier is not None:
            records = _deid_quarantine(deidentifier, [{"record": row["record"]} for row in batch])
        for row, rec in zip(batch, records, strict=True):
            reason = (
                row["reason"] if rec is not None else row["reason"] + " (record withheld: de-identification failed)"
            )
            writer.write({"source_ref": row["source_ref"], "reason": reason, "record": rec["record"] if rec else None})
            by_source[int(row["src"])]["quarantined"] += 1
            kind = _reason_kind(row["reason"])
            reasons[kind] = reasons.get(kind, 0) + 1
        batch.clear()

    for row in rows():
        batch.append(row)
        if len(batch) >= 256:
            flush()
    flush()
    return audit_delta(before, deidentifier.audit()) if deidentifier is not None else None


def _deid_quarantine(deidentifier: Any, records: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    from medgrpo.deid import DeidError  # type: ignore[attr-defined,unused-ignore]

    try:
        return list(deidentifier.deidentify_records(records, text_fields=["record"]))
    except DeidError:
        out: list[dict[str, Any] | None] = []
        for rec in records:  # isolate the row(s) that fail; withhold only those
            try:
                out.append(deidentifier.deidentify_records([rec], text_fields=["record"])[0])
            except DeidError:
                out.append(None)
        return out


def _check_counts(counts: Mapping[str, int], by_source: list[dict[str, int]], state: Mapping[str, Any]) -> None:
    for stats, src in zip(by_source, state["per_source"], strict=True):
        total = stats["train"] + stats["eval"] + stats["quarantined"] + stats["duplicates"]
        if total != stats["read"]:
            raise IngestError(
                f"{src['source']}: counts do not add up: read {stats['read']} != train {stats['train']} + eval "
                f"{stats['eval']} + quarantined {stats['quarantined']} + duplicates {stats['duplicates']} "
                "(were all shards passed to finalize?)"
            )


def _manifest(
    name: str,
    content_sha: str,
    files: dict[str, dict[str, Any]],
    counts: dict[str, int],
    by_source: list[dict[str, int]],
    by_record_source: dict[str, dict[str, int]],
    state: Mapping[str, Any],
    eval_fraction: float,
    deid_summary: dict[str, Any],
    reasons: dict[str, int],
) -> dict[str, Any]:
    from medgrpo import __version__
    from medgrpo.settings import get_settings

    return {
        "schema_version": 1,
        "name": name,
        "version": content_sha[:16],
        "content_sha256": content_sha,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "code_version": {"medgrpo": __version__, "git_sha": get_settings().git_sha},
        "files": files,
        "counts": counts,
        "counts_by_source": {src: stats for src, stats in zip(state["sources"], by_source, strict=True)},
        "counts_by_record_source": dict(sorted(by_record_source.items())),
        "inputs": state["inputs"],
        "inputs_total": state["inputs_total"],
        "quarantine_reasons": dict(sorted(reasons.items())),
        "split": {
            "method": "eval when int(sha256(normalised question)[:15], 16) / 16**15 < eval_fraction",
            "eval_fraction": eval_fraction,
        },
        "dedup": {"exact": "sha256 of normalised question, options, answer, answer_type, context; across sources"},
        "deid": deid_summary,
    }


# --- lineage and publication ------------------------------------------------------------------


def _publish_with_lineage(build: Path, out_dir: str, manifest: dict[str, Any]) -> None:
    """Log to MLflow (when ``MLFLOW_TRACKING_URI`` is set) around an atomic publish.

    Choice: when the tracking URI is set but the server is unreachable, ingest fails *before*
    publishing (a dataset a model could train on must be traceable); when it is not set, lineage
    is skipped with a log line. The run is opened first so its id goes into the manifest, and it
    is marked FAILED if publication fails.
    """
    from medgrpo.data import lineage

    run = lineage.start(manifest, out_dir)
    if run is not None:
        manifest["mlflow"] = run
    storage.write_text_atomic(str(build / "manifest.json"), json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    try:
        storage.publish_dir(build, out_dir, version=manifest["version"], move=True)
    except BaseException:
        lineage.end(run, ok=False)
        raise
    lineage.end(run, ok=True)


# --- the whole pipeline -----------------------------------------------------------------------


def ingest(
    sources: Sequence[str],
    out_dir: str,
    *,
    fmt: str = "auto",
    name: str | None = None,
    policy: str | None = None,
    eval_fraction: float = 0.1,
    deid: bool = True,
    shard_size: int = 5000,
    medmcqa_cop_base: int | None = None,
) -> IngestResult:
    """Run :func:`prepare`, :func:`deidentify_shard` per shard and :func:`finalize` in sequence."""
    if not 0.0 <= eval_fraction < 1.0:
        raise IngestError(f"--eval-fraction: expected a number in [0, 1), found {eval_fraction}")
    if name:
        check_name(name)  # before any work
    staging = tempfile.mkdtemp(prefix="medgrpo-ingest-")
    try:
        prepared = prepare(sources, staging, fmt=fmt, shard_size=shard_size, medmcqa_cop_base=medmcqa_cop_base)
        audits: list[dict[str, Any]] = []
        shard_uris: list[str] = list(prepared["shards"])
        if deid:
            shard_uris = []
            for shard in prepared["shards"]:
                out = storage.join(staging, "deid", Path(shard).name)
                audits.append(deidentify_shard(shard, out, policy=policy))
                shard_uris.append(out)
        return finalize(
            shard_uris,
            staging,
            out_dir,
            name=name,
            eval_fraction=eval_fraction,
            audits=audits,
            policy=policy,
            deid=deid,
        )
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)


__all__ = [
    "IngestError",
    "IngestResult",
    "deidentify_shard",
    "finalize",
    "ingest",
    "merge_audits",
    "prepare",
]
