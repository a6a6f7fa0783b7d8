"""Where rows come from: files, folders, s3:// prefixes and ``hf://`` datasets, read incrementally.

A source spec expands to one or more *inputs* (a file, an object, a dataset split). Each input is
re-openable (format detection and MedMCQA's answer-base decision peek or scan before converting)
and yields :class:`Row` objects: the parsed JSON value, or the reason it could not be parsed.
Nothing is dropped silently: every physical row becomes a :class:`Row`; only blank lines are
skipped (they are not rows).

JSONL (also ``.ndjson``, gzip-compressed ``.gz``) is read line by line with a bounded line buffer,
so memory does not grow with the file; a whole-file JSON document (a list of records, or
PubMedQA's ``ori_pqal.json`` object keyed by PMID) is parsed in one piece, which is fine for the
sizes those formats come in; parquet is read in record batches.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

from medgrpo import storage

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer line is quarantined without being parsed
#: Lines of files we write ourselves (staged shards, published splits): a record holds at most a
#: source line's worth of text, and JSON escaping can grow it; longer means a corrupt file.
MAX_RECORD_LINE_BYTES = 4 * MAX_LINE_BYTES
MAX_WHOLE_FILE_BYTES = 512 * 1024 * 1024  # whole-document JSON files larger than this are refused
#: The parser's own limit (Python's recursion limit) stops JSON nested about this deep: such a row is
#: quarantined with this reason instead of failing the whole ingest.
NESTING_REASON = "expected JSON nested at most about 900 levels (the parser's limit), found deeper nesting"
DATA_SUFFIXES = (".jsonl", ".json", ".ndjson", ".parquet", ".jsonl.gz", ".json.gz", ".ndjson.gz")


class SourceError(ValueError):
    """A source that cannot be read at all (missing, empty, unsupported); the message names it."""


@dataclass(frozen=True)
class Row:
    """One physical row of an input: ``value`` when it parsed, else ``error`` and the raw ``text``."""

    ref: str
    value: Any = None
    error: str | None = None
    text: str | None = None  # undecodable/unparseable text (replacement-decoded, capped), for quarantine


@dataclass(frozen=True)
class Input:
    """One readable unit of a source (a file, an object, a dataset split)."""

    spec: str  # the source as the user wrote it
    uri: str  # the file/object/split this input reads
    open_rows: Callable[[], Iterator[Row]]


_TEXT_CAP = 20_000


def _cap(text: str) -> str:
    return text if len(text) <= _TEXT_CAP else text[:_TEXT_CAP] + "…"


def _decode(line: bytes, ref: str) -> tuple[str | None, Row | None]:
    try:
        return line.decode("utf-8"), None
    except UnicodeDecodeError as err:
        bad = line[err.start : err.start + 1].hex()
        reason = f"line: expected UTF-8 text, found invalid byte 0x{bad} at offset {err.start}"
        return None, Row(ref, error=reason, text=_cap(line.decode("utf-8", errors="replace").rstrip("\r\n")))


def _strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _json_error(err: json.JSONDecodeError, what: str) -> str:
    msg = err.msg.lower().removesuffix(" at").strip()
    return f"{what}: expected valid JSON, found {msg} at column {err.colno}"


def iter_lines(fh: IO[bytes], limit: int | None = None) -> Iterator[tuple[int, bytes | None, int]]:
    """Yield ``(line_number, line_bytes_or_None_if_too_long, length)``, keeping at most ``limit`` bytes
    (default :data:`MAX_LINE_BYTES`)."""
    limit = MAX_LINE_BYTES if limit is None else limit
    number = 0
    while True:
        chunk = fh.readline(limit + 1)
        if not chunk:
            return
        number += 1
        if len(chunk) > limit and not chunk.endswith(b"\n"):
            length = len(chunk)
            while True:  # skip the rest of the overlong line without keeping it
                more = fh.readline(limit)
                length += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield number, None, length
            continue
        yield number, chunk, len(chunk)


def _rows_from_value(value: Any, ref: str) -> Iterator[Row]:
    """Expand a whole-document JSON value: a list of rows, an object keyed by id, or one row."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield Row(f"{ref}[{i}]", value=item)
    elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()) and _keyed(value):
        for i, (key, item) in enumerate(value.items()):  # the key is a source id: not in the reference
            yield Row(f"{ref}[{i}]", value={"__key__": key, **item})
    else:
        yield Row(ref, value=value)


def _keyed(value: dict[str, Any]) -> bool:
    """True for an object keyed by record id (PubMedQA ori_pqal.json: PMID → {QUESTION, ...})."""
    return any("QUESTION" in v or "question" in v for v in value.values())


