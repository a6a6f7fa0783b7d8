"""Ingest from and publish to S3, against a real moto server on a loopback port (no mocks)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from medgrpo import storage
from medgrpo.data import synth
from medgrpo.data.dataset import read_manifest, read_split
from medgrpo.data.ingest import deidentify_shard, finalize, ingest, prepare

pytestmark = pytest.mark.integration


@pytest.fixture()
def bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    monkeypatch.setenv("MEDGRPO_S3_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    name = "b-" + request.node.name.lower().replace("_", "-")[:40]
    storage.s3_client().create_bucket(Bucket=name)
    return name


def _put_jsonl(uri: str, rows: list[Any]) -> None:
    storage.write_text_atomic(uri, "".join(json.dumps(r) + "\n" for r in rows))


def _medqa(i: int) -> dict[str, Any]:
    return {
        "question": f"Case {i}: which vitamin deficiency causes scurvy?",
        "options": {"A": "Vitamin C", "B": "Vitamin D"},
        "answer_idx": "A",
        "answer": "Vitamin C",
        "meta_info": "step1",
    }


def test_ingest_s3_prefix_to_s3_dataset(bucket: str, tmp_path: Path) -> None:
    _put_jsonl(f"s3://{bucket}/raw/synth.jsonl", list(synth.generate(120, seed=5)))
    _put_jsonl(f"s3://{bucket}/raw/medqa/part-1.jsonl", [_medqa(i) for i in range(30)])
    storage.write_text_atomic(f"s3://{bucket}/raw/medqa/part-2.jsonl", "{broken\n")
    storage.write_text_atomic(f"s3://{bucket}/raw/_SUCCESS", "")
    _put_jsonl(f"s3://{bucket}/raw2/other.jsonl", [_medqa(999)])  # shares the prefix string, not the folder
    out = f"s3://{bucket}/datasets/med"
    result = ingest([f"s3://{bucket}/raw"], out, deid=False)
    c = result.counts
    assert c == {**c, "read": 151, "quarantined": 1}
    assert c["read"] == c["train"] + c["eval"] + c["quarantined"] + c["duplicates"]
    manifest = read_manifest(out)
    assert manifest["content_sha256"] == result.manifest["content_sha256"]
    assert len(read_split(out, "train")) == c["train"] and len(read_split(out, "eval")) == c["eval"]
    keys = storage.list_files(out)
    top = sorted(k[len(out) + 1 :] for k in keys if "/_versions/" not in k)
    assert top == ["eval.jsonl", "manifest.json", "quarantine.jsonl", "train.jsonl"]
    assert any(f"/_versions/{manifest['version']}/train.jsonl" in k for k in keys)
    local = storage.download_dir(out, tmp_path / "copy")
    assert sorted(p.name for p in local.iterdir()) == top
    assert read_manifest(str(local))["version"] == manifest["version"]


def test_republish_keeps_readers_consistent_and_prunes_versions(bucket: str) -> None:
    out = f"s3://{bucket}/ds"
    src = f"s3://{bucket}/in.jsonl"
    versions = []
    for n in (10, 20, 30, 40):
        _put_jsonl(src, [_medqa(i) for i in range(n)])
        versions.append(ingest([src], out, deid=False).manifest["version"])
    assert len(set(versions)) == 4
    kept = {k.split("/_versions/")[1].split("/")[0] for k in storage.list_files(out) if "/_versions/" in k}
    assert kept == set(versions[1:])  # the newest three
    assert len(read_split(out, "train")) + len(read_split(out, "eval")) == 40


def test_failed_s3_publish_leaves_previous_version(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault is injected into the S3 client (the one thing moto cannot do on demand: fail mid-way)."""
    out = f"s3://{bucket}/ds"
    src = f"s3://{bucket}/in.jsonl"
    _put_jsonl(src, [_medqa(i) for i in range(10)])
    ingest([src], out, deid=False)
    before = {k: storage.read_bytes(k) for k in storage.list_files(out) if "/_versions/" not in k}
    _put_jsonl(src, [_medqa(i) for i in range(25)])
    real_client = storage.s3_client

    class Flaky:
        """Fails ``failures`` calls of ``fail_on`` after ``after`` successful ones."""

        def __init__(self, fail_on: str, after: int, failures: int) -> None:
            self.inner, self.fail_on, self.after, self.failures = real_client(), fail_on, after, failures

        def __getattr__(self, name: str) -> Any:
            attr = getattr(self.inner, name)
            if name != self.fail_on:
                return attr

            def call(*args: Any, **kwargs: Any) -> Any:
                if self.after <= 0 and self.failures > 0:
                    self.failures -= 1
                    raise ConnectionError("injected S3 failure")
                self.after -= 1
                return attr(*args, **kwargs)

            return call

    # phase 1 (uploading the new version) failing for good; phase 2 (copying over the top-level
    # names) failing once, so the rollback can restore what was already replaced
    for fail_on, after, failures in (("upload_file", 2, 10**6), ("copy", 2, 1)):
        flaky = Flaky(fail_on, after, failures)
        monkeypatch.setattr(storage, "s3_client", lambda flaky=flaky: flaky)
        with pytest.raises(ConnectionError, match="injected"):
            ingest([src], out, deid=False)
        monkeypatch.setattr(storage, "s3_client", real_client)
        after_fail = {k: storage.read_bytes(k) for k in storage.list_files(out) if "/_versions/" not in k}
        assert after_fail == before, f"previous version damaged by a failure in {fail_on}"
        read_manifest(out)
        assert len(read_split(out, "train")) + len(read_split(out, "eval")) == 10

    # phase 2 failing for good: the top level may be mixed, but the manifest still names the previous
    # version and manifest-based readers get exactly that version
    flaky = Flaky("copy", 2, 10**6)
    monkeypatch.setattr(storage, "s3_client", lambda: flaky)
    with pytest.raises(ConnectionError, match="injected"):
        ingest([src], out, deid=False)
    monkeypatch.setattr(storage, "s3_client", real_client)
    assert storage.read_bytes(f"{out}/manifest.json") == before[f"{out}/manifest.json"]
    assert len(read_split(out, "train")) + len(read_split(out, "eval")) == 10


