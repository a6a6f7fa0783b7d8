"""Schema validation of generated manifests: built-in kinds with ``kubernetes-validate`` (the
Kubernetes OpenAPI schema of the configured cluster version), Kubeflow kinds with the CRD's own
``openAPIV3Schema`` read from ``/work/shared/vendor/kubeflow-crds/`` (never copied into the repo).

CRD schemas are checked strictly: every object schema that lists ``properties`` and does not
allow extra ones gets ``additionalProperties: false`` — the API server prunes unknown fields of a
structural schema silently, so a misspelt or unsupported field would otherwise vanish unnoticed.
CEL rules (``x-kubernetes-validations``) are not evaluated here.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

CRD_DIR = Path(os.environ.get("MEDGRPO_KUBEFLOW_CRDS", "/work/shared/vendor/kubeflow-crds"))
CRD_FILES = {
    ("trainer.kubeflow.org", "TrainJob"): "trainer.kubeflow.org_trainjobs.yaml",
    ("kubeflow.org", "PyTorchJob"): "kubeflow.org_pytorchjobs.yaml",
}
#: The newest Kubernetes minor version the validator ships schemas for is used when none is configured.
DEFAULT_CLUSTER_VERSION = "1.33"


def cluster_version() -> str:
    from medgrpo.launch.k8s_settings import K8sSettings

    return K8sSettings.from_env().cluster_version or DEFAULT_CLUSTER_VERSION


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
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    """The strict ``openAPIV3Schema`` of a vendored CRD version; skips (saying why) when it is absent."""
    name = CRD_FILES.get((group, kind))
    path = CRD_DIR / name if name else None
    if path is None or not path.is_file():
        pytest.skip(f"Kubeflow CRD for {kind} not found at {path or CRD_DIR}: cannot validate {kind} manifests here")
    crd = yaml.safe_load(path.read_text())
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema = copy.deepcopy(entry["schema"]["openAPIV3Schema"])
            # metadata is validated by the API server itself (ObjectMeta), not by the CRD schema
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            return _strict(schema)
    raise AssertionError(f"{path} has no version {version}; it has {[v['name'] for v in crd['spec']['versions']]}")


def validate(obj: dict[str, Any], version: str | None = None) -> None:
    """Raise with the failing path when ``obj`` does not validate (built-in kinds or vendored CRDs)."""
    import jsonschema

    group, _, api_version = obj["apiVersion"].rpartition("/")
    if (group, obj["kind"]) in CRD_FILES:
        schema = crd_schema(group, obj["kind"], api_version)
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
        if errors:
            lines = [f"{'.'.join(str(p) for p in e.path)}: {e.message[:300]}" for e in errors[:10]]
            raise AssertionError(f"{obj['kind']} {obj['metadata']['name']} breaks its CRD schema:\n" + "\n".join(lines))
        return
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, version or cluster_version(), strict=True)
    except kubernetes_validate.ValidationError as err:
        path = ".".join(str(p) for p in err.path)
        raise AssertionError(
            f"{obj['kind']} {obj['metadata']['name']} invalid for Kubernetes {err.version} at {path}: {err.message}"
        ) from None
