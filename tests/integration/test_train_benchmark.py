"""``benchmarks/grpo_gpu.py --smoke`` runs on CPU and prints both sides of the comparison.

The GPU figures themselves come from running the script on a GPU machine; this keeps the
script working (its recipe loading, model building, timing and table) where no GPU exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmark_smoke_runs_both_configurations(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "grpo_gpu.py"), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tokens/s ratio" in done.stdout
    figures = json.loads(out.read_text())
    assert [r["run"] for r in figures["results"]] == ["trl-defaults", "medgrpo"]
    for result in figures["results"]:
        assert result["steps"] == 2
        assert result["step_time_s"] > 0 and result["tokens_per_s"] > 0
    assert figures["results"][1]["completions_per_step"] == 16  # the recipe's geometry, shrunk for smoke
