"""The ``medgrpo`` command.

Each package contributes its subcommands through a light ``commands`` module exposing
``register(subparsers)``; handlers import heavy libraries only when they run, so ``medgrpo
--help`` stays fast. A handler returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "medgrpo.data.commands",  # synth, ingest
    "medgrpo.deid.commands",  # deid
    "medgrpo.train.commands",  # tiny-model, train
    "medgrpo.evaluate.commands",  # evaluate, gate, promote, rollback
    "medgrpo.registry_admin.commands",  # registry list, registry retain
    "medgrpo.launch.commands",  # render-k8s
    "medgrpo.demo",  # demo
)


def parse_key_values(pairs: Sequence[str], option: str = "--tag") -> dict[str, str]:
    """``["k=v", ...]`` from a repeatable option into a dict; ValueError naming the bad pair."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected {option} KEY=VALUE, found {pair!r}")
        parsed[key.strip()] = value
    return parsed


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="medgrpo",
        description="Teach Qwen2.5 models medical reasoning with GRPO: ingest, de-identify, train, evaluate, promote.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # that package has no commands yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, configure logging, run the handler, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
