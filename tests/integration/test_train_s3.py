"""Training from an S3-published dataset with checkpoints stored in S3 (a real moto server, no mocks).

The dataset is produced the way the pipeline produces it (``medgrpo synth`` then ``medgrpo ingest``
into ``s3://``), training reads it through the verified dataset reader, stores each checkpoint under
the run's S3 prefix with its ``COMPLETE`` marker, and the model version carries the manifest's
content sha256. MLflow is a local sqlite store here (the MLflow server is covered by the resume test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"


@pytest.mark.integration
@pytest.mark.slow
def test_train_from_s3_dataset_with_s3_checkpoints(tmp_path: Path, moto_server: str) -> None:
    import boto3

    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MEDGRPO_MODEL_NAME": "medgrpo-s3-test",
    }
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")  # fmt: skip
    s3.create_bucket(Bucket="lake")
    cli = [sys.executable, "-m", "medgrpo.cli"]

    def run(*args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*cli, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        return done

    run("synth", str(tmp_path / "synth.jsonl"), "-n", "40", "--seed", "5")
    run("ingest", str(tmp_path / "synth.jsonl"), "s3://lake/datasets/synth", "--no-deid", "--format", "canonical")
    manifest = json.loads(s3.get_object(Bucket="lake", Key="datasets/synth/manifest.json")["Body"].read())

    out = tmp_path / "out"
    run(
        "train",
        "--recipe", str(RECIPE),
        "--dataset", "s3://lake/datasets/synth",
        "--checkpoint-store", "s3://lake/runs/run-1",
        "--output-dir", str(out),
        "--set", "max_steps=2",
        "--set", "save_steps=1",
        "--set", "warmup_sft_steps=0",
        "--tag", "airflow_dag_run=scheduled__s3",
    )  # fmt: skip
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix="runs/run-1/")["Contents"]}
    assert {"runs/run-1/run.json", "runs/run-1/checkpoint-1/COMPLETE", "runs/run-1/checkpoint-2/COMPLETE"} <= keys
    assert "runs/run-1/checkpoint-2/model.safetensors" in keys
    result = json.loads((out / "result.json").read_text())
    assert result["model_uri"] == "models:/medgrpo-s3-test/1"
    assert result["metrics"]["global_step"] == 2

    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    version = client.get_model_version("medgrpo-s3-test", "1")
    assert version.tags["dataset_sha256"] == manifest["content_sha256"]
    assert version.tags["airflow_dag_run"] == "scheduled__s3"
    run_info = client.get_run(result["run_id"])
    assert run_info.inputs is not None
    (dataset_input,) = run_info.inputs.dataset_inputs
    assert dataset_input.dataset.name == f"{manifest['name']}-train"
    assert dataset_input.dataset.digest == manifest["files"]["train.jsonl"]["sha256"][:16]
