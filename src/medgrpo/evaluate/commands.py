"""``medgrpo evaluate | gate | promote | rollback`` (light module: heavy imports happen in handlers).

Exit codes: 0 success (``gate``: passed), 3 ``gate`` rejected the candidate, 1 any error (with a
one-line reason on stderr), 2 bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from medgrpo.cli import parse_key_values

EXIT_REJECTED = 3


def register(subparsers: Any) -> None:
    """Add the evaluation and registry subcommands to the ``medgrpo`` parser."""
    from medgrpo.evaluate.gates import GateThresholds

    ev = subparsers.add_parser(
        "evaluate",
        help="score a model on a dataset's eval split (greedy, batched)",
        description="Generate greedily for every eval record and report accuracy and format rate with 95% CIs.",
    )
    ev.add_argument(
        "--model", required=True, help="models:/<name>/<N>, models:/<name>@<alias>, a local dir or s3:// prefix"
    )
    ev.add_argument("--dataset", required=True, help="dataset directory (local or s3://) holding eval.jsonl")
    ev.add_argument("--out", help="write the full result (metrics and per-item predictions) as JSON to this file")
    _add_eval_options(ev)
    ev.set_defaults(func=_evaluate)

    gate = subparsers.add_parser(
        "gate",
        help="evaluate a candidate version against the champion and record the verdict (does not promote)",
        description=(
            "Score candidate and champion on the same eval items, apply absolute thresholds and a paired "
            "non-regression test, log an MLflow run in medgrpo/evaluate and tag the version with gate_verdict. "
            "Exit 0 when passed, 3 when rejected, 1 on error."
        ),
    )
    gate.add_argument("--candidate", default="challenger", help="version number or alias (default: challenger)")
    gate.add_argument("--dataset", required=True, help="dataset directory (local or s3://) holding eval.jsonl")
    gate.add_argument("--model-name", help="registered model (default: MEDGRPO_MODEL_NAME or medgrpo-qwen2.5)")
    gate.add_argument("--out", help="write the gate report JSON to this file too")
    gate.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="tag for the MLflow run (repeatable)"
    )
    helps = GateThresholds.help()
    for f in fields(GateThresholds):
        gate.add_argument(
            "--" + f.name.replace("_", "-"),
            type=float,
            default=f.default,
            help=f"{helps[f.name]} (default {f.default})",
        )
    _add_eval_options(gate)
    gate.set_defaults(func=_gate)

    promote = subparsers.add_parser(
        "promote",
        help="make a version the champion (the old champion becomes previous_champion)",
        description="Move the champion alias to a version; clears challenger if it pointed there.",
    )
    promote.add_argument("--version", required=True, help="model version number to promote")
    promote.add_argument("--model-name", help="registered model (default: MEDGRPO_MODEL_NAME or medgrpo-qwen2.5)")
    promote.add_argument(
        "--require-gate", action="store_true", help="refuse unless the version's gate_verdict is passed"
    )
    promote.add_argument("--actor", help="who promotes (recorded in the version's tags; default: the OS user)")
    promote.set_defaults(func=_promote)

    rollback = subparsers.add_parser(
        "rollback",
        help="make previous_champion the champion again (one step)",
        description="Move the champion alias back to the previous champion; fails when there is none.",
    )
    rollback.add_argument("--model-name", help="registered model (default: MEDGRPO_MODEL_NAME or medgrpo-qwen2.5)")
    rollback.add_argument("--actor", help="who rolls back (recorded in the version's tags)")
    rollback.set_defaults(func=_rollback)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


def _add_eval_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=_positive_int, help="evaluate only the first N eval items")
    parser.add_argument(
        "--max-new-tokens", type=_positive_int, default=64, help="generation budget per item (default 64)"
    )
    parser.add_argument("--batch-size", type=_positive_int, default=16, help="prompts per generate() call (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed (decoding is greedy; default 0)")
    parser.add_argument("--device", help="cpu, cuda or cuda:<n> (default: cuda when a GPU is visible, else cpu)")


def _errors() -> tuple[type[BaseException], ...]:
    from medgrpo.data.dataset import DatasetError
    from medgrpo.registry import RegistryError

    return (ValueError, FileNotFoundError, RegistryError, DatasetError)


def _fail(err: BaseException) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 1


@contextmanager
def _progress_bar(desc: str) -> Iterator[Callable[[int, int], None]]:
    from tqdm import tqdm

    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="item", file=sys.stderr, leave=False)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


def _local_model(model: str, tmp: str) -> Path:
    from medgrpo import registry, storage

    if model.startswith("models:/"):
        return registry.download_model(model, Path(tmp, "model"))
    if storage.is_s3(model):
        return storage.download_dir(model, Path(tmp, "model"))
    return Path(model)


def _evaluate(args: argparse.Namespace) -> int:
    from medgrpo import storage
    from medgrpo.evaluate.harness import evaluate_model
    from medgrpo.evaluate.runner import read_eval_records

    try:
        records = read_eval_records(args.dataset, args.limit)
        with tempfile.TemporaryDirectory(prefix="medgrpo-eval-") as tmp:
            local = _local_model(args.model, tmp)
            with _progress_bar("evaluate") as update:
                result = evaluate_model(
                    local,
                    records,
                    max_new_tokens=args.max_new_tokens,
                    batch_size=args.batch_size,
                    seed=args.seed,
                    device=args.device,
                    progress=update,
                )
    except _errors() as err:
        return _fail(err)
    m = result.metrics
    print(
        f"{args.model}: accuracy {m.accuracy.value:.1%} ({m.accuracy.k}/{m.n}, 95% CI "
        f"{m.accuracy.low:.1%}-{m.accuracy.high:.1%}), format {m.format_rate.value:.1%}, {result.seconds:.1f} s"
    )
    for answer_type, prop in m.by_answer_type.items():
        print(f"  {answer_type:<14} {prop.value:.1%} ({prop.k}/{prop.n})")
    if args.out:
        payload = {"model": args.model, "dataset": args.dataset, **result.as_dict()}
        storage.write_text_atomic(args.out, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        print(f"result written to {args.out}")
    return 0


def _gate(args: argparse.Namespace) -> int:
    from medgrpo import storage
    from medgrpo.evaluate.gates import GateThresholds
    from medgrpo.evaluate.runner import run_gate

    try:
        thresholds = GateThresholds(
            min_accuracy=args.min_accuracy, min_format_rate=args.min_format_rate, margin=args.margin, alpha=args.alpha
        )
        bars: dict[str, Any] = {}

        def progress(role: str, done: int, total: int) -> None:
            if role not in bars:
                from tqdm import tqdm

                bars[role] = tqdm(total=total, desc=role, unit="item", file=sys.stderr, leave=False)
            bars[role].update(done - bars[role].n)

        try:
            result = run_gate(
                args.candidate,
                args.dataset,
                thresholds=thresholds,
                model_name=args.model_name,
                limit=args.limit,
                tags=parse_key_values(args.tag),
                max_new_tokens=args.max_new_tokens,
                batch_size=args.batch_size,
                seed=args.seed,
                device=args.device,
                progress=progress,
            )
        finally:
            for bar in bars.values():
                bar.close()
        if args.out:
            storage.write_text_atomic(args.out, json.dumps(result.report, indent=2, ensure_ascii=False) + "\n")
    except _errors() as err:
        return _fail(err)
    against = f"champion v{result.champion_version}" if result.champion_version else "no champion (thresholds only)"
    print(
        f"{result.model_name} v{result.candidate_version} vs {against}: {result.verdict.upper()}"
        + (" (reused earlier evaluation)" if result.reused else "")
    )
    for gate in result.gates:
        mark = "pass" if gate["passed"] else "FAIL"
        print(
            f"  [{mark}] {gate['name']}: {gate['value']:.4g} {gate['comparison']} {gate['threshold']:.4g}"
            f"  {gate['detail']}"
        )
    print(f"report: {result.report_uri}")
    return 0 if result.passed else EXIT_REJECTED


def _promote(args: argparse.Namespace) -> int:
    from medgrpo import registry

    try:
        out = registry.promote(args.version, args.model_name, actor=args.actor, require_passed_gate=args.require_gate)
    except _errors() as err:
        return _fail(err)
    if not out["changed"]:
        print(f"{out['model_name']} v{out['champion']} is already champion; nothing changed")
        return 0
    prev = f"v{out['previous_champion']}" if out["previous_champion"] else "none"
    print(f"{out['model_name']}: champion -> v{out['champion']} (previous_champion: {prev})")
    if out["challenger_cleared"]:
        print("  challenger alias cleared")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from medgrpo import registry

    try:
        out = registry.rollback(args.model_name, actor=args.actor)
    except _errors() as err:
        return _fail(err)
    was = f"v{out['rolled_back']}" if out["rolled_back"] else "none"
    print(f"{out['model_name']}: champion -> v{out['champion']} (rolled back from {was})")
    return 0
