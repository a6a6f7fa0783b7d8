"""medgrpo.storage on local paths: atomic writes, listing, atomic folder publication."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from medgrpo import storage


def test_split_and_join() -> None:
    assert storage.split_s3("s3://bucket/a/b.txt") == ("bucket", "a/b.txt")
    assert storage.join("s3://bucket/base/", "x", "/y.json") == "s3://bucket/base/x/y.json"
    assert storage.join("/tmp/base", "x") == "/tmp/base/x"
    with pytest.raises(ValueError, match="expected an s3:// URI"):
        storage.split_s3("/local")
    with pytest.raises(ValueError, match="no bucket"):
        storage.split_s3("s3:///key")


def test_write_atomic_read_and_list(tmp_path: Path) -> None:
    storage.write_text_atomic(str(tmp_path / "d" / "a.txt"), "héllo")
    storage.write_bytes_atomic(str(tmp_path / "d" / "sub" / "b.bin"), b"\x00\x01")
    assert storage.read_text(str(tmp_path / "d" / "a.txt")) == "héllo"
    assert storage.list_files(str(tmp_path / "d")) == [
        str(tmp_path / "d" / "a.txt"),
        str(tmp_path / "d" / "sub" / "b.bin"),
    ]
    assert storage.list_files(str(tmp_path / "d" / "a.txt")) == [str(tmp_path / "d" / "a.txt")]
    assert [p.name for p in (tmp_path / "d").iterdir() if p.name.startswith(".")] == []  # no temp leftovers
    with storage.open_binary(str(tmp_path / "d" / "a.txt")) as fh:
        assert fh.readline() == "héllo".encode()
    storage.upload_file(tmp_path / "d" / "a.txt", str(tmp_path / "e" / "copy.txt"))
    assert (tmp_path / "e" / "copy.txt").read_text() == "héllo"
    storage.delete(str(tmp_path / "e" / "copy.txt"))
    storage.delete(str(tmp_path / "e" / "copy.txt"))  # absent: no error
    assert not storage.exists(str(tmp_path / "e" / "copy.txt"))


def _staged(root: Path, version: str) -> Path:
    root.mkdir(parents=True)
    for name in ("train.jsonl", "eval.jsonl", "manifest.json"):
        (root / name).write_text(f"{version}:{name}\n")
    return root


def test_publish_dir_new_and_replace(tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    storage.publish_dir(_staged(tmp_path / "s1", "v1"), str(dest))
    assert (dest / "train.jsonl").read_text() == "v1:train.jsonl\n"
    assert (tmp_path / "s1").exists()  # copied, not moved
    storage.publish_dir(_staged(tmp_path / "s2", "v2"), str(dest), move=True)
    assert {p.name: p.read_text() for p in dest.iterdir()} == {
        n: f"v2:{n}\n" for n in ("train.jsonl", "eval.jsonl", "manifest.json")
    }
    assert not (tmp_path / "s2").exists()  # moved
    names = {p.name for p in tmp_path.iterdir()}
    retired = {n for n in names if n.startswith(".ds.retired-")}
    assert names - retired == {"ds", "s1"} and len(retired) == 1  # the replaced version, kept a while
    assert {p.name: p.read_text() for p in (tmp_path / retired.pop()).iterdir()}["train.jsonl"] == "v1:train.jsonl\n"


def test_exchange_is_supported_here(tmp_path: Path) -> None:
    """The atomic swap path is the one exercised on Linux (renameat2 with RENAME_EXCHANGE)."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    assert storage._exchange(a, b) is True
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def test_readers_never_see_a_missing_or_partial_folder(tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    storage.publish_dir(_staged(tmp_path / "s0", "v0"), str(dest))
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                names = sorted(p.name for p in dest.iterdir())
            except FileNotFoundError:
                problems.append("missing")
                continue
            if names != ["eval.jsonl", "manifest.json", "train.jsonl"]:
                problems.append(f"partial: {names}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(1, 40):
            storage.publish_dir(_staged(tmp_path / f"s{i}", f"v{i}"), str(dest), move=True)
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert (dest / "train.jsonl").read_text() == "v39:train.jsonl\n"
    assert len(list(tmp_path.glob(".ds.retired-*"))) == 2  # keep_versions=3: current + 2 retired


def test_failed_publish_keeps_previous_version(tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    storage.publish_dir(_staged(tmp_path / "s1", "v1"), str(dest))
    with pytest.raises(FileNotFoundError):
        storage.publish_dir(tmp_path / "does-not-exist", str(dest))
    assert (dest / "train.jsonl").read_text() == "v1:train.jsonl\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "s1"]


def test_download_dir_local(tmp_path: Path) -> None:
    src = _staged(tmp_path / "src", "v")
    out = storage.download_dir(str(src), tmp_path / "copy")
    assert sorted(p.name for p in out.iterdir()) == ["eval.jsonl", "manifest.json", "train.jsonl"]


def test_renames_are_made_durable_by_syncing_the_parent_folder(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A rename lives in the parent folder's entries: without fsyncing the parent, a crash can undo it."""
    synced: list[Path] = []
    real = storage.fsync_dir
    monkeypatch.setattr(storage, "fsync_dir", lambda folder: (synced.append(Path(folder).resolve()), real(folder)))
    storage.write_text_atomic(str(tmp_path / "a" / "file.txt"), "x")
    assert (tmp_path / "a").resolve() in synced
    synced.clear()
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "manifest.json").write_text("{}")
    storage.publish_dir(staged, str(tmp_path / "out" / "ds"))
    assert (tmp_path / "out").resolve() in synced
    synced.clear()
    storage.upload_file(staged / "manifest.json", str(tmp_path / "copy" / "m.json"))
    assert (tmp_path / "copy").resolve() in synced
