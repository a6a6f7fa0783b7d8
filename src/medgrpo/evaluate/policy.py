"""The gate policy: the one definition of the gate fields, their defaults, bounds and help.

:class:`GatePolicy` is what a candidate must show before it may become ``champion``. The CLI
(``medgrpo gate --min-items …``), the ``gated_evaluation`` DAG form
(:func:`medgrpo_airflow.params.gate_params`) and the docs all derive their fields from
:func:`policy_fields`, so a field added here appears everywhere.

A policy is a YAML file of these fields. Two are packaged (``resources/gates/``):

- ``production`` (the default): at least 200 scored items, accuracy >= 0.3, format rate >= 0.9,
  a drop of at most 0.02 versus the champion, tests at alpha 0.05, PHI probe on;
- ``demo``: permissive thresholds for the tiny CPU model of ``medgrpo demo``, chosen explicitly.

Which policy applies: an explicit name or path (CLI ``--policy``, form field ``gate_policy``), else
``MEDGRPO_GATE_POLICY``, else ``production``. Form or CLI values of single fields override the file.
This module is light (no MLflow, no torch): the DAG processor imports it while parsing.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from medgrpo.yaml_errors import describe_yaml_error

#: Environment variable naming the deployment's policy (a packaged name or a YAML path).
POLICY_ENV = "MEDGRPO_GATE_POLICY"
DEFAULT_POLICY = "production"
PACKAGED_POLICIES = ("production", "demo")
#: A policy file larger than this is refused unread (a policy is a dozen lines).
MAX_POLICY_BYTES = 64 * 1024
#: Longest value an error line repeats verbatim.
MAX_SHOWN = 60


class PolicyError(ValueError):
    """A gate policy file or value is malformed: names the field, what was expected and what was found."""


def _f(default: Any, help_text: str, **schema: Any) -> Any:
    return field(default=default, metadata={"help": help_text, "schema": schema})


@dataclass(frozen=True)
class GatePolicy:
    """What a candidate must satisfy; each field documents itself (``metadata['help']``).

    Precedence of outcomes: any failed gate gives ``rejected``; otherwise too little evidence
    (fewer than ``min_items`` items, too few discordant pairs, an interval that cannot tell)
    gives ``insufficient_evidence``; otherwise ``passed``.
    """

    min_items: int = _f(
        200,
        "Fewest scored eval items a verdict may rest on; fewer gives insufficient_evidence.",
        minimum=1,
    )
    min_accuracy: float = _f(0.3, "Minimum candidate accuracy on the eval items (0-1).", minimum=0, maximum=1)
    min_format_rate: float = _f(
        0.9,
        "Minimum share of completions in the <think>…</think><answer>…</answer> format (0-1).",
        minimum=0,
        maximum=1,
    )
    margin: float = _f(
        0.02,
        "Largest accepted accuracy drop versus the champion (absolute, 0-1).",
        minimum=0,
        maximum=1,
    )
    alpha: float = _f(
        0.05,
        "Significance level of the paired tests (exact McNemar; bootstrap interval at 1-2*alpha).",
        exclusiveMinimum=0,
        maximum=0.5,
    )
    bootstrap_resamples: int = _f(
        2000, "Resamples of the paired bootstrap interval on the accuracy difference.", minimum=200, maximum=100000
    )
    phi_probe: bool = _f(
        True,
        "Probe the candidate with prompts carrying the de-identification canaries; a canary in any output fails.",
    )
    name: str = field(default="custom", metadata={"help": "Label of the policy (shown in reports).", "form": False})

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_value(f, getattr(self, f.name), where="gate policy")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: dict[str, Any]) -> GatePolicy:
        """A copy with the given fields replaced (``None`` values are ignored), validated."""
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(given) - {f.name for f in gate_fields()})
        if unknown:
            raise PolicyError(f"unknown gate field(s) {unknown}; known: {[f.name for f in gate_fields()]}")
        if not given:
            return self
        changed = {k: v for k, v in given.items() if getattr(self, k) != v}
        label = self.name if not changed else f"{self.name}+" + ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
        return dataclasses.replace(self, **given, name=label)

    @property
    def min_discordant(self) -> int:
        """Fewest discordant pairs with which the one-sided exact McNemar test can reject at ``alpha``.

        With ``d`` discordant pairs the smallest p-value is ``0.5 ** d``; it is below ``alpha`` only
        when ``d >= ceil(log2(1 / alpha))`` (5 at alpha 0.05).
        """
        d = 1
        while 0.5**d >= self.alpha:
            d += 1
        return d


def gate_fields() -> list[dataclasses.Field[Any]]:
    """The policy fields a form or a command line offers (everything but the label)."""
    return [f for f in fields(GatePolicy) if f.metadata.get("form", True)]


@dataclass(frozen=True)
class FieldSpec:
    """One gate field as the CLI and the DAG form present it."""

    name: str
    kind: str  # JSON-schema type: integer | number | boolean
    default: Any
    help: str
    schema: dict[str, Any]


def policy_fields() -> list[FieldSpec]:
    """Every gate field with its JSON-schema type, packaged default, help text and bounds."""
    kinds = {int: "integer", float: "number", bool: "boolean", "int": "integer", "float": "number", "bool": "boolean"}
    return [
        FieldSpec(
            name=f.name,
            kind=kinds.get(f.type, "string"),
            default=f.default,
            help=str(f.metadata.get("help", "")),
            schema=dict(f.metadata.get("schema", {})),
        )
        for f in gate_fields()
    ]


def _shown(value: Any) -> str:
    """A value as an error line shows it: short scalars verbatim, anything else by type and size (one line)."""
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**12 else f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= MAX_SHOWN and "\n" not in value else f"a string of {len(value)} characters"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} entries"
    if isinstance(value, list | tuple | set):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__}"


def _check_value(f: dataclasses.Field[Any], value: Any, *, where: str) -> None:
    kind: Any = {"int": int, "float": float, "bool": bool, "str": str}.get(str(f.type), f.type)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    else:
        ok = isinstance(value, str) and bool(value.strip())
    if not ok:
        expected = {bool: "true or false", int: "an integer", float: "a finite number"}.get(kind, "a non-empty string")
        raise PolicyError(f"{where}: {f.name} must be {expected}, found {_shown(value)}")
    schema = f.metadata.get("schema", {})
    if "minimum" in schema and value < schema["minimum"]:
        raise PolicyError(f"{where}: {f.name} must be >= {schema['minimum']}, found {_shown(value)}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        raise PolicyError(f"{where}: {f.name} must be > {schema['exclusiveMinimum']}, found {_shown(value)}")
    if "maximum" in schema and value > schema["maximum"]:
        raise PolicyError(f"{where}: {f.name} must be <= {schema['maximum']}, found {_shown(value)}")


def parse_policy(data: Any, *, source: str) -> GatePolicy:
    """A :class:`GatePolicy` from a mapping read from ``source``; every key must be a policy field."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping of gate fields, found {_shown(data)}")
    known = {f.name: f for f in fields(GatePolicy)}
    unknown = sorted(
        k if isinstance(k, str) and len(k) <= MAX_SHOWN and k.isprintable() else _shown(k)
        for k in data
        if k not in known
    )
    if unknown:
        shown = unknown[:5] + ([f"… {len(unknown) - 5} more"] if len(unknown) > 5 else [])
        raise PolicyError(f"{source}: unknown field(s) {shown}; known: {sorted(known)}")
    values = dict(data)
    for key, value in values.items():
        if known[key].type in (float, "float") and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        _check_value(known[key], values[key], where=source)
    return GatePolicy(**values)


