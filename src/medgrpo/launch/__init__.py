"""Training launchers: one :class:`TrainingJob` spec, several backends (local, kubernetes, kubeflow)."""

from __future__ import annotations

from typing import Any

from medgrpo.launch.spec import TrainingJob, TrainingResult

BACKENDS = ("local",)


def get_launcher(backend: str, **kwargs: Any) -> Any:
    """The launcher for ``backend``; fails naming the known backends on an unknown name."""
    if backend == "local":
        from medgrpo.launch.local import LocalLauncher

        return LocalLauncher(**kwargs)
    raise ValueError(f"unknown launch backend {backend!r}; expected one of {list(BACKENDS)}")


__all__ = ["BACKENDS", "TrainingJob", "TrainingResult", "get_launcher"]
