"""The command a cluster pod runs: ``medgrpo train`` in a local scratch folder, then publish its result.

``medgrpo train`` writes ``result.json`` into its (local) ``--output-dir``; in a pod that folder
is scratch space that disappears with the pod. This wrapper runs the same CLI in-process and,
on the main process of a successful run, copies ``result.json`` atomically to ``--output-uri``
(the run's ``s3://`` prefix the launcher reads it from), and writes a one-line summary to the
pod's termination message. A failure leaves the termination message to Kubernetes
(``FallbackToLogsOnError``: the log tail) unless the CLI raised, whose error line is written.

    python -m medgrpo.launch.entrypoint --output-uri s3://bucket/runs/<run> train --recipe ... --output-dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

#: Where Kubernetes reads the termination message (the pod's terminationMessagePath).
TERMINATION_LOG = os.environ.get("MEDGRPO_TERMINATION_LOG", "/dev/termination-log")
MAX_TERMINATION_MESSAGE = 4000  # Kubernetes keeps at most 4096 bytes


def _write_termination_message(text: str, path: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text[:MAX_TERMINATION_MESSAGE])
    except OSError:
        pass  # not in a pod (or no termination log): nothing to report to


def _output_dir(cli_args: Sequence[str]) -> Path:
    args = list(cli_args)
    if "--output-dir" not in args:
        raise SystemExit("medgrpo.launch.entrypoint: the train arguments must include --output-dir")
    return Path(args[args.index("--output-dir") + 1])


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def main(argv: Sequence[str] | None = None, *, termination_log: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medgrpo.launch.entrypoint")
    parser.add_argument("--output-uri", required=True, help="where result.json is published (s3:// prefix)")
    parser.add_argument("cli", nargs=argparse.REMAINDER, help="the medgrpo command line, starting with 'train'")
    args = parser.parse_args(argv)
    termination_log = termination_log or TERMINATION_LOG
    if not args.cli or args.cli[0] != "train":
        parser.error(f"expected the medgrpo command line to start with 'train', found {args.cli[:1]}")

    from medgrpo import storage
    from medgrpo.cli import main as cli_main

    try:
        code = cli_main(args.cli, reraise=True)
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else 1
        if not isinstance(err.code, int) and err.code:
            _write_termination_message(str(err.code), termination_log)
    except Exception as err:
        _write_termination_message(f"medgrpo train failed: {type(err).__name__}: {err}", termination_log)
        raise  # the traceback goes to the pod's log (its input is de-identified data)
    if code != 0:
        return int(code)
    result_file = _output_dir(args.cli) / "result.json"
    if _is_main_process():
        if not result_file.is_file():
            _write_termination_message(f"medgrpo train exited 0 but wrote no {result_file}", termination_log)
            return 1
        text = result_file.read_text(encoding="utf-8")
        storage.write_text_atomic(storage.join(args.output_uri, "result.json"), text)
        result = json.loads(text)
        _write_termination_message(
            json.dumps({k: result.get(k) for k in ("run_id", "model_name", "model_version", "model_uri")}),
            termination_log,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
