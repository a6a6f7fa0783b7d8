"""Alias-change review without servers: webhook signatures (against MLflow's own signer), diffs,
classification of platform moves and the gate/accept/flag decisions."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from mlflow.webhooks.delivery import _generate_hmac_signature

from medgrpo import registry_events as ev
from medgrpo.registry_events import AliasChange, VersionFacts

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
MODEL = "medgrpo-test"


def _change(alias: str = "champion", version: str | None = "3", at: datetime = T0, **kw: object) -> AliasChange:
    return AliasChange(model_name=MODEL, alias=alias, version=version, detected_at=at, source="webhook", **kw)  # type: ignore[arg-type]


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


# ---------------------------------------------------------------- webhook signatures


def _delivery(secret: str, payload: dict, *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "X-MLflow-Delivery-Id": "d-1",
        "X-MLflow-Timestamp": ts,
        # MLflow's own signer, so a drift in its scheme breaks this test
        "X-MLflow-Signature": _generate_hmac_signature(secret, "d-1", ts, body),
    }
    return body.encode(), headers


ALIAS_PAYLOAD = {
    "entity": "model_version_alias",
    "action": "created",
    "timestamp": "2026-12-01T12:00:00+00:00",
    "data": {"name": MODEL, "alias": "champion", "version": "3"},
}


def test_signature_scheme_matches_mlflow() -> None:
    assert ev.sign_webhook("s3cret", "d-1", "100", "{}") == _generate_hmac_signature("s3cret", "d-1", "100", "{}")


def test_verified_delivery_gives_the_alias_change() -> None:
    body, headers = _delivery("s3cret", ALIAS_PAYLOAD)
    payload = ev.verify_webhook("s3cret", body, {k.lower(): v for k, v in headers.items()})
    change = ev.change_from_webhook(payload, delivery_id="d-1", signed_at=int(headers["X-MLflow-Timestamp"]))
    assert change is not None
    assert (change.model_name, change.alias, change.version, change.source) == (MODEL, "champion", "3", "webhook")


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [
        (
            lambda b, h: (
                b,
                {**h, "X-MLflow-Signature": ev.sign_webhook("other", "d-1", h["X-MLflow-Timestamp"], b.decode())},
            ),
            401,
            "does not match",
        ),
        (lambda b, h: (b.replace(b'"3"', b'"4"'), h), 401, "does not match"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "X-MLflow-Signature"}), 401, "missing header"),
        (lambda b, h: (b, {**h, "X-MLflow-Timestamp": "soon"}), 401, "Unix seconds"),
    ],
    ids=["wrong-secret", "altered-body", "unsigned", "bad-timestamp"],
)
def test_bad_deliveries_are_refused(mutate, status: int, message: str) -> None:  # type: ignore[no-untyped-def]
    body, headers = mutate(*_delivery("s3cret", ALIAS_PAYLOAD))
    with pytest.raises(ev.WebhookRejected, match=message) as err:
        ev.verify_webhook("s3cret", body, headers)
    assert err.value.status == status


def test_replayed_delivery_is_refused() -> None:
    body, headers = _delivery("s3cret", ALIAS_PAYLOAD, timestamp=int(time.time()) - 3600)
    with pytest.raises(ev.WebhookRejected, match="outside the 300 s window"):
        ev.verify_webhook("s3cret", body, headers)


def test_no_secret_refuses_everything() -> None:
    body, headers = _delivery("", ALIAS_PAYLOAD)
    with pytest.raises(ev.WebhookRejected, match="MEDGRPO_WEBHOOK_SECRET") as err:
        ev.verify_webhook("", body, headers)
    assert err.value.status == 503


def test_signed_garbage_is_a_bad_request() -> None:
    ts = str(int(time.time()))
    headers = {
        "X-MLflow-Delivery-Id": "d-1",
        "X-MLflow-Timestamp": ts,
        "X-MLflow-Signature": ev.sign_webhook("k", "d-1", ts, "[1, 2"),
    }
    with pytest.raises(ev.WebhookRejected, match="not JSON") as err:
        ev.verify_webhook("k", b"[1, 2", headers)
    assert err.value.status == 400


def test_other_events_are_not_alias_changes() -> None:
    payload = {"entity": "model_version", "action": "created", "data": {"name": MODEL, "version": "1"}}
    assert ev.change_from_webhook(payload, delivery_id="d", signed_at=0) is None


def test_alias_event_without_version_is_a_bad_request() -> None:
    payload = {**ALIAS_PAYLOAD, "data": {"name": MODEL, "alias": "champion"}}
    with pytest.raises(ev.WebhookRejected, match="lacks 'version'") as err:
        ev.change_from_webhook(payload, delivery_id="d", signed_at=0)
    assert err.value.status == 400


# ---------------------------------------------------------------- records and diffs


def test_change_round_trips_through_an_asset_event_extra() -> None:
    change = _change(previous_version="2", delivery_id="abc")
    extra = ev.event_extra([change])
    assert json.loads(json.dumps(extra)) == extra
    assert ev.changes_from_event_extra(extra) == [change]


def test_bad_event_extra_names_the_field() -> None:
    with pytest.raises(ValueError, match="'changes' list"):
        ev.changes_from_event_extra({"change": []})
    with pytest.raises(ValueError, match="lacks 'alias'"):
        ev.changes_from_event_extra({"changes": [{"model_name": MODEL, "detected_at": _iso(T0), "source": "webhook"}]})


def test_diff_reports_moves_additions_and_removals_of_managed_aliases_only() -> None:
    before = {"champion": "1", "challenger": "2", "staging": "1"}
    after = {"champion": "2", "previous_champion": "1", "staging": "3"}
    changes = ev.diff_aliases(MODEL, before, after, detected_at=T0)
    assert [(c.alias, c.previous_version, c.version) for c in changes] == [
        ("challenger", "2", None),
        ("champion", "1", "2"),
        ("previous_champion", None, "1"),
    ]
    assert all(c.source == "watcher" for c in changes)


# ---------------------------------------------------------------- classification


def test_promotion_by_the_platform_is_recognised_within_the_window() -> None:
    facts = VersionFacts("3", {"promoted_by": "airflow", "promoted_at": _iso(T0 + timedelta(seconds=1))})
    assert "promoted_at" in (ev.platform_record(_change(), facts) or "")
    old = VersionFacts("3", {"promoted_by": "airflow", "promoted_at": _iso(T0 - timedelta(hours=2))})
    assert ev.platform_record(_change(), old) is None


def test_registration_by_training_is_recognised_but_a_notebook_version_is_not() -> None:
    lineage = {"dataset_sha256": "ab" * 32, "git_sha": "c0ffee"}
    trained = VersionFacts("4", lineage, created_at=T0 - timedelta(seconds=2))
    assert ev.platform_record(_change("challenger", "4"), trained) is not None
    notebook = VersionFacts("4", {}, created_at=T0 - timedelta(seconds=2))
    assert ev.platform_record(_change("challenger", "4"), notebook) is None
    long_ago = VersionFacts("4", lineage, created_at=T0 - timedelta(days=3))
    assert ev.platform_record(_change("challenger", "4"), long_ago) is None


def test_gated_champion_is_the_newest_platform_champion() -> None:
    versions = [
        VersionFacts("1", {"promoted_at": _iso(T0 - timedelta(days=3)), "restored_at": _iso(T0 - timedelta(days=1))}),
        VersionFacts("2", {"promoted_at": _iso(T0 - timedelta(days=2))}),
        VersionFacts("3", {"gate_verdict": "rejected"}),
    ]
    # v2 was promoted, then rolled back: v1's restore is the newest platform move
    assert ev.gated_champion(versions) == "1"
    assert ev.gated_champion([VersionFacts("3")]) is None


def _decide(change: AliasChange, facts: VersionFacts | None, versions: list[VersionFacts], **kw: object):  # type: ignore[no-untyped-def]
    args = {"model_name": MODEL, "current_version": change.version, "revert": True, **kw}
    return ev.decide(change, facts=facts, versions=versions, **args)  # type: ignore[arg-type]


CHAMPION_V1 = VersionFacts("1", {"gate_verdict": "passed", "promoted_at": _iso(T0 - timedelta(days=1))})


@pytest.mark.parametrize(
    ("change", "kw", "reason"),
    [
        (AliasChange("other-model", "champion", "3", T0, "webhook"), {}, "not managed here"),
        (_change("staging"), {}, "alias 'staging' is not managed"),
        (_change(), {"current_version": "1"}, "stale: champion now points at v1"),
    ],
    ids=["other-model", "unmanaged-alias", "stale"],
)
def test_changes_that_are_not_ours_to_review_are_ignored(change: AliasChange, kw: dict, reason: str) -> None:
    decision = _decide(change, VersionFacts("3"), [CHAMPION_V1], **kw)
    assert decision.action == "ignore" and reason in decision.reason


def test_challenger_set_by_hand_is_gated() -> None:
    decision = _decide(_change("challenger", "3"), VersionFacts("3", created_at=T0 - timedelta(days=1)), [])
    assert decision.action == "gate"


def test_champion_with_a_gate_passed_against_the_platform_champion_is_accepted() -> None:
    v3 = VersionFacts("3", {"gate_verdict": "passed", "gate_champion_version": "1"})
    decision = _decide(_change(), v3, [CHAMPION_V1, v3])
    assert decision.action == "accept", decision.reason


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ({"gate_verdict": "rejected", "gate_champion_version": "1"}, "gate_verdict is 'rejected'"),
        ({}, "gate_verdict is 'missing'"),
        ({"gate_verdict": "insufficient_evidence", "gate_champion_version": "1"}, "'insufficient_evidence'"),
        # passed, but against a champion that is no longer the platform's champion
        ({"gate_verdict": "passed", "gate_champion_version": "none"}, "passed against champion 'none'"),
    ],
    ids=["rejected", "never-gated", "insufficient", "stale-comparison"],
)
def test_champion_without_a_valid_gate_is_flagged_and_reverted(tags: dict, why: str) -> None:
    v3 = VersionFacts("3", tags)
    decision = _decide(_change(), v3, [CHAMPION_V1, v3])
    assert decision.action == "flag" and why in decision.reason
    assert decision.restore_to == "1" and decision.revert_skipped is None


def test_flag_without_revert_when_the_policy_says_so() -> None:
    decision = _decide(_change(), VersionFacts("3"), [CHAMPION_V1], revert=False)
    assert decision.action == "flag" and decision.restore_to is None
    assert "MEDGRPO_REVERT_MANUAL_CHAMPION is false" in str(decision.revert_skipped)


def test_ungated_first_champion_has_nothing_to_restore() -> None:
    decision = _decide(_change(), VersionFacts("3"), [VersionFacts("3")])
    assert decision.action == "flag" and decision.restore_to is None and decision.revert_skipped is None


def test_setting_the_platform_champion_again_is_ignored() -> None:
    v1 = VersionFacts(
        "1", {"gate_verdict": "passed", "gate_champion_version": "none", "restored_at": _iso(T0 - timedelta(days=1))}
    )
    v2 = VersionFacts(
        "2", {"gate_verdict": "passed", "gate_champion_version": "1", "promoted_at": _iso(T0 - timedelta(days=2))}
    )
    decision = _decide(_change(version="1"), v1, [v1, v2])
    assert decision.action == "ignore" and "champion the platform set last" in decision.reason


@pytest.mark.parametrize(
    ("raw", "expected"), [("", True), ("true", True), ("1", True), ("false", False), ("off", False)]
)
def test_revert_setting(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv(ev.REVERT_ENV, raw)
    assert ev.revert_manual_champion_enabled() is expected


def test_bad_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ev.REVERT_ENV, "sometimes")
    with pytest.raises(ValueError, match="MEDGRPO_REVERT_MANUAL_CHAMPION must be true or false"):
        ev.revert_manual_champion_enabled()
    monkeypatch.setenv(ev.POLL_SECONDS_ENV, "0")
    with pytest.raises(ValueError, match="between 1 and 3600"):
        ev.poll_seconds()


def test_a_change_reviewed_twice_acts_once() -> None:
    """Review runs may see a change twice (late events, webhook retries): the second look does nothing."""
    requested = VersionFacts("3", {ev.TAG_GATE_REQUESTED_AT: _iso(T0 + timedelta(seconds=5))})
    decision = _decide(_change("challenger", "3"), requested, [])
    assert decision.action == "ignore" and "already requested" in decision.reason
    flagged = VersionFacts("3", {ev.TAG_FLAG_AT: _iso(T0 + timedelta(seconds=5)), "gate_verdict": "rejected"})
    decision = _decide(_change(), flagged, [CHAMPION_V1], revert=False)
    assert decision.action == "ignore" and "already flagged" in decision.reason
    # a later change of the same alias to the same version is a new change
    later = _change("challenger", "3", at=T0 + timedelta(hours=1))
    assert _decide(later, requested, []).action == "gate"


def test_review_all_reviews_each_observation_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[AliasChange] = []
    monkeypatch.setattr(ev, "review", lambda change, **kw: seen.append(change) or change)
    first, second = _change(at=T0 + timedelta(seconds=1)), _change("challenger", "2")
    ev.review_all([first, second, first])
    assert seen == [second, first]  # oldest first, the duplicate dropped


def test_the_platform_move_closest_to_the_change_is_named() -> None:
    """A revert soon after a promotion of the same version is recognised by its own tag."""
    facts = VersionFacts(
        "3", {"promoted_at": _iso(T0 - timedelta(seconds=60)), "restored_at": _iso(T0 - timedelta(seconds=1))}
    )
    assert "restored_at" in (ev.platform_record(_change(), facts) or "")
