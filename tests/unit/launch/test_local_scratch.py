"""The local backend with an s3:// output (work root shared by Celery workers): ``medgrpo train`` works in
a private scratch folder under TMPDIR, ``result.json`` reaches the S3 prefix, and the scratch folder is
gone when the job ends, also when it fails. A real moto S3 server; the training process is a small
stand-in script that behaves like the entrypoint (writes into its output dir, publishes result.json)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from medgrpo import storage
from medgrpo.launch.base import LaunchError
from medgrpo.launch.local import LocalLauncher
from medgrpo.launch.spec import TrainingJob

pytestmark = pytest.mark.integration

STAND_IN = r"""
import json, os, sys
from pathlib import Path
from medgrpo import storage
argv = sys.argv[1:]
out_dir = Path(argv[argv.index("--output-dir") + 1])
uri = argv[argv.index("--output-uri") + 1]
(out_dir / "checkpoint-1").mkdir(parents=True)
(out_dir / "checkpoint-1" / "weights.bin").write_bytes(b"w")
record = {"argv": argv, "scratch": str(out_dir), "termination_log": os.environ.get("MEDGRPO_TERMINATION_LOG")}
Path(sys.argv[0]).with_name("seen.json").write_text(json.dumps(record))
if os.environ.get("STAND_IN_FAIL"):
    sys.exit(3)
storage.write_text_atomic(storage.join(uri, "result.json"), json.dumps({"run_id": "r1", "model_version": "4"}))
"""


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MEDGRPO_S3_ENDPOINT_URL": moto_server,
    }.items():
        monkeypatch.setenv(key, value)
    storage.s3_client().create_bucket(Bucket="scratch-test")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "worker-tmp"))
    (tmp_path / "worker-tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    return "s3://scratch-test/runs/r1"


def _launcher(tmp_path: Path) -> LocalLauncher:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    wrapper = tmp_path / "py"  # 'python -m medgrpo.launch.entrypoint ARGS' -> the stand-in with ARGS
    wrapper.write_text(f'#!/bin/sh\nshift 2\nexec {sys.executable} {script} "$@"\n')
    wrapper.chmod(0o755)
    return LocalLauncher(python=str(wrapper))


def _job(output_uri: str) -> TrainingJob:
    return TrainingJob(
        recipe="r.yaml",
        dataset_uri="s3://scratch-test/datasets/d",
        output_uri=output_uri,
        run_name="r",
        checkpoint_store="s3://scratch-test/checkpoints/r1",
    )


def test_remote_output_trains_in_scratch_and_publishes_the_result(s3: str, tmp_path: Path) -> None:
    result = _launcher(tmp_path).run(_job(s3))
    assert result.run_id == "r1" and result.model_version == "4"
    seen = json.loads((tmp_path / "seen.json").read_text())
    scratch = Path(seen["scratch"])
    assert scratch.parent == tmp_path / "worker-tmp"  # under this worker's TMPDIR
    assert seen["argv"][:2] == ["--output-uri", s3] and seen["argv"][2] == "train"
    assert seen["argv"][seen["argv"].index("--checkpoint-store") + 1] == "s3://scratch-test/checkpoints/r1"
    assert seen["termination_log"] == str(scratch / "termination-log")
    assert not scratch.exists(), "the scratch folder must be removed when the job ends"
    assert json.loads(storage.read_text(f"{s3}/result.json"))["run_id"] == "r1"


def test_scratch_is_removed_when_training_fails(s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAND_IN_FAIL", "1")
    with pytest.raises(LaunchError, match="exit code 3"):
        _launcher(tmp_path).run(_job(s3))
    scratch = Path(json.loads((tmp_path / "seen.json").read_text())["scratch"])
    assert not scratch.exists()
    assert list((tmp_path / "worker-tmp").iterdir()) == []


def test_local_output_is_written_in_place(tmp_path: Path) -> None:
    launcher = LocalLauncher(python="python3")
    argv = launcher.command(_job(str(tmp_path / "runs" / "r1")))
    assert argv[1:4] == ["-m", "medgrpo.cli", "train"]
    assert argv[argv.index("--output-dir") + 1] == str(tmp_path / "runs" / "r1")
