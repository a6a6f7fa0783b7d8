"""``medgrpo synth`` and ``medgrpo ingest`` (DESIGN §7). Imports stay light until a handler runs."""

from __future__ import annotations

import argparse
from typing import Any

from medgrpo.data import MEDMCQA_COP_BASES


def register(subparsers: Any) -> None:
    """Add the data subcommands to the ``medgrpo`` parser."""
    synth = subparsers.add_parser(
        "synth",
        help="write verifiable clinical-calculation problems as canonical JSONL",
        description="Generate clinical-calculation vignettes with exact answers, units and tolerances.",
    )
    synth.add_argument("out", metavar="OUT.jsonl", help="output file (local path or s3:// URI)")
    synth.add_argument("-n", type=int, default=200, help="number of records (default 200)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--kinds", default=None, help="comma-separated calculators (default: all)")
    synth.add_argument("--difficulty", choices=["easy", "medium", "hard"], default=None, help="fix the level")
    synth.add_argument("--list", action="store_true", help="list the calculators and exit")
    synth.set_defaults(func=_synth)

    ingest = subparsers.add_parser(
        "ingest",
        usage="medgrpo ingest [-h] [--format FMT] [--name NAME] [--policy NAME|FILE] [--eval-fraction F] [--no-deid] "
        "[--medmcqa-cop-base {0,1}] SOURCE... OUT_DIR",
        help="load, validate, de-identify, split and publish a dataset directory",
        description=(
            "Read SOURCE... (files, folders, s3:// prefixes, hf://dataset[:config][@split]) in any DESIGN §6 "
            "format and publish OUT_DIR with train/eval/quarantine JSONL and manifest.json, atomically."
        ),
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="one or more sources, then OUT_DIR (last)")
    ingest.add_argument(
        "--format",
        dest="fmt",
        default="auto",
        choices=["auto", "medqa", "medmcqa", "pubmedqa", "verifiable", "canonical"],
        help="source format (default: detected per file from its content)",
    )
    ingest.add_argument("--name", default=None, help="dataset name (default: OUT_DIR's last component)")
    ingest.add_argument(
        "--policy",
        default=None,
        metavar="NAME|FILE",
        help="de-identification policy for every source: a built-in name (clinical, public-benchmark, surrogates) "
        "or a policy YAML (default: public-benchmark for MedQA/MedMCQA/PubMedQA/verifiable sources, clinical "
        "(or $MEDGRPO_DEID_POLICY) for canonical and other sources)",
    )
    ingest.add_argument("--eval-fraction", type=float, default=0.1, help="share of items in eval (default 0.1)")
    ingest.add_argument(
        "--medmcqa-cop-base",
        type=int,
        choices=sorted(MEDMCQA_COP_BASES),
        default=None,
        help="MedMCQA's cop numbering: "
        + ", ".join(f"{k} = {v}" for k, v in MEDMCQA_COP_BASES.items())
        + " (default: detected per file; a file whose cop values are all 1-3 needs it)",
    )
    ingest.add_argument(
        "--no-deid",
        action="store_true",
        help="publish WITHOUT de-identification (only for data known to hold no PHI; recorded in the manifest)",
    )
    ingest.add_argument("--shard-size", type=int, default=5000, help=argparse.SUPPRESS)
    ingest.set_defaults(func=_ingest)


def _synth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from medgrpo import storage
    from medgrpo.data import synth
    from medgrpo.data.schema import dumps_line

    if args.list:
        for name, fn in synth.CALCULATORS.items():
            print(f"{name:24s} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
    try:
        records = list(synth.generate(args.n, seed=args.seed, kinds=kinds, difficulty=args.difficulty))
    except ValueError as err:
        print(f"medgrpo synth: {err}")
        return 2
    try:  # atomic: OUT appears complete or not at all
        if not storage.is_s3(args.out) and Path(args.out).is_dir():
            raise IsADirectoryError(f"expected a file path, found a folder at {args.out}")
        storage.write_text_atomic(args.out, "".join(dumps_line(r) + "\n" for r in records))
    except Exception as err:  # OS or S3 errors: one line
        print(f"medgrpo synth: could not write {args.out} ({type(err).__name__}: {_first_line(err)})")
        return 1
    print(f"wrote {len(records)} synthetic records to {args.out} (seed {args.seed})")
    return 0


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _ingest(args: argparse.Namespace) -> int:
    import logging

    from medgrpo.data.ingest import IngestError, ingest

    if len(args.paths) < 2:
        print("medgrpo ingest: expected SOURCE... OUT_DIR (at least one source and the output directory)")
        return 2
    *sources, out_dir = args.paths
    if args.no_deid:
        logging.getLogger(__name__).warning("--no-deid: publishing without de-identification")
    try:
        result = ingest(
            sources,
            out_dir,
            fmt=args.fmt,
            name=args.name,
            policy=args.policy,
            eval_fraction=args.eval_fraction,
            deid=not args.no_deid,
            shard_size=args.shard_size,
            medmcqa_cop_base=args.medmcqa_cop_base,
        )
    except IngestError as err:
        print(f"medgrpo ingest: {err}")
        return 1
    except Exception as err:  # de-identification (DeidError), lineage, storage: one line, no traceback
        name = type(err).__name__
        print(f"medgrpo ingest: failed ({name}): {str(err).splitlines()[0] if str(err) else name}")
        logging.getLogger(__name__).debug("ingest failed", exc_info=True)
        return 1
    print(result.summary())
    if result.counts["quarantined"]:
        top = sorted(result.quarantine_reasons.items(), key=lambda kv: -kv[1])[:5]
        print("quarantine reasons: " + ", ".join(f"{k} ×{v}" for k, v in top))
    if not result.manifest["deid"]["enabled"]:
        print("WARNING: published without de-identification (--no-deid), recorded in manifest.json")
    return 0
