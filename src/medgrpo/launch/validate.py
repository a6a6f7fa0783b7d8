"""Schema validation of generated manifests (used by ``medgrpo render-k8s --validate`` and the tests).

Built-in kinds (Pod, Service) are checked with ``kubernetes-validate`` against the Kubernetes
OpenAPI schema of ``MEDGRPO_K8S_CLUSTER_VERSION`` (empty: the newest version it knows), in strict
mode (unknown fields are errors). Custom resources (TrainJob, PyTorchJob) are checked against the
``openAPIV3Schema`` of their CustomResourceDefinition, read from a folder of CRD YAML files (for
example ``kubectl get crd trainjobs.trainer.kubeflow.org -o yaml``), made strict the same way:
the API server silently prunes fields a structural schema does not know, so a misspelt or
unsupported field would otherwise vanish. CEL rules (``x-kubernetes-validations``) are not
evaluated. ``kubernetes-validate`` and ``jsonschema`` come with the ``dev`` extra.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]


class ManifestInvalid(ValueError):
    """A manifest does not validate; the message names the object, the field path and the rule."""


class SchemaUnavailable(LookupError):
    """No schema for this kind: kubernetes-validate missing, or no CRD file for a custom resource."""


def newest_known_version() -> str:
    import kubernetes_validate

    return str(kubernetes_validate.latest_version())


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def _crds(crd_dir: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``(group, version, kind) -> strict openAPIV3Schema`` of every CRD file in ``crd_dir``."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in sorted(Path(crd_dir).glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec.get("versions") or []:
                schema = copy.deepcopy(((version.get("schema") or {}).get("openAPIV3Schema")) or {})
                # metadata is ObjectMeta, checked by the API server itself, not by the CRD schema
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                found[(spec["group"], version["name"], spec["names"]["kind"])] = _strict(schema)
    return found


def crd_kinds(crd_dir: str | Path) -> set[tuple[str, str, str]]:
    """The ``(group, version, kind)`` a CRD folder defines."""
    return set(_crds(str(crd_dir)))


def validate_manifest(obj: Manifest, *, version: str = "", crd_dir: str | Path | None = None) -> str:
    """Validate one object; return what it was checked against, raise :class:`ManifestInvalid` if invalid."""
    group, _, api_version = str(obj.get("apiVersion", "")).rpartition("/")
    where = f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}"
    if group:  # a custom resource
        key = (group, api_version, str(obj.get("kind")))
        schema = _crds(str(crd_dir)).get(key) if crd_dir else None
        if schema is None:
            raise SchemaUnavailable(f"no CRD schema for {key} in {crd_dir or '(no CRD folder given)'}")
        import jsonschema

        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}" for e in errors[:10]]
            raise ManifestInvalid(f"{where} breaks the {obj['kind']} CRD schema:\n  " + "\n  ".join(lines))
        return f"CRD {group}/{api_version} {obj['kind']}"
    try:
        import kubernetes_validate
    except ImportError as err:
        raise SchemaUnavailable("kubernetes-validate is not installed (pip install 'medgrpo[dev]')") from err
    wanted = version or newest_known_version()
    try:
        checked = kubernetes_validate.validate(obj, wanted, strict=True)
    except kubernetes_validate.ValidationError as err:
        path = ".".join(str(p) for p in err.path) or "(root)"
        raise ManifestInvalid(f"{where} is invalid for Kubernetes {err.version} at {path}: {err.message}") from None
    return f"Kubernetes {checked} OpenAPI schema"


def validate_all(objects: Iterable[Manifest], *, version: str = "", crd_dir: str | Path | None = None) -> list[str]:
    """Validate every object; return one ``kind name: checked against`` line each."""
    return [
        f"{o['kind']} {o['metadata']['name']}: {validate_manifest(o, version=version, crd_dir=crd_dir)}"
        for o in objects
    ]
