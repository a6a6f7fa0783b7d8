"""Training recipes: a config dataclass over TRL's ``GRPOConfig`` and the one YAML/override merge.

A recipe is a YAML file of ``MedGRPOConfig`` fields (open-r1 style,
``training_image/recipes/<model>/grpo/*.yaml``). :func:`load_recipe` merges, in this order, the
YAML, ``--set key=value`` overrides (values parsed as YAML; ``a.b=v`` reaches into dict fields) and
explicit CLI options, coerces every value to its field's type, and builds the config, whose
``__post_init__`` checks the cross-field rules and raises naming the field, the rule and the
numbers, before any model is loaded. This module imports TRL: import it lazily from CLI code.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from trl import GRPOConfig

from medgrpo.train.recipe_checks import RecipeCheckError, check_bounds, refuse_remote_code
from medgrpo.train.rewards import REWARD_FACTORIES, get_reward_funcs
from medgrpo.yaml_errors import describe_yaml_error

log = logging.getLogger(__name__)

#: Model source forms accepted by ``model_name_or_path`` (see ``medgrpo.train.sources``).
MODEL_SOURCE_HELP = (
    "local directory, hf://org/name (or a bare org/name hub id), s3://bucket/prefix, "
    "models:/<name>@<alias> or models:/<name>/<version>"
)


class RecipeError(ValueError):
    """A recipe (or an override) names an unknown field, has a bad value, or breaks a rule."""


@dataclass
class MedGRPOConfig(GRPOConfig):
    """``GRPOConfig`` plus what a medgrpo training run needs: model source, data, rewards, LoRA, storage."""

    model_name_or_path: str = field(
        default="",
        metadata={"help": f"Policy model to start from: {MODEL_SOURCE_HELP}."},
    )
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "Published dataset directory (DESIGN §5: train.jsonl, eval.jsonl, manifest.json), local or s3://."
        },
    )
    max_train_samples: int | None = field(
        default=None,
        metadata={"help": "Use at most this many training records (first N after a seeded shuffle); None: all."},
    )
    max_eval_samples: int | None = field(
        default=None,
        metadata={"help": "Use at most this many eval records for in-training evaluation; None: all."},
    )
    system_prompt: str | None = field(
        default=None,
        metadata={"help": "Override the system prompt of medgrpo.data.prompt (None keeps the shared prompt)."},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["format", "accuracy"],
        metadata={"help": f"Reward functions by name, in order; known: {', '.join(sorted(REWARD_FACTORIES))}."},
    )
    reward_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Keyword parameters per parameterised reward, e.g. {cosine: {max_len: 512}}."},
    )
    accelerate_config: str | None = field(
        default=None,
        metadata={
            "help": "accelerate config (relative to training_image/, e.g. accelerate/zero3.yaml) the launcher "
            "starts this recipe with; None: a single process."
        },
    )
    use_peft: bool = field(default=False, metadata={"help": "Train LoRA adapters instead of all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (alpha / r scales the update)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        metadata={"help": "Module names that get LoRA adapters."},
    )
    merge_lora: bool = field(
        default=True,
        metadata={"help": "Merge LoRA weights into the base model before saving, so the registered model is plain HF."},
    )
    checkpoint_store: str | None = field(
        default=None,
        metadata={
            "help": "Where complete checkpoints are copied (local folder or s3:// prefix) and resumed from; "
            "None: <output_dir>/stored-checkpoints (not named checkpoint-*: the Trainer rotates those)."
        },
    )
    resume: bool = field(
        default=True,
        metadata={"help": "Resume from the newest complete checkpoint in checkpoint_store when there is one."},
    )
    warmup_sft_steps: int = field(
        default=0,
        metadata={
            "help": "Supervised warm-up steps on '<think>..</think><answer>ref</answer>' targets before GRPO "
            "(tiny random models only; skipped when resuming)."
        },
    )
    warmup_sft_learning_rate: float = field(default=3e-3, metadata={"help": "Learning rate of the warm-up."})
    completions_table_steps: int = field(
        default=0,
        metadata={"help": "Log a table of sample completions to MLflow every N steps (0: never)."},
    )

    def __post_init__(self) -> None:
        self._validate_medgrpo()
        super().__post_init__()

    def _validate_medgrpo(self) -> None:
        """Cross-field rules that TRL does not check; each error names the field, the rule and the values."""
        if not self.model_name_or_path:
            raise RecipeError(f"model_name_or_path is required: {MODEL_SOURCE_HELP}")
        try:  # numeric nonsense TRL accepts (a negative learning rate) or crashes on (num_generations 0)
            check_bounds({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, where="config")
        except RecipeCheckError as err:
            raise RecipeError(str(err)) from None
        try:
            get_reward_funcs(self.reward_funcs, self.reward_kwargs)
        except ValueError as err:
            raise RecipeError(f"reward_funcs/reward_kwargs: {err}") from err
        if self.reward_weights is not None and len(self.reward_weights) != len(self.reward_funcs):
            raise RecipeError(
                f"reward_weights has {len(self.reward_weights)} values but reward_funcs has "
                f"{len(self.reward_funcs)} ({self.reward_funcs}): give one weight per reward"
            )
        if self.max_completion_length is None or self.max_completion_length <= 0:
            raise RecipeError(f"max_completion_length must be a positive integer, found {self.max_completion_length}")
        if self.beta < 0:
            raise RecipeError(f"beta must be >= 0 (0 disables the KL term), found {self.beta}")
        if self.epsilon_high is not None and self.epsilon_high < self.epsilon:
            raise RecipeError(f"epsilon_high ({self.epsilon_high}) must be >= epsilon ({self.epsilon})")
        if self.use_peft and self.lora_r <= 0:
            raise RecipeError(f"lora_r must be positive when use_peft is true, found {self.lora_r}")
        if self.use_vllm and self.vllm_mode not in {"colocate", "server"}:
            raise RecipeError(f"vllm_mode must be 'colocate' or 'server', found {self.vllm_mode!r}")
        if self.completions_table_steps < 0:
            raise RecipeError(f"completions_table_steps must be >= 0, found {self.completions_table_steps}")
        store = self.checkpoint_store
        if store and not store.startswith("s3://") and self.output_dir:
            path = Path(store).resolve()
            if path.parent == Path(str(self.output_dir)).resolve() and path.name.startswith("checkpoint-"):
                raise RecipeError(
                    f"checkpoint_store {store!r} is named checkpoint-* inside output_dir: the Trainer would "
                    "rotate it away with its own checkpoints; choose another name"
                )
        if self.warmup_sft_steps < 0:
            raise RecipeError(f"warmup_sft_steps must be >= 0, found {self.warmup_sft_steps}")
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise RecipeError(f"{name} must be positive or null, found {value}")
        # The global batch / generation batch / num_generations divisibility rules are TRL's own
        # (GRPOConfig.__post_init__), which raise with the numbers.

    def medgrpo_params(self) -> dict[str, Any]:
        """The medgrpo-specific fields (those not in GRPOConfig), for logging."""
        base = {f.name for f in dataclasses.fields(GRPOConfig)}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in base}


# ---------------------------------------------------------------------------------------------
# YAML + overrides merge
# ---------------------------------------------------------------------------------------------
def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b": {"c": "x"}}`` (values parsed as YAML scalars/lists)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise RecipeError(f"--set expects key=value, found {pair!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except (yaml.YAMLError, RecursionError) as err:
            raise RecipeError(
                f"--set {key}: expected a YAML value, found text that does not parse ({describe_yaml_error(err)})"
            ) from None
        target = out
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise RecipeError(f"--set {pair!r}: {part!r} is both a value and a dict")
        target[leaf] = value
    return out


MAX_RECIPE_BYTES = 1024 * 1024


def _read_yaml(path: Path) -> Any:
    """A recipe file's YAML, or RecipeError naming the file and what is wrong with it (one line)."""
    if path.stat().st_size > MAX_RECIPE_BYTES:
        raise RecipeError(
            f"recipe {path}: expected a YAML file under {MAX_RECIPE_BYTES} bytes, found {path.stat().st_size}"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecipeError(f"recipe {path}: expected UTF-8 text, found an invalid byte at offset {err.start}") from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as err:
        why = describe_yaml_error(err)
        raise RecipeError(f"recipe {path}: expected YAML, found text that does not parse ({why})") from None


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _field_types() -> dict[str, Any]:
    import trl.trainer.grpo_config as grpo_module

    namespace = {**vars(typing), **vars(grpo_module), **globals()}
    return typing.get_type_hints(MedGRPOConfig, globalns=namespace)


def _accepts_bool(hint: Any) -> bool:
    if hint is bool or hint is Any:
        return True
    return any(_accepts_bool(arg) for arg in typing.get_args(hint)) if typing.get_origin(hint) else False


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` converted to the field's declared type where YAML gave a string (``1e-6``) or a scalar."""
    if value is None:
        return None
    if isinstance(value, bool) and not _accepts_bool(hint):
        # YAML 1.1 reads `save_strategy: no` as False: give string fields back the word.
        value = "yes" if value else "no"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        errors = []
        for arg in args:
            try:
                return _coerce(name, value, arg)
            except RecipeError as err:
                errors.append(str(err))
        raise RecipeError(f"{name}: {value!r} fits none of {args}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
            return value.lower() in {"true", "yes", "1"}
        raise RecipeError(f"{name} must be true or false, found {value!r}")
    if hint in (int, float):
        if isinstance(value, bool):
            raise RecipeError(f"{name} must be a {hint.__name__}, found {value!r}")
        try:
            converted = hint(value)
        except (TypeError, ValueError) as err:
            raise RecipeError(f"{name} must be a {hint.__name__}, found {value!r}") from err
        if hint is int and isinstance(value, float) and value != int(value):
            raise RecipeError(f"{name} must be an integer, found {value!r}")
        return converted
    if hint is str:
        if isinstance(value, (dict, list)):
            raise RecipeError(f"{name} must be a string, found {type(value).__name__} {value!r}")
        return str(value)
    if origin is list or hint is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise RecipeError(f"{name} must be a list, found {value!r}")
        (item_hint,) = typing.get_args(hint) or (Any,)
        return [_coerce(f"{name}[{i}]", v, item_hint) for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{name} must be a mapping, found {value!r}")
        return value
    return value  # enums, Any, and TRL's own typed fields validate themselves


def recipe_values(
    recipe: str | Path | None,
    overrides: Sequence[str] = (),
    explicit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merged, type-coerced field values: YAML < ``--set`` overrides < explicit CLI values (None skipped)."""
    data: dict[str, Any] = {}
    if recipe is not None:
        path = Path(recipe)
        if not path.is_file():
            raise RecipeError(f"recipe file not found: {path}")
        loaded = _read_yaml(path) or {}
        if not isinstance(loaded, dict):
            raise RecipeError(f"recipe {path} must be a YAML mapping of fields, found {type(loaded).__name__}")
        data = loaded
    data = _deep_merge(data, parse_overrides(overrides))
    data = _deep_merge(data, {k: v for k, v in (explicit or {}).items() if v is not None})
    hints = _field_types()
    known = {f.name for f in dataclasses.fields(MedGRPOConfig) if f.init}
    where = f"recipe {recipe}" if recipe else "overrides"
    for key in data:
        if not isinstance(key, str):
            raise RecipeError(f"{where}: expected field names as keys, found a {type(key).__name__} key")
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise RecipeError(f"{where}: unknown field {key!r}{hint}")
    return {key: _coerce(key, value, hints.get(key, Any)) for key, value in data.items()}


def load_recipe(
    recipe: str | Path | None,
    overrides: Sequence[str] = (),
    explicit: Mapping[str, Any] | None = None,
) -> MedGRPOConfig:
    """Build and validate a :class:`MedGRPOConfig` from a recipe file, ``--set`` overrides and CLI values."""
    values = recipe_values(recipe, overrides, explicit)
    try:  # a recipe file can no more switch on remote code than an override can
        refuse_remote_code(values, where=f"recipe {recipe}" if recipe else "config")
    except RecipeCheckError as err:
        raise RecipeError(str(err)) from None
    accelerate_config = values.get("accelerate_config")
    if accelerate_config and recipe is not None:
        image_root = Path(recipe).resolve().parents[3]  # training_image/recipes/<model>/grpo/<file>
        if not (image_root / accelerate_config).is_file() and not Path(accelerate_config).is_file():
            raise RecipeError(f"recipe {recipe}: accelerate_config {accelerate_config!r} not found under {image_root}")
    values.setdefault("output_dir", str(Path("runs") / Path(str(recipe or "run")).stem))
    try:
        return MedGRPOConfig(**values)
    except RecipeError:
        raise
    except (ValueError, TypeError, ArithmeticError) as err:
        raise RecipeError(f"{'recipe ' + str(recipe) if recipe else 'config'}: {err}") from err


def validate_recipe(recipe: str | Path) -> MedGRPOConfig:
    """Validate a recipe on any machine: GPU-only settings (bf16, vLLM) are checked for shape, not hardware.

    ``use_cpu=True`` is forced so that transformers' "bf16 needs a GPU" check passes here; every
    other rule (field names, types, batch divisibility, rewards) runs as it would on the cluster.
    """
    return load_recipe(recipe, overrides=["use_cpu=true"], explicit={"output_dir": "/tmp/medgrpo-validate"})


# ---------------------------------------------------------------------------------------------
# The field table for checks without TRL (medgrpo.train.recipe_checks)
# ---------------------------------------------------------------------------------------------
FIELD_TABLE_PATH = Path(__file__).resolve().parents[1] / "resources" / "recipe_fields.json"


def _json_kinds(hint: Any) -> tuple[list[str], bool, list[str] | None]:
    """JSON kinds a field's type admits, whether it admits null, and an enum's choices."""
    import enum

    if hint is type(None):
        return [], True, None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        kinds: list[str] = []
        nullable, choices = False, None
        for arg in typing.get_args(hint):
            k, n, c = _json_kinds(arg)
            kinds += [x for x in k if x not in kinds]
            nullable, choices = nullable or n, choices or c
        return kinds, nullable, choices
    if origin is typing.Literal:
        values = typing.get_args(hint)
        return sorted({"boolean" if isinstance(v, bool) else "string" for v in values}), False, None
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if hint in simple:
        return [simple[hint]], False, None
    if origin is list or hint is list:
        return ["array"], False, None
    if origin is dict or hint is dict:
        return ["object"], False, None
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return ["string"], False, sorted(str(m.value) for m in hint)
    return ["any"], False, None


def recipe_field_table() -> dict[str, dict[str, Any]]:
    """Every init field of :class:`MedGRPOConfig` with its JSON kinds (and enum choices)."""
    hints = _field_types()
    table: dict[str, dict[str, Any]] = {}
    for f in sorted(dataclasses.fields(MedGRPOConfig), key=lambda f: f.name):
        if not f.init:
            continue
        kinds, nullable, choices = _json_kinds(hints.get(f.name, Any))
        entry: dict[str, Any] = {"kinds": kinds or ["any"], "nullable": nullable}
        if choices and "string" in kinds and kinds == ["string"]:
            entry["choices"] = choices
        table[f.name] = entry
    return table


def write_recipe_field_table(path: Path = FIELD_TABLE_PATH) -> Path:
    """Regenerate ``resources/recipe_fields.json`` (after a TRL upgrade or a new recipe field)."""
    import trl

    doc = {
        "generated_by": "medgrpo.train.config.write_recipe_field_table",
        "trl_version": trl.__version__,
        "fields": recipe_field_table(),
    }
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path
