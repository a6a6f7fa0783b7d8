"""Model sources: turn a ``model_name_or_path`` into a local Hugging Face model directory.

Accepted forms:

- a local directory holding ``config.json``;
- ``hf://org/name`` or a bare ``org/name`` hub id (resolved by transformers; needs the hub);
- ``s3://bucket/prefix`` (copied with :func:`medgrpo.storage.download_dir`);
- ``models:/<name>@<alias>`` or ``models:/<name>/<version>`` (the MLflow registry: continue from
  the champion with ``models:/medgrpo-qwen2.5@champion``). An alias is pinned to the version it
  points at when training starts, and ``<cache_dir>/registry-origin.json`` records which one
  (:func:`registry_origin`), so the new version's card names its exact parent;
- ``tiny:<seed>``: the project's tiny CPU model, built locally by :mod:`medgrpo.train.tiny`.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from medgrpo import storage

log = logging.getLogger(__name__)

_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
ORIGIN_FILE = "registry-origin.json"


def describe_source(source: str) -> str:
    """The kind of a model source: ``local``, ``hf``, ``s3``, ``registry`` or ``tiny``; ValueError otherwise."""
    if not source or not source.strip():
        raise ValueError("model source is empty: expected a local dir, hf://, s3://, models:/ or tiny:<seed>")
    if source.startswith("models:/"):
        return "registry"
    if storage.is_s3(source):
        return "s3"
    if source.startswith("hf://"):
        return "hf"
    if source.startswith("tiny:") or source == "tiny":
        return "tiny"
    if Path(source).exists():
        return "local"
    if _HUB_ID_RE.match(source):
        return "hf"
    raise ValueError(
        f"model source {source!r} is neither an existing local directory nor hf://org/name, "
        "s3://bucket/prefix, models:/<name>@<alias>, models:/<name>/<version> or tiny:<seed>"
    )


def resolve_model_source(source: str, cache_dir: str | Path) -> str:
    """A path or hub id that ``from_pretrained`` can load for ``source``; remote copies go under ``cache_dir``."""
    kind = describe_source(source)
    cache = Path(cache_dir)
    if kind == "local":
        path = Path(source)
        if not (path / "config.json").is_file():
            raise ValueError(f"local model directory {path} has no config.json")
        return str(path)
    if kind == "hf":
        return source.removeprefix("hf://")
    if kind == "s3":
        dest = cache / "s3-model"
        storage.download_dir(source, dest)
        if not (dest / "config.json").is_file():
            raise ValueError(f"{source} holds no config.json: expected a Hugging Face model folder there")
        log.info("downloaded model from s3", extra={"source": source, "path": str(dest)})
        return str(dest)
    if kind == "registry":
        from medgrpo import registry

        name, version, alias = registry.parse_models_uri(source)
        mv = registry.resolve(version or str(alias), name)  # an alias is pinned to its version now
        path = registry.download_model(mv.model_uri, cache / "registry-model")
        origin = {"source": source, "model_uri": mv.model_uri, "run_id": mv.run_id or ""}
        storage.write_text_atomic(str(cache / ORIGIN_FILE), json.dumps(origin) + "\n")
        log.info("downloaded model from the registry", extra={**origin, "path": str(path)})
        return str(path)
    # tiny
    from medgrpo.train.tiny import build_tiny_model

    seed_text = source.partition(":")[2] or "0"
    if not seed_text.isdigit():
        raise ValueError(f"tiny model source must be tiny:<seed> with an integer seed, found {source!r}")
    dest = cache / f"tiny-{seed_text}"
    if not (dest / "config.json").is_file():
        build_tiny_model(dest, seed=int(seed_text))
    return str(dest)


def registry_origin(cache_dir: str | Path) -> dict[str, Any] | None:
    """What a ``models:/`` source resolved to (``source``, ``model_uri``, ``run_id``), or None for other sources."""
    path = Path(cache_dir) / ORIGIN_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data
