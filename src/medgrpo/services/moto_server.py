"""A real S3 endpoint on loopback: ``moto_server`` (S3 over HTTP) as a managed process group."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medgrpo.services.process import ManagedProcess, free_port, wait_http

#: Credentials moto accepts (any non-empty value); the same names boto3, MLflow and Airflow read.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class MotoServer:
    """A started moto server; ``url`` is its S3 endpoint."""

    url: str
    process: ManagedProcess

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        )

    def create_buckets(self, *names: str) -> None:
        client = self.client()
        for name in names:
            client.create_bucket(Bucket=name)

    def stop(self) -> None:
        self.process.stop()


def start_moto_server(log_path: str | Path, *, port: int | None = None, timeout: float = 60.0) -> MotoServer:
    """Start ``moto_server`` on ``127.0.0.1`` (a free port unless given) and wait until it answers."""
    port = port or free_port()
    binary = Path(sys.executable).with_name("moto_server")
    proc = ManagedProcess(
        "moto-server", [str(binary), "-H", "127.0.0.1", "-p", str(port)], dict(os.environ), Path(log_path)
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", timeout=timeout, proc=proc, ok_codes=(200, 404))
    except BaseException:
        proc.stop()
        raise
    return MotoServer(url=url, process=proc)
