"""Retention decisions (pure): aliases, newest, age and recent gates keep a version; removal is recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medgrpo.registry_admin.listing import REMOVED_TAG, VersionRow, format_table
from medgrpo.registry_admin.retention import RetentionPolicy, decide

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _row(
    version: int, *, days_old: float, aliases: tuple[str, ...] = (), tags: dict[str, str] | None = None
) -> VersionRow:
    return VersionRow(
        version=str(version),
        aliases=aliases,
        verdict=(tags or {}).get("gate_verdict", "-"),
        dataset="clinic-qa cccccccccccc",
        created=NOW - timedelta(days=days_old),
        gated_run_id="",
        artifacts="stored",
        source_kind="logged model",
        run_id="r",
        model_id="",
        tags=dict(tags or {}),
    )


def test_decide_keeps_aliased_newest_young_and_recently_gated_versions() -> None:
    rows = [
        _row(1, days_old=200, aliases=("champion",)),
        _row(2, days_old=190, aliases=("previous_champion",)),
        _row(3, days_old=180, tags={"gate_verdict": "rejected"}),  # gated 10 days ago (below)
        _row(4, days_old=170, tags={"gate_verdict": "rejected"}),  # gated 100 days ago
        _row(5, days_old=160),
        _row(6, days_old=10),
        _row(7, days_old=100, tags={REMOVED_TAG: "2026-05-01T00:00:00+00:00"}),
        _row(8, days_old=90),
        _row(9, days_old=1, aliases=("challenger",)),
    ]
    gated = {"3": NOW - timedelta(days=10), "4": NOW - timedelta(days=100)}
    policy = RetentionPolicy(keep_last=2, min_age_days=30, keep_gated_days=90)
    decisions = {d.version: (d.action, d.reason) for d in decide(rows, policy, gated_at=gated, now=NOW)}
    assert decisions == {
        "1": ("keep", "alias champion"),
        "2": ("keep", "alias previous_champion"),
        "3": ("keep", "gated within 90 days"),
        "4": ("remove", "unaliased, 170 days old, not recently gated"),
        "5": ("remove", "unaliased, 160 days old, not recently gated"),
        "6": ("keep", "younger than 30 days"),
        "7": ("already removed", "removed at 2026-05-01T00:00:00+00:00"),
        "8": ("keep", "among the 2 newest"),
        "9": ("keep", "alias challenger"),
    }


def test_policy_rejects_settings_that_would_remove_everything() -> None:
    with pytest.raises(ValueError, match="keep_last must be at least 1"):
        RetentionPolicy(keep_last=0)
    with pytest.raises(ValueError, match="min_age_days must be a finite number >= 0"):
        RetentionPolicy(min_age_days=-1)


def test_table_lists_versions_with_aliases_verdicts_and_age() -> None:
    text = format_table([_row(2, days_old=3.5, aliases=("champion",), tags={"gate_verdict": "passed"})], now=NOW)
    header, line = text.splitlines()
    assert header.split() == ["VERSION", "ALIASES", "GATE", "DATASET", "AGE", "ARTIFACTS", "SOURCE"]
    assert line.split()[:3] == ["2", "champion", "passed"] and "3d 12h" in line and "stored" in line
