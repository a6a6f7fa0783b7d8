"""``medgrpo tiny-model`` and ``medgrpo train`` (light module: heavy imports happen in the handlers)."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from medgrpo.cli import parse_key_values

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the training subcommands to the ``medgrpo`` parser."""
    tiny = subparsers.add_parser(
        "tiny-model",
        help="write a tiny Qwen2 model + locally trained tokenizer (CPU tests and demos)",
        description="Build a tiny random-initialised Qwen2ForCausalLM with a small (<= 3k tokens) locally "
        "trained BPE tokenizer; no download.",
    )
    tiny.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the Hugging Face model into")
    tiny.add_argument("--seed", type=int, default=0, help="seed for the weights and tokenizer corpus (default 0)")
    tiny.set_defaults(func=_tiny_model)

    train = subparsers.add_parser(
        "train",
        help="GRPO-train a model from a recipe, log to MLflow, register the result (the training image's entrypoint)",
        description=(
            "Train with TRL GRPO from a YAML recipe (training_image/recipes/<model>/grpo/*.yaml). Values merge as: "
            "recipe < --set overrides < explicit options. Writes <output-dir>/result.json."
        ),
    )
    train.add_argument("--recipe", required=True, help="recipe YAML file")
    train.add_argument("--dataset", help="published dataset dir (local or s3://) or synth:<n>[:<seed>]")
    train.add_argument(
        "--model", help="model source: local dir, hf://org/name, s3://..., models:/name@alias, tiny:<seed>"
    )
    train.add_argument("--output-dir", help="local working dir for checkpoints, the final model and result.json")
    train.add_argument(
        "--checkpoint-store", help="local dir or s3:// prefix that checkpoints are stored in and resumed from"
    )
    train.add_argument("--run-name", help="MLflow run name")
    train.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="MLflow run tag and model version tag (repeatable)",
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a recipe field (repeatable)",
    )
    train.add_argument("--no-register", action="store_true", help="train and log, but do not register a model version")
    train.add_argument("--validate-only", action="store_true", help="validate the merged recipe and exit")
    train.set_defaults(func=_train)


def _tiny_model(args: argparse.Namespace) -> int:
    from medgrpo.train.tiny import build_tiny_model

    if "://" in args.out_dir:
        print(f"medgrpo tiny-model: OUT_DIR: expected a local folder, found {args.out_dir} (upload it afterwards)")
        return 2
    try:
        path = build_tiny_model(args.out_dir, seed=args.seed)
    except OSError as err:  # OUT_DIR is a file, below a file, not writable, ...
        print(f"medgrpo tiny-model: could not write {args.out_dir} ({type(err).__name__}: {err})")
        return 1
    info = json.loads((path / "medgrpo_tiny.json").read_text())
    print(f"tiny model: {path} ({info['parameters']:,} parameters, vocabulary {info['vocab_size']})")
    return 0


def _input_errors() -> tuple[type[BaseException], ...]:
    """What bad input (a model, dataset or location that is missing or unreadable) raises, as opposed to bugs."""
    from botocore.exceptions import BotoCoreError, ClientError

    from medgrpo.data.dataset import DatasetError

    return (ValueError, OSError, DatasetError, BotoCoreError, ClientError)


def _train(args: argparse.Namespace) -> int:
    from medgrpo.train.config import RecipeError, load_recipe, recipe_values

    try:
        tags = parse_key_values(args.tag)
    except ValueError as err:
        raise SystemExit(f"medgrpo train: {err}") from None
    explicit = {
        "dataset": args.dataset,
        "model_name_or_path": args.model,
        "output_dir": args.output_dir,
        "checkpoint_store": args.checkpoint_store,
        "run_name": args.run_name,
    }
    try:
        values = recipe_values(args.recipe, args.overrides, explicit)
        cfg = load_recipe(args.recipe, args.overrides, explicit)
    except RecipeError as err:
        print(f"medgrpo train: invalid recipe: {err}")
        return 2
    if args.validate_only:
        print(f"recipe {args.recipe} is valid (model {cfg.model_name_or_path}, rewards {cfg.reward_funcs})")
        return 0

    from pathlib import Path

    from medgrpo.train.grpo import train

    output_dir = Path(str(cfg.output_dir))
    created = not output_dir.exists()
    try:
        outcome = train(
            cfg,
            recipe=args.recipe,
            recipe_values=values,
            run_name=args.run_name,
            tags=tags,
            register=not args.no_register,
        )
    except _input_errors() as err:  # a bad model, dataset or location: one line (-v logs the traceback)
        log.debug("training failed", exc_info=True)
        text = str(err).strip().splitlines()
        print(f"medgrpo train: {type(err).__name__}: {text[0] if text else 'no detail'}")
        if created and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()  # nothing was written: leave nothing behind (a partial run keeps its checkpoints)
        return 1
    if not outcome.get("main_process", True):
        return 0  # other ranks of a multi-process launch: the main process reports
    metrics = outcome["metrics"]
    print(
        f"trained {int(metrics.get('global_step', 0))} steps in {outcome['wall_seconds']} s; "
        f"mlflow run {outcome['run_id']} ({outcome['experiment']})"
    )
    if outcome["model_uri"]:
        print(f"registered {outcome['model_uri']} (alias challenger)")
    print(f"result: {cfg.output_dir}/result.json")
    return 0
