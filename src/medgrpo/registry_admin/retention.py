"""Retention: remove the stored artifacts of old registered versions nobody points at.

A version's artifacts (the full weights in the artifact store) are removed when **all** hold:

- it carries no alias (``champion``, ``previous_champion``, ``challenger`` or any other) — checked
  again right before each removal, and ``champion``/``previous_champion`` are refused outright;
- it is not among the ``keep_last`` newest versions;
- it was registered more than ``min_age_days`` ago;
- it was not gated within ``keep_gated_days`` (time of its gate run, else of its last update).

The version itself stays: its card, tags, lineage and logged model (metrics, params) remain, and
the removal is recorded in its tags (``retention_artifacts_removed_at``, ``retention_freed_bytes``,
``retention_policy``, ``retention_by``); downloading it then fails with a message saying so.
The default is a dry run that only reports what it would remove.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from medgrpo import registry
from medgrpo.registry_admin.listing import REMOVED_TAG, VersionRow, list_versions

log = logging.getLogger(__name__)

__all__ = ["REMOVED_TAG", "RetentionDecision", "RetentionPolicy", "apply_retention", "decide"]

#: Never removed, whatever the policy says.
PROTECTED_ALIASES = (registry.CHAMPION, registry.PREVIOUS_CHAMPION)


@dataclass(frozen=True)
class RetentionPolicy:
    """What is kept; every field is a floor (larger keeps more)."""

    keep_last: int = 5
    min_age_days: float = 30.0
    keep_gated_days: float = 90.0

    def __post_init__(self) -> None:
        if self.keep_last < 1:
            raise ValueError(
                f"keep_last must be at least 1 (the newest version is always kept), found {self.keep_last}"
            )
        for name in ("min_age_days", "keep_gated_days"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0 days, found {value}")


@dataclass(frozen=True)
class RetentionDecision:
    """What retention does (``keep``/``remove``) or did (``removed``/``already removed``) with a version."""

    version: str
    action: str
    reason: str
    freed_bytes: int = 0


def decide(
    rows: Sequence[VersionRow],
    policy: RetentionPolicy,
    *,
    gated_at: dict[str, datetime],
    now: datetime,
) -> list[RetentionDecision]:
    """The decision for every version (pure: the facts are given). ``gated_at``: version -> gate time."""
    newest = {r.version for r in sorted(rows, key=lambda r: int(r.version), reverse=True)[: policy.keep_last]}
    out = []
    for r in sorted(rows, key=lambda r: int(r.version)):
        age = now - r.created
        gate_time = gated_at.get(r.version)
        if r.tags.get(REMOVED_TAG):
            out.append(RetentionDecision(r.version, "already removed", f"removed at {r.tags[REMOVED_TAG]}"))
        elif r.aliases:
            out.append(RetentionDecision(r.version, "keep", f"alias {', '.join(r.aliases)}"))
        elif r.version in newest:
            out.append(RetentionDecision(r.version, "keep", f"among the {policy.keep_last} newest"))
        elif age < timedelta(days=policy.min_age_days):
            out.append(RetentionDecision(r.version, "keep", f"younger than {policy.min_age_days:g} days"))
        elif gate_time is not None and now - gate_time < timedelta(days=policy.keep_gated_days):
            out.append(RetentionDecision(r.version, "keep", f"gated within {policy.keep_gated_days:g} days"))
        else:
            out.append(RetentionDecision(r.version, "remove", f"unaliased, {age.days} days old, not recently gated"))
    return out


def _gate_times(c: Any, rows: Sequence[VersionRow], model_name: str) -> dict[str, datetime]:
    """When each gated version was last gated: its gate run's end (or start), else the version's last update."""
    out: dict[str, datetime] = {}
    for r in rows:
        if r.verdict == "-":
            continue
        when = None
        if r.gated_run_id:
            try:
                info = c.get_run(r.gated_run_id).info
                when = int(info.end_time or info.start_time or 0) or None
            except Exception:  # the gate run was deleted: fall back to the version's own timestamp
                when = None
        if when is None:
            when = int(c.get_model_version(model_name, r.version).last_updated_timestamp)
        out[r.version] = datetime.fromtimestamp(when / 1000, UTC)
    return out


def _remove(c: Any, name: str, row: VersionRow, policy: RetentionPolicy, actor: str) -> int:
    """Delete the version's stored files and record it in its tags; return the bytes freed."""
    from mlflow.artifacts import get_artifact_repository

    from medgrpo.train.logged_models import remote_files

    aliases = {str(a): str(v) for a, v in (c.get_registered_model(name).aliases or {}).items()}
    held = sorted(a for a, v in aliases.items() if v == row.version)
    if held:
        raise registry.RegistryError(
            f"{name} version {row.version} gained alias(es) {held}: not removing its artifacts"
        )
    if row.version in {aliases.get(a) for a in PROTECTED_ALIASES}:  # belt and braces
        raise registry.RegistryError(
            f"refusing to remove the artifacts of {name} version {row.version}: protected alias"
        )
    mv = c.get_model_version(name, row.version)
    source = str(mv.source or "")
    model_id = row.model_id or (source[len("models:/") :] if source.startswith("models:/m-") else "")
    uri = str(c.get_logged_model(model_id).artifact_location) if model_id else source
    freed = sum(int(size or 0) for size in remote_files(uri).values())
    get_artifact_repository(uri).delete_artifacts()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    tags = {
        REMOVED_TAG: now,
        "retention_freed_bytes": str(freed),
        "retention_policy": json.dumps(asdict(policy), sort_keys=True),
        "retention_by": actor,
        "retention_removed_uri": uri,
    }
    for key, value in tags.items():
        c.set_model_version_tag(name, row.version, key, value)
    if model_id:
        c.set_logged_model_tags(model_id, {"medgrpo.artifacts_removed_at": now})
    log.info("removed version artifacts", extra={"model_name": name, "version": row.version, "bytes": freed})
    return freed


def apply_retention(
    model_name: str | None = None,
    policy: RetentionPolicy | None = None,
    *,
    apply: bool = False,
    actor: str | None = None,
    now: datetime | None = None,
) -> list[RetentionDecision]:
    """Decide for every version of ``model_name``; with ``apply`` remove what the policy allows.

    Without ``apply`` (the default) nothing changes: the decisions say what would be removed.
    """
    policy = policy or RetentionPolicy()
    name = registry.resolve_model_name(model_name)
    c = registry.client()
    rows = list_versions(name)
    now = now or datetime.now(UTC)
    decisions = decide(rows, policy, gated_at=_gate_times(c, rows, name), now=now)
    if not apply:
        return decisions
    by_version = {r.version: r for r in rows}
    who = registry._actor(actor)
    done = []
    for d in decisions:
        if d.action != "remove":
            done.append(d)
            continue
        freed = _remove(c, name, by_version[d.version], policy, who)
        done.append(RetentionDecision(d.version, "removed", d.reason, freed))
    return done
