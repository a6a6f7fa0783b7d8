"""``medgrpo registry list | retain`` against a real MLflow server (PostgreSQL, proxied artifacts).

Six small versions (no training needed): champion, previous_champion, one gated just now, one
plain run folder and one logged model that are old, unaliased and ungated, and the newest. With
``--keep-last 1 --min-age-days 0`` retention removes exactly the artifacts of the two, records it in
their tags, and leaves the others (and their downloads) alone.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from medgrpo import registry
from medgrpo.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def model_name(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import mlflow

    name = f"test-retention-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", name)
    mlflow.set_tracking_uri(mlflow_server)
    return name


def _hf_dir(root: Path, marker: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"model_type": "qwen2", "marker": marker}))
    (root / "tokenizer.json").write_text("{}")
    return root


def _version(tmp: Path, marker: str, *, logged_model: bool) -> registry.ModelVersion:
    """A version from a plain run folder, or from a READY logged model ``model`` of its run."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelStatus

    client = MlflowClient()
    exp = client.get_experiment_by_name("medgrpo/train")
    exp_id = exp.experiment_id if exp else client.create_experiment("medgrpo/train")
    run_id = client.create_run(exp_id).info.run_id
    folder = _hf_dir(tmp / marker, marker)
    model_id = None
    if logged_model:
        model = mlflow.initialize_logged_model(name="model", source_run_id=run_id, experiment_id=exp_id)
        client.log_model_artifacts(model.model_id, str(folder))
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
        model_id = model.model_id
    else:
        client.log_artifacts(run_id, str(folder), "model")
    client.set_terminated(run_id)
    return registry.register_model_version(
        run_id, tags={"dataset_name": "t", "dataset_sha256": "f" * 64}, model_id=model_id
    )


def test_retention_removes_only_old_unaliased_ungated_artifacts(
    model_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    from medgrpo.train.logged_models import remote_files

    client = MlflowClient()
    versions = [_version(tmp_path, f"v{i}", logged_model=i in (1, 5)) for i in range(1, 7)]
    client.set_registered_model_alias(model_name, "champion", "1")
    client.set_registered_model_alias(model_name, "previous_champion", "2")
    client.delete_registered_model_alias(model_name, "challenger")
    gate_run = client.create_run(client.get_experiment_by_name("medgrpo/train").experiment_id)
    client.set_terminated(gate_run.info.run_id)
    registry.set_version_tags("3", {"gate_verdict": "rejected", "gate_run_id": gate_run.info.run_id})
    removable = {
        "4": versions[3].source,
        "5": client.get_logged_model(versions[4].source.split("/")[-1]).artifact_location,
    }
    assert all(remote_files(uri) for uri in removable.values())

    args = ["registry", "retain", "--keep-last", "1", "--min-age-days", "0", "--keep-gated-days", "30"]
    assert main(args) == 0  # dry run: the plan only
    plan = capsys.readouterr().out
    assert "would remove the artifacts of 2 of 6 version(s)" in plan and "v4" in plan and "v5" in plan
    assert all(remote_files(uri) for uri in removable.values())

    assert main([*args, "--apply"]) == 0
    done = capsys.readouterr().out
    assert "removed the artifacts of 2 of 6 version(s)" in done
    for version, uri in removable.items():
        assert remote_files(uri) == {}
        tags = registry.get_version(version).tags
        assert tags["retention_artifacts_removed_at"] and int(tags["retention_freed_bytes"]) > 0
        assert json.loads(tags["retention_policy"]) == {"keep_last": 1, "min_age_days": 0.0, "keep_gated_days": 30.0}
        with pytest.raises(registry.RegistryError, match="removed by the retention policy"):
            registry.download_model(f"models:/{model_name}/{version}", tmp_path / f"dl{version}")
    for alias in ("champion", "previous_champion"):  # untouched, still downloadable
        local = registry.download_model(f"models:/{model_name}@{alias}", tmp_path / alias)
        assert (local / "config.json").is_file()
    for version in ("3", "6"):
        assert "retention_artifacts_removed_at" not in registry.get_version(version).tags

    assert main(["registry", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == f"{model_name}: 6 version(s)"
    rows = {line.split()[0]: line for line in table[2:]}
    assert "champion" in rows["1"] and "previous_champion" in rows["2"] and "rejected" in rows["3"]
    assert "removed" in rows["4"] and "run folder" in rows["4"] and "logged model" in rows["5"]
    assert main(["registry", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in listed] == ["6", "5", "4", "3", "2", "1"] and listed[0]["dataset"] == "t ffffffffffff"
