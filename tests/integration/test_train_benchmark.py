"""``benchmarks/grpo_gpu.py --smoke`` runs every CPU-capable arm at equal work and writes its JSON.

The GPU figures come from running the script on a GPU machine (benchmarks/README.md); this keeps
the script working where no GPU exists: arm configs, length forcing, per-phase timing, the
equal-work check and the table. CUDA-only arms must appear as skipped, with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = (
    "completions_per_step",
    "max_completion_length",
    "mean_completion_length",
    "steps",
    "tokens_per_s",
    "gen_roofline_fraction",
    "train_mfu",
    "peak_memory_gib",
)
WORK = ("model", "completions_per_step", "max_completion_length", "mean_completion_length", "steps")


@pytest.mark.slow
def test_smoke_runs_every_cpu_arm_at_equal_work(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "grpo_gpu.py"), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    arms = {a["arm"]: a for a in figures["arms"]}

    ran = {name for name, a in arms.items() if a["status"] == "ok"}
    assert {"trl-defaults", "attn-eager", "no-grad-ckpt", "gen-static-cache", "lora", "torch-compile"} <= ran
    for name in ("attn-flash2", "gen-vllm-colocate", "liger-kernels", "recipe-full"):
        assert arms[name]["status"] == "skipped" and arms[name]["reason"].startswith("needs CUDA"), arms[name]
    assert arms["padding-free"]["status"] == "skipped" and "padding_free" in arms["padding-free"]["reason"]

    baseline = arms["trl-defaults"]
    for name in ran:
        arm = arms[name]
        assert {key: arm[key] for key in WORK} == {key: baseline[key] for key in WORK}, name
        assert arm["mean_completion_length"] == arm["max_completion_length"] == 16  # forced, not by chance
        assert arm["completions_per_step"] == arm["completions_per_step_measured"] == 8
        assert arm["steps"] >= 5 and arm["work_equal"] is True
        assert arm["tokens_per_s"] > 0 and arm["tokens_per_s_vs_baseline"] > 0
        assert arm["phases_s"]["generation"]["median"] > 0 and arm["phases_s"]["training"]["median"] > 0
        for key in REQUIRED:
            assert key in arm, (name, key)
            if arm[key] is None:
                assert arm[f"{key}_reason"], (name, key)
    assert "trl-defaults" in done.stdout and "skipped" in done.stdout
