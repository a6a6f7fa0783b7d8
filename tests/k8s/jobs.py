"""Training jobs and small helpers shared by the Kubernetes tests."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TINY_RECIPE = ROOT / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
SERVER_RECIPE = ROOT / "training_image" / "recipes" / "Qwen2.5-7B-Instruct" / "grpo" / "config_full.yaml"
NAMESPACE = "medgrpo-training"


def make_job(bucket: str = "medgrpo-test", attempt: int = 1, run: str | None = None, **kw: Any) -> Any:
    """A cluster-ready TrainingJob (s3:// locations) on the tiny recipe."""
    from medgrpo.launch.spec import TrainingJob

    run = run or f"run-{uuid.uuid4().hex[:8]}"
    base: dict[str, object] = {
        "recipe": str(TINY_RECIPE),
        "dataset_uri": f"s3://{bucket}/datasets/medgrpo-default",
        "output_uri": f"s3://{bucket}/runs/{run}",
        "checkpoint_store": f"s3://{bucket}/checkpoints/{run}",
        "run_name": run,
        "attempt": attempt,
    }
    base.update(kw)
    return TrainingJob(**base)  # type: ignore[arg-type]


def container_arg(pod: dict, flag: str) -> str:
    """The value after ``flag`` in the pod's first container args."""
    args = pod["spec"]["containers"][0]["args"]
    return str(args[args.index(flag) + 1])
