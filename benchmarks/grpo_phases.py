"""Per-phase timing of a GRPOTrainer run and the per-arm summary (medians, spreads, limits).

:class:`PhaseTimer` wraps one trainer instance's phase methods (TRL 1.16 names) and a callback
opens and closes a :class:`StepRecord` per optimizer step, CUDA-synchronised at every boundary:

- generation: ``_generate_single_turn`` (the engine call; vLLM's weight sync included);
- scoring: ``_get_per_token_logps_and_entropies`` called without grad (old-policy / reference
  log-probs; the training forward calls it with grad and belongs to training);
- rewards: ``_calculate_rewards``;
- rollout: ``_prepare_inputs`` (all of the above plus tokenising, decoding and advantages);
- training: the optimizer step's wall time minus the rollout (forward, backward, optimizer).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpo_limits


@dataclass
class StepRecord:
    """What one optimizer step did and how long each phase took (seconds)."""

    step_s: float = 0.0
    generation_s: float = 0.0
    scoring_s: float = 0.0
    rewards_s: float = 0.0
    rollout_s: float = 0.0
    prompt_lengths: list[int] = field(default_factory=list)
    completion_lengths: list[int] = field(default_factory=list)
    padded_tokens: int = 0
    real_tokens: int = 0

    @property
    def training_s(self) -> float:
        return max(self.step_s - self.rollout_s, 0.0)

    @property
    def rollout_other_s(self) -> float:
        return max(self.rollout_s - self.generation_s - self.scoring_s - self.rewards_s, 0.0)

    @property
    def tokens(self) -> int:
        return sum(self.prompt_lengths) + sum(self.completion_lengths)


class PhaseTimer:
    """Wraps one GRPOTrainer's phase methods and times them per optimizer step (CUDA-synchronised)."""

    def __init__(self, trainer: Any) -> None:
        import torch

        self._torch = torch
        self.steps: list[StepRecord] = []
        self._current = StepRecord()
        self._step_started = 0.0
        self._in_rollout = False
        self._wrap(trainer, "_generate_single_turn", self._on_generate)
        self._wrap(trainer, "_get_per_token_logps_and_entropies", self._on_logps)
        self._wrap(trainer, "_calculate_rewards", self._timed("rewards_s"))
        self._wrap(trainer, "_prepare_inputs", self._on_prepare_inputs)
        self._wrap(trainer, "_generate_and_score_completions", self._on_generate_and_score)

    def _sync(self) -> None:
        if self._torch.cuda.is_available():
            self._torch.cuda.synchronize()

    @staticmethod
    def _wrap(trainer: Any, name: str, around: Callable[..., Any]) -> None:
        original = getattr(trainer, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return around(original, *args, **kwargs)

        setattr(trainer, name, wrapper)

    def _timed(self, attribute: str) -> Callable[..., Any]:
        def around(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            self._sync()
            started = time.perf_counter()
            result = original(*args, **kwargs)
            self._sync()
            setattr(self._current, attribute, getattr(self._current, attribute) + time.perf_counter() - started)
            return result

        return around

    def _on_generate(self, original: Callable[..., Any], prompt_ids: Any, *args: Any, **kwargs: Any) -> Any:
        self._sync()
        started = time.perf_counter()
        completion_ids, logprobs = original(prompt_ids, *args, **kwargs)
        self._sync()
        self._current.generation_s += time.perf_counter() - started
        self._current.prompt_lengths.extend(len(ids) for ids in prompt_ids)
        self._current.completion_lengths.extend(len(ids) for ids in completion_ids)
        return completion_ids, logprobs

    def _on_logps(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._torch.is_grad_enabled():  # the training forward (inside compute_loss): part of training
            return original(*args, **kwargs)
        return self._timed("scoring_s")(original, *args, **kwargs)

    def _on_prepare_inputs(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._timed("rollout_s")(original, *args, **kwargs)

    def _on_generate_and_score(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        batch = original(*args, **kwargs)
        masks = [batch.get("prompt_mask"), batch.get("completion_mask")]
        for mask in masks:
            if mask is not None:
                self._current.padded_tokens += int(mask.numel())
                self._current.real_tokens += int(mask.sum().item())
        return batch

    def callback(self) -> Any:
        """A TrainerCallback that opens and closes each optimizer step's record."""
        from transformers import TrainerCallback

        timer = self

        class _StepCallback(TrainerCallback):
            def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                timer._sync()
                timer._current = StepRecord()
                timer._step_started = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                timer._sync()
                timer._current.step_s = time.perf_counter() - timer._step_started
                timer.steps.append(timer._current)

        return _StepCallback()


def spread(values: Sequence[float]) -> dict[str, float] | None:
    """Median, quartiles, min and max (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) >= 2:
        p25, _, p75 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        p25 = p75 = ordered[0]
    return {
        "median": statistics.median(ordered),
        "p25": p25,
        "p75": p75,
        "min": ordered[0],
        "max": ordered[-1],
    }


def summarise_steps(
    steps: Sequence[StepRecord],
    *,
    shape: grpo_limits.Shape,
    peak: grpo_limits.GpuPeak | None,
    no_peak_reason: str,
    lora: bool,
) -> dict[str, Any]:
    """Per-arm figures from its measured steps (medians; spreads beside them)."""
    completion_lengths = [n for s in steps for n in s.completion_lengths]
    per_step_completions = [len(s.completion_lengths) for s in steps]
    result: dict[str, Any] = {
        "completions_per_step_measured": per_step_completions[0] if len(set(per_step_completions)) == 1 else None,
        "mean_completion_length": statistics.fmean(completion_lengths) if completion_lengths else None,
        "measured_max_completion_length": max(completion_lengths) if completion_lengths else None,
        "measured_min_completion_length": min(completion_lengths) if completion_lengths else None,
        "steps": len(steps),
        "tokens_per_step": statistics.fmean([s.tokens for s in steps]) if steps else None,
        "padding_fraction": (
            1.0 - sum(s.real_tokens for s in steps) / sum(s.padded_tokens for s in steps)
            if steps and sum(s.padded_tokens for s in steps)
            else None
        ),
    }
    tokens_per_s = [s.tokens / s.step_s for s in steps if s.step_s > 0]
    gen_tokens_per_s = [sum(s.completion_lengths) / s.generation_s for s in steps if s.generation_s > 0]
    result["tokens_per_s"] = statistics.median(tokens_per_s) if tokens_per_s else None
    result["tokens_per_s_spread"] = spread(tokens_per_s)
    result["generation_tokens_per_s"] = statistics.median(gen_tokens_per_s) if gen_tokens_per_s else None
    result["phases_s"] = {
        "step": spread([s.step_s for s in steps]),
        "generation": spread([s.generation_s for s in steps]),
        "scoring": spread([s.scoring_s for s in steps]),
        "rewards": spread([s.rewards_s for s in steps]),
        "rollout_other": spread([s.rollout_other_s for s in steps]),
        "training": spread([s.training_s for s in steps]),
    }
    if peak is None:
        result["gen_roofline_fraction"] = None
        result["gen_roofline_fraction_reason"] = no_peak_reason
        result["train_mfu"] = None
        result["train_mfu_reason"] = no_peak_reason
        return result
    roofline = [
        grpo_limits.generation_roofline_seconds(shape, s.prompt_lengths, s.completion_lengths, peak) / s.generation_s
        for s in steps
        if s.generation_s > 0
    ]
    mfu = [
        grpo_limits.training_flops(shape, s.prompt_lengths, s.completion_lengths, lora=lora)
        / (s.training_s * peak.bf16_dense_tflops * 1e12)
        for s in steps
        if s.training_s > 0
    ]
    scoring_mfu = [
        grpo_limits.forward_flops(shape, s.prompt_lengths, s.completion_lengths)
        / (s.scoring_s * peak.bf16_dense_tflops * 1e12)
        for s in steps
        if s.scoring_s > 0
    ]
    result["gen_roofline_fraction"] = statistics.median(roofline) if roofline else None
    result["gen_roofline_fraction_spread"] = spread(roofline)
    result["train_mfu"] = statistics.median(mfu) if mfu else None
    result["train_mfu_spread"] = spread(mfu)
    result["scoring_mfu"] = statistics.median(scoring_mfu) if scoring_mfu else None
    result["train_model_tflop_per_step"] = (
        statistics.fmean(
            grpo_limits.training_flops(shape, s.prompt_lengths, s.completion_lengths, lora=lora) for s in steps
        )
        / 1e12
    )
    return result
