"""TrainingJob validation and the argv every backend hands to ``medgrpo train``."""

from __future__ import annotations

import json
import sys

import pytest

from medgrpo.launch import TrainingJob, get_launcher
from medgrpo.launch.local import LaunchError, LocalLauncher, read_result
from medgrpo.launch.spec import safe_name


def _job(tmp_path, **kw):  # type: ignore[no-untyped-def]
    base = {
        "recipe": "r.yaml",
        "dataset_uri": "/data/ds",
        "output_uri": str(tmp_path / "out"),
        "run_name": "run-1",
    }
    base.update(kw)
    return TrainingJob(**base)


def test_train_args_are_complete_and_sorted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    job = _job(
        tmp_path,
        model="models:/m@champion",
        tags={"b": "2", "a": "1"},
        overrides={"max_steps": "3"},
        register=False,
        checkpoint_store="s3://b/runs/r1",
    )
    args = job.train_args()
    assert args[:8] == [
        "--recipe",
        "r.yaml",
        "--dataset",
        "/data/ds",
        "--output-dir",
        str(tmp_path / "out"),
        "--run-name",
        "run-1",
    ]
    assert args[8:12] == ["--model", "models:/m@champion", "--checkpoint-store", "s3://b/runs/r1"]
    assert args[12:16] == ["--tag", "a=1", "--tag", "b=2"]
    assert args[16:18] == ["--set", "max_steps=3"]
    assert args[-1] == "--no-register"


@pytest.mark.parametrize("field", ["recipe", "dataset_uri", "output_uri", "run_name"])
def test_empty_required_field_is_rejected(tmp_path, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=field):
        _job(tmp_path, **{field: " "})


def test_bad_tag_key_is_rejected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="a b"):
        _job(tmp_path, tags={"a b": "x"})


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'local'"):
        get_launcher("slurm")


def test_safe_name_is_dns_like() -> None:
    assert (
        safe_name("grpo_training/Manual__2026-11-27T16:00:00+00:00") == "grpo-training-manual-2026-11-27t16-00-00-00-00"
    )
    assert len(safe_name("x" * 100)) == 63


def test_failed_training_process_raises_with_its_last_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real ``medgrpo train`` with a recipe that does not exist: the error reaches the caller."""
    lines: list[str] = []
    job = _job(tmp_path, recipe=str(tmp_path / "missing.yaml"))
    with pytest.raises(LaunchError, match="exited with code"):
        LocalLauncher().run(job, on_line=lines.append)
    assert any("missing.yaml" in line for line in lines)


def test_result_file_is_read_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.json").write_text(
        json.dumps({"run_id": "abc", "model_name": "m", "model_version": 3, "metrics": {"x": 1.0}})
    )
    result = read_result(str(out))
    assert (result.run_id, result.model_version, result.metrics) == ("abc", "3", {"x": 1.0})


def test_missing_result_file_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LaunchError, match="result"):
        read_result(str(tmp_path))


def test_local_launcher_streams_lines_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The launcher's streaming and result reading, driven by a stand-in interpreter script.

    The stand-in replaces only the training entrypoint (it prints lines and writes result.json),
    so this checks the launcher's own mechanics; the real entrypoint runs in the e2e test.
    """
    script = tmp_path / "fake_python.py"
    script.write_text(
        "import json, sys, pathlib\n"
        "args = sys.argv[1:]\n"
        "out = pathlib.Path(args[args.index('--output-dir') + 1]); out.mkdir(parents=True, exist_ok=True)\n"
        "for i in range(3): print(f'step {i}', flush=True)\n"
        "(out / 'result.json').write_text(json.dumps({'run_id': 'r1', 'model_version': '1'}))\n"
    )
    wrapper = tmp_path / "py"
    wrapper.write_text(f'#!/bin/sh\nshift 2\nexec {sys.executable} {script} "$@"\n')
    wrapper.chmod(0o755)
    lines: list[str] = []
    result = LocalLauncher(python=str(wrapper)).run(_job(tmp_path), on_line=lines.append)
    assert lines == ["step 0", "step 1", "step 2"]
    assert result.run_id == "r1"
