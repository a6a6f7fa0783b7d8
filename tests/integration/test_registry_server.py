"""Registry operations against a real MLflow server (PostgreSQL backend, proxied artifacts)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from medgrpo import registry

pytestmark = pytest.mark.integration


@pytest.fixture
def tracking(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return mlflow_server


@pytest.fixture
def model_name() -> str:
    return f"test-registry-{uuid.uuid4().hex[:8]}"


def _fake_hf_dir(root: Path, marker: str) -> Path:
    """A folder shaped like a Hugging Face model (config + tokenizer files); weights are not needed here."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"model_type": "qwen2", "marker": marker}))
    (root / "tokenizer.json").write_text("{}")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "extra.txt").write_text(marker)
    return root


def _logged_run(tracking: str, local_dir: Path, artifact_path: str = "model") -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    exp = client.get_experiment_by_name("medgrpo/train") or None
    exp_id = exp.experiment_id if exp else client.create_experiment("medgrpo/train")
    run = client.create_run(exp_id)
    client.log_artifacts(run.info.run_id, str(local_dir), artifact_path)
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def test_register_is_idempotent_per_run_and_downloads(tracking: str, model_name: str, tmp_path: Path) -> None:
    run_id = _logged_run(tracking, _fake_hf_dir(tmp_path / "m1", "one"))
    tags = {"dataset_sha256": "abc", "recipe": "tiny.yaml", "git_sha": "deadbeef"}
    mv = registry.register_model_version(run_id, tags=tags, model_name=model_name)
    assert (mv.name, mv.version, mv.run_id) == (model_name, "1", run_id)
    assert mv.model_uri == f"models:/{model_name}/1"
    assert mv.aliases == ("challenger",)
    assert mv.tags == tags

    again = registry.register_model_version(run_id, tags={**tags, "recipe": "v2.yaml"}, model_name=model_name)
    assert again.version == "1"  # found, not created
    assert again.tags["recipe"] == "v2.yaml"
    from mlflow import MlflowClient

    assert len(MlflowClient(tracking).search_model_versions(f"name = '{model_name}'")) == 1

    for uri in (f"models:/{model_name}/1", f"models:/{model_name}@challenger"):
        local = registry.download_model(uri, tmp_path / uri.replace("/", "_").replace(":", "_").replace("@", "_"))
        assert json.loads((local / "config.json").read_text())["marker"] == "one"
        assert (local / "sub" / "extra.txt").read_text() == "one"


def test_register_refuses_runs_without_a_model(tracking: str, model_name: str, tmp_path: Path) -> None:
    empty = tmp_path / "notamodel"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    run_id = _logged_run(tracking, empty)
    with pytest.raises(registry.RegistryError, match=r"no Hugging Face model under artifact path 'model'.*readme.txt"):
        registry.register_model_version(run_id, tags={}, model_name=model_name)
    with pytest.raises(registry.RegistryError, match="run '0123456789abcdef0123456789abcdef' not found"):
        registry.register_model_version("0123456789abcdef0123456789abcdef", tags={}, model_name=model_name)


def test_promote_and_rollback_move_aliases(tracking: str, model_name: str, tmp_path: Path) -> None:
    versions = []
    for i in range(3):
        run_id = _logged_run(tracking, _fake_hf_dir(tmp_path / f"m{i}", str(i)))
        versions.append(registry.register_model_version(run_id, tags={}, model_name=model_name).version)
    assert versions == ["1", "2", "3"]
    # challenger follows the newest registration
    assert registry.get_version_by_alias("challenger", model_name).version == "3"  # type: ignore[union-attr]
    assert registry.get_version_by_alias("champion", model_name) is None

    first = registry.promote("1", model_name, actor="alice")
    assert first["changed"] and first["previous_champion"] is None and not first["challenger_cleared"]
    v1 = registry.get_version("1", model_name)
    assert v1.tags["promoted_by"] == "alice" and "promoted_at" in v1.tags
    assert v1.tags["promoted_gate_verdict"] == "none"  # promoted without a gate: visible in the audit tags

    second = registry.promote("3", model_name, actor="bob")
    assert second["previous_champion"] == "1" and second["challenger_cleared"]
    assert registry.get_version_by_alias("challenger", model_name) is None
    assert registry.get_version_by_alias("champion", model_name).version == "3"  # type: ignore[union-attr]
    assert registry.get_version_by_alias("previous_champion", model_name).version == "1"  # type: ignore[union-attr]

    repeat = registry.promote("3", model_name, actor="carol")  # a retried promotion changes nothing
    assert not repeat["changed"] and repeat["promoted_by"] == "bob"
    assert registry.get_version_by_alias("previous_champion", model_name).version == "1"  # type: ignore[union-attr]

    back = registry.rollback(model_name, actor="dave")
    assert (back["champion"], back["rolled_back"]) == ("1", "3")
    assert registry.get_version_by_alias("champion", model_name).version == "1"  # type: ignore[union-attr]
    assert registry.get_version("3", model_name).tags["rolled_back_by"] == "dave"
    with pytest.raises(registry.RegistryError, match="no 'previous_champion' alias"):
        registry.rollback(model_name)


def test_gate_requirement_and_missing_things_fail_clearly(tracking: str, model_name: str, tmp_path: Path) -> None:
    run_id = _logged_run(tracking, _fake_hf_dir(tmp_path / "m", "x"))
    registry.register_model_version(run_id, tags={}, model_name=model_name)
    with pytest.raises(registry.RegistryError, match="gate_verdict is 'missing', expected 'passed'"):
        registry.promote("1", model_name, require_passed_gate=True)
    registry.set_version_tags("1", {"gate_verdict": "passed"}, model_name)
    assert registry.promote("1", model_name, require_passed_gate=True)["champion"] == "1"
    with pytest.raises(registry.RegistryError, match=f"model '{model_name}' has no version 9"):
        registry.promote("9", model_name)
    with pytest.raises(registry.RegistryError, match="has no alias 'nope'"):
        registry.download_model(f"models:/{model_name}@nope", tmp_path / "dl")
    with pytest.raises(registry.RegistryError, match="has no alias 'nope'"):
        registry.resolve("nope", model_name)
    assert registry.resolve("v1", model_name).version == "1"
    assert registry.get_version_by_alias("champion", f"absent-{uuid.uuid4().hex[:6]}") is None
