"""The whole platform as a distributed deployment on loopback: Celery workers that share nothing
but S3, PostgreSQL and Redis.

- S3: a moto server; buckets for the work root (``MEDGRPO_WORK_URI``), MLflow's artifacts and
  Airflow's task logs (remote logging);
- PostgreSQL: fresh databases for Airflow's metadata, the Celery result backend and MLflow;
- Redis: a database number of its own (claimed, emptied at the end) as the Celery broker;
- MLflow: one server whose artifact store is S3 (clients upload through it);
- Airflow: api-server, scheduler, dag-processor and triggerer with the CeleryExecutor, the GPU and
  cluster pools created at start, and N :class:`~medgrpo.services.celery_workers.CeleryWorker`
  processes, each in its own empty folder with its own ``HOME``, ``TMPDIR`` and ``AIRFLOW_HOME``.

Used by ``medgrpo demo --distributed`` and by the distributed-chain test. :meth:`DistributedStack.stop`
stops every process group it started, drops its databases and releases its Redis database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medgrpo.services.airflow_stack import AirflowStack
from medgrpo.services.celery_workers import CeleryWorker
from medgrpo.services.mlflow_server import MlflowServer, start_mlflow_server
from medgrpo.services.moto_server import S3_CREDENTIALS, MotoServer, start_moto_server
from medgrpo.services.postgres import create_database, drop_database
from medgrpo.services.redis_db import RedisDb, claim_redis_db

log = logging.getLogger(__name__)

WORK_BUCKET = "medgrpo-work"
ARTIFACT_BUCKET = "medgrpo-mlflow"
LOG_BUCKET = "medgrpo-airflow-logs"
GPU_QUEUE = "gpu"
GPU_POOL = "gpu"
CLUSTER_POOL = "cluster_jobs"
LOG_CONN_ID = "medgrpo_s3_logs"


@dataclass(frozen=True)
class WorkerSpec:
    """One worker: its name and the Celery queues it consumes (only accelerator workers take ``gpu``)."""

    name: str
    queues: tuple[str, ...]
    concurrency: int = 1


#: Two workers: one CPU-only, one "accelerator" worker that also consumes the GPU queue.
DEFAULT_WORKERS = (WorkerSpec("worker-a", ("default",)), WorkerSpec("worker-b", ("default", GPU_QUEUE)))


@dataclass
class DistributedStack:
    """Configuration and handles of one distributed deployment (see the module docstring)."""

    base: Path
    repo: Path
    workers: Sequence[WorkerSpec] = DEFAULT_WORKERS
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: Added to the workers' environment only.
    worker_env: Mapping[str, str] = field(default_factory=dict)
    gpu_slots: int = 1
    parallelism: int = 4
    moto: MotoServer | None = field(default=None, init=False)
    mlflow: MlflowServer | None = field(default=None, init=False)
    airflow: AirflowStack | None = field(default=None, init=False)
    redis: RedisDb | None = field(default=None, init=False)
    databases: list[str] = field(default_factory=list, init=False)
    celery: dict[str, CeleryWorker] = field(default_factory=dict, init=False)

    @property
    def work_uri(self) -> str:
        return f"s3://{WORK_BUCKET}/medgrpo"

    def worker_root(self, name: str) -> Path:
        """The folder that is the whole local disk of worker ``name``."""
        return self.base / "workers" / name

    def s3_env(self) -> dict[str, str]:
        """What every process needs to reach the S3 endpoint (boto3, MLflow, Airflow's S3 hook)."""
        assert self.moto is not None
        return {
            **S3_CREDENTIALS,
            "MEDGRPO_S3_ENDPOINT_URL": self.moto.url,
            "AWS_ENDPOINT_URL": self.moto.url,
            "MLFLOW_S3_ENDPOINT_URL": self.moto.url,
        }

    def start(self, timeout: float = 300.0) -> DistributedStack:
        """Start everything; on any failure stop what was started and re-raise."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        logs = self.base / "logs"
        self.moto = start_moto_server(logs / "moto.log")
        self.moto.create_buckets(WORK_BUCKET, ARTIFACT_BUCKET, LOG_BUCKET)
        s3 = self.s3_env()
        airflow_db = self._database("medgrpo_dist_airflow")
        results_db = self._database("medgrpo_dist_celery")
        mlflow_db = self._database("medgrpo_dist_mlflow")
        self.redis = claim_redis_db()
        log.info("Celery broker: %s (Redis database %d of its own)", self.redis.url, self.redis.db)
        self.mlflow = start_mlflow_server(
            self.base / "control-plane",
            backend_store_uri=mlflow_db,
            artifacts_destination=f"s3://{ARTIFACT_BUCKET}/artifacts",
            extra_env=s3,
            timeout=timeout,
        )
        logs_conn = {"conn_type": "aws", "extra": {"endpoint_url": self.moto.url, "region_name": "us-east-1"}}
        env = {
            **s3,
            "MLFLOW_TRACKING_URI": self.mlflow.url,
            "MEDGRPO_WORK_URI": self.work_uri,
            # empty = derived from the work root (an inherited local value would be refused at the first task)
            "MEDGRPO_DATA_ROOT": "",
            "MEDGRPO_RUNS_ROOT": "",
            "MEDGRPO_CHECKPOINT_ROOT": "",
            "MEDGRPO_ID_MAP_ROOT": "",
            "MEDGRPO_STATE_DIR": str(self.base / "control-plane" / "state"),
            "MEDGRPO_GPU_QUEUE": GPU_QUEUE,
            "MEDGRPO_GPU_POOL": GPU_POOL,
            "MEDGRPO_CLUSTER_POOL": CLUSTER_POOL,
            "MEDGRPO_DEFAULT_RECIPE": str(self.repo / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"),
            # task logs: written on the worker, shipped to S3 at task end, read by the API server from there
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{LOG_BUCKET}/logs",
            "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": LOG_CONN_ID,
            f"AIRFLOW_CONN_{LOG_CONN_ID.upper()}": json.dumps(logs_conn),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            **self.extra_env,
        }
        self.airflow = AirflowStack(
            home=self.base / "control-plane" / "airflow",
            dags_folder=self.repo / "dags",
            plugins_folder=self.repo / "plugins",
            db_uri=airflow_db.replace("postgresql://", "postgresql+psycopg2://", 1),
            executor="CeleryExecutor",
            celery_broker_url=self.redis.url,
            celery_result_backend=results_db.replace("postgresql://", "db+postgresql://", 1),
            pools={
                GPU_POOL: (self.gpu_slots, "accelerators of the workers consuming the gpu queue (MEDGRPO_GPU_POOL)"),
                CLUSTER_POOL: (2, "concurrent cluster training jobs (MEDGRPO_CLUSTER_POOL)"),
            },
            parallelism=self.parallelism,
            extra_env=env,
        )
        self.airflow.start(timeout=timeout)
        for spec in self.workers:
            self.celery[spec.name] = self.airflow.start_worker(
                spec.name, self.worker_root(spec.name), spec.queues, spec.concurrency, self.worker_env
            )
        for worker in self.celery.values():
            worker.wait_ready(timeout=timeout)

    def _database(self, prefix: str) -> str:
        uri = create_database(prefix)
        self.databases.append(uri)
        return uri

    def stop(self) -> None:
        """Stop every process group, drop the databases, release the Redis database (each step tried)."""
        steps: list[tuple[str, Any]] = [
            ("airflow", self.airflow.stop if self.airflow else None),
            ("mlflow", self.mlflow.stop if self.mlflow else None),
            ("moto", self.moto.stop if self.moto else None),
            ("redis", self.redis.release if self.redis else None),
        ]
        steps += [(f"database {uri.rsplit('/', 1)[-1]}", lambda u=uri: drop_database(u)) for uri in self.databases]
        for name, step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception:  # one failed step must not leave the others running
                log.warning("stopping %s failed", name, exc_info=True)
        self.databases.clear()
        self.airflow = self.mlflow = self.moto = None
        self.redis = None
        self.celery.clear()

    # ---- what ran where -----------------------------------------------------------------------
    def task_hosts(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run with the worker that ran it (``hostname``), map index and state."""
        assert self.airflow is not None
        return [
            {
                "task_id": ti["task_id"],
                "map_index": ti.get("map_index", -1),
                "state": ti.get("state"),
                "worker": ti.get("hostname") or "",
                "queue": ti.get("queue"),
                "pool": ti.get("pool"),
            }
            for ti in self.airflow.task_instances(dag_id, run_id)
        ]
