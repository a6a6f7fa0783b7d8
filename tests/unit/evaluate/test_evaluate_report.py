"""Gate report from scored rows (no server): JSON content, Markdown, and HTML with its PNG plots."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from medgrpo.evaluate.decoding import DecodingSettings
from medgrpo.evaluate.policy import GatePolicy
from medgrpo.evaluate.report import render_html, render_markdown, render_plots
from medgrpo.evaluate.runner import _build_report, records_sha256
from medgrpo.evaluate.scores import ScoredSet
from medgrpo.registry import ModelVersion


def _dataset(root: Path, records: list[dict[str, Any]]) -> str:
    root.mkdir(parents=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    (root / "eval.jsonl").write_text(text)
    files = {"eval.jsonl": {"sha256": hashlib.sha256(text.encode()).hexdigest(), "bytes": len(text)}}
    (root / "manifest.json").write_text(json.dumps({"name": "t", "content_sha256": "c" * 64, "files": files}))
    return str(root)


def _rows(records: list[dict[str, Any]], right: set[int], formatted: bool) -> tuple[dict[str, Any], ...]:
    rows = []
    for i, r in enumerate(records):
        answer = r["answer"] if i in right else "Z"
        completion = f"<think>t</think><answer>{answer}</answer>" if formatted else answer
        rows.append(
            {
                "id": r["id"],
                "source": r["source"],
                "answer_type": "choice",
                "answer": r["answer"],
                "completion": completion,
                "predicted": answer if formatted else None,
                "correct": i in right,
                "format_ok": formatted,
                "new_tokens": 7 + i % 5,
                "sample": 0,
                "answer_status": "ok" if formatted else "missing",
            }
        )
    return tuple(rows)


def test_report_of_a_rejected_candidate_explains_itself(tmp_path: Path) -> None:
    records = [
        {"id": f"q{i}", "source": "medqa" if i % 2 else "medmcqa", "question": "?", "answer": "B",
         "answer_type": "choice", "options": {"A": "a", "B": "b"}, "meta": {}}
        for i in range(40)
    ]  # fmt: skip
    ds = _dataset(tmp_path / "ds", records)
    decoding = DecodingSettings(max_new_tokens=16)
    sha = records_sha256(records)
    champion_rows = _rows(records, set(range(20)), formatted=True)  # 20/40 right
    candidate_rows = _rows(records, set(range(3)), formatted=False)  # 3/40 "right", never well-formed
    scored = {
        "candidate": ScoredSet("m", "2", "eval", sha, decoding, candidate_rows, "run-c", False, 1.0),
        "champion": ScoredSet("m", "1", "eval", sha, decoding, champion_rows, "run-h", True, 0.0),
    }
    metrics = {role: ss.metrics(records) for role, ss in scored.items()}
    cand = ModelVersion("m", "2", "r2", "src2")
    champ = ModelVersion("m", "1", "r1", "src1")
    policy = GatePolicy(min_items=10, min_accuracy=0.0, min_format_rate=0.5, margin=0.1, phi_probe=False, name="t")
    report = _build_report(
        name="m", cand=cand, champ=champ, dataset_dir=ds, records=records, eval_sha=sha, limit=None,
        policy=policy, policy_source="test", decoding=decoding, decoding_source="version tag 'decoding'",
        scored=scored, metrics=metrics, probe_records=[],
    )  # fmt: skip
    verdict = report["verdict"]
    assert verdict["verdict"] == "rejected"
    assert {r.split(":")[0] for r in verdict["reasons"]} >= {
        "[FAIL] min_format_rate",
        "[FAIL] no_significant_regression",
    }
    assert report["comparison"]["champion_only"] == 17 and report["comparison"]["candidate_only"] == 0
    assert len(report["discordant_items"]) == 17 and report["discordant_items"][0]["winner"] == "champion"
    assert report["candidate"]["metrics"]["extraction_failures"] == 40
    assert report["candidate"]["metrics"]["diagnostics"]["empty_share"] == 1.0  # answers helper figures
    assert report["decoding"]["settings"]["max_new_tokens"] == 16 and report["dataset_sha256"] == "c" * 64
    json.dumps(report)  # JSON-able as logged

    md = render_markdown(report)
    assert (
        "**REJECTED**" in md
        and "[FAIL] min_format_rate" in md
        and "| min_format_rate | 0 | >= | 0.5 | **FAIL** |" in md
    )

    plots = render_plots(report, scored, tmp_path / "plots")
    assert set(plots) == {"Accuracy by source", "Candidate vs champion", "Completion lengths", "Paired outcomes"}
    for path in plots.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000
    page = render_html(report, plots)
    assert page.count("data:image/png;base64,") == 4
    assert "REJECTED" in page and "Discordant pairs" in page and "smallest accuracy drop detectable" in page
    assert "<script" not in page
