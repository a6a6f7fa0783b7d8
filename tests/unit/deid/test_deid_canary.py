"""Fail closed: a planted canary failure stops the step and nothing is published."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from medgrpo.deid import DeidError, load_deidentifier
from medgrpo.deid.engine import CANARY_VALUES


def _run_cli(*argv: str) -> int:
    from medgrpo.deid import commands

    parser = argparse.ArgumentParser(prog="medgrpo")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["deid", *argv])
    return int(args.func(args))


def _disable(tmp_path: Path, entity: str) -> Path:
    policy = tmp_path / f"no-{entity.lower()}.yaml"
    policy.write_text(f"name: broken\nactions:\n  default: {{action: tag}}\nrecognizers:\n  disable: [{entity}]\n")
    return policy


@pytest.mark.parametrize("entity", ["NAME", "PHONE", "DATE", "ZIP"])
def test_policy_that_disables_a_recognizer_fails_at_load(tmp_path: Path, entity: str) -> None:
    with pytest.raises(DeidError, match=rf"canary self-check failed: \d+ of {len(CANARY_VALUES)} .*{entity}") as info:
        load_deidentifier(_disable(tmp_path, entity))
    for _, value in CANARY_VALUES:
        assert value not in str(info.value)


def test_broken_engine_fails_the_batch_and_returns_nothing() -> None:
    """Plant a failure after a good load: remove the name recognizer from the live analyzer."""
    deid = load_deidentifier(None)
    records = [{"id": "1", "question": "Seen by Dr. Alvarez."}]
    assert deid.deidentify_records(records, None)[0]["question"] == "Seen by Dr. [NAME]."
    registry: Any = deid._analyzer.registry
    registry.recognizers = [r for r in registry.recognizers if r.name != "names"]
    result = None
    with pytest.raises(DeidError, match=r"canary self-check failed: .*NAME"):
        result = deid.deidentify_records(records, None)
    assert result is None
    assert deid.audit()["records"] == 1  # the failed batch was not counted as published


def test_cli_with_a_failing_canary_publishes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "1", "question": "Call Dr. Alvarez at (617) 555-1234."}) + "\n")
    out = tmp_path / "out" / "deid.jsonl"
    report = tmp_path / "report.json"
    code = _run_cli(str(src), str(out), "--policy", str(_disable(tmp_path, "PHONE")), "--report", str(report))
    assert code == 1
    assert not out.exists() and not report.exists()
    leftovers = list(out.parent.iterdir()) if out.parent.exists() else []
    assert leftovers == []
    err = capsys.readouterr().err
    assert "canary self-check failed" in err and "555-1234" not in err
