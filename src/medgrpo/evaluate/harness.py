"""Evaluation harness: greedy, batched generation on canonical records, scored per item.

Prompts are the same chat messages training uses (:func:`medgrpo.data.prompt.build_messages`),
rendered with the model's own chat template; answers are graded by the strict parser the training
rewards use (:func:`medgrpo.answers.grade_completion`), so "correct" means the same thing in both
places: a hedged, listed or negated answer, or a second answer block, is wrong.
torch and transformers are imported inside :func:`evaluate_model`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medgrpo.evaluate.metrics import Metrics, summarize

log = logging.getLogger(__name__)

_DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ItemResult:
    """One evaluated record: the completion, the extracted answer and whether it is correct."""

    id: str
    source: str
    answer_type: str
    answer: str
    completion: str
    predicted: str | None
    correct: bool
    format_ok: bool
    new_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvalResult:
    """A model's results on a list of records, in the records' order."""

    model: str
    items: tuple[ItemResult, ...]
    metrics: Metrics
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def correct_by_id(self) -> dict[str, bool]:
        return {it.id: it.correct for it in self.items}

    def as_dict(self, *, with_items: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "metrics": self.metrics.as_dict(),
            "config": dict(self.config),
            "seconds": round(self.seconds, 3),
        }
        if with_items:
            out["items"] = [it.as_dict() for it in self.items]
        return out


def score_completion(completion: str, record: Mapping[str, Any]) -> tuple[str | None, bool, bool]:
    """``(predicted, correct, format_ok)`` for one completion against its record.

    ``predicted`` is the single answer block's text (None without exactly one block outside
    ``<think>``); ``correct`` needs one answer of the record's type that matches (options and meta
    are read from the record); ``format_ok`` is the format reward's rule.
    """
    from medgrpo.answers import Question, grade_completion, is_well_formed

    grade = grade_completion(completion, Question.from_record(record))
    predicted = grade.parsed.raw if grade.parsed.raw else None
    return predicted, grade.correct, is_well_formed(completion)


def score_completions(
    records: Sequence[Mapping[str, Any]],
    completions: Sequence[str],
    *,
    new_tokens: Sequence[int] | None = None,
) -> list[ItemResult]:
    """Score completions (one per record, same order) into :class:`ItemResult` objects."""
    if len(records) != len(completions):
        raise ValueError(f"expected one completion per record: {len(records)} records, {len(completions)} completions")
    out = []
    for i, (record, text) in enumerate(zip(records, completions, strict=True)):
        predicted, correct, format_ok = score_completion(text, record)
        out.append(
            ItemResult(
                id=str(record.get("id", f"item-{i}")),
                source=str(record.get("source") or "unknown"),
                answer_type=str(record["answer_type"]),
                answer=str(record["answer"]),
                completion=text,
                predicted=predicted,
                correct=correct,
                format_ok=format_ok,
                new_tokens=int(new_tokens[i]) if new_tokens is not None else 0,
            )
        )
    return out


def _check_records(records: Sequence[Mapping[str, Any]]) -> None:
    if not records:
        raise ValueError("no records to evaluate: the eval split is empty")
    for i, record in enumerate(records):
        missing = [k for k in ("question", "answer", "answer_type") if k not in record]
        if missing:
            raise ValueError(f"record {i} (id={record.get('id')!r}) lacks field(s) {missing}")
    ids = [str(r.get("id", i)) for i, r in enumerate(records)]
    if len(set(ids)) != len(ids):
        raise ValueError("record ids must be unique to pair results across models; found duplicates")


def evaluate_model(
    model_dir: str | Path,
    records: Sequence[Mapping[str, Any]],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    seed: int = 0,
    device: str | None = None,
    dtype: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Greedy-decode an answer for every record with the model in ``model_dir`` and score it.

    Batches are formed from prompts sorted by length (less padding) and padded on the left;
    results come back in the order of ``records``. ``progress(done, total)`` is called per batch.
    ``device`` defaults to ``cuda`` when a GPU is visible, else ``cpu``; ``dtype`` (``float32``,
    ``bfloat16``, ``float16``) defaults to bfloat16 on a GPU and float32 on the CPU.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, found {max_new_tokens}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, found {batch_size}")
    _check_records(records)
    model_path = Path(model_dir)
    if not (model_path / "config.json").is_file():
        raise FileNotFoundError(f"expected a Hugging Face model folder with config.json, found none in {model_path}")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from medgrpo.data.prompt import build_messages

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:<n>', found {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    dtype = dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, found {dtype!r}")
    started = time.perf_counter()
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
    model.to(torch.device(device))  # type: ignore[arg-type]  # transformers types .to() as a wrapped method
    model.eval()
    gen_config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=model.generation_config.eos_token_id or tokenizer.eos_token_id,
    )

    prompts: list[str] = [
        str(tokenizer.apply_chat_template(build_messages(r), tokenize=False, add_generation_prompt=True))
        for r in records
    ]
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: (lengths[i], i))
    completions: list[str] = [""] * len(prompts)
    n_new: list[int] = [0] * len(prompts)
    eos_ids = gen_config.eos_token_id if isinstance(gen_config.eos_token_id, list) else [gen_config.eos_token_id]
    stop = {int(t) for t in eos_ids if t is not None} | {int(tokenizer.pad_token_id)}
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = enc.to(device)
            out = model.generate(**enc, generation_config=gen_config)
            new = out[:, enc["input_ids"].shape[1] :]
            for row, i in enumerate(idx):
                tokens = new[row].tolist()
                n_new[i] = next((k for k, t in enumerate(tokens) if t in stop), len(tokens))
                completions[i] = str(tokenizer.decode(tokens[: n_new[i]], skip_special_tokens=True))
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
    items = score_completions(records, completions, new_tokens=n_new)
    metrics = summarize([it.as_dict() for it in items])
    seconds = time.perf_counter() - started
    log.info(
        "evaluated model",
        extra={"model": str(model_path), "n_items": len(items), "accuracy": metrics.accuracy.value, "seconds": seconds},
    )
    return EvalResult(
        model=str(model_path),
        items=tuple(items),
        metrics=metrics,
        config={
            "max_new_tokens": max_new_tokens,
            "batch_size": batch_size,
            "seed": seed,
            "decoding": "greedy",
            "device": device,
            "dtype": dtype,
        },
        seconds=seconds,
    )
