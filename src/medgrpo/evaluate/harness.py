"""Evaluation harness: batched generation on canonical records under given decoding settings, scored per item.

Prompts are the same chat messages training uses (:func:`medgrpo.data.prompt.build_messages`, with
the recipe's system prompt), rendered with the chat template the decoding settings name (default:
the model's own); decoding is greedy or sampled as :class:`~medgrpo.evaluate.decoding.DecodingSettings`
say (the candidate's recipe, see :mod:`medgrpo.evaluate.decoding`); answers are graded by the strict parser the training
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

from medgrpo.evaluate.decoding import DecodingSettings
from medgrpo.evaluate.metrics import Metrics, answer_status, summarize

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
    sample: int = 0  # which of the item's sampled completions (0 with greedy decoding)
    answer_status: str = ""  # the strict parser's status; anything but "ok" is an extraction failure

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
        """Item id -> majority outcome over its samples (the item's own outcome with one sample)."""
        return {score.id: score.correct for score in self.item_scores()}

    def item_scores(self) -> list[Any]:
        """Per-item outcomes (:class:`~medgrpo.evaluate.metrics.ItemScore`) in record order."""
        from medgrpo.evaluate.metrics import item_scores

        return item_scores([it.as_dict() for it in self.items])

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


def _check_model_config(path: Path) -> None:
    """ValueError (one line) unless ``config.json`` holds a JSON object: transformers fails on anything
    else with a TypeError or a RecursionError that names nothing."""
    import json

    try:
        config = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        raise ValueError(f"{path}: expected a JSON object (a model config), found text that does not parse") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a JSON object (a model config), found {type(config).__name__}")


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


def _device_and_dtype(device: str | None, dtype: str | None) -> tuple[str, str]:
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:<n>', found {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    dtype = dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, found {dtype!r}")
    return device, dtype


def read_chat_template(model_dir: str | Path) -> str | None:
    """The chat template saved with a model folder (``chat_template.jinja`` or ``tokenizer_config.json``)."""
    import json

    folder = Path(model_dir)
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        return template if isinstance(template, str) else None
    return None


def evaluate_model(
    model_dir: str | Path,
    records: Sequence[Mapping[str, Any]],
    *,
    decoding: DecodingSettings | None = None,
    max_new_tokens: int | None = None,
    batch_size: int = 16,
    seed: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Generate ``decoding.samples`` answers for every record with the model in ``model_dir`` and score them.

    ``decoding`` defaults to greedy with ``max_new_tokens`` (default 1024) new tokens; ``max_new_tokens``
    and ``seed`` given with a ``decoding`` override its values. Batches are formed from prompts
    sorted by length (less padding) and padded on the left; results come back in the order of
    ``records`` (an item's samples consecutively). ``progress(done, total)`` is called per batch.
    ``device`` defaults to ``cuda`` when a GPU is visible, else ``cpu``; ``dtype`` (``float32``,
    ``bfloat16``, ``float16``) defaults to bfloat16 on a GPU and float32 on the CPU.
    """
    from dataclasses import replace

    decoding = decoding or DecodingSettings(max_new_tokens=max_new_tokens or 1024)
    if max_new_tokens is not None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, found {max_new_tokens}")
        decoding = replace(decoding, max_new_tokens=max_new_tokens)
    if seed is not None:
        decoding = replace(decoding, seed=seed)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, found {batch_size}")
    _check_records(records)
    model_path = Path(model_dir)
    if not (model_path / "config.json").is_file():
        raise FileNotFoundError(f"expected a Hugging Face model folder with config.json, found none in {model_path}")
    _check_model_config(model_path / "config.json")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from medgrpo.data.prompt import SYSTEM_PROMPT, build_messages

    device, dtype = _device_and_dtype(device, dtype)
    started = time.perf_counter()
    torch.manual_seed(decoding.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
    model.to(torch.device(device))  # type: ignore[arg-type]  # transformers types .to() as a wrapped method
    model.eval()
    sampling: dict[str, Any] = (
        {"do_sample": False}
        if decoding.greedy
        else {
            "do_sample": True,
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
            "top_k": decoding.top_k,  # 0 = no top-k filter, as in TRL's sampling
        }
    )
    gen_config = GenerationConfig(
        max_new_tokens=decoding.max_new_tokens,
        num_beams=1,
        num_return_sequences=decoding.samples,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=model.generation_config.eos_token_id or tokenizer.eos_token_id,
        **sampling,
    )
    system_prompt = decoding.system_prompt or SYSTEM_PROMPT
    prompts: list[str] = [
        str(
            tokenizer.apply_chat_template(
                build_messages(r, system_prompt),
                tokenize=False,
                add_generation_prompt=True,
                chat_template=decoding.chat_template,
            )
        )
        for r in records
    ]
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: (lengths[i], i))
    k = decoding.samples
    completions: list[str] = [""] * (len(prompts) * k)
    n_new: list[int] = [0] * (len(prompts) * k)
    eos_ids = gen_config.eos_token_id if isinstance(gen_config.eos_token_id, list) else [gen_config.eos_token_id]
    stop = {int(t) for t in eos_ids if t is not None} | {int(tokenizer.pad_token_id)}
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = enc.to(device)
            out = model.generate(**enc, generation_config=gen_config)
            new = out[:, enc["input_ids"].shape[1] :]  # rows: prompt 0's k samples, then prompt 1's, ...
            for row, i in enumerate(idx):
                for s in range(k):
                    tokens = new[row * k + s].tolist()
                    slot = i * k + s
                    n_new[slot] = next((j for j, t in enumerate(tokens) if t in stop), len(tokens))
                    completions[slot] = str(tokenizer.decode(tokens[: n_new[slot]], skip_special_tokens=True))
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
    expanded = [r for r in records for _ in range(k)]
    scored = score_completions(expanded, completions, new_tokens=n_new)
    items = [
        replace(it, sample=j % k, answer_status=answer_status(it.completion, rec))
        for j, (it, rec) in enumerate(zip(scored, expanded, strict=True))
    ]
    metrics = summarize(
        [it.as_dict() for it in items],
        max_new_tokens=decoding.max_new_tokens,
        diagnostics=_diagnostics(completions, expanded),
    )
    seconds = time.perf_counter() - started
    log.info(
        "evaluated model",
        extra={"model": str(model_path), "n_items": metrics.n, "accuracy": metrics.accuracy.value, "seconds": seconds},
    )
    return EvalResult(
        model=str(model_path),
        items=tuple(items),
        metrics=metrics,
        config={**decoding.summary(), "batch_size": batch_size, "device": device, "dtype": dtype},
        seconds=seconds,
    )


def _diagnostics(completions: Sequence[str], records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Reward-hacking figures of the answers (hedge / list / empty / malformed shares, mean answer length)."""
    from medgrpo.answers import answer_diagnostics

    figures = answer_diagnostics(list(completions), list(records)).as_dict()
    figures.pop("n", None)
    return figures
