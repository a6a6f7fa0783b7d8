"""benchmarks/grpo_gpu.py: every arm does the same work; the limits arithmetic is right.

Fast (no training): the arms' GRPOConfigs are built and their work keys compared, and the FLOPs,
parameter and roofline formulas are checked against hand-derived figures. The script itself runs
in tests/integration/test_train_benchmark.py (slow).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import grpo_gpu  # noqa: E402
import grpo_limits  # noqa: E402
from grpo_phases import spread  # noqa: E402


def _planned(arm: grpo_gpu.Arm, work: grpo_gpu.Work, *, cuda: bool, tmp_path: Path) -> dict[str, Any]:
    from trl import GRPOConfig

    kwargs = grpo_gpu.build_config_kwargs(arm, work, cuda=cuda, output_dir=str(tmp_path))
    if cuda:  # build the GPU config on this CPU machine: only the device flags change
        kwargs.update(use_cpu=True, bf16=False)
    return grpo_gpu.planned_work(GRPOConfig(**kwargs), work)


@pytest.mark.parametrize(
    ("work", "cuda"), [(grpo_gpu.SMOKE_WORK, False), (grpo_gpu.GPU_WORK, True)], ids=["cpu-smoke", "cuda-gpu"]
)
def test_every_arm_plans_the_same_work(work: grpo_gpu.Work, cuda: bool, tmp_path: Path) -> None:
    planned = {arm.name: _planned(arm, work, cuda=cuda, tmp_path=tmp_path) for arm in grpo_gpu.ARMS}
    baseline = planned[grpo_gpu.BASELINE]
    assert set(baseline) == set(grpo_gpu.WORK_KEYS)
    for name, keys in planned.items():
        assert keys == baseline, f"arm {name} plans different work: {keys} vs {baseline}"
    assert baseline["completions_per_step"] == work.completions_per_step
    assert baseline["min_completion_length"] == baseline["max_completion_length"] == work.max_completion_length
    assert baseline["steps"] >= 5


def test_arms_differ_from_the_baseline_only_in_their_settings(tmp_path: Path) -> None:
    base = grpo_gpu.build_config_kwargs(
        grpo_gpu.ARMS_BY_NAME["trl-defaults"], grpo_gpu.GPU_WORK, cuda=True, output_dir="x"
    )
    eager = grpo_gpu.build_config_kwargs(
        grpo_gpu.ARMS_BY_NAME["attn-eager"], grpo_gpu.GPU_WORK, cuda=True, output_dir="x"
    )
    diff = {k for k in set(base) | set(eager) if base.get(k) != eager.get(k)}
    assert diff == {"model_init_kwargs"}
    assert eager["model_init_kwargs"] == {"attn_implementation": "eager"}
    assert "model_init_kwargs" not in base  # TRL's default load: fp32 weights, sdpa
    assert "bf16" not in base  # TRL's default precision on a GPU (bf16 autocast)


def test_an_arm_may_not_change_the_work() -> None:
    with pytest.raises(ValueError, match="work fields"):
        grpo_gpu.Arm("bigger", "more completions", config={"per_device_train_batch_size": 64})


def test_lengths_are_forced_in_both_generation_engines() -> None:
    work = grpo_gpu.GPU_WORK
    assert grpo_gpu.generation_length_kwargs(work, use_vllm=False) == {"min_new_tokens": 256}
    vllm = grpo_gpu.generation_length_kwargs(work, use_vllm=True)
    assert vllm["min_tokens"] == 256 and vllm["ignore_eos"] is True
    kwargs = grpo_gpu.build_config_kwargs(grpo_gpu.ARMS_BY_NAME["gen-vllm-colocate"], work, cuda=True, output_dir="x")
    assert kwargs["generation_kwargs"]["min_tokens"] == 256 and kwargs["mask_truncated_completions"] is False


def test_recipe_arms_take_the_recipes_speed_settings() -> None:
    full = grpo_gpu.recipe_speed_settings(grpo_gpu.ARMS_BY_NAME["recipe-full"], "0.5b")
    assert full["use_vllm"] is True and full["vllm_mode"] == "colocate"
    assert full["model_init_kwargs"]["attn_implementation"] == "sdpa"
    assert not set(full) & grpo_gpu.WORK_FIELDS
    reason = grpo_gpu.arm_requirements(grpo_gpu.ARMS_BY_NAME["recipe-full"], cuda=False, model="0.5b")
    assert reason is not None and reason.startswith("needs CUDA")


def test_cuda_only_and_unsupported_arms_are_skipped_with_a_reason() -> None:
    for name in ("attn-flash2", "gen-vllm-colocate", "liger-kernels"):
        reason = grpo_gpu.arm_requirements(grpo_gpu.ARMS_BY_NAME[name], cuda=False, model="smoke")
        assert reason and reason.startswith("needs CUDA"), name
    assert "padding_free" in (grpo_gpu.arm_requirements(grpo_gpu.ARMS_BY_NAME["padding-free"], True, "0.5b") or "")
    assert grpo_gpu.arm_requirements(grpo_gpu.ARMS_BY_NAME["attn-eager"], cuda=False, model="smoke") is None


def _record(arm: str, **overrides: Any) -> dict[str, Any]:
    record = {
        "arm": arm,
        "status": "ok",
        "model": "0.5b",
        "completions_per_step": 64,
        "completions_per_step_measured": 64,
        "prompts_per_step": 8,
        "num_generations": 8,
        "max_completion_length": 256,
        "min_completion_length": 256,
        "mean_completion_length": 256.0,
        "steps": 5,
        "warmup_steps": 1,
        "tokens_per_s": 1000.0,
    }
    return {**record, **overrides}


def test_an_arm_whose_measured_work_differs_gets_no_ratio() -> None:
    records = [
        _record("trl-defaults"),
        _record("fast", tokens_per_s=2000.0),
        _record("short", tokens_per_s=4000.0, mean_completion_length=180.5),
    ]
    grpo_gpu.check_equal_work(records)
    assert records[0]["work_equal"] and records[0]["tokens_per_s_vs_baseline"] == 1.0
    assert records[1]["work_equal"] and records[1]["tokens_per_s_vs_baseline"] == 2.0
    assert not records[2]["work_equal"] and records[2]["tokens_per_s_vs_baseline"] is None
    assert any("length forcing" in p for p in records[2]["work_problems"])


def test_spread_reports_median_quartiles_and_range() -> None:
    assert spread([4.0, 1.0, 3.0, 2.0, 5.0]) == {"median": 3.0, "p25": 2.0, "p75": 4.0, "min": 1.0, "max": 5.0}
    assert spread([]) is None


# --- limits --------------------------------------------------------------------------------------
QWEN05 = grpo_limits.Shape.from_config(grpo_gpu.MODEL_SHAPES["0.5b"])
QWEN15 = grpo_limits.Shape.from_config(grpo_gpu.MODEL_SHAPES["1.5b"])


def test_parameter_counts_match_the_published_models() -> None:
    assert QWEN05.parameters() == 494_032_768  # Qwen2.5-0.5B: 0.49B
    assert QWEN15.parameters() == 1_543_714_304  # Qwen2.5-1.5B: 1.54B


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA H200 NVL", "H200 NVL"),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM"),
        ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA A10", "A10"),
        ("NVIDIA A10G", None),
        ("NVIDIA GH200 480GB", None),
    ],
)
def test_gpus_are_detected_by_name(name: str, expected: str | None) -> None:
    peak = grpo_limits.detect_gpu_peak(name)
    assert (peak.name if peak else None) == expected


def test_training_flops_are_three_forwards_and_lora_two() -> None:
    prompts, completions = [100, 120], [256, 256]
    forward = grpo_limits.forward_flops(QWEN05, prompts, completions)
    assert grpo_limits.training_flops(QWEN05, prompts, completions) == 3 * forward
    assert grpo_limits.training_flops(QWEN05, prompts, completions, lora=True) == 2 * forward
    # Dominant term by hand: 2 x non-embedding matmul weights x tokens, + LM head on completions.
    body = 2 * 24 * 14_909_440 * (356 + 376)
    head = 2 * 896 * 151_936 * 512
    attention = forward - body - head
    assert attention == 24 * 4 * 896 * (356 * 357 / 2 + 376 * 377 / 2)


def test_decode_roofline_is_weight_and_kv_reads_at_hbm_bandwidth() -> None:
    peak = grpo_limits.GpuPeak("test", bf16_dense_tflops=1e9, hbm_tbps=1.0, source="unit test")  # compute free
    prompts, completions = [10, 20], [3, 3]
    weights = QWEN05.parameters() * 2
    kv = QWEN05.kv_bytes_per_token()
    expected = weights + kv * 30  # prefill: weights once, writes the prompts' KV
    expected += sum(weights + kv * (10 + s + 20 + s) for s in range(3))
    assert grpo_limits.generation_roofline_seconds(QWEN05, prompts, completions, peak) == pytest.approx(expected / 1e12)
    assert kv == 2 * 24 * 2 * 64 * 2


def test_step_summary_reports_roofline_fraction_and_mfu_against_the_peak() -> None:
    from grpo_phases import StepRecord, summarise_steps

    peak = grpo_limits.detect_gpu_peak("NVIDIA H100 80GB HBM3")
    assert peak is not None
    prompts, completions = [150] * 64, [256] * 64
    steps = [
        StepRecord(step_s=10.0, generation_s=6.0, rollout_s=7.0, prompt_lengths=prompts, completion_lengths=completions)
        for _ in range(5)
    ]
    summary = summarise_steps(steps, shape=QWEN05, peak=peak, no_peak_reason="-", lora=False)
    roofline = grpo_limits.generation_roofline_seconds(QWEN05, prompts, completions, peak)
    assert summary["gen_roofline_fraction"] == pytest.approx(roofline / 6.0)
    flops = grpo_limits.training_flops(QWEN05, prompts, completions)
    assert summary["train_mfu"] == pytest.approx(flops / (3.0 * 989.5e12))  # training = step - rollout
    assert summary["tokens_per_s"] == pytest.approx(64 * (150 + 256) / 10.0)
    assert summary["mean_completion_length"] == 256 and summary["completions_per_step_measured"] == 64
    assert 0 < summary["gen_roofline_fraction"] < 1 and 0 < summary["train_mfu"] < 1

    no_peak = summarise_steps(steps, shape=QWEN05, peak=None, no_peak_reason="CPU run", lora=False)
    assert no_peak["train_mfu"] is None and no_peak["train_mfu_reason"] == "CPU run"
    assert no_peak["gen_roofline_fraction"] is None and no_peak["gen_roofline_fraction_reason"] == "CPU run"
