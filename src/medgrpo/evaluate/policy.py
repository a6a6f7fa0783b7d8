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
import os
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

#: Environment variable naming the deployment's policy (a packaged name or a YAML path).
POLICY_ENV = "MEDGRPO_GATE_POLICY"
DEFAULT_POLICY = "production"
PACKAGED_POLICIES = ("production", "demo")


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


def _check_value(f: dataclasses.Field[Any], value: Any, *, where: str) -> None:
    kind: Any = {"int": int, "float": float, "bool": bool, "str": str}.get(str(f.type), f.type)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str) and bool(value.strip())
    if not ok:
        expected = {bool: "true or false", int: "an integer", float: "a number"}.get(kind, "a non-empty string")
        raise PolicyError(f"{where}: {f.name} must be {expected}, found {value!r}")
    schema = f.metadata.get("schema", {})
    if "minimum" in schema and value < schema["minimum"]:
        raise PolicyError(f"{where}: {f.name} must be >= {schema['minimum']}, found {value!r}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        raise PolicyError(f"{where}: {f.name} must be > {schema['exclusiveMinimum']}, found {value!r}")
    if "maximum" in schema and value > schema["maximum"]:
        raise PolicyError(f"{where}: {f.name} must be <= {schema['maximum']}, found {value!r}")


def parse_policy(data: Any, *, source: str) -> GatePolicy:
    """A :class:`GatePolicy` from a mapping read from ``source``; every key must be a policy field."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping of gate fields, found {type(data).__name__}")
    known = {f.name: f for f in fields(GatePolicy)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise PolicyError(f"{source}: unknown field(s) {unknown}; known: {sorted(known)}")
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


def load_policy(ref: str | None = None) -> tuple[GatePolicy, str]:
    """The policy named by ``ref`` (packaged name or YAML path), else ``MEDGRPO_GATE_POLICY``, else production.

    Returns the policy and where it came from (a path), for the report.
    """
    import yaml

    choice = (ref or "").strip() or os.environ.get(POLICY_ENV, "").strip() or DEFAULT_POLICY
    path = packaged_policy_path(choice) if choice in PACKAGED_POLICIES else Path(choice).expanduser()
    if not path.is_file():
        raise PolicyError(
            f"gate policy {choice!r} is neither a packaged policy {list(PACKAGED_POLICIES)} nor a readable file"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PolicyError(f"{path}: not valid YAML: {err}") from err
    data = dict(data or {}) if isinstance(data, dict) or data is None else data
    if isinstance(data, dict):
        data.setdefault("name", choice if choice in PACKAGED_POLICIES else path.stem)
    return parse_policy(data, source=str(path)), str(path)
