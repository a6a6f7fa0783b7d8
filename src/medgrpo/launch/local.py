"""Run a training job as a local subprocess of the same entrypoint the container runs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable

from medgrpo import storage
from medgrpo.launch.spec import TrainingJob, TrainingResult

log = logging.getLogger(__name__)


class LaunchError(RuntimeError):
    """The training process failed; the message carries its exit code and last log lines."""


class LocalLauncher:
    """``python -m medgrpo.cli train …`` in a child process, its output streamed line by line."""

    name = "local"

    def __init__(self, *, env: dict[str, str] | None = None, python: str = sys.executable) -> None:
        self.env = env
        self.python = python

    def command(self, job: TrainingJob) -> list[str]:
        return [self.python, "-m", "medgrpo.cli", "train", *job.train_args()]

    def run(self, job: TrainingJob, on_line: Callable[[str], None] | None = None) -> TrainingResult:
        """Run the job to completion and return what it wrote to ``result.json``."""
        emit = on_line or (lambda line: log.info("%s", line))
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        argv = self.command(job)
        log.info("launching local training: %s", " ".join(argv))
        tail: deque[str] = deque(maxlen=40)
        with subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                tail.append(line)
                emit(line)
            code = proc.wait()
        if code != 0:
            raise LaunchError(f"medgrpo train exited with code {code}; last lines:\n" + "\n".join(tail))
        return read_result(job.output_uri)


def read_result(output_uri: str) -> TrainingResult:
    """Read ``result.json`` from a run's output prefix."""
    uri = storage.join(output_uri, "result.json")
    if not storage.exists(uri):
        raise LaunchError(f"training finished but wrote no result file at {uri}")
    return TrainingResult.from_json(json.loads(storage.read_text(uri)))
