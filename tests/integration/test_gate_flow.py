"""The gate stage on a real MLflow server (PostgreSQL): gate → promote → gate again, with real models.

Two real tiny Qwen2 models stand for a good and a bad model: ``strong`` is the tiny model after a
short supervised warm-up on multiple-choice items whose answer is always ``A`` (it learns the format
and that regularity: 100% on such items), ``weak`` is the untrained tiny model (never writes the
format). Each test states the one verdict it expects.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from mcq_models import build_strong_model, choice_record, write_dataset

from medgrpo import registry
from medgrpo.cli import main
from medgrpo.evaluate.decoding import DecodingSettings
from medgrpo.evaluate.policy import GatePolicy
from medgrpo.evaluate.runner import run_gate

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLICY = GatePolicy(min_items=20, min_accuracy=0.5, min_format_rate=0.5, margin=0.05, alpha=0.05, name="test")
DECODING = DecodingSettings(max_new_tokens=16)  # greedy: the verdicts below are deterministic


@pytest.fixture(scope="session")
def strong_model(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    return build_strong_model(tiny_model, tmp_path_factory.mktemp("strong-model"))


@pytest.fixture
def tracking(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.delenv("MEDGRPO_GATE_POLICY", raising=False)
    return mlflow_server


@pytest.fixture
def model_name(monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"test-gate-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", name)
    return name


@pytest.fixture
def dataset_dir(tmp_path: Path) -> str:
    return write_dataset(tmp_path / "dataset", [choice_record(i, 2) for i in range(30)])


def register(tracking: str, model_dir: Path, tags: dict[str, str] | None = None) -> registry.ModelVersion:
    """Log a model folder in a run and register it as the gate's candidate would be (decoding recorded)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    exp = client.get_experiment_by_name("medgrpo/train")
    exp_id = exp.experiment_id if exp else client.create_experiment("medgrpo/train")
    run = client.create_run(exp_id)
    client.log_artifacts(run.info.run_id, str(model_dir), "model")
    client.set_terminated(run.info.run_id)
    return registry.register_model_version(
        run.info.run_id, tags={"recipe": "tiny", "decoding": DECODING.to_json(), **(tags or {})}
    )


def gate_runs(tracking: str, version: str) -> list[Any]:
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


def test_gate_promote_reject_and_insufficient_evidence(
    tracking: str,
    model_name: str,
    dataset_dir: str,
    tiny_model: Path,
    strong_model: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import mlflow.artifacts

    # 1. the weak model alone: no champion, the floors decide -> rejected, and promote refuses it
    v1 = register(tracking, tiny_model)
    first = run_gate(v1.version, dataset_dir, policy=POLICY)
    assert first.verdict == "rejected" and first.champion_version is None
    assert [g["name"] for g in first.gates] == ["min_items", "min_accuracy", "min_format_rate", "phi_probe"]
    assert any(r.startswith("[FAIL] min_format_rate") for r in first.reasons)
    tags = registry.get_version(v1.version).tags
    assert tags["gate_verdict"] == "rejected" and tags["gate_report"] == first.report_uri
    assert tags["gate_report"].endswith("/gate_report.html") and "min_format_rate" in tags["gate_reasons"]
    html = mlflow.artifacts.load_text(first.report_uri)
    assert "REJECTED" in html and html.count("data:image/png;base64,") >= 3
    assert main(["promote", "--version", v1.version]) == 1
    assert "gate_verdict is 'rejected', expected 'passed'" in capsys.readouterr().err
    assert registry.get_version_by_alias("champion") is None

    # a forced promotion needs a reason and records it
    assert main(["promote", "--version", v1.version, "--force"]) == 1
    assert "needs a reason" in capsys.readouterr().err
    assert main(["promote", "--version", v1.version, "--force", "--reason", "baseline for this test"]) == 0
    assert "FORCED" in capsys.readouterr().out
    forced = registry.get_version(v1.version).tags
    assert forced["promotion_forced"] == "true" and forced["promotion_reason"] == "baseline for this test"

    # 2. the strong model against the (forced) weak champion: clearly better -> passed, promoted by the CLI
    v2 = register(tracking, strong_model)
    better = run_gate(v2.version, dataset_dir, policy=POLICY)
    assert better.verdict == "passed", better.reasons
    comp = better.report["comparison"]
    assert (comp["candidate_only"], comp["champion_only"]) == (30, 0)
    assert better.report["champion"]["scores_reused"] is True  # v1's results on these items, from its own gate
    assert better.report["decoding"]["settings"]["max_new_tokens"] == 16
    assert better.report["probe"]["leaked_outputs"] == 0
    assert main(["promote", "--version", v2.version]) == 0
    assert f"champion -> v{v2.version} (previous_champion: v{v1.version})" in capsys.readouterr().out

    # 3. the weak model against the strong champion: rejected by the CLI (exit 3), champion unchanged
    v3 = register(tracking, tiny_model)
    code = main(["gate", "--candidate", "challenger", "--dataset", dataset_dir, "--policy", _policy_file(dataset_dir)])
    out = capsys.readouterr().out
    assert code == 3, out
    assert "REJECTED" in out and "[FAIL] no_significant_regression" in out and f"vs champion v{v2.version}" in out
    report = json.loads(mlflow.artifacts.load_text(registry.get_version(v3.version).tags["gate_report_json"]))
    assert report["comparison"]["champion_only"] == 30 and report["comparison"]["p_value_regression"] < 1e-8
    assert main(["promote", "--version", v3.version]) == 1
    capsys.readouterr()
    assert registry.get_version_by_alias("champion").version == v2.version  # type: ignore[union-attr]

    # 4. the same weights as the champion: identical answers decide nothing -> insufficient_evidence (exit 4)
    v4 = register(tracking, strong_model)
    code = main(["gate", "--candidate", v4.version, "--dataset", dataset_dir, "--policy", _policy_file(dataset_dir)])
    out = capsys.readouterr().out
    assert code == 4, out
    assert "INSUFFICIENT_EVIDENCE" in out and "0 discordant pair(s)" in out
    assert registry.get_version(v4.version).tags["gate_verdict"] == "insufficient_evidence"
    assert main(["promote", "--version", v4.version]) == 1
    assert "gate_verdict is 'insufficient_evidence'" in capsys.readouterr().err
    assert registry.get_version_by_alias("champion").version == v2.version  # type: ignore[union-attr]


def _policy_file(dataset_dir: str) -> str:
    path = Path(dataset_dir).parent / "policy.yaml"
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in POLICY.as_dict().items()))
    return str(path)


