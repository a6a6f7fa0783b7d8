"""Alias changes made in the MLflow registry: where they come from, and what the platform does about them.

People promote by setting aliases in the MLflow UI. Two detectors report alias changes as
:class:`AliasChange` records (see ``docs/registry-events.md``):

- an MLflow registry webhook (event ``model_version_alias.created``), verified with
  :func:`verify_webhook` (HMAC-SHA256, MLflow's ``v1`` scheme, replay window);
- a registry watcher that polls the aliases and reports :func:`diff_aliases` between two snapshots.

Each change is then reviewed (:func:`review`):

1. changes to other models, to aliases the platform does not manage, or that are no longer the
   registry's state (stale) are ignored;
2. moves the platform made itself are recognised by the audit tags it writes on the version
   (:func:`platform_record`) and ignored;
3. a ``challenger`` set by hand asks for a gate (``gated_evaluation`` for that version);
4. a ``champion`` set by hand is accepted when the version passed its gate against the champion the
   platform had set (:func:`gated_champion`); otherwise it is flagged on the version and, when the
   policy says so (:func:`revert_manual_champion_enabled`), reverted to that champion.

Pure functions (verification, diffing, classification, decision) take plain values; only
:func:`review` and the helpers it calls talk to the registry, through :mod:`medgrpo.registry`.
No Airflow import here.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from medgrpo import registry

log = logging.getLogger(__name__)

# ---- settings (environment; see COORDINATION.md's contract list) ------------------------------
WEBHOOK_SECRET_ENV = "MEDGRPO_WEBHOOK_SECRET"
REVERT_ENV = "MEDGRPO_REVERT_MANUAL_CHAMPION"
POLL_SECONDS_ENV = "MEDGRPO_REGISTRY_POLL_SECONDS"

# ---- MLflow webhook protocol (mlflow/webhooks/constants.py and delivery.py, MLflow 3.17) ----
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
ALIAS_CREATED = ("model_version_alias", "created")
#: Largest accepted distance between a delivery's signed timestamp and now (replay protection).
SIGNATURE_TOLERANCE_S = 300

# ---- review -----------------------------------------------------------------------------------
#: Aliases the platform manages; changes to any other alias are ignored.
MANAGED_ALIASES = registry.LIFECYCLE_ALIASES
#: An audit tag at most this far from the change marks the change as the platform's own.
PLATFORM_WINDOW_S = 300.0
#: How long a fresh change waits for the platform's audit tags (written right after the alias).
AUDIT_GRACE_S = 10.0
#: The actor recorded on the registry moves this module makes.
GUARD_ACTOR = "medgrpo-registry-guard"

#: Version tags whose timestamp records that the platform moved an alias to this version.
#: ``promoted_at``/``restored_at``/``demoted_at`` are written by :mod:`medgrpo.registry`'s promote
#: and rollback; ``champion_accepted_at`` by :func:`review` when it accepts a gated manual champion.
PLATFORM_MARKERS: dict[str, tuple[str, ...]] = {
    registry.CHAMPION: ("promoted_at", "restored_at", "champion_accepted_at"),
    registry.PREVIOUS_CHAMPION: ("demoted_at",),
}
#: A training run registers a version with these lineage tags and moves ``challenger`` to it at once.
REGISTRATION_LINEAGE_TAGS = ("dataset_sha256", "git_sha")

# tags this module writes on versions
TAG_FLAG = "ungated_champion_flag"
TAG_FLAG_AT = "ungated_champion_at"
TAG_REVERTED_TO = "ungated_champion_reverted_to"
TAG_ACCEPTED_AT = "champion_accepted_at"
TAG_ACCEPTED_BY = "champion_accepted_by"
TAG_GATE_REQUESTED_AT = "gate_requested_at"

Action = Literal["ignore", "gate", "accept", "flag"]


class WebhookRejected(ValueError):
    """A webhook delivery that must not be acted on; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


# =========================================================================== records


