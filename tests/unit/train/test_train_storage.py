"""Training data loading, model sources and the checkpoint store (local disk and S3 via moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from medgrpo.train import checkpoints
from medgrpo.train.dataset import load_training_data, to_prompt_rows
from medgrpo.train.sources import describe_source, resolve_model_source

RECORD = {
    "id": "synth-1",
    "source": "synth",
    "question": "Sodium 140, chloride 100, bicarbonate 24. Anion gap?",
    "options": None,
    "answer": "16",
    "answer_type": "numeric",
    "context": None,
    "explanation": None,
    "meta": {"tolerance": 0.01},
}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An in-process moto S3 (no server needed for these unit tests) with bucket ``train``."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("MEDGRPO_S3_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="train")
        yield "s3://train"


# ----------------------------------------------------------------------------- dataset
def test_dataset_dir_without_manifest_and_prompt_rows(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text(json.dumps(RECORD) + "\n\n")
    data = load_training_data(str(tmp_path))
    assert [r["id"] for r in data.train] == ["synth-1"] and data.eval == []
    assert len(data.sha256) == 64  # no manifest: hash of the records
    (row,) = to_prompt_rows(data.train)
    assert row["prompt"][0]["role"] == "system" and "Anion gap?" in row["prompt"][1]["content"]
    assert json.loads(row["meta"]) == {"tolerance": 0.01}  # a JSON string column
    assert (row["answer"], row["answer_type"]) == ("16", "numeric")


def test_dataset_errors_name_the_place(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"has no train\.jsonl"):
        load_training_data(str(tmp_path))
    (tmp_path / "train.jsonl").write_text(json.dumps({"id": "x", "question": "q"}) + "\n")
    with pytest.raises(ValueError, match=r"train.jsonl:1: canonical record lacks \['answer', 'answer_type'\]"):
        load_training_data(str(tmp_path))
    with pytest.raises(ValueError, match=r"expected synth:<n>\[:<seed>\]"):
        load_training_data("synth:many")


def test_synth_source_is_seeded() -> None:
    a = load_training_data("synth:8:3")
    b = load_training_data("synth:8:3")
    assert len(a.train) == 8 and len(a.eval) >= 4
    assert a.sha256 == b.sha256


def test_to_prompt_rows_limit_is_seeded() -> None:
    records = [{**RECORD, "id": f"r{i}"} for i in range(10)]
    first = [r["id"] for r in to_prompt_rows(records, limit=3, seed=1)]
    assert first == [r["id"] for r in to_prompt_rows(records, limit=3, seed=1)]
    assert len(first) == 3


def test_dataset_from_s3(s3: str) -> None:
    from medgrpo import storage

    storage.write_text_atomic(f"{s3}/ds/train.jsonl", json.dumps(RECORD) + "\n")
    storage.write_text_atomic(f"{s3}/ds/eval.jsonl", json.dumps({**RECORD, "id": "e1"}) + "\n")
    data = load_training_data(f"{s3}/ds")
    assert [r["id"] for r in data.train] == ["synth-1"] and [r["id"] for r in data.eval] == ["e1"]


# ----------------------------------------------------------------------------- model sources
def test_describe_source_kinds(tmp_path: Path) -> None:
    assert describe_source(str(tmp_path)) == "local"
    assert describe_source("hf://Qwen/Qwen2.5-0.5B-Instruct") == "hf"
    assert describe_source("Qwen/Qwen2.5-0.5B-Instruct") == "hf"
    assert describe_source("s3://bucket/models/x") == "s3"
    assert describe_source("models:/medgrpo-qwen2.5@champion") == "registry"
    assert describe_source("tiny:3") == "tiny"
    with pytest.raises(ValueError, match="neither an existing local directory"):
        describe_source("/no/such/dir")


def test_resolve_local_hf_and_errors(tmp_path: Path) -> None:
    assert resolve_model_source("hf://Qwen/Qwen2.5-0.5B-Instruct", tmp_path) == "Qwen/Qwen2.5-0.5B-Instruct"
    with pytest.raises(ValueError, match=r"has no config\.json"):
        resolve_model_source(str(tmp_path), tmp_path / "cache")
    with pytest.raises(ValueError, match="tiny:<seed> with an integer seed"):
        resolve_model_source("tiny:x", tmp_path)


def test_resolve_tiny_and_s3_model(tmp_path: Path, s3: str) -> None:
    from medgrpo import storage

    local = Path(resolve_model_source("tiny:0", tmp_path / "cache"))
    assert (local / "config.json").is_file()
    storage.upload_dir(local, f"{s3}/models/tiny")
    fetched = Path(resolve_model_source(f"{s3}/models/tiny", tmp_path / "cache2"))
    assert (fetched / "config.json").read_text() == (local / "config.json").read_text()
    with pytest.raises(ValueError, match=r"holds no config\.json"):
        resolve_model_source(f"{s3}/models/none", tmp_path / "cache3")


# ----------------------------------------------------------------------------- checkpoint store
def _fake_checkpoint(root: Path, step: int) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (path / "model.safetensors").write_bytes(b"\0" * 16)
    return path


@pytest.mark.parametrize("where", ["local", "s3"])
def test_store_resumes_newest_complete_checkpoint(where: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = request.getfixturevalue("s3") + "/run1" if where == "s3" else str(tmp_path / "store")
    work = tmp_path / "work"
    assert checkpoints.complete_checkpoints(store) == []
    assert checkpoints.fetch_latest_checkpoint(store, tmp_path / "out") is None
    for step in (2, 4):
        checkpoints.upload_checkpoint(_fake_checkpoint(work, step), store)
    # an upload killed before its marker: checkpoint-6 has files but no COMPLETE
    checkpoints.upload_checkpoint(_fake_checkpoint(work, 6), store, complete=False)
    assert [s for s, _ in checkpoints.complete_checkpoints(store)] == [2, 4]
    fetched = checkpoints.fetch_latest_checkpoint(store, tmp_path / "out")
    assert fetched == tmp_path / "out" / "checkpoint-4"
    assert json.loads((fetched / "trainer_state.json").read_text()) == {"global_step": 4}
    assert checkpoints.read_run_id(store) is None
    checkpoints.write_run_id(store, "abc123")
    assert checkpoints.read_run_id(store) == "abc123"


def test_checkpoint_store_named_like_a_checkpoint_is_rejected(tmp_path: Path) -> None:
    from medgrpo.train.config import RecipeError, load_recipe

    recipe = Path(__file__).resolve().parents[3] / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
    with pytest.raises(RecipeError, match="named checkpoint-\\* inside output_dir"):
        load_recipe(
            recipe,
            explicit={"output_dir": str(tmp_path), "checkpoint_store": str(tmp_path / "checkpoint-store")},
        )
