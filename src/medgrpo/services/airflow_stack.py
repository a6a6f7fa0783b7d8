"""A real Airflow 3 deployment on loopback: api-server, scheduler, dag-processor, triggerer.

Each component is its own process (``airflow standalone`` leaves children behind on SIGTERM),
with a small parallelism for a 2-core machine. The executor is the LocalExecutor, or the
CeleryExecutor (``executor="CeleryExecutor"`` with a broker and result backend), whose workers are
:class:`~medgrpo.services.celery_workers.CeleryWorker` processes started with :meth:`AirflowStack.start_worker`.
Pools named in ``pools`` are created before the components start. The metadata database is
SQLite (demo) or PostgreSQL (tests, production-like; required by Celery). The REST API is used
with a JWT from ``POST /auth/token`` (SimpleAuthManager, password fixed through a passwords file).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from medgrpo.services.celery_workers import CeleryWorker
from medgrpo.services.process import ManagedProcess, free_port, wait_http

log = logging.getLogger(__name__)

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Which secret each component needs, as ``(config env var, secret file name)``. The values never go
# into an environment: Airflow reads them with the ``_CMD`` form of the option from 0600 files. Only
# the API server signs UI sessions; the API server and the scheduler (which issues task tokens)
# sign and check JWTs; tasks, forked from the scheduler, inherit no secret value.
_SECRETS_BY_COMPONENT: dict[str, tuple[tuple[str, str], ...]] = {
    "api-server": (("AIRFLOW__API__SECRET_KEY", "api_secret_key"), ("AIRFLOW__API_AUTH__JWT_SECRET", "jwt_secret")),
    "scheduler": (("AIRFLOW__API_AUTH__JWT_SECRET", "jwt_secret"),),
    "dag-processor": (),
    "triggerer": (),
    "celery-worker": (),  # runs tasks with the token the scheduler put in each workload; holds no key
}
TERMINAL_STATES = {"success", "failed"}
ADMIN_USER = "admin"


@dataclass
class AirflowStack:
    """Configuration and handles of one local Airflow deployment."""

    home: Path
    dags_folder: Path
    plugins_folder: Path | None = None
    db_uri: str | None = None
    port: int | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    parallelism: int = 3
    #: ``LocalExecutor`` or ``CeleryExecutor`` (then ``celery_broker_url`` and ``celery_result_backend``).
    executor: str = "LocalExecutor"
    celery_broker_url: str | None = None
    #: Celery result backend, e.g. ``db+postgresql://…`` (a database every worker reaches).
    celery_result_backend: str | None = None
    #: Airflow pools created at start: name -> (slots, description).
    pools: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    processes: list[ManagedProcess] = field(default_factory=list, init=False)
    workers: list[CeleryWorker] = field(default_factory=list, init=False)
    _token: str | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password(self) -> str:
        self._ensure_secrets()
        return str(json.loads((self.secrets_dir / "passwords.json").read_text())[ADMIN_USER])

    @property
    def secrets_dir(self) -> Path:
        """Folder (0700) of the stack's secret files (each 0600)."""
        return self.home / "secrets"

    def _ensure_secrets(self) -> None:
        """Create the secret files once, readable by this user only (and tighten older ones)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.secrets_dir, 0o700)
        wanted = {
            "jwt_secret": lambda: secrets.token_urlsafe(64),  # >= 64 bytes for HS512
            "api_secret_key": lambda: secrets.token_urlsafe(16),
            "passwords.json": lambda: json.dumps({ADMIN_USER: secrets.token_urlsafe(12)}),
        }
        for name, make in wanted.items():
            write_private_file(self.secrets_dir / name, make, replace=False)
        for legacy in ("secrets.json", "passwords.json"):  # world-readable files of earlier versions
            (self.home / legacy).unlink(missing_ok=True)

    def environment(self, component: str | None = None) -> dict[str, str]:
        """The environment of one Airflow component (``None``: what every component shares).

        Secrets are not in it: the components that need one get the ``_CMD`` form of the option,
        which reads a 0600 file (see ``_SECRETS_BY_COMPONENT``).
        """
        if component is not None and component not in _SECRETS_BY_COMPONENT:
            raise ValueError(f"unknown Airflow component {component!r}; expected one of {list(COMPONENTS)}")
        self._ensure_secrets()
        passwords = self.secrets_dir / "passwords.json"
        db_uri = self.db_uri or f"sqlite:///{(self.home / 'airflow.db').resolve()}"
        env = dict(os.environ)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home.resolve()),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder.resolve()),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(self.parallelism),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords.resolve()),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_uri,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__TRIGGERER__CAPACITY": "50",
                "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
                "PYTHONUNBUFFERED": "1",
                "NO_PROXY": "*",
            }
        )
        for name in list(env):  # never pass on a secret value inherited from the caller
            if name.startswith(("AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET")):
                del env[name]
        if self.plugins_folder is not None:
            env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(self.plugins_folder.resolve())
        if self.celery_broker_url:
            env["AIRFLOW__CELERY__BROKER_URL"] = self.celery_broker_url
        if self.celery_result_backend:
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = self.celery_result_backend
        env.update(self.extra_env)
        for option, filename in _SECRETS_BY_COMPONENT.get(component or "", ()):
            env[f"{option}_CMD"] = f"cat {shlex.quote(str((self.secrets_dir / filename).resolve()))}"
        return env

    def start(self, timeout: float = 240.0) -> AirflowStack:
        """Migrate the database, create the pools, start the four components and wait for the API."""
        if self.executor == "CeleryExecutor" and not (self.celery_broker_url and self.celery_result_backend):
            raise ValueError("the CeleryExecutor needs celery_broker_url and celery_result_backend")
        self.port = self.port or free_port()
        airflow = [sys.executable, "-m", "airflow"]
        started = time.monotonic()
        migrate = subprocess.run(
            [*airflow, "db", "migrate"], env=self.environment(), capture_output=True, text=True, timeout=timeout
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed (exit {migrate.returncode}):\n{migrate.stderr[-3000:]}")
        log.info("airflow db migrated in %.1f s", time.monotonic() - started)
        if self.pools:
            self.create_pools(timeout=timeout)
        logs = self.home / "logs" / "components"
        try:
            for component in COMPONENTS:
                argv = [*airflow, component]
                if component == "api-server":
                    argv += ["--port", str(self.port), "--host", "127.0.0.1", "--workers", "1"]
                env = self.environment(component)
                proc = ManagedProcess(f"airflow-{component}", argv, env, logs / f"{component}.log")
                self.processes.append(proc.start())
            wait_http(f"{self.url}/api/v2/monitor/health", timeout=timeout, proc=self.processes[0])
        except BaseException:
            self.stop()
            raise
        return self

    def create_pools(self, timeout: float = 120.0) -> None:
        """Create (or resize) the pools in ``pools`` with ``airflow pools import`` (one process for all).

        Tasks that name a pool which does not exist are never scheduled, so this runs before the
        components start (what ``airflow pools set NAME SLOTS DESCRIPTION`` does by hand).
        """
        spec = {
            name: {"slots": int(slots), "description": description, "include_deferred": False}
            for name, (slots, description) in self.pools.items()
        }
        path = self.home / "pools.json"
        path.write_text(json.dumps(spec, indent=1))
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "pools", "import", str(path)],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow pools import failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        log.info("airflow pools: %s", ", ".join(f"{n} ({s[0]} slots)" for n, s in self.pools.items()))

    def start_worker(
        self,
        name: str,
        root: Path,
        queues: Sequence[str],
        concurrency: int = 1,
        extra_env: Mapping[str, str] | None = None,
    ) -> CeleryWorker:
        """Start one Celery worker (CeleryExecutor) in the empty folder ``root``; see :class:`CeleryWorker`."""
        if self.executor != "CeleryExecutor" or not self.celery_broker_url:
            raise ValueError(f"Celery workers need executor='CeleryExecutor' and a broker, found {self.executor!r}")
        worker = CeleryWorker(name, root, list(queues), self.celery_broker_url, concurrency, dict(extra_env or {}))
        self.workers.append(worker)
        worker.start(self.environment("celery-worker"))
        return worker

    def stop(self) -> None:
        """Stop every component and worker, each as a process group: the scheduler (no new task starts) before the
        workers, the API server (which running tasks report to) last."""
        api = [p for p in self.processes if p.name == "airflow-api-server"]
        for proc in reversed(self.processes):
            if proc not in api:
                proc.stop()
        for worker in self.workers:
            worker.stop()
        for proc in api:
            proc.stop()
        self.processes.clear()
        self.workers.clear()

    def component(self, component: str) -> ManagedProcess:
        """The running process of ``component`` (one of :data:`COMPONENTS`)."""
        for proc in self.processes:
            if proc.name == f"airflow-{component}":
                return proc
        raise ValueError(f"no Airflow component {component!r} in this stack; expected one of {list(COMPONENTS)}")

    def kill_component(self, component: str) -> list[int]:
        """SIGKILL ``component`` and everything it started (for the scheduler with the LocalExecutor: its
        executor workers, their task processes and what those launched), as a crash of its host would;
        return the pids killed."""
        return self.component(component).kill()

    def restart_component(self, component: str, timeout: float = 120.0) -> ManagedProcess:
        """Start ``component`` again with its command, environment and log (after a kill or a crash)."""
        proc = self.component(component).restart()
        if component == "api-server":
            wait_http(f"{self.url}/api/v2/monitor/health", timeout=timeout, proc=proc)
        return proc

    def check_alive(self) -> None:
        """Raise naming the component or worker (and its log tail) if any has exited."""
        for proc in self.processes:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with code {proc.poll()}:\n{proc.tail()}")
        for worker in self.workers:
            worker.check_alive()

    # ---- REST API -------------------------------------------------------------------------
    def token(self) -> str:
        """A JWT for the admin user (cached)."""
        if self._token is None:
            resp = requests.post(
                f"{self.url}/auth/token",
                json={"username": ADMIN_USER, "password": self.password},
                timeout=30,
            )
            resp.raise_for_status()
            self._token = str(resp.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """Call ``/api/v2`` + ``path``; raise with the response text on an error status."""
        resp = requests.request(
            method,
            f"{self.url}/api/v2{path}",
            json=json_body,
            params=params,
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60,
        )
        if resp.status_code >= 400:
            raise RuntimeError(f"Airflow API {method} {path} answered {resp.status_code}: {resp.text[:500]}")
        return resp.json() if resp.content else None

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 180.0) -> None:
        """Wait until the dag-processor has parsed every DAG in ``dag_ids``; fail on import errors."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            errors = self.api("GET", "/importErrors").get("import_errors", [])
            if errors:
                details = "; ".join(f"{e.get('filename')}: {str(e.get('stack_trace'))[-400:]}" for e in errors)
                raise RuntimeError(f"DAG import errors: {details}")
            found = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 100}).get("dags", [])}
            if wanted <= found:
                return
            time.sleep(2)
        raise TimeoutError(f"DAGs {sorted(wanted)} were not all parsed within {timeout:.0f} s")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json_body={"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Trigger a run of ``dag_id`` with ``conf``; return its run id."""
        body = {"logical_date": None, "conf": dict(conf or {})}
        return str(self.api("POST", f"/dags/{dag_id}/dagRuns", json_body=body)["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """All runs of ``dag_id``, oldest first."""
        data = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})
        return list(data.get("dag_runs", []))

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Wait for a run to reach success or failed; return the run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in TERMINAL_STATES:
                return dict(run)
            time.sleep(2)
        raise TimeoutError(f"{dag_id} run {run_id} did not finish within {timeout:.0f} s")

    def wait_for_new_run(self, dag_id: str, known: set[str], timeout: float) -> dict[str, Any]:
        """Wait for a run of ``dag_id`` not in ``known`` (e.g. one an Asset event created) to finish."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            fresh = [r for r in self.runs(dag_id) if r["dag_run_id"] not in known]
            if fresh:
                remaining = max(1.0, deadline - time.monotonic())
                return self.wait_for_run(dag_id, fresh[0]["dag_run_id"], remaining)
            time.sleep(2)
        raise TimeoutError(f"no new run of {dag_id} appeared within {timeout:.0f} s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        data = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return list(data.get("task_instances", []))

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """The text of one task try's log, as the UI shows it."""
        resp = requests.get(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": True},
            headers={"Authorization": f"Bearer {self.token()}", "Accept": "application/json"},
            timeout=60,
        )
        resp.raise_for_status()
        content = resp.json().get("content", [])
        if isinstance(content, list):
            return "\n".join(_render_log_entry(c) for c in content)
        return str(content)


def write_private_file(path: Path, make: Callable[[], str], *, replace: bool) -> None:
    """Write ``make()`` to ``path`` readable and writable by this user only (0600), atomically.

    An existing file is kept (``replace=False``) but its mode is tightened to 0600.
    """
    if path.exists() and not replace:
        os.chmod(path, 0o600)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _render_log_entry(entry: Any) -> str:
    """One structured task-log entry as text, with its exception (type, message, frames) if any."""
    if not isinstance(entry, dict):
        return str(entry)
    lines = [str(entry.get("event", ""))]
    for error in entry.get("error_detail") or []:
        if not isinstance(error, dict):
            continue
        for frame in error.get("frames") or []:
            lines.append(f"  {frame.get('filename')}:{frame.get('lineno')} in {frame.get('name')}")
        lines.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
    return "\n".join(lines)
