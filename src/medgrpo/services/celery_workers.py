"""Airflow Celery workers that share nothing but the broker, the databases and object storage.

Each :class:`CeleryWorker` is ``airflow celery worker`` started in its own empty working directory,
with its own ``HOME``, ``TMPDIR``, ``AIRFLOW_HOME`` (its task logs; remote logging copies them to S3)
and ``MEDGRPO_STATE_DIR`` (scratch), all inside one folder per worker: what a task leaves on its
worker's disk is invisible to tasks on the other worker, as on separate machines or pods. The worker
name is also the ``hostname`` Airflow records for every task instance it runs
(``[core] hostname_callable`` = :func:`worker_hostname`), so "which worker ran what" can be read back
from the REST API.

:meth:`CeleryWorker.pause` / :meth:`CeleryWorker.resume` stop and restart consumption through Celery's
remote control; :meth:`CeleryWorker.empty_folder` removes everything inside the worker's folder while
it is paused and idle, as if the worker had been replaced by a fresh one.
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
#: The folders of a worker's directory: working directory, HOME, TMPDIR, AIRFLOW_HOME, medgrpo scratch.
LAYOUT = ("cwd", "home", "tmp", "airflow", "state")


def worker_hostname() -> str:
    """The hostname Airflow records for tasks run by this worker (``[core] hostname_callable``)."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


@dataclass
class CeleryWorker:
    """One ``airflow celery worker`` process and the folder that is its whole local disk."""

    name: str
    root: Path
    queues: Sequence[str]
    broker_url: str
    concurrency: int = 1
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
            }
        )
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

    def pause(self) -> None:
        """Stop taking new tasks from every queue (running ones finish)."""
        for queue in self.queues:
            self.app().control.cancel_consumer(queue, destination=[self.node_name], reply=True, timeout=5.0)

    def resume(self) -> None:
        """Take tasks from the worker's queues again."""
        for queue in self.queues:
            self.app().control.add_consumer(queue, destination=[self.node_name], reply=True, timeout=5.0)

    def busy(self) -> bool:
        """True while the worker runs or holds (prefetched) a task."""
        inspect = self.app().control.inspect(destination=[self.node_name], timeout=2.0)
        replies = [inspect.active(), inspect.reserved()]
        if any(r is None for r in replies):
            raise RuntimeError(f"Celery worker {self.node_name} did not answer inspect()")
        return any(tasks for reply in replies for tasks in reply.values())

    def empty_folder(self) -> list[str]:
        """Remove everything inside the worker's folders (they stay, empty); return what was there.

        Call only while the worker is paused and not :meth:`busy`. The folders themselves are kept
        (the worker process has its working directory in one of them), so this is the state of a new
        worker, not a broken one.
        """
        found: list[str] = []
        for part in LAYOUT:
            folder = self.folder(part)
            for child in sorted(folder.iterdir()):
                found.extend(str(p) for p in ([child] if child.is_file() else sorted(child.rglob("*"))) if p.is_file())
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        return found
