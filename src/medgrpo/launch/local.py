"""Run a training job as a local subprocess of the same entrypoint the container runs.

The child runs in its own process group (session), so killing the job — the Airflow task was
killed or timed out, or the caller was interrupted — stops the whole tree (``accelerate`` or
``torchrun`` launch several processes), not only the direct child.

When the job's output is an ``s3://`` prefix (a work root shared by Celery workers), the child is
the pods' entrypoint (:mod:`medgrpo.launch.entrypoint`): ``medgrpo train`` works in a private
scratch folder under ``TMPDIR`` and ``result.json`` is published to the prefix; checkpoints go to
the job's checkpoint store. The scratch folder is removed when the job ends, whatever the outcome,
so nothing a later task or a retry needs stays on this worker's disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable

from medgrpo import storage
from medgrpo.launch.base import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    Diagnostics,
    JobHandle,
    JobStatus,
    LaunchError,
    LineSink,
    run_job,
)
from medgrpo.launch.spec import TrainingJob, TrainingResult

log = logging.getLogger(__name__)

__all__ = ["LaunchError", "LocalLauncher", "read_result"]


class LocalLauncher:
    """``python -m medgrpo.cli train …`` in a child process group, its output streamed line by line."""

    name = "local"

    def __init__(
        self, *, env: dict[str, str] | None = None, python: str = sys.executable, kill_grace_s: float = 10.0
    ) -> None:
        self.env = env
        self.python = python
        self.kill_grace_s = kill_grace_s
        self._procs: dict[int, subprocess.Popen[str]] = {}
        self._tails: dict[int, deque[str]] = {}

    def command(self, job: TrainingJob, scratch: str | None = None) -> list[str]:
        """``medgrpo train`` writing to ``job.output_uri``; with ``scratch``, the entrypoint that trains in
        ``scratch`` and publishes ``result.json`` to the (remote) ``job.output_uri``."""
        if scratch is None:
            return [self.python, "-m", "medgrpo.cli", "train", *job.train_args()]
        return [
            self.python,
            "-m",
            "medgrpo.launch.entrypoint",
            "--output-uri",
            job.output_uri,
            "train",
            *job.train_args(output_dir=scratch),
        ]

    # ---- Launcher protocol ----------------------------------------------------------------------
    def submit(self, job: TrainingJob) -> JobHandle:
        """Start the training process in a new session (its own process group)."""
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        scratch = tempfile.mkdtemp(prefix="medgrpo-train-") if storage.is_s3(job.output_uri) else None
        if scratch is not None:  # the entrypoint's summary line goes here, not to /dev/termination-log
            env["MEDGRPO_TERMINATION_LOG"] = os.path.join(scratch, "termination-log")
        argv = self.command(job, scratch)
        log.info("launching local training: %s", " ".join(argv))
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
                preexec_fn=_die_with_parent(),  # one prctl call in the child: takes no lock
            )
        except BaseException:
            _remove_scratch(scratch)
            raise
        self._procs[proc.pid] = proc
        self._tails[proc.pid] = deque(maxlen=40)
        extra: dict[str, object] = {"pid": proc.pid}
        if scratch is not None:
            extra["scratch"] = scratch
        return JobHandle(backend=self.name, name=f"pid-{proc.pid}", attempt=job.attempt, extra=extra)

    def stream_logs(self, handle: JobHandle, on_line: LineSink) -> None:
        proc = self._proc(handle)
        assert proc.stdout is not None
        tail = self._tails[proc.pid]
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            on_line(line)

    def wait(self, handle: JobHandle, timeout: float | None = None) -> JobStatus:
        proc = self._proc(handle)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return JobStatus(RUNNING)
        return self.exit_status(code)

    def result(self, handle: JobHandle, job: TrainingJob) -> TrainingResult:
        return read_result(job.output_uri)

    def cleanup(self, handle: JobHandle) -> Diagnostics:
        proc = self._procs.pop(int(handle.extra["pid"]), None)
        tail = list(self._tails.pop(int(handle.extra["pid"]), []))
        if proc is None:
            _remove_scratch(handle.extra.get("scratch"))
            return Diagnostics(JobStatus(FAILED, reason="Unknown", message="process not started by this launcher"))
        if proc.poll() is None:  # cleanup never leaves a process behind
            self._kill_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()
        code = proc.wait()
        _remove_scratch(handle.extra.get("scratch"))  # only after the process group is gone
        status = self.exit_status(code)
        return Diagnostics(status, containers=[f"pid {proc.pid}: exit code {code}"], log_tail=tail)

    def kill(self, handle: JobHandle) -> None:
        proc = self._procs.get(int(handle.extra["pid"]))
        if proc is not None and proc.poll() is None:
            self._kill_group(proc)

    # ---- helpers --------------------------------------------------------------------------------
    def run(self, job: TrainingJob, on_line: LineSink | None = None) -> TrainingResult:
        """Run the job to completion and return what it wrote to ``result.json``."""
        try:
            return run_job(self, job, on_line)
        except LaunchError as err:
            raise LaunchError(str(err).replace("local job", "medgrpo train (local)", 1)) from None

    @staticmethod
    def exit_status(code: int) -> JobStatus:
        if code == 0:
            return JobStatus(SUCCEEDED, exit_code=0)
        return JobStatus(FAILED, reason="Error", exit_code=code, message=f"medgrpo train exited with code {code}")

    def _proc(self, handle: JobHandle) -> subprocess.Popen[str]:
        proc = self._procs.get(int(handle.extra["pid"]))
        if proc is None:
            raise LaunchError(f"no local process {handle.name} was started by this launcher")
        return proc

    def _kill_group(self, proc: subprocess.Popen[str]) -> None:
        """SIGTERM the child's process group, then SIGKILL whatever is left after the grace period."""
        try:
            pgid = os.getpgid(proc.pid)
        except ProcessLookupError:
            return
        log.warning("stopping training process group %d", pgid)
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(pgid):
                return
            time.sleep(0.1)
        _signal_group(pgid, signal.SIGKILL)
        proc.wait()


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when this process dies (Linux ``prctl``).

    The child leads a session of its own (so :meth:`LocalLauncher.kill` can stop its whole group),
    which also shields it from whatever ends this process: without this, an Airflow task killed with
    SIGKILL (OOM killer, crashed executor) left ``medgrpo train`` running beside the retry. Elsewhere
    (not Linux): None, and only :meth:`LocalLauncher.kill` stops the child.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not in the forked child
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before the setting took effect
            os._exit(1)

    return preexec


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _remove_scratch(scratch: object) -> None:
    """Remove a job's local scratch folder (model copies, checkpoints, final weights), if it had one."""
    if scratch:
        shutil.rmtree(str(scratch), ignore_errors=True)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_result(output_uri: str) -> TrainingResult:
    """Read ``result.json`` from a run's output prefix."""
    uri = storage.join(output_uri, "result.json")
    if not storage.exists(uri):
        raise LaunchError(f"training finished but wrote no result file at {uri}")
    return TrainingResult.from_json(json.loads(storage.read_text(uri)))