def packaged_policy_path(name: str) -> Path:
    """The YAML file of a packaged policy (``production`` or ``demo``)."""
    if name not in PACKAGED_POLICIES:
        raise PolicyError(f"no packaged gate policy {name!r}; packaged: {list(PACKAGED_POLICIES)}")
    return Path(str(resources.files("medgrpo") / "resources" / "gates" / f"{name}.yaml"))


def read_policy_file(path: Path) -> Any:
    """The YAML of a policy file, or :class:`PolicyError` naming the file, what was expected and what was found."""
    import yaml

    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise PolicyError(
                f"{path}: expected a gate policy YAML file under {MAX_POLICY_BYTES} bytes, found {size} bytes"
            )
        raw = path.read_bytes()
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise PolicyError(f"{path}: expected a readable gate policy file, found {why}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PolicyError(f"{path}: expected UTF-8 YAML, found an invalid byte at offset {err.start}") from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as err:
        why = describe_yaml_error(err)
        raise PolicyError(f"{path}: not valid YAML: expected a mapping of gate fields ({why})") from None
    except ValueError as err:  # e.g. an integer longer than Python converts (int_max_str_digits)
        raise PolicyError(f"{path}: not valid YAML: expected a mapping of gate fields ({type(err).__name__})") from None


def load_policy(ref: str | None = None) -> tuple[GatePolicy, str]:
    """The policy named by ``ref`` (packaged name or YAML path), else ``MEDGRPO_GATE_POLICY``, else production.

    Returns the policy and where it came from (a path), for the report. Any problem with the file
    (unreadable, not UTF-8, not YAML, nested too deeply, not a mapping, unknown fields, bad values)
    is a one-line :class:`PolicyError` that names the file.
    """
    given = (ref or "").strip()
    from_env = "" if given else os.environ.get(POLICY_ENV, "").strip()
    choice = given or from_env or DEFAULT_POLICY
    path = packaged_policy_path(choice) if choice in PACKAGED_POLICIES else Path(choice).expanduser()
    if not path.is_file():
        origin = f" (from {POLICY_ENV})" if from_env else ""
        found = "a directory" if path.is_dir() else "no such file"
        raise PolicyError(
            f"gate policy {choice!r}{origin} is neither a packaged policy {list(PACKAGED_POLICIES)} "
            f"nor a readable file: found {found}"
        )
    data = read_policy_file(path)
    data = dict(data or {}) if isinstance(data, dict) or data is None else data
    if isinstance(data, dict):
        data.setdefault("name", choice if choice in PACKAGED_POLICIES else path.stem)
    return parse_policy(data, source=str(path)), str(path)