def test_a_failed_try_is_resumed_and_a_finished_gate_reused(
    tracking: str, model_name: str, dataset_dir: str, strong_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection (generation that dies once) stands in for a worker killed mid-evaluation."""
    from medgrpo.evaluate import harness

    v1 = register(tracking, strong_model)
    real_evaluate = harness.evaluate_model

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("simulated worker loss")

    monkeypatch.setattr(harness, "evaluate_model", broken)
    with pytest.raises(OSError, match="simulated"):
        run_gate(v1.version, dataset_dir, policy=POLICY)
    runs = gate_runs(tracking, v1.version)
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "gate_verdict" not in registry.get_version(v1.version).tags

    monkeypatch.setattr(harness, "evaluate_model", real_evaluate)
    result = run_gate(v1.version, dataset_dir, policy=POLICY)
    assert result.verdict == "passed" and not result.reused and result.run_id == runs[0].info.run_id
    assert [r.info.status for r in gate_runs(tracking, v1.version)] == ["FINISHED"]
    again = run_gate(v1.version, dataset_dir, policy=POLICY)
    assert again.reused and again.run_id == result.run_id

    # another policy is another decision: a new gate run, but the per-item scores are reused
    strict = run_gate(v1.version, dataset_dir, policy=GatePolicy(name="production"))
    assert strict.verdict == "insufficient_evidence"  # 30 items < 200
    assert strict.run_id != result.run_id and strict.report["candidate"]["scores_reused"] is True
    assert len(gate_runs(tracking, v1.version)) == 2


def test_a_version_without_decoding_settings_is_refused(
    tracking: str, model_name: str, dataset_dir: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    run = client.create_run(client.get_experiment_by_name("medgrpo/train").experiment_id)  # type: ignore[union-attr]
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    client.log_artifacts(run.info.run_id, str(folder), "model")
    mv = registry.register_model_version(run.info.run_id, tags={})
    with pytest.raises(ValueError, match=f"version {mv.version} records no decoding settings"):
        run_gate(mv.version, dataset_dir, policy=POLICY)


def test_collapsed_challenger_events_are_each_gated_oldest_first(
    tracking: str, model_name: str, dataset_dir: str, tiny_model: Path, strong_model: Path
) -> None:
    from medgrpo.pipeline import gate_candidates, resolve_candidate

    old = register(tracking, strong_model)
    new = register(tracking, tiny_model)
    events = [  # delivered newest first: the order of the list must not matter
        {"model_name": model_name, "version": new.version, "dataset_uri": dataset_dir, "timestamp": "2026-01-02"},
        {"model_name": model_name, "version": old.version, "dataset_uri": dataset_dir, "timestamp": "2026-01-01"},
        {"model_name": model_name, "version": old.version, "dataset_uri": dataset_dir, "timestamp": "2026-01-03"},
    ]
    resolved = resolve_candidate({}, events)
    assert [c["version"] for c in resolved["candidates"]] == [old.version, new.version]
    assert resolved["version"] == new.version
    policy_file = _policy_file(dataset_dir)
    verdict = gate_candidates({"gate_policy": policy_file}, resolved, dag_run="test/collapsed")
    assert [(r["version"], r["verdict"]) for r in verdict["results"]] == [
        (old.version, "passed"),
        (new.version, "rejected"),
    ]
    # the newest candidate that passed is offered for promotion, compared with no champion
    assert verdict["selected"] == old.version and verdict["verdict"] == "passed"
    assert verdict["champion_version"] is None


def test_a_scheduled_run_without_new_data_skips_training(
    tracking: str, model_name: str, tmp_path: Path, strong_model: Path
) -> None:
    from medgrpo.pipeline import resolve_training_inputs

    same = write_dataset(tmp_path / "same", [choice_record(0, 3)], sha="a" * 64)
    fresh = write_dataset(tmp_path / "fresh", [choice_record(0, 4)], sha="b" * 64)
    champion = register(tracking, strong_model, tags={"dataset_sha256": "a" * 64, "gate_verdict": "passed"})
    registry.promote(champion.version, expected_champion=None)

    skipped = resolve_training_inputs({}, [], {"uri": same}, scheduled=True)
    assert skipped["skip"] is True and "no new data since the champion" in skipped["reason"]
    assert f"version {champion.version} was trained on" in skipped["reason"]
    assert "skip" not in resolve_training_inputs({}, [], {"uri": fresh}, scheduled=True)
    # new data arriving (an Asset event) or a person asking (the form) always trains
    assert "skip" not in resolve_training_inputs({}, [{"uri": same}], {"uri": same}, scheduled=False)
    assert "skip" not in resolve_training_inputs({"dataset_uri": same}, [], None, scheduled=True)
