"""Supervised warm-up: a few steps of next-token training on formatted answers before GRPO.

GRPO can only reinforce what the policy sometimes produces; a random-initialised tiny model never
writes ``<think>…</think><answer>…</answer>``, so every reward group has zero variance and
nothing is learnt. A short warm-up on targets of that shape makes the format reachable. Used by
the tiny recipe (``warmup_sft_steps``) and the learning test; real models skip it.
"""

from __future__ import annotations

import logging
import random
from typing import Any

log = logging.getLogger(__name__)


def warmup_target(record: dict[str, Any]) -> str:
    """The assistant text a warm-up teaches: a short think span and the reference answer."""
    meta = record.get("meta") or {}
    reason = str(meta.get("calculator") or record.get("answer_type") or "answer").replace("_", " ")
    return f"<think>{reason}</think><answer>{record['answer']}</answer>"


def sft_warmup(
    model: Any,
    tokenizer: Any,
    records: list[dict[str, Any]],
    *,
    steps: int,
    batch_size: int = 8,
    learning_rate: float = 3e-3,
    seed: int = 0,
    system_prompt: str | None = None,
) -> list[float]:
    """Train ``model`` in place for ``steps`` steps on prompt -> :func:`warmup_target`; return the losses."""
    import torch

    from medgrpo.data.prompt import SYSTEM_PROMPT, build_messages

    if steps <= 0:
        return []
    if not records:
        raise ValueError("sft_warmup needs at least one record")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    examples = []
    for record in records:
        messages = build_messages(record, system_prompt or SYSTEM_PROMPT)
        prompt_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if hasattr(prompt_ids, "keys"):
            prompt_ids = prompt_ids["input_ids"]
        target_ids = tokenizer(warmup_target(record) + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        examples.append((list(prompt_ids), list(target_ids)))
    pad = tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    losses = []
    for _ in range(steps):
        batch = [examples[rng.randrange(len(examples))] for _ in range(batch_size)]
        length = max(len(p) + len(t) for p, t in batch)
        input_ids = torch.full((len(batch), length), pad, dtype=torch.long)
        labels = torch.full((len(batch), length), -100, dtype=torch.long)
        attention = torch.zeros((len(batch), length), dtype=torch.long)
        for i, (p, t) in enumerate(batch):
            ids = p + t
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, len(p) : len(ids)] = torch.tensor(t)
            attention[i, : len(ids)] = 1
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    model.eval()
    log.info("sft warm-up done", extra={"steps": steps, "first_loss": losses[0], "last_loss": losses[-1]})
    return losses
