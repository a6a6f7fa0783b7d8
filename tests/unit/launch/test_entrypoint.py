"""The in-pod entrypoint runs ``medgrpo train`` and publishes ``result.json`` to the output location."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medgrpo.launch import entrypoint


def test_publishes_the_result_and_a_termination_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, out, term = tmp_path / "work", tmp_path / "published", tmp_path / "termination-log"

    def fake_cli(argv: list[str], **kwargs: object) -> int:  # the CLI itself is covered by the train tests
        assert argv[:2] == ["train", "--recipe"]
        work.mkdir()
        (work / "result.json").write_text(json.dumps({"run_id": "r1", "model_name": "m", "model_version": "3"}))
        return 0

    monkeypatch.setattr("medgrpo.cli.main", fake_cli)
    code = entrypoint.main(
        ["--output-uri", str(out), "train", "--recipe", "r.yaml", "--output-dir", str(work)], termination_log=str(term)
    )
    assert code == 0
    assert json.loads((out / "result.json").read_text())["model_version"] == "3"
    assert json.loads(term.read_text()) == {"run_id": "r1", "model_name": "m", "model_version": "3", "model_uri": None}


def test_a_failed_train_publishes_nothing_and_keeps_its_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("medgrpo.cli.main", lambda argv, **kwargs: 2)
    out = tmp_path / "published"
    code = entrypoint.main(
        ["--output-uri", str(out), "train", "--output-dir", str(tmp_path / "w")], termination_log=str(tmp_path / "t")
    )
    assert code == 2 and not out.exists()


def test_an_exception_becomes_the_termination_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(argv: list[str], **kwargs: object) -> int:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr("medgrpo.cli.main", boom)
    with pytest.raises(RuntimeError):
        entrypoint.main(
            ["--output-uri", str(tmp_path), "train", "--output-dir", "w"], termination_log=str(tmp_path / "t")
        )
    assert (tmp_path / "t").read_text() == "medgrpo train failed: RuntimeError: CUDA out of memory"


def test_the_real_cli_lets_a_training_crash_through_to_the_entrypoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI turns unexpected errors into one line; the entrypoint asks it not to, so a crashed
    training still leaves its message as the pod's termination message and its traceback in the log."""
    import medgrpo.cli
    import medgrpo.train.commands

    def crash(args: object) -> int:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(medgrpo.train.commands, "_train", crash)
    assert medgrpo.cli.main(["train", "--recipe", "r.yaml"]) == medgrpo.cli.EXIT_UNEXPECTED
    with pytest.raises(RuntimeError):
        entrypoint.main(
            ["--output-uri", str(tmp_path), "train", "--recipe", "r.yaml"], termination_log=str(tmp_path / "t")
        )
    assert (tmp_path / "t").read_text() == "medgrpo train failed: RuntimeError: CUDA out of memory"
