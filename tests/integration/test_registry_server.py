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


def _passed(version: str, model_name: str, compared_with: str | None) -> None:
    """Tag a version as the gate does when it passed against ``compared_with``."""
    registry.set_version_tags(
        version, {"gate_verdict": "passed", "gate_champion_version": compared_with or "none"}, model_name
    )


def test_promote_and_rollback_move_aliases(tracking: str, model_name: str, tmp_path: Path) -> None:
    versions = []
    for i in range(3):
        run_id = _logged_run(tracking, _fake_hf_dir(tmp_path / f"m{i}", str(i)))
        versions.append(registry.register_model_version(run_id, tags={}, model_name=model_name).version)
    assert versions == ["1", "2", "3"]
    # challenger follows the newest registration
    assert registry.get_version_by_alias("challenger", model_name).version == "3"  # type: ignore[union-attr]
    assert registry.get_version_by_alias("champion", model_name) is None

    _passed("1", model_name, None)
    first = registry.promote("1", model_name, actor="alice")
    assert first["changed"] and first["previous_champion"] is None and not first["challenger_cleared"]
    v1 = registry.get_version("1", model_name)
    assert v1.tags["promoted_by"] == "alice" and "promoted_at" in v1.tags
    assert v1.tags["promoted_gate_verdict"] == "passed" and v1.tags["promotion_forced"] == "false"

    _passed("3", model_name, "1")
    second = registry.promote("3", model_name, actor="bob")
    assert second["previous_champion"] == "1" and second["challenger_cleared"]
    assert registry.get_version_by_alias("challenger", model_name) is None
    assert registry.get_version_by_alias("champion", model_name).version == "3"  # type: ignore[union-attr]
    assert registry.get_version_by_alias("previous_champion", model_name).version == "1"  # type: ignore[union-attr]
    assert registry.get_version("1", model_name).tags["demoted_at"]

    repeat = registry.promote("3", model_name, actor="carol")  # a retried promotion changes nothing
    assert not repeat["changed"] and repeat["promoted_by"] == "bob"
    assert registry.get_version_by_alias("previous_champion", model_name).version == "1"  # type: ignore[union-attr]

    back = registry.rollback(model_name, actor="dave")
    assert (back["champion"], back["rolled_back"]) == ("1", "3")
    assert registry.get_version_by_alias("champion", model_name).version == "1"  # type: ignore[union-attr]
    assert registry.get_version("3", model_name).tags["rolled_back_by"] == "dave"
    assert registry.get_version("1", model_name).tags["restored_by"] == "dave"
    with pytest.raises(registry.RegistryError, match="no 'previous_champion' alias"):
        registry.rollback(model_name)


def test_promotion_needs_a_passed_gate_against_the_current_champion(
    tracking: str, model_name: str, tmp_path: Path
) -> None:
    for i in range(3):
        registry.register_model_version(
            _logged_run(tracking, _fake_hf_dir(tmp_path / f"m{i}", str(i))), tags={}, model_name=model_name
        )
    with pytest.raises(registry.RegistryError, match="gate_verdict is 'missing', expected 'passed'"):
        registry.promote("1", model_name)
    for verdict in ("rejected", "insufficient_evidence"):
        registry.set_version_tags("1", {"gate_verdict": verdict, "gate_reasons": "[FAIL] something"}, model_name)
        with pytest.raises(registry.RegistryError, match=rf"gate_verdict is '{verdict}'.*\[FAIL\] something"):
            registry.promote("1", model_name)
    assert registry.get_version_by_alias("champion", model_name) is None

    _passed("1", model_name, None)
    registry.promote("1", model_name)
    # version 2 passed against "no champion" and version 3 against version 2: both are stale now
    _passed("2", model_name, None)
    _passed("3", model_name, "2")
    for version, was in (("2", "no champion"), ("3", "version 2")):
        with pytest.raises(
            registry.RegistryError, match=f"compared it with {was}, but the champion is now version 1; gate it again"
        ):
            registry.promote(version, model_name)
    assert registry.get_version_by_alias("champion", model_name).version == "1"  # type: ignore[union-attr]
    # the caller may name the champion it compared with (what the DAG does after an approval wait)
    with pytest.raises(registry.RegistryError, match="compared it with version 3"):
        registry.promote("2", model_name, expected_champion="3")
    assert registry.promote("2", model_name, expected_champion="1")["champion"] == "2"

    with pytest.raises(registry.RegistryError, match=f"model '{model_name}' has no version 9"):
        registry.promote("9", model_name)
    with pytest.raises(registry.RegistryError, match="has no alias 'nope'"):
        registry.download_model(f"models:/{model_name}@nope", tmp_path / "dl")
    with pytest.raises(registry.RegistryError, match="has no alias 'nope'"):
        registry.resolve("nope", model_name)
    assert registry.resolve("v1", model_name).version == "1"
    assert registry.get_version_by_alias("champion", f"absent-{uuid.uuid4().hex[:6]}") is None


