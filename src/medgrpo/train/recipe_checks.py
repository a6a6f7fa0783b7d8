"""Recipe checks that need no TRL: override names and types, value bounds, and remote code.

The Airflow image has no TRL or torch, yet ``grpo_training`` must refuse a bad ``overrides``
object in its first task, before anything is launched. So the recipe's fields (every init field of
:class:`medgrpo.train.config.MedGRPOConfig`, with their JSON kinds and choices) are kept in
``resources/recipe_fields.json``, generated from the dataclass by
:func:`medgrpo.train.config.write_recipe_field_table` and checked against it by a test. The value
bounds (:data:`BOUNDS`) and the remote-code rule are defined here once and applied both to
overrides (:func:`validate_overrides`) and to every loaded recipe (``load_recipe``).

Remote code: a model repository's own Python (``trust_remote_code``) runs with the training pod's
credentials; it is refused anywhere in a recipe or its overrides unless the deployment sets
``MEDGRPO_ALLOW_REMOTE_CODE=true``.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

REMOTE_CODE_ENV = "MEDGRPO_ALLOW_REMOTE_CODE"
REMOTE_CODE_KEY = "trust_remote_code"
_TRUE = {"1", "true", "yes", "on"}


class RecipeCheckError(ValueError):
    """An override or recipe value that is refused; the message is one line naming the field."""


@dataclass(frozen=True)
class Bound:
    """A numeric rule: ``minimum``/``maximum`` (exclusive when ``open_*``), plus ``also`` allowed values."""

    minimum: float | None = None
    maximum: float | None = None
    open_min: bool = False
    open_max: bool = False
    also: tuple[float, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.open_min else '>='} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.open_max else '<='} {self.maximum:g}")
        text = " and ".join(parts)
        return text + "".join(f" (or {a:g})" for a in self.also)

    def holds(self, value: float) -> bool:
        if value in self.also:
            return True
        if not math.isfinite(value):
            return False
        if self.minimum is not None and (value <= self.minimum if self.open_min else value < self.minimum):
            return False
        return not (self.maximum is not None and (value >= self.maximum if self.open_max else value > self.maximum))


#: Numeric recipe fields whose nonsense values TRL/transformers accept silently (or crash on).
BOUNDS: dict[str, Bound] = {
    "learning_rate": Bound(0, open_min=True),
    "warmup_sft_learning_rate": Bound(0, open_min=True),
    "num_generations": Bound(2),
    "per_device_train_batch_size": Bound(1),
    "per_device_eval_batch_size": Bound(1),
    "gradient_accumulation_steps": Bound(1),
    "num_iterations": Bound(1),
    "max_steps": Bound(1, also=(-1,)),
    "num_train_epochs": Bound(0, open_min=True),
    "max_completion_length": Bound(1),
    "temperature": Bound(0, open_min=True),
    "top_p": Bound(0, 1, open_min=True),
    "top_k": Bound(0),
    "min_p": Bound(0, 1),
    "repetition_penalty": Bound(0, open_min=True),
    "beta": Bound(0),
    "epsilon": Bound(0),
    "weight_decay": Bound(0),
    "max_grad_norm": Bound(0),
    "warmup_steps": Bound(0),
    "logging_steps": Bound(0, open_min=True),
    "save_steps": Bound(0, open_min=True),
    "eval_steps": Bound(0, open_min=True),
    "seed": Bound(0),
    "lora_r": Bound(1),
    "lora_alpha": Bound(0, open_min=True),
    "lora_dropout": Bound(0, 1, open_max=True),
    "warmup_sft_steps": Bound(0),
    "completions_table_steps": Bound(0),
}


def check_bounds(values: Mapping[str, Any], where: str = "recipe") -> None:
    """Raise :class:`RecipeCheckError` for the first numeric value outside its :data:`BOUNDS` (None is skipped)."""
    for name, bound in BOUNDS.items():
        value = values.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not bound.holds(float(value)):
            raise RecipeCheckError(f"{where}: {name} must be {bound.describe()}, found {value!r}")


def remote_code_allowed() -> bool:
    """Whether the deployment allows ``trust_remote_code`` (``MEDGRPO_ALLOW_REMOTE_CODE=true``; default no)."""
    return os.environ.get(REMOTE_CODE_ENV, "").strip().lower() in _TRUE


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def find_remote_code(value: Any, path: str = "") -> Iterator[str]:
    """Paths at which ``trust_remote_code`` is switched on: in nested mappings/lists, JSON strings
    (TRL accepts ``model_init_kwargs`` as a JSON string) and dotted override keys."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            value = json.loads(value)
        except ValueError:
            return
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if str(key).split(".")[-1] == REMOTE_CODE_KEY and _truthy(item):
                yield here
            else:
                yield from find_remote_code(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from find_remote_code(item, f"{path}[{i}]")


def refuse_remote_code(values: Mapping[str, Any], where: str = "recipe") -> None:
    """Raise :class:`RecipeCheckError` when remote code is switched on and the deployment does not allow it."""
    if remote_code_allowed():
        return
    found = next(find_remote_code(values), None)
    if found is not None:
        raise RecipeCheckError(
            f"{where}: {found} is refused: a model's own Python code would run in the training job; "
            f"set {REMOTE_CODE_ENV}=true where the deployment allows it"
        )


@lru_cache(maxsize=1)
def field_table() -> dict[str, dict[str, Any]]:
    """Recipe field name -> ``{"kinds": [...], "nullable": bool, "choices": [...]?}`` (generated, see module doc)."""
    text = resources.files("medgrpo").joinpath("resources", "recipe_fields.json").read_text(encoding="utf-8")
    table: dict[str, dict[str, Any]] = json.loads(text)["fields"]
    return table


def _coerce(name: str, value: Any, spec: Mapping[str, Any]) -> Any:
    """``value`` as the field's kind (strings parsed the way ``--set`` parses them), or RecipeCheckError."""
    kinds = list(spec["kinds"])
    if value is None:
        if spec.get("nullable"):
            return None
        raise RecipeCheckError(f"overrides.{name}: expected {' or '.join(kinds)}, found null")
    for kind in kinds:
        converted = _as_kind(value, kind)
        if converted is not _NO:
            choices = spec.get("choices")
            if choices and kind == "string" and converted not in choices:
                continue
            return converted
    found = type(value).__name__ if not isinstance(value, str) else "a string"
    choices = f" (one of {', '.join(spec['choices'])})" if spec.get("choices") else ""
    raise RecipeCheckError(f"overrides.{name}: expected {' or '.join(kinds)}{choices}, found {found} {value!r}"[:300])


_NO = object()


def _as_kind(value: Any, kind: str) -> Any:
    if kind == "any":
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false", "yes", "no"}:
            return value.strip().lower() in {"true", "yes"}
        return _NO
    if kind in ("integer", "number"):
        if isinstance(value, bool):
            return _NO
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            return _NO
        if not isinstance(number, int | float) or not math.isfinite(number):
            return _NO
        if kind == "integer":
            return int(number) if float(number).is_integer() else _NO
        return float(number)
    if kind == "string":
        return value if isinstance(value, str) else (str(value) if isinstance(value, int | float) else _NO)
    if kind == "array":
        return value if isinstance(value, list) else _NO
    if kind == "object":
        return value if isinstance(value, Mapping) else _NO
    return _NO


def validate_overrides(overrides: Any) -> dict[str, Any]:
    """Check a DAG form's ``overrides`` object against the recipe fields; return it with values coerced.

    Keys are recipe field names, or ``field.key`` reaching into a mapping field (as ``--set`` does).
    Refuses unknown fields (with suggestions), values of the wrong kind or outside :data:`BOUNDS`,
    and remote code. Raises :class:`RecipeCheckError` (one line).
    """
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise RecipeCheckError(f"overrides: expected an object of recipe fields, found {type(overrides).__name__}")
    table = field_table()
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        name, _, sub = str(key).partition(".")
        if name not in table:
            close = difflib.get_close_matches(name, list(table), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise RecipeCheckError(f"overrides: unknown recipe field {name!r}{hint}")
        if sub:
            if "object" not in table[name]["kinds"] and "any" not in table[name]["kinds"]:
                raise RecipeCheckError(f"overrides.{key}: {name} is not a mapping, so it has no key {sub!r}")
            out[str(key)] = value
            continue
        out[name] = _coerce(name, value, table[name])
    check_bounds({k: v for k, v in out.items() if "." not in k}, where="overrides")
    refuse_remote_code(out, where="overrides")
    return out