def test_dag_stages_with_s3_staging_and_real_deid(bucket: str) -> None:
    src = f"s3://{bucket}/in.jsonl"
    rows = [_medqa(i) for i in range(12)]
    rows[3]["question"] = "Johnathan Whitfield, phone 617-555-0199, asks: which vitamin deficiency causes scurvy?"
    _put_jsonl(src, rows)
    staging = f"s3://{bucket}/staging/run-1"
    prepared = prepare([src], staging, shard_size=5)
    assert len(prepared["shards"]) == 3 and all(s.startswith(staging) for s in prepared["shards"])
    outs, audits = [], []
    for shard in prepared["shards"]:
        target = shard.replace("/shards/", "/deid/")
        audits.append(deidentify_shard(shard, target))
        outs.append(target)
    result = finalize(outs, staging, f"s3://{bucket}/ds", audits=audits)
    assert result.counts["train"] + result.counts["eval"] == 12
    text = storage.read_text(f"s3://{bucket}/ds/train.jsonl") + storage.read_text(f"s3://{bucket}/ds/eval.jsonl")
    assert "Johnathan Whitfield" not in text and "617-555-0199" not in text
    assert result.manifest["deid"]["records"] == 12


def test_missing_s3_source_fails_with_its_name(bucket: str) -> None:
    from medgrpo.data.ingest import IngestError

    with pytest.raises(IngestError, match=f"s3://{bucket}/nothing-here"):
        ingest([f"s3://{bucket}/nothing-here"], f"s3://{bucket}/ds", deid=False)
    assert os.environ["MEDGRPO_S3_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_s3_dataset_lineage_on_a_real_mlflow_server(
    bucket: str, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    src = f"s3://{bucket}/in.jsonl"
    _put_jsonl(src, [_medqa(i) for i in range(15)])
    out = f"s3://{bucket}/datasets/lineage"
    result = ingest([src], out, deid=False, name=f"s3-lineage-{bucket}")
    run = mlflow.MlflowClient(tracking_uri=mlflow_server).get_run(result.manifest["mlflow"]["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dataset_sha256"] == result.manifest["content_sha256"]
    assert run.data.tags["dataset_uri"] == out
    assert run.inputs is not None
    sources = {d.dataset.name: json.loads(d.dataset.source) for d in run.inputs.dataset_inputs}
    assert sources[f"s3-lineage-{bucket}-train"] == {"uri": f"{out}/train.jsonl"}
    assert read_manifest(out)["mlflow"]["run_id"] == run.info.run_id


def test_server_side_copy_above_the_threshold_is_multipart(bucket: str) -> None:
    """One CopyObject call stops at 5 GB; above the threshold the copy goes in parts (ETag ``-N``)."""
    client = storage.s3_client()
    data = os.urandom(11 * 1024 * 1024)
    client.put_object(Bucket=bucket, Key="big/src.bin", Body=data)
    storage.copy_object(client, bucket, "big/src.bin", "big/dst.bin", multipart_threshold=5 * 1024 * 1024)
    head = client.head_object(Bucket=bucket, Key="big/dst.bin")
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    assert client.get_object(Bucket=bucket, Key="big/dst.bin")["Body"].read() == data
