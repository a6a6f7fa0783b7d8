"""The gate stage end to end on a real MLflow server: register → gate → promote → gate again.

Uses the tiny (untrained) model, so accuracy is ~0; verdicts are steered with thresholds, and the
comparison logic itself is unit-tested with hand-built vectors.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from medgrpo import registry
from medgrpo.cli import main
from medgrpo.evaluate import GateThresholds, run_gate
from medgrpo.evaluate import runner as gate_runner

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def tracking(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return mlflow_server


@pytest.fixture
def model_name(monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"test-gate-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", name)
    return name


@pytest.fixture
def dataset_dir(tmp_path: Path) -> str:
    out = tmp_path / "dataset"
    out.mkdir()
    records: list[dict[str, Any]] = [
        {
            "id": f"synth-{i:016x}",
            "source": "synth",
            "question": f"Calculate the mean arterial pressure for blood pressure {110 + i}/70 mmHg.",
            "options": None,
            "answer": f"{(110 + i + 140) / 3:.1f}",
            "answer_type": "numeric",
            "context": None,
            "explanation": None,
            "meta": {"tolerance": 0.02},
        }
        for i in range(6)
    ]
    files = {"eval.jsonl": "".join(json.dumps(r) + "\n" for r in records), "train.jsonl": "", "quarantine.jsonl": ""}
    table = {}
    for name, text in files.items():
        (out / name).write_text(text)
        table[name] = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "bytes": len(text.encode())}
    (out / "manifest.json").write_text(json.dumps({"name": "t", "content_sha256": "f" * 64, "files": table}))
    return str(out)


def _register(tracking: str, model_dir: Path) -> registry.ModelVersion:
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    exp = client.get_experiment_by_name("medgrpo/train")
    exp_id = exp.experiment_id if exp else client.create_experiment("medgrpo/train")
    run = client.create_run(exp_id)
    client.log_artifacts(run.info.run_id, str(model_dir), "model")
    client.set_terminated(run.info.run_id)
    return registry.register_model_version(run.info.run_id, tags={"recipe": "tiny"})


def _gate_runs(tracking: str, version: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    exp = client.get_experiment_by_name("medgrpo/evaluate")
    assert exp is not None
    name = registry.resolve_model_name()
    return list(
        client.search_runs(
            [exp.experiment_id],
            filter_string=f"tags.model_name = '{name}' and tags.candidate_version = '{version}'",
        )
    )


def test_first_gate_then_champion_comparison(
    tracking: str, model_name: str, dataset_dir: str, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = _register(tracking, tiny_model)
    first = run_gate("challenger", dataset_dir, limit=4, max_new_tokens=8)
    assert first.verdict == "passed" and first.champion_version is None
    assert [g["name"] for g in first.gates] == ["min_accuracy", "min_format_rate"]
    assert first.report["n_items"] == 4 and first.report["dataset_sha256"] == "f" * 64
    tags = registry.get_version(v1.version).tags
    assert tags["gate_verdict"] == "passed" and tags["gate_report"] == first.report_uri
    assert tags["gate_champion_version"] == "none"

    import mlflow.artifacts

    md = mlflow.artifacts.load_text(first.report_uri.replace(".json", ".md"))
    assert "PASSED" in md and "min_format_rate" in md
    stored = json.loads(mlflow.artifacts.load_text(first.report_uri))
    assert stored["verdict"]["verdict"] == "passed"
    preds = mlflow.artifacts.load_text(f"runs:/{first.run_id}/predictions/candidate.jsonl").splitlines()
    assert len(preds) == 4

    # retry: same key, the finished run is reused, nothing new is created
    again = run_gate(v1.version, dataset_dir, limit=4, max_new_tokens=8)
    assert again.reused and again.run_id == first.run_id
    assert len(_gate_runs(tracking, v1.version)) == 1

    # promote through the CLI, then gate a second version against the champion through the CLI
    assert main(["promote", "--version", v1.version]) == 0
    assert "champion -> v1" in capsys.readouterr().out
    v2 = _register(tracking, tiny_model)
    code = main(
        [
            *("gate", "--candidate", "challenger", "--dataset", dataset_dir),
            *("--limit", "4", "--max-new-tokens", "8", "--min-format-rate", "0.5"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 3, out
    assert "REJECTED" in out and "[FAIL] min_format_rate" in out and "vs champion v1" in out
    tags2 = registry.get_version(v2.version).tags
    assert tags2["gate_verdict"] == "rejected" and tags2["gate_champion_version"] == v1.version
    # same weights as the champion: identical predictions, so no discordant pairs and p = 1
    report = json.loads(mlflow.artifacts.load_text(tags2["gate_report"]))
    comp = report["comparison"]
    assert comp["champion_only"] == 0 and comp["candidate_only"] == 0 and comp["p_value_regression"] == 1.0
    assert {g["name"] for g in report["verdict"]["gates"]} == {
        "min_accuracy",
        "min_format_rate",
        "accuracy_drop_within_margin",
        "no_significant_regression",
    }
    # the rejected candidate was not promoted
    assert registry.get_version_by_alias("champion").version == v1.version  # type: ignore[union-attr]


def test_failed_try_is_resumed_not_duplicated(
    tracking: str, model_name: str, dataset_dir: str, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection (a download that dies once) stands in for a worker killed mid-evaluation."""
    v1 = _register(tracking, tiny_model)
    real_download = registry.download_model

    def broken(*args: Any, **kwargs: Any) -> Path:
        raise OSError("simulated network failure")

    monkeypatch.setattr(gate_runner.registry, "download_model", broken)
    with pytest.raises(OSError, match="simulated"):
        run_gate(v1.version, dataset_dir, limit=3, max_new_tokens=4)
    runs = _gate_runs(tracking, v1.version)
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "gate_verdict" not in registry.get_version(v1.version).tags

    monkeypatch.setattr(gate_runner.registry, "download_model", real_download)
    result = run_gate(v1.version, dataset_dir, limit=3, max_new_tokens=4)
    assert not result.reused and result.run_id == runs[0].info.run_id
    runs = _gate_runs(tracking, v1.version)
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert registry.get_version(v1.version).tags["gate_verdict"] == "passed"

    # different thresholds are a different decision: a new run
    other = run_gate(v1.version, dataset_dir, limit=3, max_new_tokens=4, thresholds=GateThresholds(min_accuracy=0.9))
    assert other.verdict == "rejected" and other.run_id != result.run_id
    assert len(_gate_runs(tracking, v1.version)) == 2


def test_gate_errors_exit_1(
    tracking: str, model_name: str, dataset_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "--candidate", "challenger", "--dataset", dataset_dir]) == 1
    assert f"model '{model_name}' has no alias 'challenger'" in capsys.readouterr().err
    assert main(["gate", "--candidate", "1", "--dataset", dataset_dir, "--alpha", "2"]) == 1
    assert "alpha must be a number in (0, 1), found 2.0" in capsys.readouterr().err
    assert main(["rollback"]) == 1
    assert "no 'previous_champion' alias" in capsys.readouterr().err
