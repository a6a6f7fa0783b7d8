"""Task bodies of the DAGs that need no service: input resolution and naming."""

from __future__ import annotations

import json

import pytest

from medgrpo import pipeline


def _dataset(tmp_path, name: str = "ds"):  # type: ignore[no-untyped-def]
    d = tmp_path / name
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({"name": name}))
    return str(d)


def test_form_value_wins_over_events(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chosen = _dataset(tmp_path, "chosen")
    other = _dataset(tmp_path, "other")
    got = pipeline.resolve_training_inputs({"dataset_uri": chosen}, [{"uri": other}], {"uri": other})
    assert got == {"dataset_uri": chosen, "origin": "params"}


def test_triggering_event_then_latest_event(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = _dataset(tmp_path, "a"), _dataset(tmp_path, "b")
    assert pipeline.resolve_training_inputs({}, [{"uri": a}], {"uri": b})["dataset_uri"] == a
    assert pipeline.resolve_training_inputs({"dataset_uri": ""}, [], {"uri": b}) == {
        "dataset_uri": b,
        "origin": "latest asset event",
    }


def test_no_dataset_anywhere_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="run medical_ingest first"):
        pipeline.resolve_training_inputs({}, [], None)


def test_dataset_without_manifest_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        pipeline.resolve_training_inputs({"dataset_uri": str(tmp_path)}, [], None)


def test_run_slug_is_stable_and_safe() -> None:
    slug = pipeline.run_slug("grpo_training", "manual__2026-11-27T16:00:00+00:00")
    assert slug == pipeline.run_slug("grpo_training", "manual__2026-11-27T16:00:00+00:00")
    assert slug == "grpo-training-manual-2026-11-27t16-00-00-00-00"


def test_mlflow_links_need_an_http_tracking_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDGRPO_MLFLOW_UI_URL", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///x.db")
    assert pipeline.mlflow_links(model_name="m", version="2") == {}
    monkeypatch.setenv("MEDGRPO_MLFLOW_UI_URL", "http://mlflow.example:5000/")
    assert pipeline.mlflow_links(model_name="m", version="2") == {
        pipeline.MODEL_VERSION_KEY: "http://mlflow.example:5000/#/models/m/versions/2"
    }


def test_default_recipe_is_the_tiny_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDGRPO_DEFAULT_RECIPE", raising=False)
    assert pipeline.default_recipe().endswith("training_image/recipes/tiny/grpo/config.yaml")


def test_default_sources_are_the_packaged_data_files_only() -> None:
    sources = pipeline.default_sources()
    assert sources, "no embedded sample data"
    assert all(s.endswith((".jsonl", ".json")) for s in sources), sources
