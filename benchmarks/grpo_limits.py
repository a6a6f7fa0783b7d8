"""Physical limits for the GRPO benchmark: GPU peak figures, model FLOPs and the decode roofline.

Pure arithmetic (no torch), so it is unit-tested on any machine and the figures it produces can be
re-derived by hand.

Peaks (:data:`GPU_PEAKS`) are NVIDIA datasheet figures: dense BF16 tensor-core throughput (half
the "with sparsity" number the datasheets headline) and HBM bandwidth. Measured matmul peaks are
lower (an H200 here ran an 8192^3 bf16 product at ~790 TFLOP/s against the 989 datasheet figure),
so a fraction of the datasheet peak is a conservative figure, which is the usual MFU convention.

Model FLOPs (MFU, not hardware FLOPs): a matmul of an ``m x k`` by ``k x n`` costs ``2mkn``;
training costs 3x the forward (forward + backward for activations + backward for weights), LoRA
2x (the frozen base gets no weight gradients; the adapters' own FLOPs are negligible);
recomputation under gradient checkpointing is not counted (it is overhead, not model work). Causal
attention is counted over the positions each token attends to (``t`` for the t-th token), padding
is not counted. TRL 1.16 scores only completion positions through its fused LM head, so the LM
head counts for completion tokens in scoring/training and for every generated token in decoding.

Decode roofline: each decoding step must at least read every weight once (bf16, 2 bytes) plus
every sequence's KV cache so far (bf16); the step cannot beat ``max(bytes / bandwidth,
FLOPs / peak)``. Prefill is bounded the same way. The roofline time of a generation is the sum
over its steps; a measured generation's fraction of the roofline is ``roofline_s / measured_s``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BYTES_BF16 = 2


@dataclass(frozen=True)
class GpuPeak:
    """Datasheet peaks of one GPU model."""

    name: str
    bf16_dense_tflops: float
    hbm_tbps: float
    source: str


#: Matched in order against ``torch.cuda.get_device_name()`` (lower-cased); the first match wins,
#: so more specific patterns come first ("h100 nvl" before "h100", "l40s" before "l4").
GPU_PEAKS: tuple[tuple[str, GpuPeak], ...] = (
    (r"\bb200\b", GpuPeak("B200", 2250.0, 8.0, "NVIDIA HGX B200 datasheet: 4.5 PFLOPS bf16 sparse, 8 TB/s")),
    (r"\bh200 nvl\b", GpuPeak("H200 NVL", 835.0, 4.8, "NVIDIA H200 datasheet (NVL): 1,671 TFLOPS sparse, 4.8 TB/s")),
    (r"\bh200\b", GpuPeak("H200 SXM", 989.5, 4.8, "NVIDIA H200 datasheet (SXM): 1,979 TFLOPS sparse, 4.8 TB/s")),
    (r"\bh100 nvl\b", GpuPeak("H100 NVL", 835.0, 3.9, "NVIDIA H100 datasheet (NVL): 1,671 TFLOPS sparse, 3.9 TB/s")),
    (r"\bh100\b.*\bpcie\b", GpuPeak("H100 PCIe", 756.5, 2.0, "NVIDIA H100 datasheet (PCIe): 1,513 sparse, 2 TB/s")),
    (r"\bh100\b", GpuPeak("H100 SXM", 989.5, 3.35, "NVIDIA H100 datasheet (SXM): 1,979 TFLOPS sparse, 3.35 TB/s")),
    (r"\ba100\b.*80\s?gb.*pcie", GpuPeak("A100 80GB PCIe", 312.0, 1.935, "NVIDIA A100 datasheet: 1,935 GB/s")),
    (r"\ba100\b.*80\s?gb", GpuPeak("A100 80GB SXM", 312.0, 2.039, "NVIDIA A100 datasheet: 2,039 GB/s")),
    (r"\ba100\b", GpuPeak("A100 40GB", 312.0, 1.555, "NVIDIA A100 datasheet: 312 TFLOPS dense, 1,555 GB/s")),
    (r"\bl40s\b", GpuPeak("L40S", 362.05, 0.864, "NVIDIA L40S datasheet: 733 TFLOPS sparse, 864 GB/s")),
    (r"\bl40\b", GpuPeak("L40", 181.05, 0.864, "NVIDIA L40 datasheet: 362 TFLOPS sparse, 864 GB/s")),
    (r"\bl4\b", GpuPeak("L4", 121.0, 0.300, "NVIDIA L4 datasheet: 242 TFLOPS sparse, 300 GB/s")),
    (r"\ba10\b", GpuPeak("A10", 125.0, 0.600, "NVIDIA A10 datasheet: 250 TFLOPS sparse, 600 GB/s")),
)


def detect_gpu_peak(device_name: str) -> GpuPeak | None:
    """The datasheet peaks for a ``torch.cuda.get_device_name()`` string, or None when unknown."""
    lowered = device_name.lower().replace("-", " ")
    for pattern, peak in GPU_PEAKS:
        if re.search(pattern, lowered):
            return peak
    return None


@dataclass(frozen=True)
class Shape:
    """The dimensions of a Qwen2-architecture decoder that FLOPs and bytes depend on."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied_embeddings: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> Shape:
        """From a ``Qwen2Config``-style mapping (``hidden_size``, ``num_hidden_layers``, ...)."""

        def value(key: str) -> int:
            found = config.get(key)
            if not isinstance(found, int):
                raise ValueError(f"model config needs an integer {key!r}, found {found!r}")
            return found

        return cls(
            hidden=value("hidden_size"),
            intermediate=value("intermediate_size"),
            layers=value("num_hidden_layers"),
            heads=value("num_attention_heads"),
            kv_heads=value("num_key_value_heads"),
            vocab=value("vocab_size"),
            tied_embeddings=bool(config.get("tie_word_embeddings", True)),
        )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def layer_matmul_params(self) -> int:
        """Weights multiplied per token in one decoder layer (q, k, v, o, gate, up, down)."""
        h = self.hidden
        return h * h + 2 * h * self.kv_dim + h * h + 3 * h * self.intermediate

    def layer_params(self) -> int:
        """All weights of one layer: the matmuls, the q/k/v biases (Qwen2 has them) and two RMSNorms."""
        return self.layer_matmul_params() + (self.hidden + 2 * self.kv_dim) + 2 * self.hidden

    def parameters(self) -> int:
        """Total parameter count (embedding once when tied with the LM head)."""
        embedding = self.vocab * self.hidden
        head = 0 if self.tied_embeddings else embedding
        return self.layers * self.layer_params() + self.hidden + embedding + head

    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes one token adds (K and V, every layer, bf16)."""
        return 2 * self.layers * self.kv_dim * BYTES_BF16


def forward_flops(shape: Shape, prompt_lengths: Sequence[int], completion_lengths: Sequence[int]) -> float:
    """Model FLOPs of one forward pass over every (prompt + completion) sequence, LM head on completions only."""
    if len(prompt_lengths) != len(completion_lengths):
        raise ValueError(f"{len(prompt_lengths)} prompt lengths but {len(completion_lengths)} completion lengths")
    total = 0.0
    per_token_linear = 2.0 * shape.layers * shape.layer_matmul_params()
    for prompt, completion in zip(prompt_lengths, completion_lengths, strict=True):
        tokens = prompt + completion
        attended = tokens * (tokens + 1) / 2  # causal: token t attends to t positions
        total += per_token_linear * tokens
        total += shape.layers * 4.0 * shape.heads * shape.head_dim * attended  # QK^T and AV
        total += 2.0 * shape.hidden * shape.vocab * completion  # fused LM head: completion positions only
    return total


def training_flops(
    shape: Shape, prompt_lengths: Sequence[int], completion_lengths: Sequence[int], *, lora: bool = False
) -> float:
    """Model FLOPs of one training pass (forward + backward) over the sequences; see the module notes."""
    return (2.0 if lora else 3.0) * forward_flops(shape, prompt_lengths, completion_lengths)


def generation_roofline_seconds(
    shape: Shape,
    prompt_lengths: Sequence[int],
    completion_lengths: Sequence[int],
    peak: GpuPeak,
) -> float:
    """Lower bound on the time to prefill the prompts and decode the completions as one batch.

    Decoding step ``s`` serves every sequence still running (completion longer than ``s``): it
    reads all weights once and each running sequence's KV cache (prompt + ``s`` tokens), and does
    ``2 x parameters`` FLOPs per running sequence. Prefill reads the weights once and does
    ``2 x parameters x prompt tokens`` FLOPs plus attention.
    """
    if not prompt_lengths:
        return 0.0
    bandwidth = peak.hbm_tbps * 1e12
    flops_per_s = peak.bf16_dense_tflops * 1e12
    weight_bytes = shape.parameters() * BYTES_BF16
    kv_token = shape.kv_bytes_per_token()
    per_token_flops = 2.0 * (shape.layers * shape.layer_matmul_params() + shape.hidden * shape.vocab)

    prefill_flops = sum(per_token_flops * p + shape.layers * 2.0 * shape.hidden * p * (p + 1) for p in prompt_lengths)
    prefill_bytes = weight_bytes + kv_token * sum(prompt_lengths)
    seconds = max(prefill_bytes / bandwidth, prefill_flops / flops_per_s)

    longest = max(completion_lengths)
    for step in range(longest):
        running = [p for p, c in zip(prompt_lengths, completion_lengths, strict=True) if c > step]
        context = sum(p + step for p in running)
        step_bytes = weight_bytes + kv_token * context
        step_flops = per_token_flops * len(running) + shape.layers * 4.0 * shape.hidden * context
        seconds += max(step_bytes / bandwidth, step_flops / flops_per_s)
    return seconds
