"""``medgrpo evaluate | gate | promote | rollback`` (light module: heavy imports happen in handlers).

Exit codes: 0 success (``gate``: passed), 3 ``gate`` rejected the candidate, 4 ``gate`` found
insufficient evidence, 1 any error (with a one-line reason on stderr; ``promote`` refusing a version
whose gate did not pass is such an error), 2 bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medgrpo.cli import parse_key_values

EXIT_REJECTED = 3
EXIT_INSUFFICIENT = 4


def register(subparsers: Any) -> None:
    """Add the evaluation and registry subcommands to the ``medgrpo`` parser."""
    from medgrpo.evaluate.policy import PACKAGED_POLICIES, POLICY_ENV, policy_fields

    ev = subparsers.add_parser(
        "evaluate",
        help="score a model on a dataset's eval split (batched generation, per-item scoring)",
        description=(
            "Generate for every eval record and report accuracy, format rate and extraction failures with 95% CIs. "
            "A registered version is decoded with the settings recorded at training (its 'decoding' tag) unless "
            "--max-new-tokens/--temperature/--samples say otherwise; other models default to greedy, 1024 tokens."
        ),
    )
    ev.add_argument(
        "--model", required=True, help="models:/<name>/<N>, models:/<name>@<alias>, a local dir or s3:// prefix"
    )
    ev.add_argument("--dataset", required=True, help="dataset directory (local or s3://) holding eval.jsonl")
    ev.add_argument("--out", help="write the full result (metrics and per-item predictions) as JSON to this file")
    _add_eval_options(ev)
    ev.add_argument("--max-new-tokens", type=_positive_int, help="generation budget per completion")
    ev.add_argument("--temperature", type=float, help="0 = greedy; > 0 samples")
    ev.add_argument("--samples", type=_positive_int, help="completions per item when sampling")
    ev.add_argument("--seed", type=int, help="torch seed of the sampling (default 0)")
    ev.set_defaults(func=_evaluate)

    gate = subparsers.add_parser(
        "gate",
        help="evaluate a candidate version against the champion and record the verdict (does not promote)",
        description=(
            "Score candidate and champion on the same eval items with the candidate's recorded decoding settings, "
            "apply the gate policy (absolute floors, minimum item count, paired McNemar and bootstrap tests, PHI "
            "probe), log an MLflow run in medgrpo/evaluate with an HTML report and tag the version with "
            "gate_verdict. Exit 0 passed, 3 rejected, 4 insufficient_evidence, 1 on error."
        ),
    )
    gate.add_argument("--candidate", default="challenger", help="version number or alias (default: challenger)")
    gate.add_argument("--dataset", required=True, help="dataset directory (local or s3://) holding eval.jsonl")
    gate.add_argument("--model-name", help="registered model (default: MEDGRPO_MODEL_NAME or medgrpo-qwen2.5)")
    gate.add_argument("--out", help="write the gate report JSON to this file too")
    gate.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="tag for the MLflow run (repeatable)"
    )
    gate.add_argument(
        "--policy",
        help=f"gate policy: {' or '.join(PACKAGED_POLICIES)} (packaged) or a YAML file; default ${POLICY_ENV}, "
        "else production",
    )
    for spec in policy_fields():
        flag = "--" + spec.name.replace("_", "-")
        if spec.kind == "boolean":
            gate.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=f"{spec.help} (default: policy's)"
            )
        else:
            gate.add_argument(
                flag,
                type=int if spec.kind == "integer" else float,
                default=None,
                help=f"{spec.help} (default: the policy's; production {spec.default})",
            )
    _add_eval_options(gate)
    gate.set_defaults(func=_gate)

    promote = subparsers.add_parser(
        "promote",
        help="make a version the champion if its gate passed (the old champion becomes previous_champion)",
        description=(
            "Move the champion alias to a version whose gate_verdict is passed and whose gate compared it with the "
            "current champion (compare-and-set, under a lock shared by every promoter through the MLflow server). "
            "--force --reason TEXT overrides both checks and records the reason on the version."
        ),
    )
    promote.add_argument("--version", required=True, help="model version number to promote")
    promote.add_argument("--model-name", help="registered model (default: MEDGRPO_MODEL_NAME or medgrpo-qwen2.5)")
    promote.add_argument("--force", action="store_true", help="promote even without a passed gate (needs --reason)")
    promote.add_argument("--reason", help="why a forced promotion is justified (recorded in the version's tags)")
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
    parser.add_argument("--batch-size", type=_positive_int, default=16, help="prompts per generate() call (default 16)")
    parser.add_argument("--device", help="cpu, cuda or cuda:<n> (default: cuda when a GPU is visible, else cpu)")


def _errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError
    from mlflow.exceptions import MlflowException

    from medgrpo.data.dataset import DatasetError
    from medgrpo.registry import RegistryError

    # OSError and the S3 client's errors: a model or dataset location that is missing or unreadable
    # RecursionError: a hostile config.json or policy nested too deeply for the JSON/YAML parsers
    return (
        ValueError,
        OSError,
        RecursionError,
        RegistryError,
        DatasetError,
        BotoCoreError,
        ClientError,
        MlflowException,
    )


def _decoding(args: argparse.Namespace) -> Any:
    """The decoding settings of ``medgrpo evaluate``: the version's recorded ones, then the options."""
    from dataclasses import replace

    from medgrpo.evaluate.decoding import DecodingSettings

    base = DecodingSettings()
    if args.model.startswith("models:/"):
        from medgrpo import registry
        from medgrpo.evaluate.runner import candidate_decoding

        name, version, alias = registry.parse_models_uri(args.model)
        mv = registry.get_version(version, name) if version else registry.resolve(str(alias), name)
        base, _ = candidate_decoding(mv)
    changes: dict[str, Any] = {}
    if args.max_new_tokens is not None:
        changes["max_new_tokens"] = args.max_new_tokens
    if args.temperature is not None:
        changes["temperature"] = args.temperature
        if args.temperature == 0.0:
            changes["samples"] = 1
    if args.samples is not None:
        changes["samples"] = args.samples
    if args.seed is not None:
        changes["seed"] = args.seed
    return replace(base, **changes)


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
            decoding = _decoding(args)
            with _progress_bar("evaluate") as update:
                result = evaluate_model(
                    local, records, decoding=decoding, batch_size=args.batch_size, device=args.device, progress=update
                )
    except _errors() as err:
        return _fail(err)
    m = result.metrics
    print(
        f"{args.model}: accuracy {m.accuracy.value:.1%} ({m.accuracy.k}/{m.n}, 95% CI "
        f"{m.accuracy.low:.1%}-{m.accuracy.high:.1%}), format {m.format_rate.value:.1%}, {result.seconds:.1f} s"
    )
    print(f"  extraction failures: {m.extraction_failures} of {m.n * m.samples_per_item} completions")
    for group in (m.by_answer_type, m.by_source):
        for key, gm in group.items():
            print(
                f"  {key:<14} accuracy {gm.accuracy.value:.1%} ({gm.accuracy.k}/{gm.accuracy.n}), "
                f"format {gm.format_rate.value:.1%}, extraction failures {gm.extraction_failures}"
            )
    if args.out:
        payload = {"model": args.model, "dataset": args.dataset, **result.as_dict()}
        storage.write_text_atomic(args.out, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        print(f"result written to {args.out}")
    return 0


def _gate(args: argparse.Namespace) -> int:
    from medgrpo import storage
    from medgrpo.evaluate.policy import load_policy, policy_fields
    from medgrpo.evaluate.runner import run_gate

    try:
        policy, source = load_policy(args.policy)
        policy = policy.with_overrides({f.name: getattr(args, f.name) for f in policy_fields()})
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
                policy=policy,
                policy_source=source,
                model_name=args.model_name,
                limit=args.limit,
                tags=parse_key_values(args.tag),
                batch_size=args.batch_size,
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
        f" (policy {result.report['policy']['name']})" + (" (reused earlier evaluation)" if result.reused else "")
    )
    for gate in result.gates:
        mark = {"pass": "pass", "fail": "FAIL", "insufficient": "INSUFFICIENT"}[gate["status"]]
        print(
            f"  [{mark}] {gate['name']}: {gate['value']:.4g} {gate['comparison']} {gate['threshold']:.4g}"
            f"  {gate['detail']}"
        )
    print(f"power: {result.report['verdict']['power']['statement']}")
    print(f"report: {result.report_uri}")
    return {"passed": 0, "rejected": EXIT_REJECTED}.get(result.verdict, EXIT_INSUFFICIENT)


def _promote(args: argparse.Namespace) -> int:
    from medgrpo import registry

    try:
        out = registry.promote(args.version, args.model_name, actor=args.actor, force=args.force, reason=args.reason)
    except _errors() as err:
        return _fail(err)
    if not out["changed"]:
        print(f"{out['model_name']} v{out['champion']} is already champion; nothing changed")
        return 0
    prev = f"v{out['previous_champion']}" if out["previous_champion"] else "none"
    forced = " (FORCED, reason recorded on the version)" if out["forced"] else ""
    print(f"{out['model_name']}: champion -> v{out['champion']} (previous_champion: {prev}){forced}")
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
