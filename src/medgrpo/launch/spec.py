"""The backend-independent description of one training job and its outcome."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainingJob:
    """Everything a backend needs to run ``medgrpo train`` once.

    ``output_uri`` is the run's working folder and ``checkpoint_store`` (default: a folder inside
    it) where checkpoints are uploaded; a retried job resumes from the newest stored checkpoint,
    so both must be the same across retries (they are derived from the DAG run, not the try).
    ``attempt`` is the try number (Airflow's ``try_number``): cluster backends put it in the
    job's name and labels, so a retry can find, re-attach to or clean up an earlier try's job.
    """

    recipe: str
    dataset_uri: str
    output_uri: str
    run_name: str
    tags: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    image: str = "medgrpo-train:dev"
    register: bool = True
    checkpoint_store: str | None = None
    attempt: int = 1

    def __post_init__(self) -> None:
        for name in ("recipe", "dataset_uri", "output_uri", "run_name"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"TrainingJob.{name} must be non-empty, found {getattr(self, name)!r}")
        for key in list(self.tags) + list(self.overrides):
            if not re.fullmatch(r"[A-Za-z0-9_.\-]+", key):
                raise ValueError(f"tag/override keys must match [A-Za-z0-9_.-]+, found {key!r}")
        if int(self.attempt) < 1:
            raise ValueError(f"TrainingJob.attempt must be >= 1, found {self.attempt}")

    def run_key(self) -> str:
        """A label-safe key for the run, the same for every try: readable prefix + hash of the output URI."""
        digest = hashlib.sha256(self.output_uri.encode()).hexdigest()[:10]
        return f"{safe_name(self.run_name, max_len=52)}-{digest}"

    def train_args(self, *, recipe: str | None = None, output_dir: str | None = None) -> list[str]:
        """The ``medgrpo train`` arguments (the container entrypoint's argv after ``medgrpo train``).

        Cluster backends pass the recipe's path inside the image and a local scratch
        ``output_dir`` (``medgrpo train`` works in a local folder; the result is published to
        ``output_uri`` by :mod:`medgrpo.launch.entrypoint`).
        """
        args = [
            "--recipe",
            recipe or self.recipe,
            "--dataset",
            self.dataset_uri,
            "--output-dir",
            output_dir or self.output_uri,
            "--run-name",
            self.run_name,
        ]
        if self.model:
            args += ["--model", self.model]
        if self.checkpoint_store:
            args += ["--checkpoint-store", self.checkpoint_store]
        for key, value in sorted(self.tags.items()):
            args += ["--tag", f"{key}={value}"]
        for key, value in sorted(self.overrides.items()):
            args += ["--set", f"{key}={value}"]
        if not self.register:
            args.append("--no-register")
        return args


@dataclass(frozen=True)
class TrainingResult:
    """What ``medgrpo train`` reported in ``result.json``."""

    run_id: str
    model_name: str | None
    model_version: str | None
    model_uri: str | None
    metrics: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingResult:
        missing = [k for k in ("run_id",) if not data.get(k)]
        if missing:
            raise ValueError(f"result.json must contain {missing}, found keys {sorted(data)}")
        return cls(
            run_id=str(data["run_id"]),
            model_name=data.get("model_name"),
            model_version=None if data.get("model_version") is None else str(data["model_version"]),
            model_uri=data.get("model_uri"),
            metrics=dict(data.get("metrics") or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_uri": self.model_uri,
            "metrics": self.metrics,
        }


def safe_name(text: str, max_len: int = 63) -> str:
    """A DNS-1123-style name (lower-case alphanumerics and '-') derived from ``text``."""
    out = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (out[:max_len].rstrip("-")) or "job"
