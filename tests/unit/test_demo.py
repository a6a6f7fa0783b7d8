"""``medgrpo demo`` without services: which DAGs it waits for and unpauses, and in which order."""

from __future__ import annotations

import argparse
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medgrpo import demo
from medgrpo.demo import DAG_IDS, REVIEW_DAG_IDS, demo_dag_ids

REPO = Path(__file__).resolve().parents[2]


def test_the_pipeline_dag_ids_stay_the_asset_chain() -> None:
    # tests/integration import DAG_IDS to start the chain: it holds the chain and nothing else
    assert DAG_IDS == ("medical_ingest", "grpo_training", "gated_evaluation", "model_promotion")


def test_each_dag_id_is_the_dag_of_the_file_of_that_name() -> None:
    for dag_id in DAG_IDS + REVIEW_DAG_IDS:
        text = (REPO / "dags" / f"{dag_id}.py").read_text()
        assert re.search(rf'dag_id="{dag_id}"', text), dag_id


def test_the_demo_adds_the_alias_review_dags_that_are_in_the_dags_folder(tmp_path: Path) -> None:
    assert demo_dag_ids(REPO / "dags") == (*DAG_IDS, "registry_alias_review", "registry_watch")
    assert demo_dag_ids(tmp_path) == DAG_IDS  # a DAGs folder without them: the pipeline only
    (tmp_path / "registry_alias_review.py").write_text("")
    assert demo_dag_ids(tmp_path) == (*DAG_IDS, "registry_alias_review")


class FakeStack:
    """Records what the demo asks of Airflow; the first trigger ends the demo (no services here)."""

    url = "http://127.0.0.1:1"
    password = "pw"
    last: FakeStack | None = None

    def __init__(self, **kwargs: Any) -> None:
        self.calls: list[tuple[str, Any]] = []
        FakeStack.last = self

    def start(self) -> None:
        self.calls.append(("start", None))

    def wait_for_dags(self, dag_ids: Any) -> None:
        self.calls.append(("wait_for_dags", tuple(dag_ids)))

    def unpause(self, dag_id: str) -> None:
        self.calls.append(("unpause", dag_id))

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return []

    def trigger(self, dag_id: str, conf: Any = None) -> str:
        self.calls.append(("trigger", dag_id))
        raise RuntimeError("stop here: no Airflow in a unit test")

    def stop(self) -> None:
        self.calls.append(("stop", None))


class FakeMlflow:
    url = "http://127.0.0.1:2"

    def stop(self) -> None:
        pass


@pytest.fixture
def signals_restored() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_medgrpo_demo_unpauses_the_alias_review_before_it_triggers_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], signals_restored: None
) -> None:
    import medgrpo.services.airflow_stack as airflow_stack
    import medgrpo.services.mlflow_server as mlflow_server

    monkeypatch.setenv("MEDGRPO_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(airflow_stack, "AirflowStack", FakeStack)
    monkeypatch.setattr(mlflow_server, "start_mlflow_server", lambda *a, **k: FakeMlflow())
    (tmp_path / "models" / "tiny-base").mkdir(parents=True)
    (tmp_path / "models" / "tiny-base" / "config.json").write_text("{}")  # no tiny model to build
    args = argparse.Namespace(
        distributed=False,
        repo=str(REPO),
        state_dir=str(tmp_path),
        keep_running=False,
        timeout=5.0,
        airflow_db=None,
        mlflow_db=None,
        gate_policy="demo",
    )
    assert demo._run(args) == 1  # the fake's trigger fails the demo, which reports it and cleans up
    assert FakeStack.last is not None
    calls = FakeStack.last.calls
    unpaused = [arg for name, arg in calls if name == "unpause"]
    assert "registry_alias_review" in unpaused and "registry_watch" in unpaused
    assert unpaused.index("registry_alias_review") < unpaused.index("registry_watch")
    assert ("wait_for_dags", demo_dag_ids(REPO / "dags")) in calls
    first_trigger = calls.index(("trigger", "medical_ingest"))
    assert max(i for i, (name, _) in enumerate(calls) if name == "unpause") < first_trigger
    assert calls[-1] == ("stop", None)
    assert "reviewed by registry_alias_review" in capsys.readouterr().out
