"""The ``medgrpo`` command: every contracted subcommand is registered; shared option parsing."""

from __future__ import annotations

import argparse
import errno
import re
from collections.abc import Callable

import pytest

from medgrpo import cli
from medgrpo.cli import build_parser, parse_key_values
from medgrpo.evaluate.policy import PolicyError


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


# --- unexpected exceptions: one line, no traceback, no input data ------------------------------

PHI = "Jane Q. Doe, MRN 4417-2290, born 1931-02-03"


def _parser_with(handler: Callable[[argparse.Namespace], int]) -> Callable[[], argparse.ArgumentParser]:
    def build() -> argparse.ArgumentParser:
        parser = build_parser()
        sub = next(a for a in parser._actions if a.dest == "command")
        boom = sub.add_parser("boom")  # type: ignore[attr-defined]
        boom.set_defaults(func=handler)
        return parser

    return build


def _raises(err: BaseException) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        raise err

    return handler


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (
            ValueError(f"invalid literal for int() with base 10: {PHI!r}"),
            r"error: ValueError raised at medgrpo\.cli:\d+ \(message withheld",
        ),
        (KeyError(PHI), "error: KeyError raised at .*message withheld: it may quote input data; MEDGRPO_DEBUG=1"),
        (RecursionError(PHI), "error: RecursionError: input nested too deeply to process"),
        (UnicodeDecodeError("utf-8", PHI.encode(), 3, 4, "invalid start byte"), "utf-8 input that does not decode"),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/in.jsonl"),
            "error: FileNotFoundError: No such file or directory: /data/in.jsonl",
        ),
        (OSError(PHI), "error: OSError raised at"),  # no strerror: the message is not ours
        (
            PolicyError("site.yaml: margin must be <= 1,\nfound 3"),
            "PolicyError: site.yaml: margin must be <= 1, found 3",
        ),
    ],
)
def test_an_unexpected_exception_ends_in_one_phi_free_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], err: BaseException, expected: str
) -> None:
    monkeypatch.delenv("MEDGRPO_DEBUG", raising=False)
    monkeypatch.setattr(cli, "build_parser", _parser_with(_raises(err)))
    assert cli.main(["boom"]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and captured.out == "", captured
    assert lines[0].startswith("medgrpo boom: error: ") and re.search(expected, lines[0]), lines[0]
    assert "Traceback" not in captured.err
    for fragment in ("Jane", "Doe", "4417", "1931"):
        assert fragment not in lines[0]


def test_medgrpo_debug_lets_the_traceback_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDGRPO_DEBUG", "1")
    monkeypatch.setattr(cli, "build_parser", _parser_with(_raises(ValueError(PHI))))
    with pytest.raises(ValueError, match="Jane"):
        cli.main(["boom"])


def test_exit_codes_of_handlers_interrupts_and_usage_errors_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDGRPO_DEBUG", raising=False)
    for code in (0, 2, 3, 4):

        def handler(args: argparse.Namespace, code: int = code) -> int:
            return code

        monkeypatch.setattr(cli, "build_parser", _parser_with(handler))
        assert cli.main(["boom"]) == code
    monkeypatch.setattr(cli, "build_parser", _parser_with(_raises(KeyboardInterrupt())))
    assert cli.main(["boom"]) == 130
    monkeypatch.setattr(cli, "build_parser", _parser_with(_raises(SystemExit("medgrpo boom: a reason"))))
    with pytest.raises(SystemExit, match="a reason"):  # a handler's own one-line exit passes through
        cli.main(["boom"])
    with pytest.raises(SystemExit) as usage:
        cli.main(["boom", "--no-such-option"])
    assert usage.value.code == 2


def test_a_subcommand_is_named_in_the_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MEDGRPO_DEBUG", raising=False)
    import medgrpo.registry_admin.commands as registry_commands

    monkeypatch.setattr(registry_commands, "_list", _raises(TypeError(PHI)))
    assert cli.main(["registry", "list"]) == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith("medgrpo registry list: error: TypeError raised at ") and "Jane" not in line


def test_verbose_logs_the_code_locations_of_an_unexpected_exception_and_no_data(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MEDGRPO_DEBUG", raising=False)
    monkeypatch.setattr(cli, "build_parser", _parser_with(_raises(ValueError(PHI))))
    with caplog.at_level("DEBUG", logger="medgrpo.cli"):
        assert cli.main(["-v", "boom"]) == 1
    frames = [r.getMessage() for r in caplog.records if "frames:" in r.getMessage()]
    assert len(frames) == 1 and "medgrpo.cli:main:" in frames[0] and ":handler:" in frames[0], frames
    assert "Jane" not in frames[0] and "Jane" not in capsys.readouterr().err
