"""GRPO training throughput at equal work, per phase, against the GPU's physical limits.

Every arm trains the same random-initialised Qwen2.5-shaped model (nothing is downloaded; the
tokenizer is the project's locally trained one, ids it does not know decode to nothing) on the
same generated clinical-calculation prompts, with TRL 1.16's ``GRPOTrainer``. The work per step is
fixed by :class:`Work` and is identical in every arm: model shape, prompts per step, completions
per prompt, micro-batch and accumulation, optimizer steps, and completion length. Random weights
rarely emit EOS but trained ones do, so lengths are forced, not left to chance: generation is
asked for at least ``max_completion_length`` tokens (``min_new_tokens`` in transformers,
``min_tokens`` + ``ignore_eos`` in vLLM), ``mask_truncated_completions`` is off (every completion
is "truncated" here and would otherwise drop out of the loss), and after the run each arm's
measured work (completions per step, mean and max completion length) is compared with the
baseline's; an arm whose work differs is flagged and gets no ratio.

Arms differ from the baseline (``trl-defaults``: ``GRPOConfig()`` as TRL ships it, at the same
work) in exactly the settings they name (see :data:`ARMS`). Each arm runs in its own process
(kernel patches such as Liger's and torch.compile caches do not leak into the next arm). Per
optimizer step the arm records, CUDA-synchronised: generation (``_generate_single_turn``, vLLM
weight sync included), scoring (no-grad log-prob passes: old policy / reference), rewards, the
rest of the rollout (tokenising, decoding, advantages), and training (forward + backward +
optimizer: the step minus the rollout). Figures are medians over the measured steps (after the
warm-up) with the inter-quartile range and min/max. Generation is reported as a fraction of the
decode roofline and training as MFU against the GPU's dense bf16 peak (``grpo_limits``, which
names the datasheet figures used).

    python benchmarks/grpo_gpu.py --json out.json                 # GPU, Qwen2.5-0.5B shapes, every arm
    python benchmarks/grpo_gpu.py --model 1.5b --arms trl-defaults,no-grad-ckpt,liger-kernels
    python benchmarks/grpo_gpu.py --smoke --json out.json         # CPU, tiny shapes: keeps the script working

See benchmarks/README.md for the GPU command and how to read the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
for _path in (str(ROOT / "src"), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import grpo_limits  # noqa: E402  (benchmarks/ is not a package)
from grpo_phases import PhaseTimer, summarise_steps  # noqa: E402

RECIPES = ROOT / "training_image" / "recipes"

# ---------------------------------------------------------------------------------------------
# Model shapes and the work every arm does
# ---------------------------------------------------------------------------------------------
#: Qwen2.5 shapes from the models' config.json (tied embeddings, 151,936-token vocabulary).
MODEL_SHAPES: dict[str, dict[str, Any]] = {
    "0.5b": {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": True,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
    },
    "1.5b": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": True,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
    },
    # CPU smoke: the tiny model's shapes; the vocabulary is the local tokenizer's (set at build time).
    "smoke": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
    },
}
#: The recipe whose speed settings the ``recipe-*`` arms take, per model shape.
RECIPE_DIRS = {"0.5b": "Qwen2.5-0.5B-Instruct", "1.5b": "Qwen2.5-1.5B-Instruct", "smoke": "Qwen2.5-0.5B-Instruct"}


@dataclass(frozen=True)
class Work:
    """What every arm does per optimizer step (identical across arms by construction)."""

    model: str
    prompts_per_step: int
    num_generations: int
    micro_batch: int
    max_completion_length: int
    warmup_steps: int
    measured_steps: int

    @property
    def completions_per_step(self) -> int:
        return self.prompts_per_step * self.num_generations

    @property
    def gradient_accumulation_steps(self) -> int:
        if self.completions_per_step % self.micro_batch:
            raise ValueError(
                f"completions per step ({self.completions_per_step}) must be a multiple of the micro-batch "
                f"({self.micro_batch})"
            )
        return self.completions_per_step // self.micro_batch

    @property
    def total_steps(self) -> int:
        return self.warmup_steps + self.measured_steps


#: GPU default: 8 prompts x 8 completions (the recipes' group size and prompts per step), 16 per
#: micro-batch x 4 accumulation; 256-token completions keep one arm to well under a minute on an
#: H100/H200 with transformers generation (the recipes allow 1,024: pass --completion-length 1024
#: for the long-completion regime).
GPU_WORK = Work("0.5b", 8, 8, 16, 256, warmup_steps=1, measured_steps=5)
#: CPU smoke: tiny shapes, 2 prompts x 4 completions, 16 tokens: seconds per arm.
SMOKE_WORK = Work("smoke", 2, 4, 4, 16, warmup_steps=1, measured_steps=5)

#: GRPOConfig fields the work fixes; an arm may not set them.
WORK_FIELDS = frozenset(
    {
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "num_generations",
        "generation_batch_size",
        "steps_per_generation",
        "num_iterations",
        "max_completion_length",
        "max_steps",
        "mask_truncated_completions",
        "generation_kwargs",
        "learning_rate",
        "beta",
        "loss_type",
        "seed",
        "temperature",
    }
)
#: The keys of an arm's record that describe its work; equal across arms (checked, and unit-tested).
WORK_KEYS = (
    "model",
    "completions_per_step",
    "prompts_per_step",
    "num_generations",
    "max_completion_length",
    "min_completion_length",
    "steps",
    "warmup_steps",
)


# ---------------------------------------------------------------------------------------------
# Arms: the settings under test
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arm:
    """One configuration under test: GRPOConfig fields and model-load options on top of TRL's defaults."""

    name: str
    what: str
    config: Mapping[str, Any] = field(default_factory=dict)
    model_init: Mapping[str, Any] = field(default_factory=dict)
    lora: bool = False
    needs_cuda: str | None = None  # why the arm needs CUDA (None: runs on CPU too)
    needs_modules: tuple[str, ...] = ()
    unsupported: str | None = None  # the setting does not exist in this stack: always skipped, with this reason
    recipe: str | None = None  # take the speed settings of this recipe file (under the model's recipe dir)

    def __post_init__(self) -> None:
        overlap = WORK_FIELDS & set(self.config)
        if overlap:
            raise ValueError(f"arm {self.name!r} sets work fields {sorted(overlap)}: arms may differ only in speed")


