"""``medgrpo registry list | retain`` (light module: MLflow is imported by the handlers)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``registry`` command group to the ``medgrpo`` parser."""
    group = subparsers.add_parser(
        "registry",
        help="registry housekeeping: list versions, apply the retention policy",
        description="Look after the registered model's versions (MLflow registry).",
    )
    sub = group.add_subparsers(dest="registry_command", metavar="SUBCOMMAND", required=True)

    ls = sub.add_parser(
        "list",
        help="versions with aliases, gate verdicts, dataset, age and whether their artifacts are stored",
    )
    ls.add_argument("--model-name", help="registered model (default: MEDGRPO_MODEL_NAME or medgrpo-qwen2.5)")
    ls.add_argument("--json", action="store_true", help="print JSON (one object per version) instead of a table")
    ls.set_defaults(func=_list)

    retain = sub.add_parser(
        "retain",
        help="remove the artifacts of old versions that are neither aliased nor recently gated (dry run by default)",
        description=(
            "Removes the stored artifacts (weights) of versions that carry no alias, are not among the --keep-last "
            "newest, are older than --min-age-days and were not gated within --keep-gated-days. The versions, their "
            "cards, tags and lineage stay; the removal is recorded in their tags. champion and previous_champion are "
            "never touched. Without --apply nothing changes: the plan is printed."
        ),
    )
    retain.add_argument("--model-name", help="registered model (default: MEDGRPO_MODEL_NAME or medgrpo-qwen2.5)")
    retain.add_argument("--keep-last", type=int, default=5, help="always keep the N newest versions (default 5)")
    retain.add_argument("--min-age-days", type=float, default=30.0, help="keep versions younger than this (default 30)")
    retain.add_argument(
        "--keep-gated-days", type=float, default=90.0, help="keep versions gated within this many days (default 90)"
    )
    retain.add_argument("--apply", action="store_true", help="remove the artifacts (default: dry run)")
    retain.add_argument("--json", action="store_true", help="print the decisions as JSON")
    retain.set_defaults(func=_retain)


def _errors() -> tuple[type[BaseException], ...]:
    from mlflow.exceptions import MlflowException

    from medgrpo.registry import RegistryError

    return (ValueError, RegistryError, MlflowException)


def _list(args: argparse.Namespace) -> int:
    from medgrpo.registry import resolve_model_name
    from medgrpo.registry_admin.listing import format_table, list_versions

    try:
        name = resolve_model_name(args.model_name)
        rows = list_versions(name)
    except _errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    elif not rows:
        print(f"{name}: no versions")
    else:
        print(f"{name}: {len(rows)} version(s)")
        print(format_table(rows))
    return 0


def _retain(args: argparse.Namespace) -> int:
    from medgrpo.registry import resolve_model_name
    from medgrpo.registry_admin.retention import RetentionPolicy, apply_retention

    try:
        name = resolve_model_name(args.model_name)
        policy = RetentionPolicy(
            keep_last=args.keep_last, min_age_days=args.min_age_days, keep_gated_days=args.keep_gated_days
        )
        decisions = apply_retention(name, policy, apply=args.apply)
    except _errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([d.__dict__ for d in decisions], indent=2))
        return 0
    removing = [d for d in decisions if d.action in {"remove", "removed"}]
    verb = "removed" if args.apply else "would remove"
    freed = sum(d.freed_bytes for d in removing)
    print(
        f"{name}: {verb} the artifacts of {len(removing)} of {len(decisions)} version(s)"
        + (f" ({freed / 1e6:.1f} MB freed)" if args.apply else " (dry run: --apply to remove)")
    )
    for d in decisions:
        print(f"  v{d.version:<5} {d.action:<16} {d.reason}")
    return 0
