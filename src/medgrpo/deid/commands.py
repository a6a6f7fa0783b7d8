"""``medgrpo deid``: de-identify the string fields of a JSONL file (DESIGN §7). Imports stay light."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``deid`` subcommand."""
    p = subparsers.add_parser(
        "deid",
        help="de-identify the text fields of a JSONL file (HIPAA Safe Harbor, offline)",
        description=(
            "De-identify the named string fields of each JSON object (default: every string field but "
            "'id'), pass other fields through, keep line order. OUTPUT is written atomically; on any "
            "failure (including a failed canary self-check) nothing is written there."
        ),
    )
    p.add_argument("input", metavar="INPUT.jsonl", help="input JSONL (local path or s3://)")
    p.add_argument("output", metavar="OUTPUT.jsonl", help="output JSONL (local path or s3://)")
    p.add_argument(
        "--text-fields", default=None, help="comma-separated field names (default: all string fields but id)"
    )
    p.add_argument(
        "--policy",
        default=None,
        metavar="NAME|FILE",
        help="a built-in policy (clinical, public-benchmark, surrogates) or a policy YAML "
        "(default: $MEDGRPO_DEID_POLICY, else clinical: full Safe Harbor with tags)",
    )
    p.add_argument("--report", default=None, help="write the audit report (counts only, never values) as JSON here")
    p.add_argument("--workers", type=int, default=1, help="worker processes (batches are spread over them)")
    p.add_argument("--batch-size", type=int, default=256, help="records per batch (each batch runs the canary)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler: de-identify, print a one-line summary, return the exit code."""
    from medgrpo.deid.errors import DeidError
    from medgrpo.deid.jsonl import deidentify_jsonl

    fields = None
    if args.text_fields is not None:
        fields = [f.strip() for f in args.text_fields.split(",") if f.strip()]
        if not fields:
            print(
                "medgrpo deid: --text-fields is empty; expected a comma-separated list of field names", file=sys.stderr
            )
            return 2
    try:
        report = deidentify_jsonl(
            args.input,
            args.output,
            text_fields=fields,
            policy=args.policy,
            report_uri=args.report,
            workers=args.workers,
            batch_size=args.batch_size,
        )
    except DeidError as err:
        print(f"medgrpo deid: {err}", file=sys.stderr)
        return 1
    entities = report["entities"]
    top = ", ".join(f"{k}={v}" for k, v in sorted(entities.items(), key=lambda kv: -kv[1])[:8])
    print(
        f"de-identified {report['records']} records ({report['records_touched']} touched, "
        f"{sum(entities.values())} entities{': ' + top if top else ''}) -> {args.output} "
        f"in {report['seconds']:.1f}s [policy {report['policy_name']} {report['policy_sha256'][:12]}]"
    )
    return 0
