"""Platform settings read from ``MEDGRPO_*`` environment variables (one settings object)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


#: The work-root settings: one root, and the three folders under it that can be overridden.
WORK_URI_ENV = "MEDGRPO_WORK_URI"
DATA_ROOT_ENV = "MEDGRPO_DATA_ROOT"
RUNS_ROOT_ENV = "MEDGRPO_RUNS_ROOT"
CHECKPOINT_ROOT_ENV = "MEDGRPO_CHECKPOINT_ROOT"


def _location(name: str, value: str) -> str:
    """A storage location from a setting: an ``s3://`` prefix as given, a local folder made absolute.

    Absolute, because each Airflow task may start in another working directory. Any other URI
    scheme is refused (the storage layer reads local paths and S3 only).
    """
    if value.startswith("s3://"):
        if not value[len("s3://") :].split("/", 1)[0]:
            raise ValueError(f"{name}: expected s3://<bucket>/<prefix>, found {value!r} (no bucket)")
        return value.rstrip("/")
    if "://" in value:
        raise ValueError(f"{name}: expected a local folder or an s3:// prefix, found {value!r}")
    return str(Path(value).expanduser().resolve())


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
    #: Protected location (folder or s3:// prefix) of source-id maps; empty = <work_uri>/id-maps.
    id_map_root: str = ""
    #: The work root (local folder or s3:// prefix): ingest staging, datasets, runs, checkpoints, id maps.
    #: Empty = ``state_dir``. With a remote executor (Celery, Kubernetes) it must be shared: s3://.
    work_uri: str = ""
    #: Where datasets are published (``MEDGRPO_DATA_ROOT``); empty = ``<work_uri>/datasets``.
    data_root: str = ""
    #: Where each training run gets its output folder (``MEDGRPO_RUNS_ROOT``); empty = ``<work_uri>/runs``.
    runs_root: str = ""
    #: Where training runs store checkpoints (``MEDGRPO_CHECKPOINT_ROOT``, ``<root>/<run>``); empty = inside each
    #: run's folder, ``<runs_root>/<run>/checkpoints``.
    checkpoint_root: str = ""

    def __post_init__(self) -> None:
        """Resolve the work root and the folders under it (one place for their defaults)."""
        from medgrpo import storage

        work = _location(WORK_URI_ENV, self.work_uri or str(self.state_dir))
        object.__setattr__(self, "work_uri", work)
        for attr, env, folder in (("data_root", DATA_ROOT_ENV, "datasets"), ("runs_root", RUNS_ROOT_ENV, "runs")):
            given = getattr(self, attr)
            object.__setattr__(self, attr, _location(env, given) if given else storage.join(work, folder))
        if self.checkpoint_root:  # empty stays empty: checkpoints then live in each run's folder
            object.__setattr__(self, "checkpoint_root", _location(CHECKPOINT_ROOT_ENV, self.checkpoint_root))

    def local_locations(self) -> dict[str, str]:
        """The work-root locations that are local folders, by setting name (all must be s3:// when
        tasks run on different machines). The id-map root counts when it is set or defaults under the work root."""
        from medgrpo import storage

        named = {
            WORK_URI_ENV: self.work_uri,
            DATA_ROOT_ENV: self.data_root,
            RUNS_ROOT_ENV: self.runs_root,
            CHECKPOINT_ROOT_ENV: self.checkpoint_root,  # empty: inside the runs root, reported above
            "MEDGRPO_ID_MAP_ROOT": self.id_map_root or storage.join(self.work_uri, "id-maps"),
        }
        return {name: value for name, value in named.items() if value and not storage.is_s3(value)}

    @classmethod
    def from_env(cls) -> Settings:
        """Read settings from the environment (``MEDGRPO_*``, ``MLFLOW_TRACKING_URI``, ``AWS_ENDPOINT_URL``).

        Raises ValueError naming the variable when a location is neither a local folder nor ``s3://``.
        """
        return cls(
            model_name=_env("MEDGRPO_MODEL_NAME", "medgrpo-qwen2.5"),
            tracking_uri=_env("MLFLOW_TRACKING_URI", ""),
            state_dir=Path(_env("MEDGRPO_STATE_DIR", ".state")).resolve(),
            s3_endpoint_url=_env("MEDGRPO_S3_ENDPOINT_URL", os.environ.get("AWS_ENDPOINT_URL", "")),
            image=_env("MEDGRPO_IMAGE", "medgrpo-train:dev"),
            git_sha=_env("MEDGRPO_GIT_SHA", _git_sha()),
            allow_dev_id_key=_env("MEDGRPO_ALLOW_DEV_ID_KEY", "false").lower() in {"1", "true", "yes", "on"},
            id_map_root=_env("MEDGRPO_ID_MAP_ROOT", ""),
            work_uri=_env(WORK_URI_ENV, ""),
            data_root=_env(DATA_ROOT_ENV, ""),
            runs_root=_env(RUNS_ROOT_ENV, ""),
            checkpoint_root=_env(CHECKPOINT_ROOT_ENV, ""),
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