def _whole_document(fh: IO[bytes], uri: str) -> Iterator[Row]:
    data = fh.read(MAX_WHOLE_FILE_BYTES + 1)
    if len(data) > MAX_WHOLE_FILE_BYTES:
        yield Row(f"{uri}:1", error=f"file: expected a JSON document under {MAX_WHOLE_FILE_BYTES} bytes, found more")
        return
    text, bad = _decode(_strip_bom(data), f"{uri}:1")
    if bad is not None or text is None:
        try:  # one document with a bad byte stays one quarantined row; several values were JSONL
            json.loads(_strip_bom(data).decode("utf-8", errors="replace"))
        except json.JSONDecodeError as err:
            if err.msg == "Extra data":
                yield from _jsonl(io.BytesIO(data), uri)
                return
        except RecursionError:
            pass
        yield bad or Row(f"{uri}:1", error="file: expected UTF-8 text")
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":  # several JSON values: it was JSONL after all
            yield from _jsonl(io.BytesIO(data), uri)
            return
        yield Row(f"{uri}:{err.lineno}", error=_json_error(err, "file"), text=_cap(text))
        return
    except RecursionError:
        yield Row(f"{uri}:1", error=f"file: {NESTING_REASON}", text=_cap(text))
        return
    yield from _rows_from_value(value, uri)


def _jsonl(fh: IO[bytes], uri: str) -> Iterator[Row]:
    for number, line, length in iter_lines(fh):
        ref = f"{uri}:{number}"
        if line is None:
            yield Row(ref, error=f"line: expected at most {MAX_LINE_BYTES} bytes, found {length}")
            continue
        if number == 1:
            line = _strip_bom(line)
        text, bad = _decode(line, ref)
        if bad is not None or text is None:
            yield bad or Row(ref, error="line: expected UTF-8 text")
            continue
        if not text.strip(" \t\r\n"):  # JSON whitespace only; other Unicode spaces are rows (quarantined)
            continue
        text = text.rstrip("\r\n")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            yield Row(ref, error=_json_error(err, "line"), text=_cap(text))
            continue
        except RecursionError:
            yield Row(ref, error=f"line: {NESTING_REASON}", text=_cap(text))
            continue
        if (
            isinstance(value, dict)
            and len(value) > 1
            and all(isinstance(v, dict) for v in value.values())
            and _keyed(value)
        ):
            # a one-line ori_pqal.json-style document
            yield from _rows_from_value(value, uri)
            continue
        yield Row(ref, value=value)


def _looks_like_jsonl(head: bytes) -> bool:
    """JSONL unless the content is one JSON document (an array, or an object over several lines).

    A first line that parses on its own, followed by more lines, is JSONL whatever it holds; a
    first line that does not parse is JSONL when later lines start like rows (``{``/``[``), and
    the start of a pretty-printed document otherwise.
    """
    head = _strip_bom(head).lstrip()
    if not head.startswith((b"{", b"[")):
        return True  # not JSON at all: rows get quarantined one by one
    if b"\n" not in head:
        # one line longer than the peek: most likely a one-line document (PubMedQA's ori_pqal.json);
        # parsed whole, and read as JSONL after all if it holds several values
        return False
    first, rest = head.split(b"\n", 1)
    more = [line for line in rest.split(b"\n") if line.strip()]
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return any(line.startswith((b"{", b"[")) for line in more)
    return bool(more) or head.startswith(b"{")


def file_rows(uri: str) -> Iterator[Row]:
    """Rows of one file or object (JSONL, JSON document, gzip of either, parquet)."""
    lowered = uri.lower()
    if lowered.endswith(".parquet"):
        yield from _parquet_rows(uri)
        return
    with storage.open_binary(uri) as raw:
        fh: Any = gzip.GzipFile(fileobj=raw) if lowered.endswith(".gz") else raw
        if not hasattr(fh, "peek"):
            fh = io.BufferedReader(fh)
        try:
            head = fh.peek(65536)[:65536]
        except (OSError, EOFError) as err:
            yield Row(f"{uri}:1", error=f"file: expected readable data, found {type(err).__name__}")
            return
        try:
            if _looks_like_jsonl(head):
                yield from _jsonl(fh, uri)
            else:
                yield from _whole_document(fh, uri)
        except (OSError, EOFError) as err:  # e.g. truncated gzip stream
            yield Row(f"{uri}:?", error=f"file: expected a complete stream, found {type(err).__name__}: {err}")


