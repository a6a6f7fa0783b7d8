"""Schema validation for the tests, through :mod:`medgrpo.launch.validate`.

Built-in kinds: ``kubernetes-validate`` for the configured cluster version
(``MEDGRPO_K8S_CLUSTER_VERSION``; empty: the newest it knows). TrainJob / PyTorchJob: the CRD's
``openAPIV3Schema`` read at test time from the vendored Kubeflow CRDs (never copied into the
repository); when that folder or file is absent the test is skipped and says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from medgrpo.launch.validate import ManifestInvalid, SchemaUnavailable, validate_manifest

CRD_DIR = Path(os.environ.get("MEDGRPO_KUBEFLOW_CRDS", "/work/shared/vendor/kubeflow-crds"))


def validate(obj: dict[str, Any], version: str | None = None) -> str:
    """Raise AssertionError naming the failing path when ``obj`` does not validate."""
    from medgrpo.launch.k8s_settings import K8sSettings

    wanted = version or K8sSettings.from_env().cluster_version
    try:
        return validate_manifest(obj, version=wanted, crd_dir=CRD_DIR if CRD_DIR.is_dir() else None)
    except SchemaUnavailable as err:
        pytest.skip(f"cannot validate {obj['kind']} here: {err} (the Kubeflow CRDs are read from {CRD_DIR})")
    except ManifestInvalid as err:
        raise AssertionError(str(err)) from None
