"""Replacement policy: what happens to each entity type, loaded from YAML and validated (fail closed).

Example (the packaged default is ``resources/deid/default_policy.yaml``)::

    name: safe-harbor-tags
    actions:
      default: {action: tag}          # [NAME], [PHONE], ...
      DATE: {action: keep_year}       # 03/14/2019 -> 2019
      AGE: {action: age_cap}          # 93-year-old -> 90 or older
      ZIP: {action: zip3}             # 02115 -> 021 (000 for small areas)
    secret_env: MEDGRPO_DEID_SECRET   # needed for surrogate / shift
    patient_key_fields: [meta.patient_id]
    date_shift: {min_days: 1, max_days: 365}
    recognizers: {disable: [], allow_list: [], deny_list: {NAME: []}}
    nlp_engine: {provider: offline}   # or {provider: spacy, model: en_core_web_lg} where installed
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medgrpo.deid.detect import ENTITY_TYPES
from medgrpo.deid.errors import DeidError

DEFAULT_POLICY_PATH = Path(__file__).resolve().parent.parent / "resources" / "deid" / "default_policy.yaml"
ACTIONS = ("tag", "surrogate", "redact", "keep_year", "shift", "age_cap", "zip3")
_ONLY_FOR = {"keep_year": {"DATE"}, "shift": {"DATE"}, "age_cap": {"AGE"}, "zip3": {"ZIP"}}
_NEEDS_SECRET = {"surrogate", "shift"}
_KNOWN_KEYS = {
    "name", "description", "version", "actions", "secret", "secret_env", "patient_key_fields", "date_shift",
    "recognizers", "nlp_engine", "score_threshold", "reference_year",
}  # fmt: skip


@dataclass(frozen=True)
class EntityAction:
    """What to do with one entity type."""

    action: str
    tag: str


@dataclass(frozen=True)
class Policy:
    """A validated policy. ``sha256`` covers everything except the secret."""

    name: str
    actions: dict[str, EntityAction]
    disabled: frozenset[str]
    allow_list: tuple[str, ...]
    deny_list: dict[str, tuple[str, ...]]
    patient_key_fields: tuple[str, ...]
    secret: bytes
    shift_range: tuple[int, int]
    nlp_engine: dict[str, Any]
    score_threshold: float
    reference_year: int
    sha256: str
    source: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def _fail(where: str, msg: str) -> DeidError:
    return DeidError(f"invalid de-identification policy {where}: {msg}")


def parse_policy(raw: Any, *, source: str = "<dict>") -> Policy:
    """Validate a policy mapping; raise DeidError naming the bad key and what was expected."""
    if not isinstance(raw, dict):
        raise _fail(source, f"expected a mapping at the top level, found {type(raw).__name__}")
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise _fail(source, f"unknown keys {sorted(unknown)}; expected some of {sorted(_KNOWN_KEYS)}")
    actions_raw = raw.get("actions") or {}
    if not isinstance(actions_raw, dict):
        raise _fail(source, f"'actions' must be a mapping of entity type to action, found {type(actions_raw).__name__}")
    default = actions_raw.get("default", {"action": "tag"})
    actions: dict[str, EntityAction] = {}
    for etype in ENTITY_TYPES:
        spec = actions_raw.get(etype, default)
        if isinstance(spec, str):
            spec = {"action": spec}
        if not isinstance(spec, dict) or "action" not in spec:
            raise _fail(source, f"actions.{etype} must be a mapping with an 'action' key")
        action = spec["action"]
        if action not in ACTIONS:
            raise _fail(source, f"actions.{etype}.action is {action!r}; expected one of {list(ACTIONS)}")
        if action in _ONLY_FOR and etype not in _ONLY_FOR[action]:
            if etype in actions_raw:
                raise _fail(source, f"action {action!r} applies only to {sorted(_ONLY_FOR[action])}, not {etype}")
            action = "tag"  # a type-specific default falls back to tags for other types
        tag = spec.get("tag", f"[{etype}]")
        if not isinstance(tag, str):
            raise _fail(source, f"actions.{etype}.tag must be a string")
        actions[etype] = EntityAction(action, tag)
    for key in actions_raw:
        if key != "default" and key not in ENTITY_TYPES:
            raise _fail(source, f"actions has unknown entity type {key!r}; expected one of {list(ENTITY_TYPES)}")

    rec = raw.get("recognizers") or {}
    if not isinstance(rec, dict):
        raise _fail(source, "'recognizers' must be a mapping")
    disabled = frozenset(rec.get("disable") or [])
    bad = disabled - set(ENTITY_TYPES)
    if bad:
        raise _fail(source, f"recognizers.disable has unknown entity types {sorted(bad)}")
    allow_list = tuple(str(w) for w in rec.get("allow_list") or [])
    deny_raw = rec.get("deny_list") or {}
    if not isinstance(deny_raw, dict) or any(k not in ENTITY_TYPES for k in deny_raw):
        raise _fail(source, "recognizers.deny_list must map entity types to lists of words")
    deny_list = {k: tuple(str(w) for w in v or []) for k, v in deny_raw.items()}

    keys = raw.get("patient_key_fields", ["meta.patient_id"])
    if isinstance(keys, str):
        keys = [keys]
    shift = raw.get("date_shift") or {}
    lo, hi = int(shift.get("min_days", 1)), int(shift.get("max_days", 365))
    if not 1 <= lo <= hi:
        raise _fail(source, f"date_shift needs 1 <= min_days <= max_days, found {lo}..{hi}")

    needs_secret = any(a.action in _NEEDS_SECRET for a in actions.values())
    env_name = raw.get("secret_env", "MEDGRPO_DEID_SECRET")
    secret_value = os.environ.get(env_name) if env_name else None
    secret_value = secret_value or raw.get("secret")
    if needs_secret and not secret_value:
        raise _fail(
            source,
            f"surrogate/shift actions need a secret: set the environment variable {env_name} "
            "(or 'secret' in the policy, for tests only)",
        )
    nlp_engine = raw.get("nlp_engine") or {"provider": "offline"}
    if not isinstance(nlp_engine, dict) or nlp_engine.get("provider", "offline") not in {"offline", "spacy"}:
        raise _fail(source, "nlp_engine.provider must be 'offline' or 'spacy'")
    threshold = float(raw.get("score_threshold", 0.5))
    if not 0.0 <= threshold <= 1.0:
        raise _fail(source, f"score_threshold must be within [0, 1], found {threshold}")

    public = {k: v for k, v in raw.items() if k != "secret"}
    digest = hashlib.sha256(json.dumps(public, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return Policy(
        name=str(raw.get("name", "unnamed")),
        actions=actions,
        disabled=disabled,
        allow_list=allow_list,
        deny_list=deny_list,
        patient_key_fields=tuple(str(k) for k in keys),
        secret=(secret_value or "no-secret-needed-for-tags").encode("utf-8"),
        shift_range=(lo, hi),
        nlp_engine=dict(nlp_engine),
        score_threshold=threshold,
        reference_year=int(raw.get("reference_year", 2026)),
        sha256=digest,
        source=source,
        raw=public,
    )


def load_policy(path: str | os.PathLike[str] | None) -> Policy:
    """Load and validate a policy YAML file, local or ``s3://`` (``None``: the packaged default)."""
    import yaml

    where = str(path) if path is not None else str(DEFAULT_POLICY_PATH)
    try:
        if where.startswith("s3://"):
            from medgrpo import storage

            text = storage.read_text(where)
        else:
            text = Path(where).read_text(encoding="utf-8")
    except OSError as err:
        raise DeidError(f"cannot read de-identification policy {where}: {err.strerror}") from None
    except Exception as err:  # S3 client errors
        raise DeidError(f"cannot read de-identification policy {where}: {type(err).__name__}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise DeidError(f"de-identification policy {where} is not valid YAML{line}") from None
    return parse_policy(raw, source=where)
