"""The webhook receiver's HTTP answers (FastAPI test client; recording the Asset event is replaced by a
list, the real recording in Airflow's database is covered by tests/ui/test_ui_registry_events.py)."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from medgrpo import registry_events as ev
from medgrpo_airflow import webhook

SECRET = "unit-secret"


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setenv(ev.WEBHOOK_SECRET_ENV, SECRET)
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", "medgrpo-unit")
    events: list[dict] = []

    def record(extra: dict) -> int:
        events.append(extra)
        return len(events)

    monkeypatch.setattr(webhook, "record_alias_event", record)
    return events


def _post(client: TestClient, payload: dict, *, secret: str = SECRET, delivery: str = "d-1"):  # type: ignore[no-untyped-def]
    body = json.dumps(payload)
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        ev.DELIVERY_ID_HEADER: delivery,
        ev.TIMESTAMP_HEADER: ts,
        ev.SIGNATURE_HEADER: ev.sign_webhook(secret, delivery, ts, body),
    }
    return client.post(webhook.WEBHOOK_PATH, content=body, headers=headers)


def _alias(name: str = "medgrpo-unit", alias: str = "challenger", version: str = "2") -> dict:
    return {
        "entity": "model_version_alias",
        "action": "created",
        "data": {"name": name, "alias": alias, "version": version},
    }


def test_signed_alias_change_is_recorded_once(recorded: list[dict]) -> None:
    client = TestClient(webhook.create_app())
    first = _post(client, _alias())
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "recorded"
    assert _post(client, _alias()).json()["status"] == "duplicate"  # MLflow retried the same delivery
    assert len(recorded) == 1
    (change,) = ev.changes_from_event_extra(recorded[0])
    assert (change.alias, change.version, change.delivery_id, change.source) == ("challenger", "2", "d-1", "webhook")


def test_wrong_signature_is_refused_and_nothing_recorded(recorded: list[dict]) -> None:
    answer = _post(TestClient(webhook.create_app()), _alias(), secret="guessed")
    assert answer.status_code == 401 and "does not match" in answer.json()["error"]
    assert recorded == []


@pytest.mark.parametrize(
    "payload",
    [
        _alias(name="someone-elses-model"),
        _alias(alias="staging"),
        {"entity": "model_version", "action": "created", "data": {}},
    ],
    ids=["other-model", "unmanaged-alias", "other-event"],
)
def test_events_that_are_not_ours_are_acknowledged_and_ignored(recorded: list[dict], payload: dict) -> None:
    answer = _post(TestClient(webhook.create_app()), payload)
    assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    assert recorded == []


def test_oversized_body_is_refused(recorded: list[dict]) -> None:
    answer = TestClient(webhook.create_app()).post(webhook.WEBHOOK_PATH, content=b"x" * (webhook.MAX_BODY_BYTES + 1))
    assert answer.status_code == 413
