"""GPU check: a few GRPO steps of a Qwen2.5-0.5B-shaped model, medgrpo recipe vs TRL's plain defaults.

Nothing is downloaded: the model is a random-initialised ``Qwen2ForCausalLM`` with Qwen2.5-0.5B's
shapes (24 layers, hidden 896, 14/2 heads, 151,936-token embedding), the tokenizer is the project's
locally trained tiny one (ids it does not know decode to nothing), the prompts are generated
clinical-calculation problems. Two runs, one after the other, in the same process and GPU:

- ``trl-defaults``: ``GRPOConfig()`` as TRL ships it (only max_steps/logging/saving set);
- ``medgrpo``: ``training_image/recipes/Qwen2.5-0.5B-Instruct/grpo/config_full.yaml`` (vLLM turned off
  when vllm is not installed; then both runs generate with transformers).

For each: mean optimizer-step time, tokens/s (prompt + completion tokens processed, from TRL's
``num_tokens``), completions/s and peak GPU memory, over the steps after the first (warm-up).
Random weights rarely emit EOS, so completions run to ``max_completion_length``: throughput is
comparable, rewards are not (they are ~0 for both). Fits in 8 minutes on one H100 with defaults.

    python benchmarks/grpo_gpu.py                      # GPU
    python benchmarks/grpo_gpu.py --smoke              # CPU, tiny shapes: checks the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
RECIPE = ROOT / "training_image" / "recipes" / "Qwen2.5-0.5B-Instruct" / "grpo" / "config_full.yaml"

QWEN25_05B: dict[str, Any] = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "tie_word_embeddings": True,
    "rms_norm_eps": 1e-6,
}
SMOKE: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": True,
}


def bench_records(n: int) -> list[dict[str, Any]]:
    """Canonical anion-gap problems (built here: the GPU image lacks pydantic, which medgrpo.data needs)."""
    import random

    rng = random.Random(0)
    records = []
    for i in range(n):
        na, cl, hco3 = rng.randint(128, 150), rng.randint(90, 112), rng.randint(10, 30)
        question = (
            f"A {rng.randint(20, 85)}-year-old patient has sodium {na} mEq/L, chloride {cl} mEq/L and "
            f"bicarbonate {hco3} mEq/L. What is the anion gap (mEq/L)?"
        )
        records.append(
            {
                "id": f"bench-{i}",
                "question": question,
                "answer": str(na - cl - hco3),
                "answer_type": "numeric",
                "meta": {"tolerance": 0.01},
            }
        )
    return records


def build_model(tokenizer: Any, smoke: bool, device: str) -> Any:
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    shapes: dict[str, Any] = dict(SMOKE if smoke else QWEN25_05B)
    shapes.setdefault("vocab_size", len(tokenizer))
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    config = Qwen2Config(**shapes, pad_token_id=pad, eos_token_id=eos, bos_token_id=pad)
    torch.manual_seed(0)
    with torch.device(device):  # fp32 master weights, as TRL loads a model by default; bf16 autocast
        model: Any = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(pad_token_id=pad, eos_token_id=eos, bos_token_id=pad)
    return model


class StepTimer:
    """Wall time of each optimizer step (CUDA-synchronised), as a TrainerCallback."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        import torch
        from transformers import TrainerCallback

        class _Timer(TrainerCallback):
            def __init__(self) -> None:
                self.times: list[float] = []
                self._t0 = 0.0

            def _sync(self) -> None:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()

            def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                self._sync()
                self._t0 = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                self._sync()
                self.times.append(time.perf_counter() - self._t0)

        return _Timer()


def run_one(name: str, config: Any, tokenizer: Any, dataset: Any, smoke: bool, device: str) -> dict[str, Any]:
    """Train ``config.max_steps`` steps; figures over all steps but the first."""
    import torch
    from trl import GRPOTrainer

    from medgrpo.train.rewards import get_reward_funcs

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = build_model(tokenizer, smoke, device)
    timer = StepTimer()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=get_reward_funcs(  # type: ignore[arg-type]
            getattr(config, "reward_funcs", ["format", "accuracy"]), getattr(config, "reward_kwargs", None)
        ),
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[timer],
    )
    started = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - started
    logs = [e for e in trainer.state.log_history if "num_tokens" in e]
    measured = timer.times[1:] or timer.times
    if len(logs) >= 2:
        tokens = logs[-1]["num_tokens"] - logs[0]["num_tokens"]
        seconds = sum(timer.times[1 : len(logs)]) or sum(measured)
    else:
        tokens, seconds = logs[-1]["num_tokens"] if logs else 0, sum(timer.times)
    completions_per_step = config.per_device_train_batch_size * config.gradient_accumulation_steps
    step = sum(measured) / len(measured)
    result = {
        "run": name,
        "steps": len(timer.times),
        "step_time_s": round(step, 3),
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "completions_per_s": round(completions_per_step / step, 2),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
        "completions_per_step": completions_per_step,
        "max_completion_length": config.max_completion_length,
        "generation_batch_size": config.generation_batch_size,
        "gradient_checkpointing": config.gradient_checkpointing,
        "use_vllm": config.use_vllm,
        "wall_s": round(total, 1),
    }
    del trainer, model
    return result