_RACE = """
import json, os, sys, time
from medgrpo import registry
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
try:
    out = registry.promote(sys.argv[2], sys.argv[1], actor="racer-" + sys.argv[2])
    print(json.dumps({"ok": True, "previous": out["previous_champion"]}))
except registry.RegistryError as err:
    print(json.dumps({"ok": False, "error": str(err)}))
"""


def test_concurrent_promotions_from_separate_processes_cannot_both_move_the_champion(
    tracking: str, model_name: str, tmp_path: Path
) -> None:
    """Three promoter processes, each with a version that passed against champion v1, start together.

    Each one alone would be allowed (its gate compared with the current champion). The shared lock
    in the MLflow store serialises them: the first moves champion, the others then find a champion
    other than the one their gate compared with and refuse. Without the lock, every process would
    read champion v1 and move the alias.
    """
    import os
    import subprocess
    import sys
    import time

    for i in range(4):
        registry.register_model_version(
            _logged_run(tracking, _fake_hf_dir(tmp_path / f"m{i}", str(i))), tags={}, model_name=model_name
        )
    _passed("1", model_name, None)
    registry.promote("1", model_name)
    for version in ("2", "3", "4"):
        _passed(version, model_name, "1")
    start = time.time() + 6.0  # after every interpreter has imported medgrpo
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, model_name, version, str(start)], env=env, stdout=subprocess.PIPE, text=True
        )
        for version in ("2", "3", "4")
    ]
    outcomes = {}
    for version, proc in zip(("2", "3", "4"), procs, strict=True):
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        outcomes[version] = json.loads(out.strip().splitlines()[-1])
    winners = [v for v, o in outcomes.items() if o["ok"]]
    assert len(winners) == 1, outcomes
    winner = winners[0]
    assert outcomes[winner]["previous"] == "1"
    for version, outcome in outcomes.items():
        if version != winner:
            assert f"but the champion is now version {winner}" in outcome["error"], outcome
    assert registry.get_version_by_alias("champion", model_name).version == winner  # type: ignore[union-attr]
    assert registry.get_version_by_alias("previous_champion", model_name).version == "1"  # type: ignore[union-attr]
    # every lock was released: a later promotion takes it at once
    assert registry.promote(winner, model_name)["changed"] is False


def test_the_promotion_lock_waits_expires_and_detects_loss(tracking: str, model_name: str) -> None:
    held = registry.PromotionLock(model_name, actor="holder", ttl=60).acquire()
    try:
        started = __import__("time").monotonic()
        with pytest.raises(registry.LockError, match="held by holder"):
            registry.PromotionLock(model_name, actor="waiter", wait=1.5).acquire()
        assert __import__("time").monotonic() - started >= 1.5
        held.verify()
    finally:
        held.release()
    # a holder that died leaves an expired lease: the next promoter retires it and proceeds
    dead = registry.PromotionLock(model_name, actor="crashed", ttl=0.5).acquire()
    __import__("time").sleep(1.0)
    taker = registry.PromotionLock(model_name, actor="next", wait=5).acquire()
    with pytest.raises(registry.LockError, match="lost the promotion lock"):
        dead.verify()  # the crashed holder, were it alive, would now move nothing
    dead.release()  # releasing a lock already taken over leaves the new holder's lock alone
    taker.verify()
    taker.release()
