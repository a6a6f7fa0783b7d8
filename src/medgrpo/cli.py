"""The ``medgrpo`` command.

Each package contributes its subcommands through a light ``commands`` module exposing
``register(subparsers)``; handlers import heavy libraries only when they run, so ``medgrpo
--help`` stays fast. A handler returns the process exit code.

Exit codes: 0 success; 1 failure; 2 bad input or usage (argparse, handlers); 3 and 4 a gate's
``rejected`` and ``insufficient_evidence`` (``medgrpo gate``); 130 interrupted. Handlers turn the
errors a user can cause into one line themselves; any other exception that reaches :func:`main`
ends in one line too, ``medgrpo COMMAND: error: …`` and exit 1, without a traceback (``-v`` logs
the code locations it passed through; ``MEDGRPO_DEBUG=1`` gives the traceback instead). That line
never repeats an exception's own message unless the exception is one of medgrpo's (whose messages
are written PHI-free): a library's message may quote the input it choked on, and the input may be
a patient record.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
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

#: Set to 1/true to let an unexpected exception end in its traceback (which may quote input data).
DEBUG_ENV = "MEDGRPO_DEBUG"
#: Exit code of an unexpected error (what Python gives an uncaught exception).
EXIT_UNEXPECTED = 1
#: Longest message of a medgrpo exception repeated on the error line.
MAX_MESSAGE = 500


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


def debug_enabled() -> bool:
    """Whether ``MEDGRPO_DEBUG`` asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _origin(err: BaseException) -> str:
    """``module:line`` of the innermost medgrpo frame the exception passed through (else the innermost frame)."""
    tb = err.__traceback__
    ours = innermost = "?"
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", "?"))
        innermost = f"{module}:{tb.tb_lineno}"
        if module.split(".")[0] in ("medgrpo", "medgrpo_airflow"):
            ours = innermost
        tb = tb.tb_next
    return ours if ours != "?" else innermost


def _frames(err: BaseException) -> str:
    """Where the exception went, outermost first (``module:function:line``): code locations, no data."""
    tb = err.__traceback__
    steps: list[str] = []
    while tb is not None:
        code = tb.tb_frame.f_code
        steps.append(f"{tb.tb_frame.f_globals.get('__name__', '?')}:{code.co_name}:{tb.tb_lineno}")
        tb = tb.tb_next
    return " > ".join(steps)


def describe_unexpected(err: BaseException) -> str:
    """A PHI-free one-line description of an exception no handler expected.

    medgrpo's own exceptions keep their message (written to name fields, paths and counts, never
    record text); an OS error keeps its reason and file name; anything else is shown by type and
    the place it was raised, because its message may quote the input that caused it.
    """
    kind = type(err)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    if kind.__module__.split(".")[0] in ("medgrpo", "medgrpo_airflow"):
        text = " ".join(str(err).split())
        if len(text) > MAX_MESSAGE:
            text = text[:MAX_MESSAGE] + "…"
        return f"{name}: {text}" if text else name
    if isinstance(err, OSError) and err.strerror:
        target = f": {err.filename}" if err.filename is not None else ""
        return f"{name}: {' '.join(err.strerror.split())}{target}"
    if isinstance(err, UnicodeError):
        position = getattr(err, "start", None)
        codec = getattr(err, "encoding", "") or "text"
        return f"{name}: {codec} input that does not decode" + (f" (offset {position})" if position is not None else "")
    if isinstance(err, RecursionError):
        return f"{name}: input nested too deeply to process (raised at {_origin(err)})"
    if isinstance(err, MemoryError):
        return f"{name}: out of memory (raised at {_origin(err)})"
    return (
        f"{name} raised at {_origin(err)} (message withheld: it may quote input data; "
        f"{DEBUG_ENV}=1 shows the traceback)"
    )


def _command_name(args: argparse.Namespace | None) -> str:
    if args is None:
        return "medgrpo"
    parts = [str(args.command)] + [
        str(v) for k, v in sorted(vars(args).items()) if k.endswith("_command") and isinstance(v, str)
    ]
    return "medgrpo " + " ".join(parts)


def main(argv: Sequence[str] | None = None, *, reraise: bool = False) -> int:
    """Entry point: parse, configure logging, run the handler, return its exit code.

    An exception the handler did not turn into an exit code ends in one line on stderr (see the
    module docstring), unless ``MEDGRPO_DEBUG`` is set or the caller asks for it (``reraise``: the
    training pod's entrypoint, which reports it as the pod's termination message).
    """
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        if reraise or debug_enabled():
            raise
        logging.getLogger(__name__).debug("unexpected %s; frames: %s", type(err).__name__, _frames(err))
        print(f"{_command_name(args)}: error: {describe_unexpected(err)}", file=sys.stderr, flush=True)
        return EXIT_UNEXPECTED
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
