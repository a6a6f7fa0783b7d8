"""Airflow Celery workers that share nothing but the broker, the databases and object storage.

Each :class:`CeleryWorker` is ``airflow celery worker`` started in its own empty working directory,
with its own ``HOME``, ``TMPDIR``, ``AIRFLOW_HOME`` (its task logs; remote logging copies them to S3)
and ``MEDGRPO_STATE_DIR`` (scratch), all inside one folder per worker: what a task leaves on its
worker's disk is invisible to tasks on the other worker, as on separate machines or pods. The worker
name is also the ``hostname`` Airflow records for every task instance it runs
(``[core] hostname_callable`` = :func:`worker_hostname`), so "which worker ran what" can be read back
from the REST API.

:meth:`CeleryWorker.busy` asks the worker, through Celery's remote control, whether it holds a task;
:func:`empty_worker_folder` removes everything inside a worker's folders, as if the worker had been
replaced by a fresh one (a test runs it after every task, from a Celery ``task_postrun`` hook
inside the worker).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medgrpo.services.process import ManagedProcess

log = logging.getLogger(__name__)

WORKER_NAME_ENV = "MEDGRPO_WORKER_NAME"
#: The worker's folder, for code running inside the worker (e.g. a Celery signal hook).
WORKER_ROOT_ENV = "MEDGRPO_WORKER_ROOT"
#: The folders of a worker's directory: working directory, HOME, TMPDIR, AIRFLOW_HOME, medgrpo scratch.
LAYOUT = ("cwd", "home", "tmp", "airflow", "state")


def worker_hostname() -> str:
    """The hostname Airflow records for tasks run by this worker (``[core] hostname_callable``)."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


def empty_worker_folder(root: str | Path) -> list[str]:
    """Remove everything inside a worker's folders (:data:`LAYOUT`; the folders stay, empty); return the
    files that were there.

    The folders themselves are kept (the worker process has its working directory in one of them),
    so this leaves the state of a new worker, not a broken one. Run it only while the worker runs no task.
    """
    found: list[str] = []
    for part in LAYOUT:
        folder = Path(root, part)
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.is_dir() and not child.is_symlink():
                found.extend(str(p) for p in sorted(child.rglob("*")) if p.is_file())
                shutil.rmtree(child, ignore_errors=True)
            else:
                found.append(str(child))
                child.unlink(missing_ok=True)
    return found


@dataclass
class CeleryWorker:
    """One ``airflow celery worker`` process and the folder that is its whole local disk."""

    name: str
    root: Path
    queues: Sequence[str]
    broker_url: str
    concurrency: int = 1
    #: Added to this worker's environment only (e.g. a ``[celery] celery_config_options`` with hooks).
    extra_env: Mapping[str, str] = field(default_factory=dict)
    process: ManagedProcess | None = field(default=None, init=False)
    _app: Any = field(default=None, init=False, repr=False)

    @property
    def node_name(self) -> str:
        """The Celery node name (``name@host``), the destination of remote-control commands."""
        return f"{self.name}@{socket.gethostname()}"

    def folder(self, part: str) -> Path:
        """One of the worker's folders (see :data:`LAYOUT`)."""
        if part not in LAYOUT:
            raise ValueError(f"unknown worker folder {part!r}; expected one of {LAYOUT}")
        return self.root / part

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """The worker's environment: ``base`` (the stack's shared settings) with every local location
        pointed inside this worker's folder."""
        env = dict(base)
        env.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", None)  # the API server's, not ours
        env.update(
            {
                "AIRFLOW_HOME": str(self.folder("airflow")),
                "HOME": str(self.folder("home")),
                "TMPDIR": str(self.folder("tmp")),
                "PWD": str(self.folder("cwd")),
                "MEDGRPO_STATE_DIR": str(self.folder("state")),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
                WORKER_NAME_ENV: self.name,
                WORKER_ROOT_ENV: str(self.root),
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, base_env: Mapping[str, str]) -> CeleryWorker:
        """Create the (empty) folders and start the worker; its log goes to ``<root>.log`` beside the folder."""
        if self.root.exists() and any(self.root.iterdir()):
            raise FileExistsError(f"{self.root}: a worker starts in an empty folder, found files there")
        for part in LAYOUT:
            self.folder(part).mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "airflow",
            "celery",
            "worker",
            "--concurrency",
            str(self.concurrency),
            "--queues",
            ",".join(self.queues),
            "--celery-hostname",
            self.node_name,
            "--skip-serve-logs",  # task logs go to S3 (remote logging); two workers on one host would clash on 8793
            "--without-gossip",
            "--without-mingle",
        ]
        self.process = ManagedProcess(
            f"celery-worker-{self.name}",
            argv,
            self.environment(base_env),
            self.root.with_name(f"{self.root.name}.log"),
            cwd=self.folder("cwd"),
        ).start()
        return self

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Wait until the worker answers a Celery ping (it consumes its queues from then on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.app().control.ping(destination=[self.node_name], timeout=1.0):
                return
            time.sleep(1)
        raise TimeoutError(f"Celery worker {self.node_name} did not answer within {timeout:.0f} s")

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.poll()
            tail = "" if self.process is None else self.process.tail()
            raise RuntimeError(f"Celery worker {self.name} is not running (exit code {code}):\n{tail}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self._app is not None:
            self._app.close()
            self._app = None

    # ---- remote control ---------------------------------------------------------------------
    def app(self) -> Any:
        """A Celery client app on the broker (remote control only; it sends no tasks)."""
        if self._app is None:
            from celery import Celery

            self._app = Celery(f"medgrpo-control-{self.name}", broker=self.broker_url)
        return self._app

    def busy(self) -> bool | None:
        """True while the worker runs or holds (prefetched) a task; None when it did not answer in time
        (a worker whose machine is saturated by training can be slow to reply)."""
        inspect = self.app().control.inspect(destination=[self.node_name], timeout=10.0)
        replies = [inspect.active(), inspect.reserved()]
        if any(r is None for r in replies):
            return None
        return any(tasks for reply in replies if reply for tasks in reply.values())

    def empty_folder(self) -> list[str]:
        """:func:`empty_worker_folder` of this worker (call only while it runs no task)."""
        return empty_worker_folder(self.root)
