"""What a cluster launch needs to know about a recipe, read without importing the training stack.

A recipe decides how the job is started: one process or ``accelerate launch`` with its config
(``accelerate_config``), and where vLLM generates (``use_vllm`` / ``vllm_mode``: ``colocate`` runs
inside the training processes, ``server`` needs its own GPUs running ``trl vllm-serve``).
The recipe file ships inside the training image under :data:`IMAGE_ROOT`; a cluster job refers
to it by that in-image path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Where the training image keeps the repository's ``training_image/`` folder (Dockerfile WORKDIR).
IMAGE_ROOT = "/opt/medgrpo"
IMAGE_TRAINING_DIR = f"{IMAGE_ROOT}/training_image"
#: Port ``trl vllm-serve`` listens on (HTTP API) and the port of its weight-sync process group.
VLLM_PORT = 8000
VLLM_GROUP_PORT = 51216


class RecipePlanError(ValueError):
    """The recipe cannot be launched on a cluster as given (not in the image, unknown vLLM mode, ...)."""


@dataclass(frozen=True)
class LaunchPlan:
    """The recipe's launch-relevant fields, with ``--set`` overrides applied."""

    recipe_in_image: str
    accelerate_config: str | None
    use_vllm: bool
    vllm_mode: str
    vllm_tensor_parallel_size: int
    model: str

    @property
    def vllm_server(self) -> bool:
        """True when generation runs in a separate ``trl vllm-serve`` process group."""
        return self.use_vllm and self.vllm_mode == "server"

    def accelerate_config_in_image(self) -> str | None:
        if not self.accelerate_config:
            return None
        if self.accelerate_config.startswith("/"):
            return self.accelerate_config
        return f"{IMAGE_TRAINING_DIR}/{self.accelerate_config}"


def repo_training_dir() -> Path | None:
    """The checkout's ``training_image/`` folder when running from a source tree (None in an install)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "training_image" / "recipes"
        if candidate.is_dir():
            return candidate.parent
    return None


def recipe_paths(recipe: str) -> tuple[Path, str]:
    """``(readable local file, path inside the image)`` of a recipe.

    Accepts a file under a checkout's ``training_image/`` or a path under
    ``/opt/medgrpo/training_image/`` (read from the checkout's copy when this machine has no
    ``/opt/medgrpo``). A recipe anywhere else does not exist in the image: that is an error.
    """
    text = str(recipe).strip()
    if text.startswith(IMAGE_TRAINING_DIR + "/"):
        rel = text[len(IMAGE_TRAINING_DIR) + 1 :]
        local = Path(text)
        if not local.is_file():
            repo = repo_training_dir()
            if repo is None or not (repo / rel).is_file():
                raise RecipePlanError(f"recipe {text} is not readable here (no {local}, no checkout copy of {rel})")
            local = repo / rel
        return local, text
    local = Path(text).resolve()
    if not local.is_file():
        raise RecipePlanError(f"recipe {text} does not exist")
    for parent in local.parents:
        if parent.name == "training_image" and (parent / "recipes").is_dir():
            return local, f"{IMAGE_TRAINING_DIR}/{local.relative_to(parent).as_posix()}"
    raise RecipePlanError(
        f"recipe {text} is not part of the training image: cluster jobs run recipes shipped under "
        f"training_image/ (in the image at {IMAGE_TRAINING_DIR}/); add it there and rebuild the image"
    )


def load_plan(recipe: str, overrides: Mapping[str, str] | None = None, model: str | None = None) -> LaunchPlan:
    """Read the recipe's launch fields (``--set`` overrides win, values parsed as YAML like the trainer does)."""
    local, in_image = recipe_paths(recipe)
    try:
        data = yaml.safe_load(local.read_text()) or {}
    except yaml.YAMLError as err:
        raise RecipePlanError(f"recipe {recipe} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise RecipePlanError(f"recipe {recipe} must be a mapping of fields, found {type(data).__name__}")
    values: dict[str, Any] = dict(data)
    for key, raw in (overrides or {}).items():
        values[key] = yaml.safe_load(raw) if isinstance(raw, str) else raw
    mode = str(values.get("vllm_mode") or "colocate")
    use_vllm = bool(values.get("use_vllm", False))
    if use_vllm and mode not in ("colocate", "server"):
        raise RecipePlanError(f"recipe {recipe}: vllm_mode must be 'colocate' or 'server', found {mode!r}")
    tp = int(values.get("vllm_tensor_parallel_size") or 1)
    if tp < 1:
        raise RecipePlanError(f"recipe {recipe}: vllm_tensor_parallel_size must be >= 1, found {tp}")
    return LaunchPlan(
        recipe_in_image=in_image,
        accelerate_config=values.get("accelerate_config") or None,
        use_vllm=use_vllm,
        vllm_mode=mode,
        vllm_tensor_parallel_size=tp,
        model=str(model or values.get("model_name_or_path") or ""),
    )


def vllm_serve_model(model: str) -> str:
    """The ``--model`` argument of ``trl vllm-serve`` for a model source, or an error saying why not."""
    if model.startswith("hf://"):
        return model[len("hf://") :]
    if model.startswith(IMAGE_ROOT + "/") or (
        "/" in model and "://" not in model and not model.startswith(("/", ".", "models:", "tiny:"))
    ):
        return model
    raise RecipePlanError(
        f"vllm_mode 'server' starts `trl vllm-serve --model <model>`, which loads a hub id (hf://org/name) or a "
        f"path inside the image; found model {model!r}: use vllm_mode 'colocate' or a hub base model"
    )
