"""``medgrpo deid INPUT OUTPUT [--text-fields] [--policy] [--report] [--workers]`` (DESIGN §7)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from medgrpo.deid.corpus import generate_corpus


def _run(*argv: str) -> int:
    from medgrpo.deid import commands

    parser = argparse.ArgumentParser(prog="medgrpo")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["deid", *argv])
    return int(args.func(args))


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    notes = generate_corpus(12, split="dev", seed=3)
    path = tmp_path / "in.jsonl"
    with path.open("w") as fh:
        for i, n in enumerate(notes):
            fh.write(json.dumps({"id": f"r{i}", "question": n.text, "answer": "A", "k": i}) + "\n")
    return path


def test_cli_keeps_order_writes_report_and_removes_phi(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    assert (
        _run(str(src), str(out), "--text-fields", "question,answer", "--report", str(report), "--batch-size", "5") == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(12)]
    assert [r["k"] for r in rows] == list(range(12))
    notes = generate_corpus(12, split="dev", seed=3)
    # the CLI writes exactly what the library does, and that removes the gold PHI (token recall on these notes)
    from medgrpo.deid import load_deidentifier
    from medgrpo.deid.evaluate import evaluate

    deid = load_deidentifier(None)
    assert [r["question"] for r in rows] == [deid.deidentify_text(n.text)[0] for n in notes]
    assert evaluate(notes, deid.analyze)["recall"] >= 0.97
    survived = sum(
        note.text[s:e] in row["question"] for note, row in zip(notes, rows, strict=True) for s, e, _ in note.phi
    )
    assert survived <= 3, survived
    rep = json.loads(report.read_text())
    assert rep["records"] == 12 and rep["records_touched"] == 12 and rep["canary_checks"] == 3
    assert rep["entities"]["NAME"] >= 12 and set(rep["entities_by_field"]) == {"question"}
    blob = report.read_text()
    for note in notes:
        for start, end, _ in note.phi:
            value = note.text[start:end]
            if not value.isdigit():  # bare digit runs can occur inside the report's hex digests
                assert value not in blob  # the report holds counts, never values
    assert "de-identified 12 records" in capsys.readouterr().out


def test_cli_workers_give_the_same_output(src: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert _run(str(src), str(one), "--batch-size", "4") == 0
    assert _run(str(src), str(two), "--batch-size", "4", "--workers", "2") == 0
    assert one.read_bytes() == two.read_bytes()
    assert json.loads(one.read_text().splitlines()[0])["id"] == "r0"  # id is never touched by default


def test_cli_bad_line_fails_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "question": "ok"}\n{"id": "2", "question": "John Smith\n')
    out = tmp_path / "out.jsonl"
    out.write_text("previous content\n")
    assert _run(str(src), str(out)) == 1
    assert out.read_text() == "previous content\n"  # untouched: the new output never replaced it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]
    err = capsys.readouterr().err
    assert "line 2: not valid JSON" in err and "John" not in err


def test_shard_reports_merge(src: Path, tmp_path: Path) -> None:
    from medgrpo.deid import DeidError
    from medgrpo.deid.jsonl import deidentify_jsonl, merge_reports

    lines = src.read_text().splitlines()
    shards = []
    for k in range(2):
        part = tmp_path / f"part{k}.jsonl"
        part.write_text("\n".join(lines[k::2]) + "\n")
        shards.append(deidentify_jsonl(str(part), str(tmp_path / f"out{k}.jsonl"), text_fields=["question"]))
    whole = deidentify_jsonl(str(src), str(tmp_path / "all.jsonl"), text_fields=["question"])
    merged = merge_reports(shards)
    assert merged["records"] == whole["records"] == 12
    assert merged["entities"] == whole["entities"]
    assert merged["shards"] == 2
    with pytest.raises(DeidError, match="different policy_sha256"):
        merge_reports([shards[0], {**shards[1], "policy_sha256": "0" * 64}])


def test_cli_refuses_an_over_long_line_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The ingest bound (``MAX_LINE_BYTES``) holds here too: one over-long line fails the file, nothing published."""
    from medgrpo.data import sources

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "question": "ok"}\n{"question": "' + "x" * 80 + '"}\n')
    out = tmp_path / "out.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sources, "MAX_LINE_BYTES", 64)
        assert _run(str(src), str(out)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    assert capsys.readouterr().err.strip().endswith("line 2: expected at most 64 bytes, found 97")


def test_cli_output_below_a_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, blocker = tmp_path / "in.jsonl", tmp_path / "afile"
    src.write_text('{"question": "ok"}\n')
    blocker.write_text("x")
    assert _run(str(src), str(blocker / "sub" / "out.jsonl")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"found the file {blocker} on the way" in err[0]
    assert _run(str(src), str(tmp_path)) == 1  # a directory
    assert "expected a file path, found a directory" in capsys.readouterr().err


def test_cli_report_that_cannot_be_written_publishes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, blocker, out = tmp_path / "in.jsonl", tmp_path / "afile", tmp_path / "out.jsonl"
    src.write_text('{"question": "ok"}\n')
    blocker.write_text("x")
    assert _run(str(src), str(out), "--report", str(blocker / "r.json")) == 1
    assert not out.exists() and "report " in capsys.readouterr().err


def test_report_failing_when_staged_publishes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report that passes the early check but fails when written (disk full, ...) still leaves no output."""
    from medgrpo.deid import jsonl

    def full(uri: str, text: str) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jsonl, "_stage_local", full)
    src, out, report = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "r.json"
    src.write_text('{"question": "ok"}\n')
    assert _run(str(src), str(out), "--report", str(report)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    assert "No space left on device); nothing was published" in capsys.readouterr().err


def test_deeply_nested_policy_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out, policy = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "deep.yaml"
    src.write_text('{"question": "ok"}\n')
    policy.write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert _run(str(src), str(out), "--policy", str(policy)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"medgrpo deid: de-identification policy {policy}: expected YAML nested") and not out.exists()
