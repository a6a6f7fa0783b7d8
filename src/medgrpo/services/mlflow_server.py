"""Run a real MLflow tracking + registry server (``--workers 1``) on a loopback port."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from medgrpo.services.process import ManagedProcess, free_port, wait_http


@dataclass
class MlflowServer:
    """A started MLflow server; ``url`` is its tracking URI."""

    url: str
    process: ManagedProcess
    backend_store_uri: str
    artifacts_dir: Path
    #: Where the server stores artifacts: ``artifacts_dir``, or the s3:// destination it was given.
    artifacts_destination: str = ""

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> list[int]:
        """SIGKILL the server and its workers (a crash: no shutdown); return the pids killed."""
        return self.process.kill()

    def restart(self, timeout: float = 120.0) -> None:
        """Start the server again on the same port, store and artifacts; wait until it answers."""
        self.process.restart()
        try:
            wait_http(f"{self.url}/health", timeout=timeout, proc=self.process)
        except BaseException:
            self.process.stop()
            raise


def start_mlflow_server(
    state_dir: str | Path,
    *,
    backend_store_uri: str | None = None,
    port: int | None = None,
    timeout: float = 120.0,
    artifacts_destination: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> MlflowServer:
    """Start ``mlflow server`` with artifacts proxied from ``state_dir/mlflow/artifacts``.

    ``backend_store_uri`` defaults to SQLite under ``state_dir`` (a ``postgresql://`` URI works
    the same). Job execution is disabled, so the server is one process with one worker.
    ``artifacts_destination`` (e.g. ``s3://bucket/mlflow``) replaces the local artifact folder: clients
    upload through the server (``mlflow-artifacts:/`` URIs), which writes to S3 with the credentials and
    ``MLFLOW_S3_ENDPOINT_URL`` in ``extra_env`` (added to this process's environment).
    """
    root = Path(state_dir, "mlflow").resolve()
    root.mkdir(parents=True, exist_ok=True)
    artifacts = root / "artifacts"
    artifacts.mkdir(exist_ok=True)
    backend = backend_store_uri or f"sqlite:///{root / 'mlflow.db'}"
    port = port or free_port()
    env = dict(os.environ)
    env.update(
        {
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env or {})
    destination = artifacts_destination or str(artifacts)
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        destination,
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = ManagedProcess("mlflow-server", argv, env, root / "server.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", timeout=timeout, proc=proc)
    except BaseException:
        proc.stop()
        raise
    return MlflowServer(
        url=url, process=proc, backend_store_uri=backend, artifacts_dir=artifacts, artifacts_destination=destination
    )
