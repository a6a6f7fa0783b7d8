"""Decoding settings: taken from a recipe, recorded on a version, rebuilt from training params."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from medgrpo.evaluate.decoding import (
    DecodingSettings,
    decoding_from_recipe,
    decoding_tags,
    from_run_params,
    from_version_tags,
)


def _recipe(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = dict(
        max_completion_length=1024, temperature=0.9, top_p=0.95, top_k=0, num_generations=8, seed=42, system_prompt=None
    )
    base.update(kw)
    return SimpleNamespace(**base)


def test_a_recipe_decodes_as_it_was_trained() -> None:
    d = decoding_from_recipe(_recipe())
    assert (d.max_new_tokens, d.temperature, d.top_p, d.samples, d.seed) == (1024, 0.9, 0.95, 8, 42)
    assert d.system_prompt is None and not d.greedy
    greedy = decoding_from_recipe(_recipe(temperature=0.0))
    assert greedy.greedy and greedy.samples == 1


def test_the_version_tag_round_trips_with_the_chat_template() -> None:
    tokenizer = SimpleNamespace(chat_template="{{ messages }}")
    tags = decoding_tags(_recipe(system_prompt="Be brief."), tokenizer)
    restored = from_version_tags(tags, where="m version 1")
    assert restored == decoding_from_recipe(_recipe(system_prompt="Be brief.")).with_chat_template("{{ messages }}")
    assert json.loads(tags["decoding"])["max_new_tokens"] == 1024
    assert from_version_tags({}, where="m version 1") is None
    with pytest.raises(ValueError, match="m version 2: tag 'decoding' is not JSON"):
        from_version_tags({"decoding": "{"}, where="m version 2")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['beams'\]"):
        from_version_tags({"decoding": '{"beams": 4}'}, where="m version 3")


def test_settings_are_rebuilt_from_a_training_runs_logged_params() -> None:
    params = {"max_completion_length": "32", "temperature": "1.0", "num_generations": "8", "seed": "0"}
    d = from_run_params(params)
    assert d is not None and (d.max_new_tokens, d.temperature, d.samples) == (32, 1.0, 8)
    assert from_run_params({}) is None


def test_keys_and_summaries() -> None:
    a = DecodingSettings(max_new_tokens=32, temperature=1.0, samples=8)
    assert a.key() == DecodingSettings(max_new_tokens=32, temperature=1.0, samples=8).key()
    assert a.key() != DecodingSettings(max_new_tokens=64, temperature=1.0, samples=8).key()
    summary = a.with_chat_template("x" * 3000).summary()
    assert summary["chat_template"].startswith("sha256:") and summary["system_prompt"] == "default"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be a positive integer, found 0"),
        ({"temperature": 0.0, "samples": 4}, "greedy decoding .* found samples=4"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\], found 0.0"),
        ({"samples": 0, "temperature": 1.0}, "samples must be a positive integer, found 0"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DecodingSettings(**kwargs)  # type: ignore[arg-type]
