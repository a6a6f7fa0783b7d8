"""``medgrpo evaluate`` on a local tiny model, CLI registration, exit codes, and import cost."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from medgrpo.cli import build_parser, main


def _dataset(root: Path, n: int = 4) -> str:
    root.mkdir(parents=True, exist_ok=True)
    records = [
        {
            "id": f"synth-{i:016x}",
            "source": "synth",
            "question": f"Calculate the BMI for weight {60 + i} kg and height 170 cm.",
            "options": None,
            "answer": f"{(60 + i) / 1.7**2:.1f}",
            "answer_type": "numeric",
            "context": None,
            "explanation": None,
            "meta": {"tolerance": 0.02},
        }
        for i in range(n)
    ]
    files = {"eval.jsonl": "".join(json.dumps(r) + "\n" for r in records), "train.jsonl": "", "quarantine.jsonl": ""}
    table = {}
    for name, text in files.items():
        (root / name).write_text(text)
        table[name] = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "bytes": len(text.encode())}
    (root / "manifest.json").write_text(json.dumps({"name": "t", "content_sha256": "e" * 64, "files": table}))
    return str(root)


def test_evaluate_local_model_writes_result(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = _dataset(tmp_path / "ds")
    out = tmp_path / "result.json"
    code = main(
        [
            *("evaluate", "--model", str(tiny_model), "--dataset", ds),
            *("--limit", "3", "--max-new-tokens", "6", "--out", str(out)),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "accuracy" in printed and "numeric" in printed
    result = json.loads(out.read_text())
    assert result["metrics"]["n"] == 3 and len(result["items"]) == 3
    assert result["config"]["max_new_tokens"] == 6 and result["config"]["temperature"] == 0.0
    assert "extraction failures" in printed
    assert [it["id"] for it in result["items"]] == [f"synth-{i:016x}" for i in range(3)]


def test_evaluate_reports_a_tampered_dataset(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = Path(_dataset(tmp_path / "ds"))
    with (ds / "eval.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "x-00000000", "question": "q", "answer": "1", "answer_type": "numeric"}) + "\n")
    assert main(["evaluate", "--model", str(tiny_model), "--dataset", str(ds)]) == 1
    assert "expected sha256" in capsys.readouterr().err


def test_evaluate_missing_model_dir_fails_with_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = _dataset(tmp_path / "ds")
    assert main(["evaluate", "--model", str(tmp_path / "nope"), "--dataset", ds]) == 1
    assert "config.json" in capsys.readouterr().err


def test_subcommands_and_policy_options_registered() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["gate", "--dataset", "d", "--min-accuracy", "0.4", "--alpha", "0.01", "--min-items", "50"]
    )
    assert (args.candidate, args.min_accuracy, args.alpha, args.min_items) == ("challenger", 0.4, 0.01, 50)
    assert args.margin is None and args.policy is None  # unset options keep the policy's values
    assert parser.parse_args(["gate", "--dataset", "d", "--no-phi-probe", "--policy", "demo"]).phi_probe is False
    # every gate field of the policy dataclass is an option
    from medgrpo.evaluate.policy import policy_fields

    gate_help = parser.parse_args(["gate", "--dataset", "d"])
    assert all(hasattr(gate_help, spec.name) for spec in policy_fields())
    promote = parser.parse_args(["promote", "--version", "3", "--force", "--reason", "hotfix"])
    assert (promote.version, promote.force, promote.reason) == ("3", True, "hotfix")
    assert parser.parse_args(["rollback"]).func.__name__ == "_rollback"
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "--model", "m", "--dataset", "d", "--limit", "0"])


def test_commands_import_is_light() -> None:
    code = (
        "import sys, medgrpo.evaluate.commands, medgrpo.evaluate, medgrpo.registry;"
        "print([m for m in ('torch', 'transformers', 'mlflow') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