@dataclass(frozen=True)
class AliasChange:
    """One observed alias change: ``alias`` of ``model_name`` now points at ``version``.

    ``version`` is None when the alias was removed. ``previous_version`` is known to the watcher
    (it saw both snapshots), not to a webhook. ``detected_at`` is when the change was signed by
    MLflow (webhook) or noticed (watcher), in UTC.
    """

    model_name: str
    alias: str
    version: str | None
    detected_at: datetime
    source: Literal["webhook", "watcher"]
    previous_version: str | None = None
    delivery_id: str | None = None

    def __post_init__(self) -> None:
        registry.validate_alias(self.alias)
        if self.version is not None:
            object.__setattr__(self, "version", registry.validate_version(self.version))
        if self.previous_version is not None:
            object.__setattr__(self, "previous_version", registry.validate_version(self.previous_version))
        if self.detected_at.tzinfo is None:
            raise ValueError(f"detected_at must be timezone-aware, found {self.detected_at!r}")
        if self.source not in ("webhook", "watcher"):
            raise ValueError(f"source must be 'webhook' or 'watcher', found {self.source!r}")

    @property
    def key(self) -> tuple[str, str, str | None, str, str, str | None]:
        """Identity of one observation (the same change reported twice has the same key)."""
        return (self.model_name, self.alias, self.version, self.detected_at.isoformat(), self.source, self.delivery_id)

    def describe(self) -> str:
        target = f"v{self.version}" if self.version else "(removed)"
        before = f" (was v{self.previous_version})" if self.previous_version else ""
        return f"{self.model_name}@{self.alias} -> {target}{before}"

    def to_extra(self) -> dict[str, Any]:
        """A JSON-safe dict for an Airflow Asset event's ``extra``."""
        data = asdict(self)
        data["detected_at"] = self.detected_at.isoformat()
        return data

    @classmethod
    def from_extra(cls, data: Mapping[str, Any]) -> AliasChange:
        """Inverse of :meth:`to_extra`; ValueError naming the missing or bad field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"an alias change must be a JSON object, found {type(data).__name__}")
        for key in ("model_name", "alias", "detected_at", "source"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"alias change lacks {key!r} (found {data.get(key)!r})")
        version = data.get("version")
        previous = data.get("previous_version")
        return cls(
            model_name=data["model_name"],
            alias=data["alias"],
            version=None if version in (None, "") else str(version),
            detected_at=_parse_time(data["detected_at"], "detected_at"),
            source=data["source"],
            previous_version=None if previous in (None, "") else str(previous),
            delivery_id=str(data["delivery_id"]) if data.get("delivery_id") else None,
        )


def changes_from_event_extra(extra: Mapping[str, Any]) -> list[AliasChange]:
    """The changes carried by one alias Asset event (``{"changes": [...], ...}``)."""
    items = extra.get("changes") if isinstance(extra, Mapping) else None
    if not isinstance(items, list):
        raise ValueError(f"alias event extra must hold a 'changes' list, found keys {sorted(extra or {})}")
    return [AliasChange.from_extra(item) for item in items]


def event_extra(changes: Sequence[AliasChange]) -> dict[str, Any]:
    """The Asset event ``extra`` for ``changes`` (one webhook delivery or one watcher wake-up)."""
    sources = sorted({c.source for c in changes})
    return {"source": ",".join(sources), "changes": [c.to_extra() for c in changes]}


@dataclass(frozen=True)
class VersionFacts:
    """What the review needs to know about one model version."""

    version: str
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    @classmethod
    def from_mlflow(cls, mv: Any) -> VersionFacts:
        created = getattr(mv, "creation_timestamp", None)
        return cls(
            version=str(mv.version),
            tags={str(k): str(v) for k, v in (mv.tags or {}).items()},
            created_at=datetime.fromtimestamp(int(created) / 1000, UTC) if created else None,
        )


@dataclass(frozen=True)
class Decision:
    """What the review decided for one change, and what it did."""

    action: Action
    reason: str
    change: AliasChange
    restore_to: str | None = None
    reverted: bool = False
    revert_skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "change": self.change.to_extra(),
            "restore_to": self.restore_to,
            "reverted": self.reverted,
            "revert_skipped": self.revert_skipped,
        }

    def summary(self) -> str:
        return f"{self.action}: {self.change.describe()}: {self.reason}"


# =========================================================================== webhook


def sign_webhook(secret: str, delivery_id: str, timestamp: str, payload: str) -> str:
    """MLflow's signature of a delivery: ``v1,`` + base64(HMAC-SHA256(secret, "id.timestamp.payload"))."""
    content = f"{delivery_id}.{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify_webhook(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> dict[str, Any]:
    """Check a delivery's signature and freshness; return its JSON payload.

    Raises :class:`WebhookRejected` (401) for a missing, malformed or wrong signature or a
    timestamp outside ``tolerance_s``, and (400) for a body that is not a JSON object. The
    signature is compared in constant time; the body is parsed only after it verified.
    """
    if not secret:
        raise WebhookRejected(f"webhook secret is not configured ({WEBHOOK_SECRET_ENV} is empty)", 503)
    lower = {k.lower(): v for k, v in headers.items()}
    signature = lower.get(SIGNATURE_HEADER.lower(), "")
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    delivery_id = lower.get(DELIVERY_ID_HEADER.lower(), "")
    if not signature or not timestamp or not delivery_id:
        given = {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: timestamp, DELIVERY_ID_HEADER: delivery_id}
        missing = [header for header, value in given.items() if not value]
        raise WebhookRejected(f"unsigned delivery: missing header(s) {', '.join(missing)}")
    if not timestamp.isdigit():
        raise WebhookRejected(f"{TIMESTAMP_HEADER} must be Unix seconds, found {timestamp[:40]!r}")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > tolerance_s:
        raise WebhookRejected(f"delivery timestamp is {age:.0f} s from now, outside the {tolerance_s:.0f} s window")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WebhookRejected("delivery body is not UTF-8", 400) from err
    expected = sign_webhook(secret, delivery_id, timestamp, text)
    offered = [s.strip() for s in signature.split(" ") if s.strip()]  # Standard Webhooks allow several
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in offered):
        raise WebhookRejected("signature does not match (wrong secret, or the body was altered)")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as err:
        raise WebhookRejected(f"delivery body is not JSON: {err.msg} at position {err.pos}", 400) from err
    if not isinstance(payload, dict):
        raise WebhookRejected(f"delivery body must be a JSON object, found {type(payload).__name__}", 400)
    return payload