def _in_memory_dataset(dataset_cls: Any, rows: list[dict[str, Any]]) -> Any:
    """``Dataset.from_list`` with a fixed fingerprint.

    On the GPU image (Python 3.12.3, pyarrow 25, dill 0.4.1) hashing a fresh dataset's state to
    fingerprint it fails with "Can't pickle <class 'MonthDayNano'>"; a given fingerprint skips
    that hash (later transforms fall back to random fingerprints by themselves).
    """
    import pyarrow as pa
    from datasets.table import InMemoryTable

    return dataset_cls(InMemoryTable(pa.Table.from_pylist(rows)), fingerprint="grpo-gpu-bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny shapes, 2 steps: checks the script runs")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per run (first is warm-up)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--only", choices=["trl-defaults", "medgrpo"], help="run only one side")
    args = parser.parse_args(argv)

    import importlib.util

    import torch
    from datasets import Dataset
    from trl import GRPOConfig

    from medgrpo.train.config import load_recipe
    from medgrpo.train.dataset import to_prompt_rows
    from medgrpo.train.tiny import build_tokenizer

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    device = "cpu" if args.smoke or not torch.cuda.is_available() else "cuda"
    if device == "cpu" and not args.smoke:
        print("no CUDA device: run with --smoke on CPU", file=sys.stderr)
        return 2
    steps = 2 if args.smoke else args.steps
    tokenizer = build_tokenizer(seed=0)
    rows = to_prompt_rows(bench_records(256))
    dataset = _in_memory_dataset(Dataset, rows)
    out = Path(tempfile.mkdtemp(prefix="grpo-bench-"))
    common: dict[str, Any] = {
        "max_steps": steps,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 0,
    }
    cpu: dict[str, Any] = {"use_cpu": True, "bf16": False} if args.smoke else {}

    configs: dict[str, Any] = {}
    if args.only in (None, "trl-defaults"):
        smoke_sizes: dict[str, Any] = {"max_completion_length": 16} if args.smoke else {}
        configs["trl-defaults"] = GRPOConfig(output_dir=str(out / "trl"), **common, **cpu, **smoke_sizes)
    if args.only in (None, "medgrpo"):
        has_vllm = importlib.util.find_spec("vllm") is not None
        overrides = [f"{k}={v}" for k, v in {**common, **cpu}.items()]
        overrides += ["log_completions=false", f"use_vllm={str(has_vllm).lower()}"]
        if args.smoke:
            overrides += ["max_completion_length=16", "per_device_train_batch_size=8", "gradient_accumulation_steps=2"]
        configs["medgrpo"] = load_recipe(RECIPE, overrides=overrides, explicit={"output_dir": str(out / "medgrpo")})
        if not has_vllm:
            print("vllm is not installed: the medgrpo run generates with transformers", file=sys.stderr)

    results = [run_one(name, cfg, tokenizer, dataset, args.smoke, device) for name, cfg in configs.items()]
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (smoke)"
    print(f"\nGRPO benchmark on {gpu}; model: {'tiny smoke shapes' if args.smoke else 'Qwen2.5-0.5B shapes'}")
    keys = ["step_time_s", "tokens_per_s", "completions_per_s", "peak_gpu_mem_gib", "completions_per_step"]
    keys += ["max_completion_length", "generation_batch_size", "gradient_checkpointing", "use_vllm", "wall_s"]
    print(f"{'metric':<24}" + "".join(f"{r['run']:>16}" for r in results))
    for key in keys:
        print(f"{key:<24}" + "".join(f"{r[key]!s:>16}" for r in results))
    if len(results) == 2 and results[0]["tokens_per_s"] and results[1]["tokens_per_s"]:
        ratio = results[1]["tokens_per_s"] / results[0]["tokens_per_s"]
        print(f"{'tokens/s ratio':<24}{'medgrpo / trl-defaults = ' + format(ratio, '.2f'):>32}")
    if args.json:
        args.json.write_text(json.dumps({"device": gpu, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
