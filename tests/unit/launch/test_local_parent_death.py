"""A local training process dies with the Airflow task that launched it, even when the task is SIGKILLed.

The child runs in a session of its own (so a timeout can kill its whole group), which also shields it
from the signals that end its parent; without more, a task process killed by the OOM killer or a crashed
executor left ``medgrpo train`` running beside the retry Airflow starts (two trainings of one run). Found
by the fault-injection tests (tests/integration/test_fault_injection.py, point ``registry.version_created``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_training_child_dies_when_its_task_process_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "train.py"
    script.write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "print('training', flush=True)\ntime.sleep(300)\n"
    )
    wrapper = tmp_path / "py"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    wrapper.chmod(0o755)
    task = (
        "from medgrpo.launch.local import LocalLauncher\n"
        "from medgrpo.launch.spec import TrainingJob\n"
        f"job = TrainingJob(recipe='r.yaml', dataset_uri='synth:8', output_uri={str(tmp_path / 'o')!r}, run_name='r')\n"
        f"LocalLauncher(python={str(wrapper)!r}).run(job)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", task])
    child = 0
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline, "the training script did not start"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        os.kill(parent.pid, signal.SIGKILL)  # what the OOM killer or a crashed executor does to a task
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the training process outlived its killed task"
    finally:
        if parent.poll() is None:
            parent.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
