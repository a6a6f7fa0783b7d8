"""One storage layer: local paths and ``s3://`` URIs (boto3), with atomic publication.

Every other module reads and writes through these functions so that a dataset, a checkpoint or
a report can live on local disk or in S3 without the caller caring. S3 endpoints come from
``MEDGRPO_S3_ENDPOINT_URL`` or boto3's own ``AWS_ENDPOINT_URL`` (a moto server in tests).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def is_s3(uri: str) -> bool:
    """True for ``s3://bucket/key`` URIs."""
    return uri.startswith("s3://")


@contextmanager
def scratch_dir(prefix: str = "medgrpo-scratch-") -> Iterator[Path]:
    """A private local folder (0700, under ``TMPDIR``) for one task's intermediate files.

    Removed when the block ends, also when it raises: a task keeps nothing on its machine's disk
    that another task (on another worker, or a retry) would need. Hand results on as URIs under
    the work root instead.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def split_s3(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``; raise ValueError naming the URI otherwise."""
    if not is_s3(uri):
        raise ValueError(f"expected an s3:// URI, found {uri!r}")
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"expected s3://<bucket>/<key>, found {uri!r} (no bucket)")
    return bucket, key


def join(base: str, *parts: str) -> str:
    """Join path segments onto a local path or an s3:// prefix."""
    if is_s3(base):
        out = base.rstrip("/")
        for part in parts:
            out += "/" + part.strip("/")
        return out
    return str(Path(base, *parts))