def _parquet_rows(uri: str) -> Iterator[Row]:
    import pyarrow.parquet as pq

    with storage.open_binary(uri) as fh:
        try:
            pf = pq.ParquetFile(fh if not storage.is_s3(uri) else io.BytesIO(fh.read()))
        except Exception as err:  # pyarrow raises several types for a corrupt file
            yield Row(f"{uri}:0", error=f"file: expected a parquet file, found {type(err).__name__}")
            return
        index = 0
        for batch in pf.iter_batches(batch_size=2048):
            for item in batch.to_pylist():
                yield Row(f"{uri}:{index}", value=item)
                index += 1


def _hf_rows(name: str, config: str | None, split: str) -> Callable[[], Iterator[Row]]:
    def rows() -> Iterator[Row]:
        try:
            ds = _hf_load(name, config, split)
        except SourceError:
            raise
        except Exception as err:  # datasets raises many types (hub unreachable, not found, bad split)
            what = f"{type(err).__name__}: {err}"
            raise SourceError(f"hf://{name}@{split}: could not load the dataset ({what})") from None
        for i, item in enumerate(ds):
            yield Row(f"hf://{name}@{split}:{i}", value=dict(item))

    return rows


def _hf_load(name: str, config: str | None, split: str | None) -> Any:
    """Load a dataset (or one split) by hub id, local script/folder, or ``save_to_disk`` folder."""
    from pathlib import Path

    import datasets

    path = Path(name)
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        loaded = datasets.load_from_disk(str(path))
        if split is None:
            return loaded
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise SourceError(f"hf://{name}: expected split {split!r}, found splits {sorted(loaded)}")
            return loaded[split]
        return loaded
    return datasets.load_dataset(name, config, split=split)


def parse_hf(spec: str) -> tuple[str, str | None, str | None]:
    """Split ``hf://<dataset>[:<config>][@<split>]`` into ``(dataset, config, split)``."""
    body = spec[len("hf://") :]
    split = None
    if "@" in body:
        body, split = body.rsplit("@", 1)
    config = None
    if ":" in body:
        body, config = body.rsplit(":", 1)
    if not body:
        raise SourceError(f"{spec}: expected hf://<dataset>[:<config>][@<split>], found no dataset name")
    return body, config or None, split or None


def expand(spec: str) -> list[Input]:
    """The inputs a source spec stands for; raise :class:`SourceError` naming the source if none."""
    if spec.startswith("hf://"):
        name, config, split = parse_hf(spec)
        if split is not None:
            return [Input(spec, f"hf://{name}@{split}", _hf_rows(name, config, split))]
        try:
            loaded = _hf_load(name, config, None)
        except SourceError:
            raise
        except Exception as err:  # datasets raises many types (hub unreachable, not found, ...)
            raise SourceError(f"{spec}: could not load the dataset ({type(err).__name__}: {err})") from None
        splits = sorted(loaded) if hasattr(loaded, "keys") else ["train"]
        return [Input(spec, f"hf://{name}@{s}", _hf_rows(name, config, s)) for s in splits]
    try:
        files = storage.list_files(spec)
    except FileNotFoundError:
        files = []
    except Exception as err:  # boto errors: no such bucket, denied, endpoint down
        raise SourceError(f"{spec}: could not list the source ({type(err).__name__}: {err})") from None
    if not storage.is_s3(spec) and not _exists_local(spec):
        raise SourceError(f"{spec}: expected a file or folder, found nothing at that path")
    if len(files) != 1 or files[0].rstrip("/") != spec.rstrip("/"):
        chosen = [f for f in files if _is_data_file(f, spec)]
        skipped = len(files) - len(chosen)
        if skipped:
            log.info("source %s: skipped %d non-data or hidden files", spec, skipped)
        files = chosen
    if not files:
        raise SourceError(f"{spec}: expected data files ({', '.join(DATA_SUFFIXES)}), found none")
    return [Input(spec, f, _file_rows_factory(f)) for f in files]


def _file_rows_factory(uri: str) -> Callable[[], Iterator[Row]]:
    return lambda: file_rows(uri)


def _exists_local(path: str) -> bool:
    from pathlib import Path

    return Path(path).exists()


def _relative(uri: str, base: str) -> str:
    """``uri`` relative to the source folder/prefix ``base`` (POSIX form)."""
    if storage.is_s3(uri):
        prefix = base.rstrip("/") + "/"
        return uri[len(prefix) :] if uri.startswith(prefix) else PurePosixPath(uri).name
    from pathlib import Path

    try:
        return Path(uri).relative_to(Path(base)).as_posix()
    except ValueError:
        return Path(uri).name


def _is_data_file(uri: str, base: str) -> bool:
    """Data files in a folder: known suffixes, not hidden (``.x``) or marker (``_x``) paths."""
    parts = PurePosixPath(_relative(uri, base)).parts
    if any(part.startswith((".", "_")) for part in parts):
        return False
    return uri.lower().endswith(DATA_SUFFIXES)
