"""medgrpo.data.ingest end to end on local folders: counts, dedup, split stability, publish, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from medgrpo import storage
from medgrpo.cli import main
from medgrpo.data import synth
from medgrpo.data.dataset import DatasetError, read_manifest, read_split
from medgrpo.data.ingest import IngestError, eval_bucket, finalize, ingest, prepare


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _mcq(i: int, *, stem: str | None = None, answer: str = "A") -> dict[str, Any]:
    return {
        "question": stem or f"Question {i}: which option is correct for case {i}?",
        "options": {"A": f"alpha {i}", "B": f"beta {i}", "C": f"gamma {i}"},
        "answer_idx": answer,
        "answer": {"A": f"alpha {i}", "B": f"beta {i}", "C": f"gamma {i}"}[answer],
        "meta_info": "step1",
    }


def _ids(out: Path, split: str) -> set[str]:
    return {r["id"] for r in read_split(str(out), split)}


def test_counts_add_up_and_manifest_matches_files(tmp_path: Path) -> None:
    rows: list[Any] = [_mcq(i) for i in range(40)]
    lines = [json.dumps(r) for r in rows]
    lines[5] = lines[5][:30]  # truncated JSON
    lines[9] = json.dumps(_mcq(9) | {"answer_idx": "Z"})  # answer names no option
    lines[12] = json.dumps(rows[3])  # exact duplicate
    lines.append("")  # blank line: not a row
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    result = ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False, eval_fraction=0.25)
    c = result.counts
    assert c["read"] == 40
    assert c["quarantined"] == 2 and c["duplicates"] == 1
    assert c["read"] == c["train"] + c["eval"] + c["quarantined"] + c["duplicates"]
    manifest = read_manifest(str(tmp_path / "ds"))
    assert manifest["counts"] == c
    for split in ("train", "eval"):
        assert (
            len(read_split(str(tmp_path / "ds"), split)) == c[split] == manifest["files"][f"{split}.jsonl"]["records"]
        )
    per_source = manifest["counts_by_source"][str(tmp_path / "in.jsonl")]
    assert per_source == c
    assert manifest["deid"]["enabled"] is False
    assert manifest["quarantine_reasons"] == {"answer_idx": 1, "line": 1}
    quarantine = read_split(str(tmp_path / "ds"), "quarantine")
    refs = sorted(q["source_ref"].rsplit(":", 1)[1] for q in quarantine)
    assert refs == ["10", "6"]
    assert all({"source_ref", "reason", "record"} == set(q) for q in quarantine)
    assert 0 < c["eval"] < c["train"]


def test_ingest_is_deterministic(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "in.jsonl", [_mcq(i) for i in range(30)])
    a = ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "a"), deid=False)
    b = ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "b"), deid=False)
    assert a.manifest["content_sha256"] == b.manifest["content_sha256"]
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()


def test_appending_data_never_moves_an_eval_item(tmp_path: Path) -> None:
    first = [_mcq(i) for i in range(200)]
    _write_jsonl(tmp_path / "in.jsonl", first)
    ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False, eval_fraction=0.2)
    eval_before, train_before = _ids(tmp_path / "ds", "eval"), _ids(tmp_path / "ds", "train")
    assert eval_before and train_before
    _write_jsonl(tmp_path / "in.jsonl", first + [_mcq(i) for i in range(200, 500)])  # appended
    _write_jsonl(tmp_path / "more.jsonl", [_mcq(i) for i in range(500, 600)])  # and a new source
    ingest(
        [str(tmp_path / "more.jsonl"), str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False, eval_fraction=0.2
    )
    eval_after, train_after = _ids(tmp_path / "ds", "eval"), _ids(tmp_path / "ds", "train")
    assert eval_before <= eval_after
    assert train_before <= train_after
    assert len(eval_after) > len(eval_before)


def test_near_duplicates_stay_on_one_side_and_exact_duplicates_drop_across_sources(tmp_path: Path) -> None:
    stem = "A 54-year-old man has crushing chest pain. What is the next step?"
    variants = []
    for i in range(30):
        stem_i = f"{stem} (case {i})"
        # same question text, different punctuation/case/spacing and different options → near duplicates
        variants.append([_mcq(i, stem=stem_i), _mcq(1000 + i, stem="  " + stem_i.upper().replace("?", " ?"))])
    _write_jsonl(tmp_path / "a.jsonl", [v[0] for v in variants])
    _write_jsonl(tmp_path / "b.jsonl", [v[1] for v in variants] + [variants[0][0]])  # + one exact cross-source dup
    canonical = [  # the same item as a.jsonl's first row, from another source in another format
        {
            "source": "other",
            "question": stem + " (case 0)",
            "options": _mcq(0)["options"],
            "answer": "A",
            "answer_type": "choice",
        }
    ]
    _write_jsonl(tmp_path / "c.jsonl", canonical)
    sources = [str(tmp_path / n) for n in ("a.jsonl", "b.jsonl", "c.jsonl")]
    result = ingest(sources, str(tmp_path / "ds"), deid=False, eval_fraction=0.5)
    assert result.counts["duplicates"] == 2
    assert result.manifest["counts_by_source"][sources[1]]["duplicates"] == 1
    assert result.manifest["counts_by_source"][sources[2]]["duplicates"] == 1
    train = read_split(str(tmp_path / "ds"), "train")
    evals = read_split(str(tmp_path / "ds"), "eval")
    from medgrpo.data.schema import normalise_text

    side: dict[str, str] = {}
    for split, rows in (("train", train), ("eval", evals)):
        for r in rows:
            key = normalise_text(r["question"])
            assert side.setdefault(key, split) == split, "near duplicates split across train and eval"
    assert len(side) == 30 and set(side.values()) == {"train", "eval"}


def test_split_is_by_hash_and_respects_fraction() -> None:
    keys = [f"{i:032x}" for i in range(0, 16**6, 16**6 // 1000)]
    import hashlib

    keys = [hashlib.sha256(k.encode()).hexdigest() for k in keys]
    share = sum(eval_bucket(k) < 0.1 for k in keys) / len(keys)
    assert 0.06 < share < 0.14


def test_nothing_usable_fails_naming_the_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x"\nnot json\n')
    code = main(["ingest", str(bad), str(tmp_path / "ds"), "--no-deid"])
    out = capsys.readouterr().out.strip()
    assert code == 1
    assert len(out.splitlines()) == 1 and str(bad) in out and "nothing usable" in out
    assert not (tmp_path / "ds").exists()
    code = main(["ingest", str(tmp_path / "missing.jsonl"), str(tmp_path / "ds"), "--no-deid"])
    assert code == 1 and "missing.jsonl" in capsys.readouterr().out


def test_cli_ingest_summary_and_exit_zero_with_quarantine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_jsonl(tmp_path / "s.jsonl", list(synth.generate(50, seed=1)))
    with (tmp_path / "s.jsonl").open("a") as fh:
        fh.write('{"broken": \n')
    code = main(["ingest", str(tmp_path / "s.jsonl"), str(tmp_path / "ds"), "--no-deid", "--name", "demo"])
    out = capsys.readouterr().out
    assert code == 0
    assert "read 51" in out and "quarantined 1" in out and "duplicates 0" in out
    assert read_manifest(str(tmp_path / "ds"))["name"] == "demo"


def test_stages_equal_ingest(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "in.jsonl", [_mcq(i) for i in range(25)] + ["not an object"])
    staging = tmp_path / "staging"
    prepared = prepare([str(tmp_path / "in.jsonl")], str(staging), shard_size=7)
    assert len(prepared["shards"]) == 4 and prepared["counts"] == {"read": 26, "staged": 25, "quarantined": 1}
    assert (staging / "quarantine.raw.jsonl").exists()
    json.dumps(prepared)  # JSON-able for XCom
    with pytest.raises(IngestError, match="counts do not add up"):
        finalize(prepared["shards"][:-1], str(staging), str(tmp_path / "c"), deid=False)
    assert not (tmp_path / "c").exists()
    staged = finalize(prepared["shards"], str(staging), str(tmp_path / "a"), deid=False)
    whole = ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "b"), deid=False)
    assert staged.manifest["content_sha256"] == whole.manifest["content_sha256"]
    # raw staged rows do not outlive a successful publication
    assert not (staging / "quarantine.raw.jsonl").exists()
    assert not any(Path(uri).exists() for uri in prepared["shards"])
    assert (staging / "prepare.json").exists()


def test_failed_publish_leaves_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_jsonl(tmp_path / "in.jsonl", [_mcq(i) for i in range(20)])
    ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "ds").iterdir()}
    _write_jsonl(tmp_path / "in.jsonl", [_mcq(i) for i in range(40)])

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full (simulated)")

    # the failure is injected at the fsync just before the swap: a real failure point of publish
    monkeypatch.setattr(storage, "_fsync_tree", boom)
    with pytest.raises(OSError, match="simulated"):
        ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False)
    after = {p.name: p.read_bytes() for p in (tmp_path / "ds").iterdir()}
    assert after == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".ds.")]
    assert leftovers == []
    read_manifest(str(tmp_path / "ds"))


def test_tampered_file_fails_verification(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "in.jsonl", [_mcq(i) for i in range(20)])
    ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False)
    with (tmp_path / "ds" / "train.jsonl").open("a") as fh:
        fh.write('{"id": "x"}\n')
    with pytest.raises(DatasetError, match=r"train\.jsonl: expected sha256"):
        read_manifest(str(tmp_path / "ds"))
    with pytest.raises(DatasetError, match="expected sha256"):
        read_split(str(tmp_path / "ds"), "train")
    with pytest.raises(DatasetError, match="no file"):
        read_manifest(str(tmp_path / "nowhere"))


def test_published_directory_has_normal_permissions(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "in.jsonl", [_mcq(i) for i in range(5)])
    ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False)
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "ds").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (tmp_path / "ds" / "manifest.json").stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == [
        "eval.jsonl", "manifest.json", "quarantine.jsonl", "train.jsonl"
    ]  # fmt: skip


def test_eval_fraction_is_validated(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "in.jsonl", [_mcq(0)])
    with pytest.raises(IngestError, match=r"--eval-fraction: expected a number in \[0, 1\), found 1.5"):
        ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False, eval_fraction=1.5)


def test_same_id_with_different_content_is_quarantined_not_overwritten(tmp_path: Path) -> None:
    rows = [
        {"id": "case-0001", "source": "local", "question": "First?", "answer": "yes", "answer_type": "yes_no_maybe"},
        {"id": "case-0001", "source": "local", "question": "Second?", "answer": "no", "answer_type": "yes_no_maybe"},
        {"id": "case-0001", "source": "local", "question": "First?", "answer": "yes", "answer_type": "yes_no_maybe"},
    ]
    _write_jsonl(tmp_path / "in.jsonl", rows)
    result = ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False, eval_fraction=0.0)
    assert result.counts == {"read": 3, "train": 1, "eval": 0, "quarantined": 1, "duplicates": 1}
    (kept,) = read_split(str(tmp_path / "ds"), "train")
    assert kept["question"] == "First?"
    (q,) = read_split(str(tmp_path / "ds"), "quarantine")
    assert q["source_ref"].endswith(":2") and q["reason"].startswith("id: expected each source id once")


@pytest.mark.parametrize("max_shards", [2, 3, 4])
def test_shard_count_stays_within_max_map_length(tmp_path: Path, max_shards: int) -> None:
    """De-identification is one mapped Airflow task per shard: more shards than ``max_map_length``
    would fail the run, so the shard size grows (shards merge pairwise, order kept) instead."""
    _write_jsonl(tmp_path / "in.jsonl", [_mcq(i) for i in range(23)])
    prepared = prepare([str(tmp_path / "in.jsonl")], str(tmp_path / "st"), shard_size=2, max_shards=max_shards)
    assert len(prepared["shards"]) <= max_shards
    assert sorted(p.name for p in (tmp_path / "st" / "shards").iterdir()) == [Path(u).name for u in prepared["shards"]]
    bounded = finalize(prepared["shards"], str(tmp_path / "st"), str(tmp_path / "a"), deid=False)
    whole = ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "b"), deid=False)
    assert bounded.manifest["content_sha256"] == whole.manifest["content_sha256"]
    with pytest.raises(IngestError, match="max_shards: expected at least 2"):
        prepare([str(tmp_path / "in.jsonl")], str(tmp_path / "st"), max_shards=1)


def test_dataset_reads_bound_the_line_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A published split is read line by line with a size bound (a corrupt file cannot exhaust memory)."""
    from medgrpo.data import dataset

    _write_jsonl(tmp_path / "in.jsonl", [_mcq(i) for i in range(5)])
    ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False, eval_fraction=0.0)
    monkeypatch.setattr(dataset, "MAX_RECORD_LINE_BYTES", 64)
    with pytest.raises(DatasetError, match=r"train\.jsonl:1: expected a record line of at most 64 bytes"):
        read_split(str(tmp_path / "ds"), "train")


def test_staged_reads_bound_the_line_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medgrpo.data import ingest as ingest_module

    _write_jsonl(tmp_path / "in.jsonl", [_mcq(i) for i in range(5)])
    prepared = prepare([str(tmp_path / "in.jsonl")], str(tmp_path / "st"))
    monkeypatch.setattr(ingest_module, "MAX_RECORD_LINE_BYTES", 64)
    with pytest.raises(IngestError, match=r"shard-00000\.jsonl:1: expected a staged line of at most 64 bytes"):
        finalize(prepared["shards"], str(tmp_path / "st"), str(tmp_path / "ds"), deid=False)
    assert not (tmp_path / "ds").exists()
