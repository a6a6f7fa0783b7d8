"""The local backend runs training in its own process group and kills the whole group when the
task is killed or times out (an exception raised while its log is being streamed, as Airflow's
timeout does), so no grandchild (torchrun/accelerate workers) keeps running."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from medgrpo.launch import Launcher
from medgrpo.launch.local import LocalLauncher
from medgrpo.launch.spec import TrainingJob


class TaskTimeout(BaseException):
    """Stands in for AirflowTaskTimeout (a BaseException raised inside the running task)."""


def _launcher(tmp_path: Path) -> tuple[LocalLauncher, Path]:
    """A launcher whose 'python' starts a grandchild that records its pid, then both sleep."""
    pids = tmp_path / "pids"
    script = tmp_path / "train.py"
    script.write_text(
        "import os, subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "print('training started', flush=True)\n"
        "time.sleep(300)\n"
    )
    wrapper = tmp_path / "py"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    wrapper.chmod(0o755)
    return LocalLauncher(python=str(wrapper), kill_grace_s=2), pids


def _job(tmp_path: Path) -> TrainingJob:
    return TrainingJob(recipe="r.yaml", dataset_uri="synth:8", output_uri=str(tmp_path / "out"), run_name="r")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead
        return fh.read().split()[2] != "Z"


def _wait_dead(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_local_launcher_satisfies_the_protocol() -> None:
    assert isinstance(LocalLauncher(), Launcher)


def test_interruption_kills_the_whole_process_group(tmp_path: Path) -> None:
    launcher, pids = _launcher(tmp_path)

    def on_line(line: str) -> None:
        if line == "training started":
            raise TaskTimeout()

    with pytest.raises(TaskTimeout):
        launcher.run(_job(tmp_path), on_line=on_line)
    child, grandchild = map(int, pids.read_text().split())
    assert _wait_dead([child, grandchild]), "training processes survived the task timeout"


def test_kill_stops_child_and_grandchild(tmp_path: Path) -> None:
    launcher, pids = _launcher(tmp_path)
    handle = launcher.submit(_job(tmp_path))
    deadline = time.monotonic() + 20
    while not pids.exists() or not pids.read_text().strip():
        assert time.monotonic() < deadline, "training script did not start"
        time.sleep(0.05)
    child, grandchild = map(int, pids.read_text().split())
    launcher.kill(handle)
    assert _wait_dead([child, grandchild])
    diagnostics = launcher.cleanup(handle)
    assert diagnostics.status.phase == "failed" and diagnostics.status.exit_code is not None
