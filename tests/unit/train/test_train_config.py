"""Recipes: every shipped recipe validates; bad recipes fail before any model loads, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from medgrpo.train.config import RecipeError, load_recipe, parse_overrides, recipe_values, validate_recipe

ROOT = Path(__file__).resolve().parents[3]
RECIPES = sorted((ROOT / "training_image" / "recipes").glob("*/grpo/*.yaml"))
TINY = ROOT / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"


def test_recipes_exist_for_every_model_size() -> None:
    models = {p.parts[-3] for p in RECIPES}
    assert {
        "tiny",
        "Qwen2.5-0.5B-Instruct",
        "Qwen2.5-1.5B-Instruct",
        "Qwen2.5-3B-Instruct",
        "Qwen2.5-7B-Instruct",
    } <= models


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: "/".join(p.parts[-3:]))
def test_every_recipe_validates(recipe: Path) -> None:
    cfg = validate_recipe(recipe)
    assert cfg.model_name_or_path
    assert cfg.generation_batch_size is not None and cfg.num_generations is not None
    assert cfg.generation_batch_size % cfg.num_generations == 0
    assert len(cfg.reward_weights or cfg.reward_funcs) == len(cfg.reward_funcs)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: "/".join(p.parts[-3:]))
def test_every_recipe_line_of_settings_is_commented(recipe: Path) -> None:
    """Each setting has a reason: its paragraph (lines since the last blank line) opens with a comment."""
    paragraph: list[str] = []
    for number, line in enumerate(recipe.read_text().splitlines(), start=1):
        if not line.strip():
            paragraph = []
            continue
        paragraph.append(line)
        if not line.startswith(("#", " ")):
            assert paragraph[0].startswith("#") or "#" in line, f"{recipe}:{number}: {line!r} has no comment"


def test_tiny_recipe_values_are_typed() -> None:
    cfg = load_recipe(TINY, explicit={"output_dir": "/tmp/x"})
    assert cfg.learning_rate == pytest.approx(5e-4)
    assert isinstance(cfg.learning_rate, float)
    assert cfg.use_cpu is True and cfg.bf16 is False
    assert cfg.reward_funcs == ["format", "tag_count", "accuracy"]


def test_merge_order_yaml_then_set_then_explicit() -> None:
    values = recipe_values(
        TINY,
        overrides=["max_steps=3", "learning_rate=1e-5", "reward_kwargs.cosine.max_len=64", "dataset=synth:8"],
        explicit={"dataset": "/data/x", "model_name_or_path": None},
    )
    assert values["max_steps"] == 3
    assert values["learning_rate"] == 1e-5  # "1e-5" is a YAML string; coerced to the field's float
    assert values["reward_kwargs"] == {"cosine": {"max_len": 64}}
    assert values["dataset"] == "/data/x"  # explicit CLI value wins over --set
    assert values["model_name_or_path"] == "tiny:0"  # None explicit values do not override


def test_yaml_no_stays_a_word_for_string_fields() -> None:
    cfg = load_recipe(TINY, overrides=["save_strategy=no", "use_cpu=yes"], explicit={"output_dir": "/tmp/x"})
    assert cfg.save_strategy == "no"  # YAML reads `no` as False; the field is a string/enum
    assert cfg.use_cpu is True  # a real bool field keeps YAML's boolean


def test_parse_overrides_rejects_malformed() -> None:
    assert parse_overrides(["a.b=1", "a.c=[x, y]"]) == {"a": {"b": 1, "c": ["x", "y"]}}
    with pytest.raises(RecipeError, match="expects key=value"):
        parse_overrides(["novalue"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("learning_rat=1e-5", r"unknown field 'learning_rat'; did you mean learning_rate"),
        ("num_generations=3", r"generation_batch_size \(16\) must be divisible by num_generations \(3\)"),
        ("reward_funcs=[format, acuracy]", r"unknown reward function\(s\) \['acuracy'\]"),
        ("reward_weights=[1.0]", r"reward_weights has 1 values but reward_funcs has 3"),
        ("max_steps=ten", r"max_steps must be a int, found 'ten'"),
        ("use_cpu=maybe", r"use_cpu must be true or false"),
        ("beta=-0.1", r"beta must be >= 0"),
        ("epsilon_high=0.1", r"epsilon_high \(0.1\) must be >= epsilon \(0.2\)"),
    ],
)
def test_invalid_recipes_fail_naming_field_and_rule(override: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(TINY, overrides=[override], explicit={"output_dir": "/tmp/x"})


def test_accelerate_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"accelerate_config 'accelerate/zero9\.yaml' not found"):
        load_recipe(TINY, overrides=["accelerate_config=accelerate/zero9.yaml"], explicit={"output_dir": str(tmp_path)})


def test_accelerate_configs_parse() -> None:
    import yaml

    for path in sorted((ROOT / "training_image" / "accelerate").glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        assert config["distributed_type"] in {"MULTI_GPU", "DEEPSPEED"}, path
        assert config["num_processes"] % config["num_machines"] == 0, path
        if config["distributed_type"] == "DEEPSPEED":
            assert config["deepspeed_config"]["zero_stage"] in {2, 3}, path


def test_missing_recipe_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(RecipeError, match="must be a YAML mapping of fields, found list"):
        load_recipe(bad)


def test_model_source_required(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("use_cpu: true\nbf16: false\n")
    with pytest.raises(RecipeError, match="model_name_or_path is required"):
        load_recipe(recipe, explicit={"output_dir": str(tmp_path)})
