"""Shared fixtures: real PostgreSQL databases, a real MLflow server, a tiny Qwen2 model.

Integration fixtures start real services and stop them at the end. PostgreSQL is required
(127.0.0.1:5432, trust auth, user postgres): when it is missing the fixture fails, it never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PG_DSN = os.environ.get("MEDGRPO_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432")
# Tests ingest synthetic data: record ids may use the public development key (medgrpo.data.ids);
# tests of the key itself set or clear these variables themselves.
os.environ.setdefault("MEDGRPO_ALLOW_DEV_ID_KEY", "true")


def _pg_admin_connect():  # type: ignore[no-untyped-def]
    import psycopg2

    try:
        conn = psycopg2.connect(f"{PG_DSN}/postgres", connect_timeout=5)
    except psycopg2.OperationalError as err:
        pytest.fail(f"PostgreSQL expected at {PG_DSN} (integration tests need it); connecting failed: {err}")
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session", autouse=True)
def _id_map_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Source-id maps (PHI by contract) written by tests go to a session folder, not ./.state."""
    if os.environ.get("MEDGRPO_ID_MAP_ROOT"):
        yield
        return
    os.environ["MEDGRPO_ID_MAP_ROOT"] = str(tmp_path_factory.mktemp("id-maps"))
    try:
        yield
    finally:
        os.environ.pop("MEDGRPO_ID_MAP_ROOT", None)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Callable[[str], str]]:
    """Factory: ``make(prefix)`` creates a fresh PostgreSQL database and returns its SQLAlchemy URI.

    Every database it made is dropped at the end of the session.
    """
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        conn = _pg_admin_connect()
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        made.append(name)
        return f"{PG_DSN}/{name}"

    yield make
    conn = _pg_admin_connect()
    with conn.cursor() as cur:
        for name in made:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory, pg_database: Callable[[str], str]) -> Iterator[str]:
    """A real MLflow server backed by PostgreSQL; yields its tracking URI.

    Tests that use it should give their experiments/models unique names (the server is shared).
    """
    from medgrpo.services.mlflow_server import start_mlflow_server

    backend = pg_database("medgrpo_mlflow")
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow"), backend_store_uri=backend)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``moto_server`` (S3 over HTTP) on a free loopback port; yields its endpoint URL.

    Shared by the session: tests use their own bucket names.
    """
    import sys

    from medgrpo.services.process import ManagedProcess, free_port, wait_http

    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    proc = ManagedProcess(
        "moto-server",
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        dict(os.environ),
        tmp_path_factory.mktemp("moto") / "moto.log",
    ).start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{endpoint}/moto-api/", timeout=60, proc=proc, ok_codes=(200, 404))
        yield endpoint
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly built tiny Qwen2 model + ~3k-token tokenizer (no download), shared by the session."""
    from medgrpo.train.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)
