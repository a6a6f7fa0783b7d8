"""The registry watcher's trigger without a server: serialisation (the triggerer rebuilds it from
its kwargs), a change after a failed poll, and the idle end. Its real run against MLflow and the
Airflow triggerer is in tests/ui/test_ui_registry_events.py."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from medgrpo import registry_events
from medgrpo_airflow.registry_watch import RegistryAliasTrigger, snapshot_variable

BASELINE = {"champion": "1", "challenger": "2"}


def _events(trigger: RegistryAliasTrigger) -> list[dict]:
    async def collect() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_trigger_rebuilds_from_its_serialisation() -> None:
    trigger = RegistryAliasTrigger(model_name="m", baseline=BASELINE, poll_interval=2, max_wait=60)
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (path, kwargs)


def test_change_is_reported_after_a_failed_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[object] = [ConnectionError("mlflow down"), dict(BASELINE), {"champion": "3", "challenger": "2"}]

    def fake(model_name: str, client: object = None) -> dict[str, str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    monkeypatch.setattr(registry_events, "current_aliases", fake)
    (event,) = _events(RegistryAliasTrigger(model_name="m", baseline=BASELINE, poll_interval=0.01, max_wait=30))
    assert event["status"] == "changed" and event["aliases"] == {"champion": "3", "challenger": "2"}
    assert event["polls"] == 3


def test_unmanaged_aliases_do_not_wake_the_watcher_and_it_ends_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_events, "current_aliases", lambda *a, **k: {**BASELINE, "staging": "9"})
    (event,) = _events(RegistryAliasTrigger(model_name="m", baseline=BASELINE, poll_interval=0.01, max_wait=0.05))
    assert event["status"] == "idle" and event["aliases"] == BASELINE


def test_snapshot_variable_name_is_valid_for_nested_model_names() -> None:
    assert snapshot_variable("team/medgrpo-qwen2.5") == "medgrpo_registry_aliases__team__medgrpo-qwen2.5"