#: LoRA as the recipes use it: rank 32 on every linear layer of attention and MLP.
LORA_RANK, LORA_ALPHA, LORA_DROPOUT = 32, 64, 0.05
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

ARMS: tuple[Arm, ...] = (
    Arm("trl-defaults", "GRPOConfig() defaults: sdpa, fp32 weights + bf16 autocast, grad checkpointing, HF generate"),
    Arm("attn-eager", "attention: eager (vs sdpa)", model_init={"attn_implementation": "eager"}),
    Arm(
        "attn-flash2",
        "attention: flash_attention_2 (unpads the batch)",
        model_init={"attn_implementation": "flash_attention_2"},
        needs_cuda="flash-attn kernels are CUDA-only",
        needs_modules=("flash_attn",),
    ),
    Arm(
        "no-grad-ckpt",
        "gradient checkpointing off (no recompute, more activation memory)",
        config={"gradient_checkpointing": False},
    ),
    Arm("gen-static-cache", "generation: static KV cache (transformers)", config={"cache_implementation": "static"}),
    Arm(
        "gen-continuous-batching",
        "generation: transformers continuous batching (paged KV cache; with bf16 on, TRL casts the policy to bf16 "
        "for it, so training then runs on bf16 weights too)",
        config={"use_transformers_continuous_batching": True},
    ),
    Arm(
        "gen-vllm-colocate",
        "generation: vLLM in the training process (30% of GPU memory)",
        config={"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3},
        needs_cuda="vLLM's engine needs a GPU here",
        needs_modules=("vllm",),
    ),
    Arm(
        "bf16-weights",
        "bf16 weights (pure-bf16 AdamW: numerics differ, not a drop-in for full FT at lr 1e-6)",
        model_init={"dtype": "bfloat16"},
    ),
    Arm(
        "liger-kernels",
        "Liger fused RMSNorm/RoPE/SwiGLU kernels (TRL keeps its own chunked LM-head log-probs)",
        config={"use_liger_kernel": True},
        needs_cuda="Liger's kernels are Triton GPU kernels",
        needs_modules=("liger_kernel", "triton"),
    ),
    Arm("torch-compile", "torch.compile of the training forward/backward (inductor)", config={"torch_compile": True}),
    Arm("lora", "LoRA r=32 on all linear layers, frozen base (bf16 base on GPU)", lora=True),
    Arm(
        "padding-free",
        "padding-free packing of the scoring/training batch",
        unsupported="TRL 1.16's GRPOConfig has no padding_free/packing option; the baseline's padding_fraction "
        "shows what it could save (completions are equal-length here, only prompts are padded)",
    ),
    Arm("recipe-full", "the model's medgrpo recipe (config_full.yaml) speed settings", recipe="config_full.yaml"),
    Arm(
        "recipe-lora",
        "the model's medgrpo recipe (config_lora.yaml) speed settings",
        recipe="config_lora.yaml",
        lora=True,
    ),
)
ARMS_BY_NAME = {arm.name: arm for arm in ARMS}
BASELINE = "trl-defaults"

#: Recipe fields that are speed settings (what a ``recipe-*`` arm takes from the recipe).
RECIPE_SPEED_FIELDS = (
    "model_init_kwargs",
    "gradient_checkpointing",
    "gradient_checkpointing_kwargs",
    "use_vllm",
    "vllm_mode",
    "vllm_gpu_memory_utilization",
    "vllm_enable_sleep_mode",
    "use_liger_kernel",
    "torch_compile",
    "cache_implementation",
    "use_transformers_continuous_batching",
)


def recipe_speed_settings(arm: Arm, model: str) -> dict[str, Any]:
    """The speed fields of the arm's recipe (only those it sets), read with the recipe loader's coercion."""
    if arm.recipe is None:
        return {}
    from medgrpo.train.config import recipe_values

    path = RECIPES / RECIPE_DIRS[model] / "grpo" / arm.recipe
    values = recipe_values(path)
    return {key: values[key] for key in RECIPE_SPEED_FIELDS if key in values}


def arm_requirements(arm: Arm, cuda: bool, model: str) -> str | None:
    """Why the arm cannot run here (None when it can)."""
    if arm.unsupported:
        return arm.unsupported
    needs_cuda, modules = arm.needs_cuda, list(arm.needs_modules)
    if arm.recipe and recipe_speed_settings(arm, model).get("use_vllm"):
        needs_cuda, modules = needs_cuda or "the recipe generates with vLLM, which needs a GPU here", [*modules, "vllm"]
    if needs_cuda and not cuda:
        return f"needs CUDA: {needs_cuda}"
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        return f"not importable here: {', '.join(missing)}"
    return None


def arm_settings(arm: Arm, work: Work, *, cuda: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(GRPOConfig kwargs for the arm's settings, model_init_kwargs) on top of TRL's defaults."""
    config: dict[str, Any] = dict(arm.config)
    model_init: dict[str, Any] = dict(arm.model_init)
    if arm.recipe:
        settings = recipe_speed_settings(arm, work.model)
        model_init = {**dict(settings.pop("model_init_kwargs", None) or {}), **model_init}
        config.update(settings)
    if arm.lora and cuda:
        model_init.setdefault("dtype", "bfloat16")  # frozen bf16 base, as the LoRA recipes load it
    # CPU: fp32 everywhere (bf16 matmuls are slow and unrepresentative on CPU), except the arm about dtype.
    if not cuda and model_init.get("dtype") == "bfloat16" and arm.name != "bf16-weights":
        model_init.pop("dtype")
    return config, model_init


def generation_length_kwargs(work: Work, use_vllm: bool) -> dict[str, Any]:
    """Force every completion to exactly ``max_completion_length`` tokens in either generation engine."""
    if use_vllm:  # vLLM SamplingParams; detokenize off: the random model samples ids the tokenizer lacks
        return {"min_tokens": work.max_completion_length, "ignore_eos": True, "detokenize": False}
    return {"min_new_tokens": work.max_completion_length}


#: Upper bound on a benchmark prompt's length in tokens (they are ~150 with the local tokenizer).
PROMPT_TOKEN_BOUND = 512
#: transformers' continuous-batching page size (its default), to size its KV cache.
CB_PAGE_TOKENS = 256


def continuous_batching_cache(work: Work) -> dict[str, Any]:
    """A paged KV cache that holds the whole step's sequences at once.

    Left to itself, transformers sizes the cache from a fraction of free memory, which on a CPU
    means allocating (and zeroing) gigabytes on every generate call (~50 s here); sizing it to
    the work, as vLLM's ``max_num_seqs`` is, is part of using the engine.
    """
    pages_per_sequence = -(-(PROMPT_TOKEN_BOUND + work.max_completion_length) // CB_PAGE_TOKENS)
    return {"num_blocks": work.completions_per_step * pages_per_sequence}


def build_config_kwargs(arm: Arm, work: Work, *, cuda: bool, output_dir: str) -> dict[str, Any]:
    """All GRPOConfig keyword arguments of one arm: the work, bookkeeping, device, then the arm's settings."""
    settings, model_init = arm_settings(arm, work, cuda=cuda)
    kwargs: dict[str, Any] = {
        "output_dir": output_dir,
        # The work (identical in every arm).
        "per_device_train_batch_size": work.micro_batch,
        "gradient_accumulation_steps": work.gradient_accumulation_steps,
        "num_generations": work.num_generations,
        "max_completion_length": work.max_completion_length,
        "max_steps": work.total_steps,
        "mask_truncated_completions": False,
        "generation_kwargs": generation_length_kwargs(work, bool(settings.get("use_vllm"))),
        "learning_rate": 1e-6,
        "beta": 0.0,
        "loss_type": "dapo",
        "temperature": 1.0,
        "seed": 0,
        # Bookkeeping (identical, and cheap).
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "log_completions": False,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    if not cuda:
        kwargs.update(use_cpu=True, bf16=False)
    kwargs.update(settings)
    if kwargs.get("use_transformers_continuous_batching") and not kwargs.get("transformers_continuous_batching_config"):
        kwargs["transformers_continuous_batching_config"] = continuous_batching_cache(work)
    if model_init:
        kwargs["model_init_kwargs"] = model_init
    return kwargs


def planned_work(config: Any, work: Work) -> dict[str, Any]:
    """The work keys as a built GRPOConfig will do them (what the unit test compares across arms)."""
    completions = config.per_device_train_batch_size * config.gradient_accumulation_steps * config.world_size
    forced = dict(config.generation_kwargs or {})
    return {
        "model": work.model,
        "completions_per_step": completions,
        "prompts_per_step": completions // config.num_generations,
        "num_generations": config.num_generations,
        "max_completion_length": config.max_completion_length,
        "min_completion_length": forced.get("min_new_tokens", forced.get("min_tokens")),
        "steps": config.max_steps - work.warmup_steps,
        "warmup_steps": work.warmup_steps,
    }


# ---------------------------------------------------------------------------------------------
# Model, tokenizer and prompts (shared by every arm, built once by the parent)
# ---------------------------------------------------------------------------------------------
def bench_records(n: int) -> list[dict[str, Any]]:
    """Canonical anion-gap problems, built here so the benchmark needs no dataset."""
    import random

    rng = random.Random(0)
    records = []
    for i in range(n):
        na, cl, hco3 = rng.randint(128, 150), rng.randint(90, 112), rng.randint(10, 30)
        question = (
            f"A {rng.randint(20, 85)}-year-old patient has sodium {na} mEq/L, chloride {cl} mEq/L and "
            f"bicarbonate {hco3} mEq/L. What is the anion gap (mEq/L)?"
        )
        answer = str(na - cl - hco3)
        records.append(
            {"id": f"bench-{i}", "question": question, "answer": answer, "answer_type": "numeric", "meta": {}}
        )
    return records


def build_model_dir(work: Work, out: Path) -> Path:
    """Save a seeded random Qwen2 of the work's shape + the local tokenizer to ``out`` (bf16 on disk)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from medgrpo.train.tiny import build_tokenizer

    tokenizer: Any = build_tokenizer(seed=0)
    shapes = dict(MODEL_SHAPES[work.model])
    shapes.setdefault("vocab_size", len(tokenizer))
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    config = Qwen2Config(**shapes, pad_token_id=pad, eos_token_id=eos, bos_token_id=pad)
    config.architectures = ["Qwen2ForCausalLM"]
    torch.manual_seed(0)
    dtype = torch.float32 if work.model == "smoke" else torch.bfloat16  # TRL loads fp32 either way
    model: Any = Qwen2ForCausalLM._from_config(config, dtype=dtype)
    model.generation_config = GenerationConfig(pad_token_id=pad, eos_token_id=eos, bos_token_id=pad)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _in_memory_dataset(rows: list[dict[str, Any]]) -> Any:
    """``Dataset`` with a fixed fingerprint.

    On the GPU image (Python 3.12.3, pyarrow 25, dill 0.4.1) hashing a fresh dataset's state to
    fingerprint it fails with "Can't pickle <class 'MonthDayNano'>"; a given fingerprint skips
    that hash (later transforms fall back to random fingerprints by themselves).
    """
    import pyarrow as pa
    from datasets import Dataset
    from datasets.table import InMemoryTable

    return Dataset(InMemoryTable(pa.Table.from_pylist(rows)), fingerprint="grpo-gpu-bench")


# ---------------------------------------------------------------------------------------------
# One arm, in its own process
# ---------------------------------------------------------------------------------------------
def run_arm(arm: Arm, work: Work, model_dir: Path, peak_override: grpo_limits.GpuPeak | None) -> dict[str, Any]:
    """Train the arm for ``work.total_steps`` steps and return its record (the worker process's job)."""
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from medgrpo.train.dataset import to_prompt_rows
    from medgrpo.train.rewards import get_reward_funcs

    cuda = torch.cuda.is_available()
    output_dir = tempfile.mkdtemp(prefix=f"grpo-bench-{arm.name}-")
    kwargs = build_config_kwargs(arm, work, cuda=cuda, output_dir=output_dir)
    config = GRPOConfig(**kwargs)
    planned = planned_work(config, work)
    peft_config = None
    if arm.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=LORA_RANK,
            lora_alpha=LORA_ALPHA,
            lora_dropout=LORA_DROPOUT,
            target_modules=LORA_TARGETS,
            task_type="CAUSAL_LM",
        )
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    dataset = _in_memory_dataset(to_prompt_rows(bench_records(max(64, work.prompts_per_step * work.total_steps))))
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = GRPOTrainer(
        model=str(model_dir),
        # The 0.5B recipe's rewards (same for every arm; cheap string functions).
        reward_funcs=get_reward_funcs(["format", "accuracy", "repetition"]),  # type: ignore[arg-type]
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    timer = PhaseTimer(trainer)
    trainer.add_callback(timer.callback())
    started = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - started

    shape = grpo_limits.Shape.from_config(json.loads((model_dir / "config.json").read_text()))
    device_name = torch.cuda.get_device_name(0) if cuda else "cpu"
    peak = peak_override or (grpo_limits.detect_gpu_peak(device_name) if cuda else None)
    if cuda and peak is None:
        reason = f"no datasheet peak known for {device_name!r}: pass --peak-tflops and --peak-tbps"
    else:
        reason = "CPU run: roofline and MFU are defined against a GPU's datasheet peaks"
    measured = timer.steps[work.warmup_steps :]
    record: dict[str, Any] = {
        **planned,
        **summarise_steps(measured, shape=shape, peak=peak, no_peak_reason=reason, lora=arm.lora),
        "warmup_steps": work.warmup_steps,
        "wall_s": wall,
        "device": device_name,
        "peak": dataclasses.asdict(peak) if peak else None,
        "settings": {k: v for k, v in kwargs.items() if k not in WORK_FIELDS and k != "output_dir"},
    }
    record["steps"] = len(measured)  # measured optimizer steps (after the warm-up)
    if cuda:
        record["peak_memory_gib"] = torch.cuda.max_memory_reserved() / 2**30
    else:
        record["peak_memory_gib"] = None
        record["peak_memory_gib_reason"] = "CPU run: the figure is GPU memory (torch.cuda.max_memory_reserved)"
    return record


# ---------------------------------------------------------------------------------------------
# The parent: run every arm, check equal work, print the table
# ---------------------------------------------------------------------------------------------
def skipped_record(arm: Arm, work: Work, reason: str, status: str = "skipped") -> dict[str, Any]:
    """A record for an arm that did not run (every figure null, with the reason)."""
    return {
        "arm": arm.name,
        "what": arm.what,
        "status": status,
        "reason": reason,
        "model": work.model,
        "completions_per_step": None,
        "max_completion_length": None,
        "mean_completion_length": None,
        "steps": None,
        "tokens_per_s": None,
        "gen_roofline_fraction": None,
        "train_mfu": None,
        "peak_memory_gib": None,
    }


def check_equal_work(records: Sequence[dict[str, Any]]) -> None:
    """Flag (in place) every arm whose planned or measured work differs from the baseline's."""
    done = [r for r in records if r["status"] == "ok"]
    reference = next((r for r in done if r["arm"] == BASELINE), done[0] if done else None)
    if reference is None:
        return
    for record in done:
        problems = [
            f"{key}: {record.get(key)!r} vs {reference.get(key)!r}"
            for key in (*WORK_KEYS, "completions_per_step_measured", "mean_completion_length")
            if record.get(key) != reference.get(key)
        ]
        if record.get("mean_completion_length") != record.get("max_completion_length"):
            problems.append(
                f"completions were not all {record.get('max_completion_length')} tokens "
                f"(mean {record.get('mean_completion_length')}): the length forcing did not hold"
            )
        record["work_equal"] = not problems
        if problems:
            record["work_problems"] = problems
    base = reference.get("tokens_per_s")
    for record in done:
        ok = record.get("work_equal") and base and record.get("tokens_per_s")
        record["tokens_per_s_vs_baseline"] = record["tokens_per_s"] / base if ok else None


def _fmt(value: Any, pattern: str = "{:.3g}") -> str:
    return "-" if value is None else pattern.format(value)


def format_table(records: Sequence[dict[str, Any]], header: str) -> str:
    """The human table: per arm, throughput with its spread, phases, fractions of the limits, memory."""
    lines = [header]
    columns = (
        f"{'arm':<24}{'status':<8}{'tok/s':>10}{'IQR':>15}{'x base':>8}{'gen s':>8}{'score s':>8}"
        f"{'train s':>8}{'gen roof':>9}{'MFU':>7}{'GiB':>7}"
    )
    lines += [columns, "-" * len(columns)]
    for r in records:
        if r["status"] != "ok":
            lines.append(f"{r['arm']:<24}{r['status']:<8}  {r['reason']}")
            continue
        iqr = r.get("tokens_per_s_spread") or {}
        med = {key: (value or {}).get("median") for key, value in r["phases_s"].items()}
        lines.append(
            f"{r['arm']:<24}{'ok':<8}{_fmt(r['tokens_per_s'], '{:.1f}'):>10}"
            f"{_fmt(iqr.get('p25'), '{:.1f}') + '-' + _fmt(iqr.get('p75'), '{:.1f}'):>15}"
            f"{_fmt(r.get('tokens_per_s_vs_baseline'), '{:.2f}'):>8}"
            f"{_fmt(med['generation'], '{:.3f}'):>8}{_fmt(med['scoring'], '{:.3f}'):>8}"
            f"{_fmt(med['training'], '{:.3f}'):>8}"
            f"{_fmt(r.get('gen_roofline_fraction'), '{:.1%}'):>9}{_fmt(r.get('train_mfu'), '{:.1%}'):>7}"
            f"{_fmt(r.get('peak_memory_gib'), '{:.1f}'):>7}"
        )
        if not r.get("work_equal", True):
            lines.append(f"{'':<24}work differs from the baseline: {'; '.join(r['work_problems'])}")
    return "\n".join(lines)


def _cuda_here() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def run_all(
    arms: Sequence[Arm],
    work: Work,
    *,
    json_path: Path | None,
    timeout_s: float,
    peak_args: list[str],
    logs: Path | None = None,
) -> list[dict[str, Any]]:
    """Build the shared model once, run each arm in a worker process, write JSON after every arm."""
    cuda = _cuda_here()
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="grpo-bench-model-") as tmp:
        model_dir = build_model_dir(work, Path(tmp) / "model")
        for arm in arms:
            reason = arm_requirements(arm, cuda, work.model)
            if reason:
                records.append(skipped_record(arm, work, reason))
                print(f"[{arm.name}] skipped: {reason}", file=sys.stderr, flush=True)
            else:
                records.append(_run_worker(arm, work, model_dir, timeout_s, peak_args, logs))
            check_equal_work(records)
            if json_path:
                _write_json(json_path, work, records)
    return records


def _run_worker(
    arm: Arm, work: Work, model_dir: Path, timeout_s: float, peak_args: list[str], logs: Path | None
) -> dict[str, Any]:
    print(f"[{arm.name}] running: {arm.what}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="grpo-bench-result-") as tmp:
        result = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            arm.name,
            "--work",
            json.dumps(dataclasses.asdict(work)),
            "--model-dir",
            str(model_dir),
            "--result",
            str(result),
            *peak_args,
        ]
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        log = Path(tmp) / "worker.log" if logs is None else logs / f"{arm.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            try:
                done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s, env=env)
            except subprocess.TimeoutExpired:
                return skipped_record(arm, work, f"timed out after {timeout_s:.0f} s", status="failed")
        if done.returncode != 0 or not result.is_file():
            tail = log.read_text(errors="replace")[-1500:].strip()
            return skipped_record(arm, work, f"exit {done.returncode}: {tail}", status="failed")
        record = json.loads(result.read_text())
    record.update(arm=arm.name, what=arm.what, status="ok", reason=None)
    return record


def _write_json(path: Path, work: Work, records: Sequence[dict[str, Any]]) -> None:
    payload = {"work": dataclasses.asdict(work), "baseline": BASELINE, "work_keys": list(WORK_KEYS), "arms": records}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)


def _peak_from_args(tflops: float | None, tbps: float | None) -> grpo_limits.GpuPeak | None:
    if tflops is None and tbps is None:
        return None
    if tflops is None or tbps is None:
        raise SystemExit("--peak-tflops and --peak-tbps go together")
    return grpo_limits.GpuPeak("given on the command line", tflops, tbps, "--peak-tflops/--peak-tbps")


def select_arms(names: str | None) -> list[Arm]:
    """The arms named (comma-separated) in their table order, or all; the baseline is always first."""
    if not names:
        return list(ARMS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in ARMS_BY_NAME]
    if unknown:
        raise SystemExit(f"unknown arm(s) {unknown}; known: {', '.join(ARMS_BY_NAME)}")
    return [arm for arm in ARMS if arm.name in wanted or arm.name == BASELINE]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny shapes: runs every CPU-capable arm")
    parser.add_argument("--model", choices=["0.5b", "1.5b"], default="0.5b", help="Qwen2.5 shapes (GPU runs)")
    parser.add_argument("--arms", help=f"comma-separated subset (baseline always runs): {', '.join(ARMS_BY_NAME)}")
    parser.add_argument("--steps", type=int, help="measured optimizer steps after the warm-up (default 5)")
    parser.add_argument("--warmup", type=int, help="warm-up optimizer steps, not measured (default 1)")
    parser.add_argument("--completion-length", type=int, help="forced completion length (GPU default 256)")
    parser.add_argument("--prompts", type=int, help="prompts per step (GPU default 8)")
    parser.add_argument("--micro-batch", type=int, help="completions per micro-batch (GPU default 16)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one arm may take")
    parser.add_argument("--peak-tflops", type=float, help="dense bf16 peak for an unlisted GPU")
    parser.add_argument("--peak-tbps", type=float, help="memory bandwidth (TB/s) for an unlisted GPU")
    parser.add_argument("--json", type=Path, help="write every arm's record to this file (after each arm)")
    parser.add_argument("--logs", type=Path, help="keep each arm's worker output as DIR/<arm>.log")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    peak = _peak_from_args(args.peak_tflops, args.peak_tbps)

    if args.worker:  # inside one arm's process
        work = Work(**json.loads(args.work))
        record = run_arm(ARMS_BY_NAME[args.worker], work, args.model_dir, peak)
        args.result.write_text(json.dumps(record, default=str))
        return 0

    cuda = _cuda_here()
    if not args.smoke and not cuda:
        print("no CUDA device: run with --smoke on CPU", file=sys.stderr)
        return 2
    base = SMOKE_WORK if args.smoke else dataclasses.replace(GPU_WORK, model=args.model)
    work = dataclasses.replace(
        base,
        measured_steps=args.steps or base.measured_steps,
        warmup_steps=base.warmup_steps if args.warmup is None else args.warmup,
        max_completion_length=args.completion_length or base.max_completion_length,
        prompts_per_step=args.prompts or base.prompts_per_step,
        micro_batch=args.micro_batch or base.micro_batch,
    )
    work.gradient_accumulation_steps  # noqa: B018  (validates the geometry before anything runs)
    peak_args = [] if peak is None else ["--peak-tflops", str(args.peak_tflops), "--peak-tbps", str(args.peak_tbps)]
    started = time.perf_counter()
    records = run_all(
        select_arms(args.arms), work, json_path=args.json, timeout_s=args.timeout, peak_args=peak_args, logs=args.logs
    )
    device = next((r["device"] for r in records if r.get("device")), "cpu" if args.smoke else "cuda")
    peak_used = next((r["peak"] for r in records if r.get("peak")), None)
    header = (
        f"GRPO benchmark on {device}; model {work.model}; {work.completions_per_step} completions/step "
        f"({work.prompts_per_step} prompts x {work.num_generations}) of exactly {work.max_completion_length} tokens, "
        f"micro-batch {work.micro_batch} x {work.gradient_accumulation_steps}; "
        f"{work.warmup_steps} warm-up + {work.measured_steps} measured steps; medians "
        f"(IQR over steps); {time.perf_counter() - started:.0f} s in all"
    )
    if peak_used:
        header += (
            f"\npeaks: {peak_used['name']}, {peak_used['bf16_dense_tflops']} TFLOP/s dense bf16, "
            f"{peak_used['hbm_tbps']} TB/s ({peak_used['source']})"
        )
    print(format_table(records, header))
    failed = [r["arm"] for r in records if r["status"] == "failed"]
    unequal = [r["arm"] for r in records if r["status"] == "ok" and not r.get("work_equal", False)]
    if failed:
        print(f"failed arms: {', '.join(failed)}", file=sys.stderr)
    if unequal:
        print(f"arms whose work differs from the baseline: {', '.join(unequal)}", file=sys.stderr)
    return 1 if failed or unequal else 0


if __name__ == "__main__":
    sys.exit(main())
