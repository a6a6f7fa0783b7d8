"""What every launch backend does: the :class:`Launcher` protocol and the one way to run a job.

A backend (``local``, ``kubernetes``, ``kubeflow``) is a module with a class satisfying
:class:`Launcher`, registered by name in :mod:`medgrpo.launch`. :func:`run_job` composes the
steps the same way for all of them: submit (or re-attach), stream logs, wait, collect diagnostics
and clean up, then read ``result.json``; any interruption (task timeout, kill, Ctrl-C) kills the job
first, so nothing keeps running unwatched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from medgrpo.launch.spec import TrainingJob, TrainingResult

log = logging.getLogger(__name__)

LineSink = Callable[[str], None]


class LaunchError(RuntimeError):
    """The training job failed or could not be started; the message says why and where to look."""


@dataclass(frozen=True)
class JobHandle:
    """Identifies one submitted job so another process (a retry, a trigger) can find it again.

    ``extra`` holds backend details (process id, object kind, pod names); everything here is
    JSON-serialisable so a handle can travel through XCom or a trigger's arguments.
    """

    backend: str
    name: str
    namespace: str = ""
    attempt: int = 1
    reattached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobHandle:
        return cls(**data)


#: Phases a job reports, from submission to a terminal state.
PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands: ``phase`` plus, when it failed or is stuck, the cluster's own reason."""

    phase: str
    reason: str = ""
    message: str = ""
    exit_code: int | None = None

    @property
    def done(self) -> bool:
        return self.phase in (SUCCEEDED, FAILED)

    @property
    def succeeded(self) -> bool:
        return self.phase == SUCCEEDED

    def describe(self) -> str:
        parts = [self.phase]
        if self.reason:
            parts.append(f"reason {self.reason}")
        if self.exit_code is not None:
            parts.append(f"exit code {self.exit_code}")
        text = ", ".join(parts)
        return f"{text}: {self.message}" if self.message else text


@dataclass(frozen=True)
class Diagnostics:
    """What was collected from a job before it was deleted: status, container states, events, log tail."""

    status: JobStatus
    containers: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"status: {self.status.describe()}"]
        out += [f"container {c}" for c in self.containers]
        out += [f"event {e}" for e in self.events]
        return out


@runtime_checkable
class Launcher(Protocol):
    """A place ``medgrpo train`` can run: a local process, a Kubernetes pod, a Kubeflow job."""

    name: str

    def submit(self, job: TrainingJob) -> JobHandle:
        """Start ``job``, or re-attach to this run's job when one is still running (never two at once)."""
        ...

    def stream_logs(self, handle: JobHandle, on_line: LineSink) -> None:
        """Send the job's log lines to ``on_line`` as they are written, until its main container ends."""
        ...

    def wait(self, handle: JobHandle, timeout: float | None = None) -> JobStatus:
        """Block until the job is done (or ``timeout`` seconds passed) and return its status.

        A job that cannot start (unschedulable past the pending timeout) comes back failed with
        the scheduler's reason.
        """
        ...

    def result(self, handle: JobHandle, job: TrainingJob) -> TrainingResult:
        """Read what the job wrote to ``<output_uri>/result.json``."""
        ...

    def cleanup(self, handle: JobHandle) -> Diagnostics:
        """Collect container states, events and the log tail, then delete what the job created."""
        ...

    def kill(self, handle: JobHandle) -> None:
        """Stop the job now (task killed or timed out)."""
        ...


def run_job(launcher: Launcher, job: TrainingJob, on_line: LineSink | None = None) -> TrainingResult:
    """Submit ``job`` on ``launcher``, stream its log, wait, clean up and return its result.

    Raises :class:`LaunchError` with the backend's reason (exit code, termination message,
    scheduler reason, eviction) and the collected diagnostics when the job fails.
    """
    emit = on_line or (lambda line: log.info("%s", line))
    handle = launcher.submit(job)
    status: JobStatus | None = None
    try:
        launcher.stream_logs(handle, emit)
        status = launcher.wait(handle)
    except BaseException:
        log.warning("interrupted: killing %s job %s", handle.backend, handle.name)
        launcher.kill(handle)
        raise
    finally:
        diagnostics = launcher.cleanup(handle)
        for line in diagnostics.lines():
            log.info("%s", line)
    if not status.succeeded:
        detail = "\n".join([*diagnostics.lines(), *diagnostics.log_tail[-20:]])
        raise LaunchError(f"{handle.backend} job {handle.name} failed: {status.describe()}\n{detail}")
    return launcher.result(handle, job)
