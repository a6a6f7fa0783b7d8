"""Reading a published dataset directory (DESIGN §5), verified against its manifest.

The manifest is the commit point: it is read first (one object/file read), and every file read
afterwards is checked against the sha256 the manifest lists, so a reader never silently trains on
a mix of two publications. For an S3 publication the immutable ``_versions/<version>/`` copy the
manifest names is read when it exists (see :func:`medgrpo.storage.publish_dir`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from medgrpo import storage
from medgrpo.data.sources import MAX_RECORD_LINE_BYTES

SPLIT_FILES = {"train": "train.jsonl", "eval": "eval.jsonl", "quarantine": "quarantine.jsonl"}


class DatasetError(RuntimeError):
    """A dataset directory that is missing, incomplete or does not match its manifest."""


def _load_manifest(dataset_dir: str) -> dict[str, Any]:
    uri = storage.join(dataset_dir, "manifest.json")
    try:
        manifest: dict[str, Any] = json.loads(storage.read_text(uri))
    except FileNotFoundError:
        raise DatasetError(f"{uri}: expected a dataset manifest, found no file") from None
    except json.JSONDecodeError as err:
        raise DatasetError(f"{uri}: expected JSON, found {err.msg} at line {err.lineno}") from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{uri}: expected UTF-8 JSON, found an invalid byte at offset {err.start}") from None
    except RecursionError:
        raise DatasetError(f"{uri}: expected a manifest object, found JSON nested too deeply to read") from None
    except Exception as err:  # S3: NoSuchKey / NoSuchBucket arrive as ClientError
        raise DatasetError(f"{uri}: could not read the manifest ({type(err).__name__}: {err})") from None
    if not isinstance(manifest, dict) or "files" not in manifest:
        raise DatasetError(f"{uri}: expected a manifest with a 'files' table, found none")
    return manifest


def _file_uri(dataset_dir: str, manifest: dict[str, Any], name: str) -> str:
    version = manifest.get("version")
    if storage.is_s3(dataset_dir) and version:
        pinned = storage.join(dataset_dir, storage.VERSIONS_DIR, str(version), name)
        if storage.exists(pinned):
            return pinned
    return storage.join(dataset_dir, name)


def _verify(uri: str, expected: dict[str, Any], digest: str, size: int) -> None:
    if digest != expected.get("sha256"):
        raise DatasetError(
            f"{uri}: expected sha256 {str(expected.get('sha256'))[:16]}… from the manifest, found {digest[:16]}… "
            f"({size} bytes; the file changed after publication or a publication is in progress)"
        )


def read_manifest(dataset_dir: str, *, verify: bool = True) -> dict[str, Any]:
    """The dataset's manifest; with ``verify`` every listed file's sha256 is checked first."""
    manifest = _load_manifest(dataset_dir)
    if verify:
        for name, expected in manifest["files"].items():
            uri = _file_uri(dataset_dir, manifest, name)
            sha, size = hashlib.sha256(), 0
            try:
                with storage.open_binary(uri) as fh:
                    while chunk := fh.read(1 << 20):
                        sha.update(chunk)
                        size += len(chunk)
            except FileNotFoundError:
                raise DatasetError(f"{uri}: expected the file the manifest lists, found none") from None
            _verify(uri, expected, sha.hexdigest(), size)
    return manifest


def iter_split(dataset_dir: str, split: str, *, manifest: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Stream the records of ``split`` (train, eval or quarantine); raises at the end on a sha mismatch."""
    if split not in SPLIT_FILES:
        raise DatasetError(f"split: expected one of {', '.join(SPLIT_FILES)}, found {split!r}")
    manifest = manifest or _load_manifest(dataset_dir)
    name = SPLIT_FILES[split]
    if name not in manifest["files"]:
        raise DatasetError(f"{dataset_dir}: the manifest lists no {name}")
    uri = _file_uri(dataset_dir, manifest, name)
    sha, size = hashlib.sha256(), 0
    try:
        with storage.open_binary(uri) as fh:
            number = 0
            while line := fh.readline(MAX_RECORD_LINE_BYTES + 1):
                number += 1
                if len(line) > MAX_RECORD_LINE_BYTES:
                    raise DatasetError(
                        f"{uri}:{number}: expected a record line of at most {MAX_RECORD_LINE_BYTES} bytes, found a "
                        "longer one (not a file ingest wrote)"
                    )
                sha.update(line)
                size += len(line)
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as err:
                        raise DatasetError(f"{uri}:{number}: expected a JSON record, found {err.msg}") from None
                    except (RecursionError, UnicodeDecodeError):
                        raise DatasetError(f"{uri}:{number}: expected a JSON record, found unreadable text") from None
    except FileNotFoundError:
        raise DatasetError(f"{uri}: expected the file the manifest lists, found none") from None
    _verify(uri, manifest["files"][name], sha.hexdigest(), size)


def read_split(dataset_dir: str, split: str) -> list[dict[str, Any]]:
    """All records of ``split``, verified against the manifest before they are returned."""
    return list(iter_split(dataset_dir, split))
