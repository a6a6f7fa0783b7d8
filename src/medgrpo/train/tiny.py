"""A tiny Qwen2-architecture model with a locally trained tokenizer, for CPU tests and demos.

Nothing is downloaded: the byte-level BPE tokenizer (at most ``vocab_size`` = 3000 tokens; its corpus
supports ~1.2k) is trained with ``tokenizers`` on text generated here that covers what the project
feeds a model (the system prompt, clinical calculation questions, option lists, digits,
``<think>``/``<answer>`` tags), and the model is a random-initialised ``Qwen2ForCausalLM`` of ~150k
parameters (hidden 64, 2 layers, tied embeddings). A 151k-token vocabulary
would make such a model ~10x slower on CPU, hence the local tokenizer.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: Qwen-style special tokens; ``<|im_end|>`` ends an assistant turn (the EOS), ``<|endoftext|>`` pads.
PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
#: The answer-format tags get one token each (not "special": decoding must keep them).
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

#: Qwen2.5's chat template reduced to plain messages (no tools): what ``apply_chat_template`` renders.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_WORD_TEXT = (
    "patient presents with fever cough chest pain shortness of breath abdominal nausea vomiting "
    "headache history hypertension diabetes mellitus renal failure creatinine sodium potassium "
    "chloride bicarbonate calcium albumin glucose weight height age years old male female kg cm "
    "mg dL mmol L mEq per minute dose daily infusion rate heart beats blood pressure mean "
    "arterial QT interval corrected anion gap clearance body mass index which of the following "
    "is most likely diagnosis treatment next step management best initial test what calculate "
    "the value round to one decimal place answer option letter correct yes no maybe study trial "
    "randomized cohort evidence suggests does improve outcome mortality risk therapy drug "
    "antibiotic insulin emergency department examination laboratory results show serum level "
    "normal elevated low"
)
_WORDS = _WORD_TEXT.split()

_CALCS = (
    ("anion gap", "sodium {a} mEq/L, chloride {b} mEq/L and bicarbonate {c} mEq/L"),
    ("body mass index", "weight {a} kg and height {b} cm"),
    ("mean arterial pressure", "blood pressure {a}/{b} mmHg"),
    ("creatinine clearance", "age {a} years, weight {b} kg, serum creatinine {c} mg/dL"),
    ("corrected calcium", "calcium {a} mg/dL and albumin {b} g/dL"),
    ("weight-based dose", "weight {a} kg and a dose of {b} mg/kg"),
)


def _corpus(seed: int, n: int = 600) -> Iterator[str]:
    """Deterministic training text for the tokenizer: prompts, questions, answers and tags."""
    from medgrpo.data.prompt import SYSTEM_PROMPT, render_user_prompt

    rng = random.Random(seed)
    for _ in range(4):  # often enough (min_frequency 2) that its words become single tokens
        yield SYSTEM_PROMPT
    yield " ".join(str(i) for i in range(1000))
    yield "0.1 0.25 1.5 12.5 100.0 -3 +7 = / * % ( ) [ ] : ; , . ? !"
    for _ in range(n):
        name, template = rng.choice(_CALCS)
        values = {k: rng.randint(1, 200) for k in "abc"}
        question = f"Calculate the {name} for a patient with {template.format(**values)}."
        answer = f"{rng.uniform(0, 200):.1f}"
        record = {"question": question, "answer_type": "numeric", "options": None}
        yield render_user_prompt(record)
        filler = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 20)))
        yield f"<think>{filler} {name} = {answer}</think><answer>{answer}</answer>"
        options = {letter: " ".join(rng.choice(_WORDS) for _ in range(3)) for letter in "ABCD"}
        mcq = {"question": filler + "?", "options": options, "answer_type": "choice"}
        yield render_user_prompt(mcq)
        letter = rng.choice("ABCD")
        yield f"<think>{filler}</think><answer>{letter}</answer> ({letter}) {letter}. {letter.lower()}"
        yield render_user_prompt({"question": filler + "?", "answer_type": "yes_no_maybe"})
        yield f"<think>{filler}</think><answer>{rng.choice(['yes', 'no', 'maybe'])}</answer>"


def build_tokenizer(seed: int = 0, vocab_size: int = 3000) -> object:
    """Train a byte-level BPE tokenizer and wrap it as a ``PreTrainedTokenizerFast`` with a chat template."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [PAD_TOKEN, IM_START, IM_END]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(seed), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        bos_token=None,
        unk_token=None,
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        model_max_length=2048,
    )


def build_tiny_model(out_dir: str | Path, *, seed: int = 0, vocab_size: int = 3000) -> Path:
    """Write a tiny ``Qwen2ForCausalLM`` + tokenizer to ``out_dir`` (deterministic for ``seed``); return it.

    The result loads with ``AutoModelForCausalLM.from_pretrained(out_dir)`` and
    ``AutoTokenizer.from_pretrained(out_dir)``.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    if vocab_size < 400:
        raise ValueError(f"vocab_size must be at least 400 (256 bytes + specials + merges), found {vocab_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(seed=seed, vocab_size=vocab_size)
    n_vocab = len(tokenizer)  # type: ignore[arg-type]
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)  # type: ignore[attr-defined]
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)  # type: ignore[attr-defined]
    config = Qwen2Config(
        vocab_size=n_vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        use_cache=True,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=pad_id, eos_token_id=eos_id, pad_token_id=pad_id, do_sample=True
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)  # type: ignore[attr-defined]
    n_params = sum(p.numel() for p in model.parameters())
    (out / "medgrpo_tiny.json").write_text(
        json.dumps({"seed": seed, "vocab_size": n_vocab, "parameters": n_params}, indent=2) + "\n"
    )
    log.info("tiny model written", extra={"out_dir": str(out), "parameters": n_params, "vocab": n_vocab})
    return out