def change_from_webhook(payload: Mapping[str, Any], *, delivery_id: str, signed_at: int) -> AliasChange | None:
    """The alias change a verified ``model_version_alias.created`` delivery reports; None for other events."""
    if (payload.get("entity"), payload.get("action")) != ALIAS_CREATED:
        return None
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise WebhookRejected(f"alias event lacks a 'data' object, found {type(data).__name__}", 400)
    for key in ("name", "alias", "version"):
        if not isinstance(data.get(key), str | int) or str(data.get(key)).strip() == "":
            raise WebhookRejected(f"alias event data lacks {key!r}", 400)
    try:
        return AliasChange(
            model_name=str(data["name"]),
            alias=str(data["alias"]),
            version=str(data["version"]),
            detected_at=datetime.fromtimestamp(signed_at, UTC),
            source="webhook",
            delivery_id=delivery_id,
        )
    except ValueError as err:
        raise WebhookRejected(f"alias event data is invalid: {err}", 400) from err


# =========================================================================== watcher


def diff_aliases(
    model_name: str,
    before: Mapping[str, str],
    after: Mapping[str, str],
    *,
    detected_at: datetime,
    aliases: Iterable[str] = MANAGED_ALIASES,
) -> list[AliasChange]:
    """Changes of the managed ``aliases`` between two snapshots (alias -> version), in alias order."""
    changes = []
    for alias in aliases:
        old, new = before.get(alias), after.get(alias)
        if old != new:
            changes.append(
                AliasChange(
                    model_name=model_name,
                    alias=alias,
                    version=new,
                    previous_version=old,
                    detected_at=detected_at,
                    source="watcher",
                )
            )
    return changes