def s3_client() -> Any:
    """A boto3 S3 client honouring ``MEDGRPO_S3_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL``."""
    import boto3

    endpoint = os.environ.get("MEDGRPO_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None
    return boto3.client("s3", endpoint_url=endpoint)


def exists(uri: str) -> bool:
    """True when a file (or, for S3, an object) exists at ``uri``."""
    if is_s3(uri):
        from botocore.exceptions import ClientError

        bucket, key = split_s3(uri)
        try:
            s3_client().head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
    return Path(uri).exists()


def read_bytes(uri: str) -> bytes:
    """Read a whole file or object."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        body: bytes = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
    return Path(uri).read_bytes()


def read_text(uri: str) -> str:
    """Read a whole UTF-8 text file or object."""
    return read_bytes(uri).decode("utf-8")


@contextmanager
def open_binary(uri: str) -> Iterator[IO[bytes]]:
    """Open a file or S3 object for streaming binary reads (S3 bodies are streamed, not buffered)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        reader = io.BufferedReader(body, buffer_size=1 << 20)  # readline/peek without per-byte reads
        try:
            yield reader
        finally:
            reader.close()
    else:
        with open(uri, "rb") as fh:
            yield fh


def list_files(uri: str) -> list[str]:
    """All files under a local folder or S3 prefix (recursive, sorted); a single file lists itself."""
    if is_s3(uri):
        bucket, prefix = split_s3(uri)
        paginator = s3_client().get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        if prefix and not prefix.endswith("/"):
            if prefix in keys:  # an object named exactly like the URI: a single file lists itself
                return [f"s3://{bucket}/{prefix}"]
            keys = [k for k in keys if k.startswith(prefix + "/")]  # "data" must not match "data2/x"
        return sorted(f"s3://{bucket}/{key}" for key in keys if not key.endswith("/"))
    path = Path(uri)
    if path.is_file():
        return [str(path)]
    return sorted(str(p) for p in path.rglob("*") if p.is_file())


def write_bytes_atomic(uri: str, data: bytes) -> None:
    """Write a file so readers see the old content or the new, never a part (S3 PUTs are atomic)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries to disk, so a rename done inside it survives a power loss."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(uri: str, text: str) -> None:
    """UTF-8 variant of :func:`write_bytes_atomic`."""
    write_bytes_atomic(uri, text.encode("utf-8"))


def upload_dir(local_dir: str | Path, dest: str) -> None:
    """Copy every file under ``local_dir`` to ``dest`` (a local folder or an s3:// prefix)."""
    local_dir = Path(local_dir)
    files = sorted(p for p in local_dir.rglob("*") if p.is_file())
    if is_s3(dest):
        client = s3_client()
        bucket, prefix = split_s3(dest)
        for path in files:
            key = f"{prefix.rstrip('/')}/{path.relative_to(local_dir).as_posix()}".lstrip("/")
            client.upload_file(str(path), bucket, key)
        return
    for path in files:
        target = Path(dest, path.relative_to(local_dir))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def upload_file(local_path: str | Path, dest: str) -> None:
    """Copy one local file to ``dest`` (a local path, written atomically, or an s3:// key; multipart)."""
    if is_s3(dest):
        bucket, key = split_s3(dest)
        s3_client().upload_file(str(local_path), bucket, key)
        return
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(local_path, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def delete(uri: str) -> None:
    """Remove a file or object if it exists (no error when it does not)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        s3_client().delete_object(Bucket=bucket, Key=key)
        return
    Path(uri).unlink(missing_ok=True)


# Under an S3 dataset prefix, each publication's files are first written, complete, under
# ``<prefix>/_versions/<version>/`` (immutable), then copied over the top-level names; the
# manifest goes last. See :func:`publish_dir`.
VERSIONS_DIR = "_versions"
_PUBLISHED = "PUBLISHED"


def download_dir(src: str, local_dir: str | Path) -> Path:
    """Copy every file under ``src`` (folder or s3:// prefix) into ``local_dir``; return it.

    The immutable per-publication copies under ``_versions/`` of an S3 publication are skipped.
    """
    local_dir = Path(local_dir)
    local_dir.mkdir(parents=True, exist_ok=True)
    if is_s3(src):
        client = s3_client()
        bucket, prefix = split_s3(src)
        base = prefix.rstrip("/") + "/"
        for uri in list_files(src):
            _, key = split_s3(uri)
            rel = key[len(base) :] if key.startswith(base) else Path(key).name
            if rel.startswith(VERSIONS_DIR + "/"):
                continue
            target = local_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(target))
        return local_dir
    shutil.copytree(src, local_dir, dirs_exist_ok=True)
    return local_dir


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux ``renameat2(RENAME_EXCHANGE)``; False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # old kernel or filesystem without support
        return False
    raise OSError(err, os.strerror(err), f"{a} <-> {b}")


def _fsync_tree(root: Path) -> None:
    for path in [*sorted(p for p in root.rglob("*") if p.is_file())]:
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        fsync_dir(folder)
    fsync_dir(root)


def publish_dir(
    staged: str | Path, dest: str, *, version: str | None = None, move: bool = False, keep_versions: int = 3
) -> None:
    """Atomically publish a fully written local folder ``staged`` as ``dest``.

    Local: ``staged`` is copied (or, with ``move=True``, renamed) next to the destination, synced
    to disk, and exchanged with the existing folder in one ``renameat2(RENAME_EXCHANGE)`` call, so
    a reader opening ``dest`` sees the old folder or the new, never a mix and never nothing
    (where the kernel lacks the call, two renames leave a moment with no folder, never a partial
    one). The replaced version is kept under a hidden ``.<name>.retired-<ns>`` name (the newest
    ``keep_versions - 1`` of them) so a reader already inside it can finish. A failure at any
    point leaves the previous version in place.

    S3 (no multi-object transactions): every file goes first to the immutable
    ``<dest>/_versions/<version>/``; only when all of them are there are they server-side copied
    over the top-level names, ``manifest.json`` last. A failure while uploading leaves the previous
    publication untouched; a failure while copying leaves the top-level manifest naming the
    previous version, whose folder is intact, and restores the top-level files already replaced
    from that folder (best effort: if S3 keeps failing, some top-level files may be new while the
    manifest is old; their sha256 then disagrees with it). Readers that go through the manifest
    (``medgrpo.data.dataset``) read the version folder it names, so they always see one consistent
    publication; the newest ``keep_versions`` version folders are kept.
    """
    staged = Path(staged)
    if is_s3(dest):
        _publish_s3(staged, dest, version or uuid.uuid4().hex[:16], keep_versions)
        return
    target = Path(dest).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.parent / f".{target.name}.incoming-{uuid.uuid4().hex[:8]}"
    if move and staged.resolve().parent == target.parent:
        os.replace(staged, incoming)
    else:
        shutil.copytree(staged, incoming)
    try:
        os.chmod(incoming, 0o777 & ~_umask())  # a mkdtemp-built folder is 0700
        _fsync_tree(incoming)
        if not target.exists():
            os.replace(incoming, target)
        elif _exchange(incoming, target):
            _retire(incoming, target)  # ``incoming`` now holds the previous version
        else:
            retired = target.parent / f".{target.name}.retired-{time.time_ns():020d}"
            os.replace(target, retired)
            try:
                os.replace(incoming, target)
            except BaseException:
                os.replace(retired, target)
                raise
        fsync_dir(target.parent)  # the rename itself must reach the disk, not only the files
        _prune_retired(target, keep=max(keep_versions - 1, 0))
    finally:
        if incoming.exists():
            shutil.rmtree(incoming, ignore_errors=True)


def _retire(old: Path, target: Path) -> None:
    """Keep a replaced version for a while (readers inside it finish) under a hidden name."""
    os.replace(old, target.parent / f".{target.name}.retired-{time.time_ns():020d}")


def _prune_retired(target: Path, *, keep: int) -> None:
    """Delete all but the newest ``keep`` retired versions of ``target``."""
    retired = sorted(target.parent.glob(f".{target.name}.retired-*"), reverse=True)
    for old in retired[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _publish_s3(staged: Path, dest: str, version: str, keep_versions: int) -> None:
    client = s3_client()
    bucket, prefix = split_s3(dest)
    prefix = prefix.rstrip("/")
    files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
    ordered = [f for f in files if f != "manifest.json"] + [f for f in files if f == "manifest.json"]

    def key(*parts: str) -> str:
        return "/".join(p for p in (prefix, *parts) if p)

    for rel in ordered:  # phase 1: the complete new version, invisible to top-level readers
        client.upload_file(str(staged / rel), bucket, key(VERSIONS_DIR, version, rel))
    previous = _previous_version(client, bucket, key("manifest.json"))
    done: list[str] = []
    try:  # phase 2: copy over the top-level names, manifest last (the commit point)
        for rel in ordered:
            copy_object(client, bucket, key(VERSIONS_DIR, version, rel), key(rel))
            done.append(rel)
    except BaseException:
        if previous:
            for rel in reversed(done):
                with contextlib.suppress(Exception):  # best effort; the manifest still names the old one
                    copy_object(client, bucket, key(VERSIONS_DIR, previous, rel), key(rel))
        raise
    client.put_object(Bucket=bucket, Key=key(VERSIONS_DIR, version, _PUBLISHED), Body=str(time.time_ns()).encode())
    _prune_versions(client, bucket, key(VERSIONS_DIR), keep=max(keep_versions, 1), current=version)


MULTIPART_COPY_THRESHOLD = 256 * 1024 * 1024


def copy_object(
    client: Any, bucket: str, src_key: str, dest_key: str, *, multipart_threshold: int = MULTIPART_COPY_THRESHOLD
) -> None:
    """Server-side copy of one object of any size.

    A single ``CopyObject`` call is limited to 5 GB; boto3's managed ``copy`` switches to a
    multipart copy (``UploadPartCopy`` in parts of ``multipart_threshold`` bytes) above that
    size, so checkpoint shards and large datasets publish as well as small files.
    """
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=multipart_threshold, multipart_chunksize=multipart_threshold)
    client.copy({"Bucket": bucket, "Key": src_key}, bucket, dest_key, Config=config)


def _previous_version(client: Any, bucket: str, manifest_key: str) -> str | None:
    """The ``version`` named by the currently published manifest, if any."""
    import json

    try:
        body = client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read()
        value = json.loads(body).get("version")
        return str(value) if value else None
    except Exception:
        return None


def _prune_versions(client: Any, bucket: str, versions_prefix: str, *, keep: int, current: str) -> None:
    """Delete all but the newest ``keep`` version folders, never ``current``.

    Order comes from each folder's ``PUBLISHED`` marker (nanoseconds, written when the version
    became current; S3's LastModified has only one-second resolution). Folders without a marker
    are leftovers of failed publications and go first.
    """
    keys_by_version: dict[str, list[str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=versions_prefix + "/"):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(versions_prefix) + 1 :].split("/", 1)[0]
            keys_by_version.setdefault(name, []).append(obj["Key"])
    published: dict[str, int] = {}
    for name, keys in keys_by_version.items():
        marker = f"{versions_prefix}/{name}/{_PUBLISHED}"
        published[name] = -1
        if marker in keys:
            with contextlib.suppress(Exception):
                published[name] = int(client.get_object(Bucket=bucket, Key=marker)["Body"].read())
    ranked = sorted(published, key=lambda v: (v == current, published[v]), reverse=True)
    for name in ranked[keep:]:
        if name == current:
            continue
        for k in keys_by_version[name]:
            client.delete_object(Bucket=bucket, Key=k)
