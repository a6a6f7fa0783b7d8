"""The ``medgrpo`` command: every contracted subcommand is registered; shared option parsing."""

from __future__ import annotations

import pytest

from medgrpo.cli import build_parser, parse_key_values


def test_every_contracted_subcommand_is_registered() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)  # type: ignore[arg-type]
    assert {
        "synth",
        "ingest",
        "deid",
        "tiny-model",
        "train",
        "evaluate",
        "gate",
        "promote",
        "rollback",
        "demo",
    } <= names


def test_key_values_parse_and_keep_equals_in_values() -> None:
    assert parse_key_values(["a=1", "b=x=y", " c =", "a=2"]) == {"a": "2", "b": "x=y", "c": ""}


@pytest.mark.parametrize("bad", ["novalue", "=x"])
def test_key_values_name_the_bad_pair(bad: str) -> None:
    with pytest.raises(ValueError, match=f"--set KEY=VALUE, found '{bad}'"):
        parse_key_values([bad], option="--set")
