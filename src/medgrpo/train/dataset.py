"""Training data: a published dataset directory (DESIGN §5) turned into GRPO prompt rows.

Each canonical record becomes ``{"prompt": build_messages(record), "answer", "answer_type",
"meta" (JSON string), "options" (JSON string, ``{}`` without options), "id"}``; the reward
functions read ``answer``/``answer_type``/``meta``/``options`` (a choice answered with an option's
text needs the options). JSON strings keep the Arrow schema fixed whatever keys a row has.
``synth:<n>[:<seed>]`` stands for ``n`` generated calculation problems (demos, tests).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from medgrpo import storage

log = logging.getLogger(__name__)

REQUIRED_FIELDS = ("id", "question", "answer", "answer_type")


@dataclass
class TrainingData:
    """Train and eval records plus the dataset's manifest (empty dict for generated data)."""

    source: str
    train: list[dict[str, Any]]
    eval: list[dict[str, Any]]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        """Content hash from the manifest (``sha256`` or ``content_sha256``), ``unknown`` without one."""
        for key in ("sha256", "content_sha256"):
            if self.manifest.get(key):
                return str(self.manifest[key])
        digest = hashlib.sha256()  # no manifest hash (generated data): hash the records themselves
        for record in [*self.train, *self.eval]:
            digest.update(json.dumps(record, sort_keys=True).encode("utf-8") + b"\n")
        return digest.hexdigest()

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.source)


def _read_jsonl(uri: str) -> list[dict[str, Any]]:
    records = []
    for lineno, line in enumerate(storage.read_text(uri).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{uri}:{lineno}: not valid JSON ({err})") from err
        missing = [k for k in REQUIRED_FIELDS if k not in record]
        if missing:
            raise ValueError(f"{uri}:{lineno}: canonical record lacks {missing} (DESIGN §4)")
        records.append(record)
    return records


def load_training_data(source: str) -> TrainingData:
    """Records from a dataset directory (local or s3://) or ``synth:<n>[:<seed>]``."""
    if source.startswith("synth:"):
        from medgrpo.data.synth import generate

        parts = source.split(":")
        try:
            n = int(parts[1])
            seed = int(parts[2]) if len(parts) > 2 else 0
        except (IndexError, ValueError) as err:
            raise ValueError(f"expected synth:<n>[:<seed>], found {source!r}") from err
        records = list(generate(n + max(4, n // 8), seed=seed))
        manifest = {"name": source, "counts": {"train": n, "eval": len(records) - n}, "generator": "medgrpo.data.synth"}
        return TrainingData(source, records[:n], records[n:], manifest)
    manifest_uri = storage.join(source, "manifest.json")
    train_uri = storage.join(source, "train.jsonl")
    if storage.exists(manifest_uri):
        # A published dataset: read through the data package's reader, verified against the manifest.
        from medgrpo.data.dataset import read_manifest, read_split

        manifest = read_manifest(source, verify=False)
        train = read_split(source, "train")
        eval_records = read_split(source, "eval") if "eval.jsonl" in manifest.get("files", {}) else []
        for i, record in enumerate(train):
            missing = [k for k in REQUIRED_FIELDS if k not in record]
            if missing:
                raise ValueError(f"{train_uri}:{i + 1}: canonical record lacks {missing} (DESIGN §4)")
    else:
        if not storage.exists(train_uri):
            raise ValueError(f"dataset {source} has no train.jsonl: expected a published dataset dir (DESIGN §5)")
        log.warning("dataset has no manifest.json; reading its JSONL unverified", extra={"dataset": source})
        manifest = {}
        eval_uri = storage.join(source, "eval.jsonl")
        eval_records = _read_jsonl(eval_uri) if storage.exists(eval_uri) else []
        train = _read_jsonl(train_uri)
    if not train:
        raise ValueError(f"dataset {source}: train.jsonl is empty")
    log.info("loaded dataset", extra={"dataset": source, "train": len(train), "eval": len(eval_records)})
    return TrainingData(source, train, eval_records, manifest)


def to_prompt_rows(
    records: list[dict[str, Any]], *, system_prompt: str | None = None, limit: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """GRPO rows for ``records`` (at most ``limit``, chosen by a seeded shuffle)."""
    from medgrpo.data.prompt import SYSTEM_PROMPT, build_messages

    chosen = list(records)
    if limit is not None and limit < len(chosen):
        random.Random(seed).shuffle(chosen)
        chosen = chosen[:limit]
    for record in chosen:
        _check_gradable(record)
    return [
        {
            "prompt": build_messages(r, system_prompt or SYSTEM_PROMPT),
            "answer": str(r["answer"]),
            "answer_type": str(r["answer_type"]),
            "meta": json.dumps(r.get("meta") or {}, sort_keys=True),
            "options": json.dumps(r.get("options") or {}, sort_keys=True),
            "id": str(r["id"]),
        }
        for r in chosen
    ]


def _check_gradable(record: dict[str, Any]) -> None:
    """Fail before training, naming the record, when the rewards could not grade it.

    The reference answer graded against its own record must be correct: that exercises the answer
    type, the options, ``meta`` (tolerances, aliases) and the reference's own form.
    """
    from medgrpo.answers import Question, grade_answer

    try:
        grade = grade_answer(str(record["answer"]), Question.from_record(record))
    except (ValueError, KeyError) as err:
        raise ValueError(f"record {record.get('id')!r} cannot be graded: {err}") from err
    if not grade.correct:
        raise ValueError(
            f"record {record.get('id')!r} cannot be graded: its own answer scores 0 "
            f"(status {grade.status}: {grade.detail or 'no match'})"
        )
