"""Training launchers: one :class:`TrainingJob` spec, several backends behind one registry.

A backend is a class satisfying :class:`~medgrpo.launch.base.Launcher`, registered here by name
and the import path of its class (imported only when used, so listing the backends — the DAG
form does — stays cheap). :data:`BACKENDS` is the one list of names the CLI, the DAG form and the
docs use.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from medgrpo.launch.base import JobHandle, JobStatus, Launcher, LaunchError, run_job
from medgrpo.launch.spec import TrainingJob, TrainingResult

#: name → "module:Class"; add a backend by writing its module and one line here.
REGISTRY: dict[str, str] = {
    "local": "medgrpo.launch.local:LocalLauncher",
    "kubernetes": "medgrpo.launch.kubernetes_pod:KubernetesLauncher",
    "kubeflow": "medgrpo.launch.kubeflow_job:KubeflowLauncher",
}

BACKENDS: tuple[str, ...] = tuple(REGISTRY)
#: Backends whose jobs run in a cluster (they need s3:// inputs and outputs).
CLUSTER_BACKENDS: tuple[str, ...] = ("kubernetes", "kubeflow")


DEFAULT_BACKEND_SETTING = "MEDGRPO_DEFAULT_BACKEND"


def default_backend() -> str:
    """The backend scheduled runs use (``MEDGRPO_DEFAULT_BACKEND``, default ``local``).

    A cron or Asset-triggered ``grpo_training`` run takes the form's defaults, so a cluster
    deployment sets this to ``kubernetes`` or ``kubeflow``. Reads the environment only (it is
    called while the DAG file is parsed); an unknown name fails naming the setting.
    """
    value = os.environ.get(DEFAULT_BACKEND_SETTING, "").strip() or "local"
    if value not in REGISTRY:
        raise ValueError(f"{DEFAULT_BACKEND_SETTING} must be one of {list(BACKENDS)}, found {value!r}")
    return value


def launcher_class(backend: str) -> type:
    """The launcher class registered as ``backend``; fails naming the known backends on an unknown name."""
    try:
        target = REGISTRY[backend]
    except KeyError:
        raise ValueError(f"unknown launch backend {backend!r}; expected one of {list(BACKENDS)}") from None
    module, _, attr = target.partition(":")
    cls: type = getattr(importlib.import_module(module), attr)
    return cls


def get_launcher(backend: str, **kwargs: Any) -> Any:
    """An instance of the launcher for ``backend``."""
    return launcher_class(backend)(**kwargs)


__all__ = [
    "BACKENDS",
    "CLUSTER_BACKENDS",
    "REGISTRY",
    "JobHandle",
    "JobStatus",
    "LaunchError",
    "Launcher",
    "TrainingJob",
    "TrainingResult",
    "default_backend",
    "get_launcher",
    "launcher_class",
    "run_job",
]
