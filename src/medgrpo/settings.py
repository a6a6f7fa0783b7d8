"""Platform settings read from ``MEDGRPO_*`` environment variables (one settings object)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    """Everything the platform reads from its environment, resolved once.

    Attributes are plain values so a ``Settings`` can be logged (it holds no secrets:
    credentials stay in the environment and are read by boto3 / MLflow themselves).
    """

    model_name: str = "medgrpo-qwen2.5"
    tracking_uri: str = ""
    state_dir: Path = field(default_factory=lambda: Path(".state").resolve())
    s3_endpoint_url: str = ""
    image: str = "medgrpo-train:dev"
    git_sha: str = "unknown"
    #: Use the public development key for record ids when MEDGRPO_ID_SECRET is unset (demo/tests only).
    allow_dev_id_key: bool = False
    #: Protected location (folder or s3:// prefix) of source-id maps; empty = <state_dir>/id-maps.
    id_map_root: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        """Read settings from the environment (``MEDGRPO_*``, ``MLFLOW_TRACKING_URI``, ``AWS_ENDPOINT_URL``)."""
        return cls(
            model_name=_env("MEDGRPO_MODEL_NAME", "medgrpo-qwen2.5"),
            tracking_uri=_env("MLFLOW_TRACKING_URI", ""),
            state_dir=Path(_env("MEDGRPO_STATE_DIR", ".state")).resolve(),
            s3_endpoint_url=_env("MEDGRPO_S3_ENDPOINT_URL", os.environ.get("AWS_ENDPOINT_URL", "")),
            image=_env("MEDGRPO_IMAGE", "medgrpo-train:dev"),
            git_sha=_env("MEDGRPO_GIT_SHA", _git_sha()),
            allow_dev_id_key=_env("MEDGRPO_ALLOW_DEV_ID_KEY", "false").lower() in {"1", "true", "yes", "on"},
            id_map_root=_env("MEDGRPO_ID_MAP_ROOT", ""),
        )


def _git_sha() -> str:
    """The checkout's HEAD commit, read from ``.git`` without running git; ``unknown`` elsewhere."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        head = parent / ".git" / "HEAD"
        if head.is_file():
            ref = head.read_text().strip()
            if ref.startswith("ref: "):
                ref_file = parent / ".git" / ref[5:]
                if ref_file.is_file():
                    return ref_file.read_text().strip()
                packed = parent / ".git" / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref[5:]):
                            return line.split()[0]
                return "unknown"
            return ref
    return "unknown"


def get_settings() -> Settings:
    """Settings for this process, read from the environment at call time."""
    return Settings.from_env()
