"""``medgrpo evaluate`` on a local tiny model, CLI registration, exit codes, and import cost."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from medgrpo.cli import build_parser, main
from medgrpo.evaluate.gates import GateThresholds
from medgrpo.evaluate.report import render_markdown


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
    assert result["config"]["max_new_tokens"] == 6
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


def test_subcommands_and_threshold_options_registered() -> None:
    parser = build_parser()
    args = parser.parse_args(["gate", "--dataset", "d", "--min-accuracy", "0.4", "--alpha", "0.01"])
    assert (args.candidate, args.min_accuracy, args.alpha, args.margin) == ("challenger", 0.4, 0.01, 0.02)
    assert parser.parse_args(["promote", "--version", "3"]).version == "3"
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


def test_markdown_report_explains_each_gate() -> None:
    metrics = {
        "n": 2,
        "accuracy": {"k": 1, "n": 2, "value": 0.5, "low": 0.09, "high": 0.91, "confidence": 0.95},
        "format_rate": {"k": 0, "n": 2, "value": 0.0, "low": 0.0, "high": 0.66, "confidence": 0.95},
        "by_answer_type": {"choice": {"k": 1, "n": 2, "value": 0.5, "low": 0.09, "high": 0.91, "confidence": 0.95}},
        "by_source": {},
    }
    report = {
        "model_name": "m",
        "candidate": {"version": "2", "run_id": "r2", "metrics": metrics},
        "champion": None,
        "n_items": 2,
        "dataset_dir": "/d",
        "eval_sha256": "a" * 64,
        "created_at": "2026-01-01T00:00:00+00:00",
        "comparison": None,
        "thresholds": GateThresholds(min_format_rate=0.5).as_dict(),
        "verdict": {
            "verdict": "rejected",
            "gates": [
                {
                    "name": "min_accuracy",
                    "value": 0.5,
                    "threshold": 0.0,
                    "comparison": ">=",
                    "passed": True,
                    "detail": "",
                },
                {
                    "name": "min_format_rate",
                    "value": 0.0,
                    "threshold": 0.5,
                    "comparison": ">=",
                    "passed": False,
                    "detail": "",
                },
            ],
        },
    }
    md = render_markdown(report)
    assert "**REJECTED**" in md
    assert "| min_format_rate | 0 | >= | 0.5 | **FAIL** |" in md
    assert "| min_accuracy | 0.5 | >= | 0 | pass |" in md
    assert "Champion: none" in md and "accuracy, type choice | 50.0%" in md
