"""Dataset lineage in MLflow (real MLflow with a local SQLite tracking store; no server needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medgrpo.data.ingest import ingest
from medgrpo.data.lineage import EXPERIMENT, LineageError


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {"source": "local", "question": f"What is {i} + {i}?", "answer": str(2 * i), "answer_type": "numeric"}
        for i in range(n)
    ]


def test_ingest_logs_dataset_inputs_to_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(30)))
    result = ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False, name="lineage-test")
    run_info = result.manifest["mlflow"]
    published = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert published["mlflow"]["run_id"] == run_info["run_id"]
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(run_info["run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.tags["dataset_sha256"] == result.manifest["content_sha256"]
    assert run.data.metrics["records_read"] == 30
    assert run.inputs is not None
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"lineage-test-train", "lineage-test-eval"}
    train = inputs["lineage-test-train"]
    assert train.dataset.digest == result.manifest["files"]["train.jsonl"]["sha256"][:16]
    assert str(tmp_path / "ds" / "train.jsonl") in train.dataset.source
    assert {t.key: t.value for t in train.tags}["mlflow.data.context"] == "train"
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert "manifest.json" in artifacts


def test_unreachable_tracking_server_fails_before_publishing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: nothing listens
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(5)))
    with pytest.raises(LineageError, match=r"MLFLOW_TRACKING_URI=http://127.0.0.1:9 is set but unreachable"):
        ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False)
    assert not (tmp_path / "ds").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]  # no build folder left behind


def test_no_tracking_uri_means_no_lineage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(5)))
    result = ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False)
    assert "mlflow" not in result.manifest
