"""Parts of the distributed stack that need no Airflow process: worker folders and environment, the
Celery settings of AirflowStack, and (against the machine's real Redis and PostgreSQL) the claimed
broker database and the fresh databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from medgrpo.services.airflow_stack import AirflowStack
from medgrpo.services.celery_workers import LAYOUT, CeleryWorker, empty_worker_folder, worker_hostname


def _worker(tmp_path: Path) -> CeleryWorker:
    return CeleryWorker("worker-x", tmp_path / "worker-x", ["default", "gpu"], "redis://127.0.0.1:6379/9")


def test_every_local_location_of_a_worker_is_inside_its_folder(tmp_path: Path) -> None:
    worker = _worker(tmp_path)
    base = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "/control/passwords.json", "HOME": "/root"}
    env = worker.environment(base)
    for name in ("AIRFLOW_HOME", "HOME", "TMPDIR", "PWD", "MEDGRPO_STATE_DIR", "MEDGRPO_WORKER_ROOT"):
        assert env[name].startswith(str(worker.root)), name
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" not in env  # the API server's secret file
    assert env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "medgrpo.services.celery_workers.worker_hostname"
    assert env["MEDGRPO_WORKER_NAME"] == "worker-x"


def test_the_worker_name_is_the_hostname_airflow_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDGRPO_WORKER_NAME", "worker-b")
    assert worker_hostname() == "worker-b"


def test_a_worker_starts_only_in_an_empty_folder(tmp_path: Path) -> None:
    worker = _worker(tmp_path)
    worker.root.mkdir()
    (worker.root / "left-over").write_text("x")
    with pytest.raises(FileExistsError, match="empty folder"):
        worker.start({})


def test_emptying_a_worker_folder_keeps_the_folders_and_lists_what_was_there(tmp_path: Path) -> None:
    root = tmp_path / "w"
    for part in LAYOUT:
        (root / part).mkdir(parents=True)
    (root / "tmp" / "scratch").mkdir()
    (root / "tmp" / "scratch" / "a.bin").write_bytes(b"a")
    (root / "home" / ".cache").mkdir()
    (root / "home" / ".cache" / "b").write_text("b")
    (root / "airflow" / "airflow.cfg").write_text("[core]")
    removed = empty_worker_folder(root)
    assert sorted(Path(p).relative_to(root).as_posix() for p in removed) == [
        "airflow/airflow.cfg",
        "home/.cache/b",
        "tmp/scratch/a.bin",
    ]
    assert sorted(p.name for p in root.iterdir()) == sorted(LAYOUT)
    assert [p for p in root.rglob("*") if p.is_file() or p.parent != root] == []


def test_the_celery_executor_needs_a_broker_and_a_result_backend(tmp_path: Path) -> None:
    stack = AirflowStack(home=tmp_path / "airflow", dags_folder=tmp_path, port=8080, executor="CeleryExecutor")
    with pytest.raises(ValueError, match="celery_broker_url and celery_result_backend"):
        stack.start()
    stack.celery_broker_url = "redis://127.0.0.1:6379/9"
    stack.celery_result_backend = "db+postgresql://postgres@127.0.0.1:5432/results"
    env = stack.environment()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/9"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert stack.environment("celery-worker")["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert not any(k.endswith("_CMD") for k in stack.environment("celery-worker"))  # workers hold no key


def test_workers_need_the_celery_executor(tmp_path: Path) -> None:
    stack = AirflowStack(home=tmp_path / "airflow", dags_folder=tmp_path, port=8080)
    with pytest.raises(ValueError, match="CeleryExecutor"):
        stack.start_worker("w", tmp_path / "w", ["default"])


@pytest.mark.integration
def test_a_broker_database_is_claimed_once_and_emptied_on_release() -> None:
    import redis

    from medgrpo.services.redis_db import claim_redis_db

    first = claim_redis_db()
    second = claim_redis_db()
    try:
        assert first.db != second.db and 0 not in (first.db, second.db)
        client = redis.Redis(db=first.db)
        client.set("celery-queue-key", "x")
        first.release()
        assert client.dbsize() == 0
        client.close()
    finally:
        first.release()
        second.release()


@pytest.mark.integration
def test_fresh_databases_are_created_and_dropped() -> None:
    import psycopg2

    from medgrpo.services.postgres import create_database, drop_database

    uri = create_database("medgrpo_parts")
    try:
        conn = psycopg2.connect(uri, connect_timeout=5)
        conn.close()
    finally:
        drop_database(uri)
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(uri, connect_timeout=5)
    with pytest.raises(ValueError, match="refusing to drop"):
        drop_database("postgresql://postgres@127.0.0.1:5432/Robert'); DROP TABLE x;--")
