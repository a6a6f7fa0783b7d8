"""grpo_training's ``overrides`` are checked against the recipe dataclass before anything launches,
and remote code is refused everywhere (overrides, --set, recipe files) unless the deployment allows it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from medgrpo import pipeline
from medgrpo.train.recipe_checks import RecipeCheckError, validate_overrides

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"


@pytest.fixture(autouse=True)
def _no_remote_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDGRPO_ALLOW_REMOTE_CODE", raising=False)


def test_field_table_matches_the_recipe_dataclass() -> None:
    """The table the Airflow image uses (no TRL there) is generated from MedGRPOConfig; regenerate it with
    ``python -c 'from medgrpo.train.config import write_recipe_field_table; write_recipe_field_table()'``."""
    from medgrpo.train.config import FIELD_TABLE_PATH, recipe_field_table

    committed = json.loads(FIELD_TABLE_PATH.read_text())["fields"]
    assert committed == recipe_field_table()


def test_good_overrides_are_coerced() -> None:
    got = validate_overrides({"learning_rate": "1e-5", "num_generations": 4, "use_peft": "true", "report_to": []})
    assert got == {"learning_rate": 1e-5, "num_generations": 4, "use_peft": True, "report_to": []}
    assert validate_overrides({"reward_kwargs.cosine.max_len": 64}) == {"reward_kwargs.cosine.max_len": 64}
    assert validate_overrides(None) == {}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learnig_rate": 1e-5}, "unknown recipe field 'learnig_rate'; did you mean learning_rate"),
        ({"num_generations": 0}, "num_generations must be >= 2, found 0"),
        ({"learning_rate": -0.1}, "learning_rate must be > 0, found -0.1"),
        ({"max_steps": 0}, "max_steps must be >= 1 (or -1), found 0"),
        ({"num_generations": 2.5}, "overrides.num_generations: expected integer, found float 2.5"),
        ({"learning_rate": "fast"}, "overrides.learning_rate: expected number, found a string 'fast'"),
        ({"lr_scheduler_type": "sometimes"}, "(one of constant, constant_with_warmup"),
        ({"beta.x": 1}, "beta is not a mapping"),
        ({"model_init_kwargs": {"trust_remote_code": True}}, "model_init_kwargs.trust_remote_code is refused"),
        ({"model_init_kwargs.trust_remote_code": "true"}, "model_init_kwargs.trust_remote_code is refused"),
        ({"model_init_kwargs": '{"trust_remote_code": 1}'}, "model_init_kwargs.trust_remote_code is refused"),
        ([1, 2], "overrides: expected an object of recipe fields, found list"),
    ],
)
def test_bad_overrides_fail_in_one_line(overrides: Any, message: str) -> None:
    with pytest.raises(RecipeCheckError) as err:
        validate_overrides(overrides)
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="overrides"):  # what grpo_training's first task calls
        pipeline.validate_training_params({"overrides": overrides})


def test_remote_code_only_where_the_deployment_allows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDGRPO_ALLOW_REMOTE_CODE", "true")
    assert validate_overrides({"model_init_kwargs": {"trust_remote_code": True}})
    monkeypatch.setenv("MEDGRPO_ALLOW_REMOTE_CODE", "false")
    with pytest.raises(RecipeCheckError):
        validate_overrides({"model_init_kwargs": {"trust_remote_code": True}})
    assert validate_overrides({"model_init_kwargs": {"trust_remote_code": False}})


def test_a_recipe_file_cannot_sneak_remote_code_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medgrpo.train.config import RecipeError, load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(TINY.read_text() + "\nmodel_init_kwargs:\n  trust_remote_code: true\n")
    with pytest.raises(RecipeError, match=r"model_init_kwargs\.trust_remote_code is refused"):
        load_recipe(recipe, overrides=["use_cpu=true"])
    with pytest.raises(RecipeError, match="trust_remote_code is refused"):
        load_recipe(TINY, overrides=["use_cpu=true", "model_init_kwargs.trust_remote_code=yes"])
    monkeypatch.setenv("MEDGRPO_ALLOW_REMOTE_CODE", "true")
    assert load_recipe(recipe, overrides=["use_cpu=true"]).model_init_kwargs == {"trust_remote_code": True}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("num_generations=0", "num_generations must be >= 2, found 0"),  # TRL: ZeroDivisionError
        ("learning_rate=-1", "learning_rate must be > 0, found -1.0"),  # TRL: accepted
        ("per_device_train_batch_size=0", "per_device_train_batch_size must be >= 1"),
        ("temperature=0", "temperature must be > 0"),
    ],
)
def test_recipe_bounds_apply_to_every_recipe(override: str, message: str) -> None:
    from medgrpo.train.config import RecipeError, load_recipe

    with pytest.raises(RecipeError, match=message):
        load_recipe(TINY, overrides=["use_cpu=true", override])


def test_override_checks_need_no_trl() -> None:
    """The Airflow image has no TRL/torch: the first task's check must run without them."""
    code = (
        "import sys; sys.modules['trl'] = None; sys.modules['torch'] = None\n"
        "from medgrpo import pipeline\n"
        "print(pipeline.validate_training_params({'overrides': {'learning_rate': 1e-5}}))\n"
        "try:\n    pipeline.validate_training_params({'overrides': {'num_generations': 0}})\n"
        "except ValueError as err:\n    print(err)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "{'learning_rate': 1e-05}",
        "overrides: num_generations must be >= 2, found 0",
    ]