def poll_seconds() -> float:
    """Seconds between two registry polls of the watcher (``MEDGRPO_REGISTRY_POLL_SECONDS``, default 30)."""
    raw = os.environ.get(POLL_SECONDS_ENV, "").strip() or "30"
    try:
        value = float(raw)
    except ValueError as err:
        raise ValueError(f"{POLL_SECONDS_ENV} must be a number of seconds, found {raw!r}") from err
    if not 1 <= value <= 3600:
        raise ValueError(f"{POLL_SECONDS_ENV} must be between 1 and 3600 seconds, found {value}")
    return value


# =========================================================================== classification


def _parse_time(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be an ISO 8601 time, found {value!r}") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tag_time(tags: Mapping[str, str], key: str) -> datetime | None:
    value = tags.get(key)
    if not value:
        return None
    try:
        return _parse_time(value, key)
    except ValueError:
        return None


def platform_record(change: AliasChange, facts: VersionFacts, *, window_s: float = PLATFORM_WINDOW_S) -> str | None:
    """Why ``change`` is a move the platform made itself, or None when nothing says so.

    ``champion``/``previous_champion``: an audit tag of :data:`PLATFORM_MARKERS` on the version
    within ``window_s`` of the change. ``challenger``: the version was registered by a training run
    (lineage tags of :data:`REGISTRATION_LINEAGE_TAGS`) within ``window_s`` of the change.
    """
    window = timedelta(seconds=window_s)
    near = [
        (abs(change.detected_at - at), key)
        for key in PLATFORM_MARKERS.get(change.alias, ())
        if (at := _tag_time(facts.tags, key)) is not None and abs(change.detected_at - at) <= window
    ]
    if near:
        _, key = min(near)  # the platform move closest to the change
        return f"the platform recorded {key}={facts.tags[key]}"
    if change.alias == registry.CHALLENGER and facts.created_at is not None:
        lineage = all(facts.tags.get(t) for t in REGISTRATION_LINEAGE_TAGS)
        if lineage and abs(change.detected_at - facts.created_at) <= window:
            return f"registered by a training run at {facts.created_at.isoformat(timespec='seconds')}"
    return None


def gated_champion(versions: Iterable[VersionFacts], *, exclude: str | None = None) -> str | None:
    """The champion the platform set last (its newest champion audit tag), ignoring ``exclude``."""
    best: tuple[datetime, str] | None = None
    for facts in versions:
        if facts.version == exclude:
            continue
        for key in PLATFORM_MARKERS[registry.CHAMPION]:
            at = _tag_time(facts.tags, key)
            if at is not None and (best is None or at > best[0]):
                best = (at, facts.version)
    return None if best is None else best[1]


def gate_passed_against(facts: VersionFacts, champion: str | None) -> tuple[bool, str]:
    """Whether the version passed its gate against ``champion`` (None: there was no champion)."""
    verdict = facts.tags.get("gate_verdict")
    if verdict != "passed":
        return False, f"gate_verdict is {verdict or 'missing'!r}, not 'passed'"
    compared = facts.tags.get("gate_champion_version")
    expected = champion or "none"
    if compared != expected:
        return False, (
            f"its gate passed against champion {compared or 'unknown'!r}, "
            f"but the champion the platform had set is {expected!r}"
        )
    return True, f"gate passed against champion {expected!r}"


def decide(
    change: AliasChange,
    *,
    model_name: str,
    current_version: str | None,
    facts: VersionFacts | None,
    versions: Sequence[VersionFacts],
    revert: bool,
    window_s: float = PLATFORM_WINDOW_S,
) -> Decision:
    """The decision for one change, from the registry state read just before (pure)."""
    if change.model_name != model_name:
        return Decision("ignore", f"model {change.model_name!r} is not managed here ({model_name!r} is)", change)
    if change.alias not in MANAGED_ALIASES:
        return Decision("ignore", f"alias {change.alias!r} is not managed by the platform", change)
    if current_version != change.version:
        now = f"v{current_version}" if current_version else "no version"
        return Decision("ignore", f"stale: {change.alias} now points at {now}", change)
    if change.version is None or facts is None:
        return Decision("ignore", f"{change.alias} was removed; nothing to gate", change)
    platform = platform_record(change, facts, window_s=window_s)
    if platform is not None:
        return Decision("ignore", f"made by the platform ({platform})", change)
    if change.alias == registry.CHALLENGER:
        requested = _tag_time(facts.tags, TAG_GATE_REQUESTED_AT)
        if requested is not None and requested >= change.detected_at:
            return Decision("ignore", f"a gate was already requested for this change at {_iso(requested)}", change)
        return Decision("gate", "challenger set by hand: gate it", change)
    if change.alias == registry.PREVIOUS_CHAMPION:
        return Decision("ignore", "previous_champion set by hand (a rollback target; rollback is gated)", change)
    champion = gated_champion(versions)
    if champion == change.version:
        return Decision("ignore", f"v{champion} is the champion the platform set last", change)
    flagged = _tag_time(facts.tags, TAG_FLAG_AT)
    if flagged is not None and flagged >= change.detected_at:
        return Decision("ignore", f"this change was already flagged at {_iso(flagged)}", change)
    ok, why = gate_passed_against(facts, champion)
    if ok:
        return Decision("accept", f"champion set by hand on a gated version ({why})", change)
    restore = champion if revert else None
    reason = f"champion set by hand on v{change.version} without a passed gate: {why}"
    skipped = None if revert else f"{REVERT_ENV} is false: left in place"
    return Decision("flag", reason, change, restore_to=restore, revert_skipped=skipped)


def revert_manual_champion_enabled() -> bool:
    """Whether an ungated manual champion is reverted (default: yes).

    ``MEDGRPO_REVERT_MANUAL_CHAMPION`` (true/false) when set; else the gate policy's
    ``revert_manual_champion`` field where the policy defines one; else true. The safe default
    reverts; a deployment that only wants the flag says false.
    """
    raw = os.environ.get(REVERT_ENV, "").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    if raw:
        raise ValueError(f"{REVERT_ENV} must be true or false, found {raw!r}")
    try:
        from medgrpo.evaluate.policy import load_policy
    except ImportError:
        return True
    value = getattr(load_policy()[0], "revert_manual_champion", None)
    return True if value is None else bool(value)


# =========================================================================== review (registry I/O)


def _now() -> datetime:
    return datetime.now(UTC)


def _facts(client: Any, name: str, version: str) -> VersionFacts:
    return VersionFacts.from_mlflow(client.get_model_version(name, version))


def _all_versions(client: Any, name: str) -> list[VersionFacts]:
    return [VersionFacts.from_mlflow(mv) for mv in client.search_model_versions(f"name = '{name}'")]


def review(
    change: AliasChange,
    *,
    revert: bool | None = None,
    window_s: float = PLATFORM_WINDOW_S,
    grace_s: float = AUDIT_GRACE_S,
) -> Decision:
    """Classify ``change`` against the registry's current state and act on it.

    Safe to repeat: a change that no longer matches the registry is ignored as stale, and every
    action re-checks the alias before it moves it.
    """
    name = registry.resolve_model_name()
    if revert is None:
        revert = revert_manual_champion_enabled()
    # the platform writes its audit tags right after moving an alias: give a fresh change that time
    wait = (change.detected_at + timedelta(seconds=grace_s) - _now()).total_seconds()
    if change.model_name == name and change.alias in MANAGED_ALIASES and wait > 0:
        time.sleep(min(wait, grace_s))
    client = registry.client()
    aliases = current_aliases(name, client) if change.model_name == name else {}
    current = aliases.get(change.alias)
    facts = _facts(client, name, change.version) if change.version and current == change.version else None
    versions = _all_versions(client, name) if change.alias == registry.CHAMPION and facts else []
    decision = decide(
        change,
        model_name=name,
        current_version=current,
        facts=facts,
        versions=versions,
        revert=revert,
        window_s=window_s,
    )
    if decision.action == "accept":
        _tag(client, name, str(change.version), {TAG_ACCEPTED_AT: _iso(_now()), TAG_ACCEPTED_BY: GUARD_ACTOR})
    elif decision.action == "gate":
        _tag(client, name, str(change.version), {TAG_GATE_REQUESTED_AT: _iso(_now())})
    elif decision.action == "flag":
        decision = _flag(client, name, decision, revert=revert)
    log.info(
        "alias change reviewed",
        extra={"action": decision.action, "change": change.describe(), "reason": decision.reason},
    )
    return decision


def review_all(changes: Iterable[AliasChange], **kwargs: Any) -> list[Decision]:
    """Review ``changes`` oldest first (each against the registry state at its turn), each once."""
    unique = {c.key: c for c in changes}
    return [review(c, **kwargs) for c in sorted(unique.values(), key=lambda c: c.detected_at)]


def current_aliases(model_name: str, client: Any = None) -> dict[str, str]:
    """Alias -> version of ``model_name`` now; empty when the model is not registered (yet)."""
    from mlflow.exceptions import MlflowException

    client = client or registry.client()
    try:
        model = client.get_registered_model(model_name)
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(err, "error_code", "")):
            return {}
        raise
    return {str(k): str(v) for k, v in (model.aliases or {}).items()}


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _tag(client: Any, name: str, version: str, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


@contextlib.contextmanager
def _promotion_lock(name: str) -> Iterator[Callable[[], None]]:
    """The registry's shared promotion lock (every champion move takes it); yields its ``verify``."""
    lock_class = getattr(registry, "PromotionLock", None)
    if lock_class is None:  # a registry module without the lock: moves are compare-and-set only
        yield lambda: None
        return
    with lock_class(name, actor=GUARD_ACTOR) as lock:
        yield lock.verify


def _flag(client: Any, name: str, decision: Decision, *, revert: bool) -> Decision:
    """Tag the ungated champion; when ``revert``, move ``champion`` back (compare-and-set)."""
    version = str(decision.change.version)
    when = _iso(_now())
    _tag(client, name, version, {TAG_FLAG: decision.reason[:4000], TAG_FLAG_AT: when})
    if not revert:
        _tag(client, name, version, {TAG_REVERTED_TO: f"not reverted ({REVERT_ENV}=false)"})
        return decision
    target = decision.restore_to
    with _promotion_lock(name) as verify:
        # compare-and-set: act only while champion still points at the version that was flagged
        if current_aliases(name, client).get(registry.CHAMPION) != version:
            return Decision(
                "flag", decision.reason, decision.change, decision.restore_to, False, "champion moved meanwhile"
            )
        verify()
        if target is None:
            # no champion was ever set by the platform: an ungated version must not serve
            client.delete_registered_model_alias(name, registry.CHAMPION)
            _tag(client, name, version, {TAG_REVERTED_TO: "none (champion alias removed)"})
        else:
            # the audit tag first, so the alias event this move causes is recognised as the platform's
            _tag(client, name, target, {"restored_at": when, "restored_by": GUARD_ACTOR})
            verify()
            client.set_registered_model_alias(name, registry.CHAMPION, target)
            _tag(client, name, version, {TAG_REVERTED_TO: target})
    log.warning(
        "reverted an ungated manual champion",
        extra={"model_name": name, "version": version, "restored": target or "none"},
    )
    return Decision("flag", decision.reason, decision.change, target, True, None)


__all__ = [
    "ALIAS_CREATED",
    "AliasChange",
    "Decision",
    "VersionFacts",
    "WebhookRejected",
    "change_from_webhook",
    "changes_from_event_extra",
    "current_aliases",
    "decide",
    "diff_aliases",
    "event_extra",
    "gate_passed_against",
    "gated_champion",
    "platform_record",
    "poll_seconds",
    "revert_manual_champion_enabled",
    "review",
    "review_all",
    "sign_webhook",
    "verify_webhook",
]
