"""Policies: which recognizers run and what happens to each entity type; YAML, validated, fail closed.

Built-in policies are referred to by name (``--policy clinical``), any other by file path or s3:// URI:

- ``clinical`` (``resources/deid/default_policy.yaml``): full Safe Harbor, the default for canonical
  records and sources of unknown kind (``MEDGRPO_DEID_POLICY`` may name another);
- ``public-benchmark`` (``public_benchmark_policy.yaml``): published exam and abstract corpora (MedQA,
  MedMCQA, PubMedQA, verifiable problems): strict identifiers only, study periods and ages kept;
- ``surrogates`` (``surrogate_policy.yaml``): clinical, with realistic surrogates and date shifting.

Example::

    name: my-policy
    kind: clinical                    # which identifiers the canary requires: clinical | public-benchmark
    actions:
      default: {action: tag}          # [NAME], [PHONE], ...
      DATE: {action: tag}             # or keep_year (03/14/2019 -> 2019), shift
      AGE: {action: age_cap}          # 93 -> 90+
      ZIP: {action: zip3}             # 02115 -> 021 (000 for small areas)
    secret_env: MEDGRPO_DEID_SECRET   # needed for surrogate / shift
    patient_key_fields: [meta.patient_id]
    date_shift: {min_days: 1, max_days: 365}
    recognizers:
      use: all                        # or a list of registry names (medgrpo.deid.recognizers.REGISTRY)
      options: {names: {mode: full}}  # per-recognizer options
      disable: []                     # entity types whose spans are dropped (the canary then fails)
      allow_list: []
      deny_list: {NAME: []}
    nlp_engine: {provider: offline}   # or {provider: spacy, model: en_core_web_lg} where installed
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medgrpo.deid.errors import DeidError
from medgrpo.deid.types import ENTITY_TYPES

POLICY_DIR = Path(__file__).resolve().parent.parent / "resources" / "deid"
DEFAULT_POLICY_PATH = POLICY_DIR / "default_policy.yaml"
BUILTIN_POLICIES = {
    "clinical": POLICY_DIR / "default_policy.yaml",
    "public-benchmark": POLICY_DIR / "public_benchmark_policy.yaml",
    "surrogates": POLICY_DIR / "surrogate_policy.yaml",
}
KINDS = ("clinical", "public-benchmark")
POLICY_ENV = "MEDGRPO_DEID_POLICY"
ACTIONS = ("tag", "surrogate", "redact", "keep_year", "shift", "age_cap", "zip3")
_ONLY_FOR = {"keep_year": {"DATE"}, "shift": {"DATE"}, "age_cap": {"AGE"}, "zip3": {"ZIP"}}
_NEEDS_SECRET = {"surrogate", "shift"}
_KNOWN_KEYS = {
    "name", "description", "version", "actions", "secret", "secret_env", "patient_key_fields", "date_shift",
    "recognizers", "nlp_engine", "score_threshold", "reference_year", "kind",
}  # fmt: skip
_RECOGNIZER_KEYS = {"use", "options", "disable", "allow_list", "deny_list"}


@dataclass(frozen=True)
class EntityAction:
    """What to do with one entity type."""

    action: str
    tag: str


@dataclass(frozen=True)
class Policy:
    """A validated policy. ``sha256`` covers everything except the secret."""

    name: str
    kind: str
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
    use: tuple[str, ...] = ()
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
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

    kind = raw.get("kind", "clinical")
    if kind not in KINDS:
        raise _fail(source, f"kind is {kind!r}; expected one of {list(KINDS)}")
    rec = raw.get("recognizers") or {}
    if not isinstance(rec, dict):
        raise _fail(source, "'recognizers' must be a mapping")
    if set(rec) - _RECOGNIZER_KEYS:
        raise _fail(source, f"recognizers has unknown keys {sorted(set(rec) - _RECOGNIZER_KEYS)}")
    from medgrpo.deid.recognizers import REGISTRY

    use_raw = rec.get("use", "all")
    if use_raw in (None, "all"):
        use = tuple(REGISTRY)
    elif isinstance(use_raw, list) and all(isinstance(u, str) for u in use_raw):
        bad_use = [u for u in use_raw if u not in REGISTRY]
        if bad_use:
            raise _fail(source, f"recognizers.use has unknown recognizers {bad_use}; expected some of {list(REGISTRY)}")
        use = tuple(use_raw)
    else:
        raise _fail(source, "recognizers.use must be 'all' or a list of recognizer names")
    options_raw = rec.get("options") or {}
    if not isinstance(options_raw, dict) or not all(isinstance(v, dict) for v in options_raw.values()):
        raise _fail(source, "recognizers.options must map recognizer names to mappings of options")
    bad_opt = [k for k in options_raw if k not in REGISTRY]
    if bad_opt:
        raise _fail(source, f"recognizers.options names unknown recognizers {bad_opt}")
    options = {str(k): dict(v) for k, v in options_raw.items()}
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
        kind=str(kind),
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
        use=use,
        options=options,
        raw=public,
    )


def default_policy_name() -> str:
    """The policy for sources of unknown kind: ``MEDGRPO_DEID_POLICY`` or ``clinical``."""
    return os.environ.get(POLICY_ENV, "").strip() or "clinical"


def policy_location(ref: str | os.PathLike[str] | None) -> str:
    """A built-in policy name, a file path or an s3:// URI -> where to read it (``None``: the default)."""
    if ref is None or str(ref).strip() == "":
        ref = default_policy_name()
    text = str(ref)
    if text in BUILTIN_POLICIES:
        return str(BUILTIN_POLICIES[text])
    return text


def load_policy(path: str | os.PathLike[str] | None) -> Policy:
    """Load and validate a policy: a built-in name, a YAML file (local or ``s3://``), ``None`` = the default."""
    import yaml

    where = policy_location(path)
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
        return parse_policy(raw, source=where)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise DeidError(f"de-identification policy {where} is not valid YAML{line}") from None
    except RecursionError:  # the YAML composer (or hashing the mapping) recurses once per nesting level
        raise DeidError(
            f"de-identification policy {where}: expected YAML nested a few levels deep, found nesting deeper "
            f"than the parser's limit (about {sys.getrecursionlimit()} levels)"
        ) from None
