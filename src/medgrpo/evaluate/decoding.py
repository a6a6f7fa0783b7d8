"""Decoding settings: how a model is asked to answer when it is evaluated, taken from its recipe.

A GRPO policy is trained to answer under the recipe's sampling settings (``max_completion_length``,
``temperature``, ``top_p``, ``top_k``, ``num_generations`` completions per prompt, the system prompt
and the tokenizer's chat template). Evaluating it with other settings (64 new tokens where the
recipe allows 1,024) measures something else, so training records the settings on the model
version (tag ``decoding``, JSON; see :func:`decoding_from_recipe`) and the gate scores the
candidate *and* the champion with the candidate's settings. The settings are part of the key under
which per-item results are cached, and are printed in the gate report.

``temperature == 0`` means greedy decoding with one sample per item. With ``samples > 1`` an item's
accuracy is the share of its samples that are correct (pass@1 estimated from ``samples`` draws);
the paired McNemar test uses the majority outcome per item.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

#: Version tag holding the JSON of :class:`DecodingSettings` (written at registration).
DECODING_TAG = "decoding"


@dataclass(frozen=True)
class DecodingSettings:
    """Generation settings of an evaluation; ``chat_template`` None = the evaluated model's own."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    samples: int = 1
    seed: int = 0
    system_prompt: str | None = None
    chat_template: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"decoding max_new_tokens must be a positive integer, found {self.max_new_tokens!r}")
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"decoding samples must be a positive integer, found {self.samples!r}")
        if not 0.0 <= float(self.temperature) <= 10.0:
            raise ValueError(f"decoding temperature must be in [0, 10], found {self.temperature!r}")
        if not 0.0 < float(self.top_p) <= 1.0:
            raise ValueError(f"decoding top_p must be in (0, 1], found {self.top_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"decoding top_k must be a non-negative integer, found {self.top_k!r}")
        if self.greedy and self.samples != 1:
            raise ValueError(f"greedy decoding (temperature 0) gives one answer per item; found samples={self.samples}")

    @property
    def greedy(self) -> bool:
        return float(self.temperature) == 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "decoding settings") -> DecodingSettings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
        values = dict(data)
        for name in ("max_new_tokens", "top_k", "samples", "seed"):
            if name in values and values[name] is not None:
                values[name] = int(values[name])
        for name in ("temperature", "top_p"):
            if name in values and values[name] is not None:
                values[name] = float(values[name])
        return cls(**values)

    def key(self) -> str:
        """Short content hash (cache key part): same settings, same key."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """For reports and MLflow params: long texts replaced by their sha256 prefix."""
        out = self.as_dict()
        for name in ("system_prompt", "chat_template"):
            text = out.get(name)
            out[name] = "default" if text is None else f"sha256:{hashlib.sha256(text.encode()).hexdigest()[:12]}"
        return out

    def with_chat_template(self, template: str | None) -> DecodingSettings:
        return replace(self, chat_template=template)


def decoding_from_recipe(cfg: Any) -> DecodingSettings:
    """The settings a recipe (``MedGRPOConfig``) trains its completions with.

    ``max_completion_length`` → ``max_new_tokens``; ``temperature``/``top_p``/``top_k`` as sampled;
    ``num_generations`` → ``samples`` (0 temperature → greedy, one sample); ``system_prompt`` as
    given (None = the shared prompt of :mod:`medgrpo.data.prompt`). The chat template is the
    tokenizer's, filled in by :func:`with_template_of` when the model folder is at hand.
    """
    temperature = float(getattr(cfg, "temperature", 1.0) or 0.0)
    samples = 1 if temperature == 0.0 else int(getattr(cfg, "num_generations", 1) or 1)
    return DecodingSettings(
        max_new_tokens=int(cfg.max_completion_length),
        temperature=temperature,
        top_p=float(getattr(cfg, "top_p", 1.0) or 1.0),
        top_k=int(getattr(cfg, "top_k", 0) or 0),
        samples=samples,
        seed=int(getattr(cfg, "seed", 0) or 0),
        system_prompt=getattr(cfg, "system_prompt", None),
    )


def decoding_tags(cfg: Any, tokenizer: Any) -> dict[str, str]:
    """The version tag recording a recipe's decoding settings with the tokenizer's chat template."""
    template = getattr(tokenizer, "chat_template", None)
    settings = decoding_from_recipe(cfg).with_chat_template(template if isinstance(template, str) else None)
    return {DECODING_TAG: settings.to_json()}


def from_version_tags(tags: Mapping[str, str], *, where: str) -> DecodingSettings | None:
    """The settings recorded on a model version (tag ``decoding``), or None when it has none."""
    raw = tags.get(DECODING_TAG)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: tag {DECODING_TAG!r} is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{where}: tag {DECODING_TAG!r} must hold a JSON object, found {type(data).__name__}")
    return DecodingSettings.from_mapping(data, where=f"{where} tag {DECODING_TAG!r}")


def from_run_params(params: Mapping[str, str]) -> DecodingSettings | None:
    """Settings rebuilt from a training run's logged recipe params (versions registered before the tag).

    None when the run logged no ``max_completion_length``.
    """
    if not params.get("max_completion_length"):
        return None
    temperature = float(params.get("temperature") or 1.0)
    system_prompt = params.get("system_prompt")
    return DecodingSettings(
        max_new_tokens=int(params["max_completion_length"]),
        temperature=temperature,
        top_p=float(params.get("top_p") or 1.0),
        top_k=int(float(params.get("top_k") or 0)),
        samples=1 if temperature == 0.0 else int(params.get("num_generations") or 1),
        seed=int(params.get("seed") or 0),
        system_prompt=None if system_prompt in (None, "", "None") else system_prompt,
    )
