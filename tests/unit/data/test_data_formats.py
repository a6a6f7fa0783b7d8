"""Every DESIGN §6 format loads with correct answers and types; detection; MedMCQA's cop base."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from medgrpo.cli import main
from medgrpo.data import formats
from medgrpo.data.ingest import ingest
from medgrpo.data.schema import RecordError
from medgrpo.data.sources import expand, parse_hf

SAMPLES = Path(__file__).resolve().parents[3] / "src" / "medgrpo" / "resources" / "samples"


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _published(out: Path) -> list[dict[str, Any]]:
    rows = []
    for name in ("train.jsonl", "eval.jsonl"):
        rows += [json.loads(line) for line in (out / name).read_text().splitlines()]
    return rows


def _by_source_id(out: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Published records keyed by the source id (``kind``) that the protected id map says they had."""
    manifest = json.loads((out / "manifest.json").read_text())
    lines = Path(manifest["ids"]["source_id_map"]["uri"]).read_text().splitlines()
    published = {r["id"]: r for r in _published(out)}
    return {
        str(e["source_id"]): published[e["published_id"]]
        for e in map(json.loads, lines[1:])
        if e["kind"] == kind and e["published_id"] in published
    }


def _quarantine(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]


MEDQA: list[dict[str, Any]] = [
    {
        "question": "Which electrolyte is most likely low in a patient with tetany after thyroidectomy?",
        "answer": "Calcium",
        "options": {"A": "Sodium", "B": "Potassium", "C": "Calcium", "D": "Chloride"},
        "meta_info": "step1",
        "answer_idx": "C",
    },
    {  # 4-options variant: options as a list of {key, value}
        "question": "First-line drug for uncomplicated cystitis in a non-pregnant woman?",
        "answer": "Nitrofurantoin",
        "options": [{"key": "A", "value": "Nitrofurantoin"}, {"key": "B", "value": "Vancomycin"}],
        "meta_info": "step2&3",
        "answer_idx": "A",
    },
]


def test_medqa_loads_with_answer_letters(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "medqa.jsonl", MEDQA)
    result = ingest([str(src)], str(tmp_path / "out"), deid=False)
    rows = sorted(_published(tmp_path / "out"), key=lambda r: r["question"])
    assert [r["answer"] for r in rows] == ["A", "C"]
    assert {r["answer_type"] for r in rows} == {"choice"}
    assert rows[1]["options"]["C"] == "Calcium" and rows[1]["meta"] == {"meta_info": "step1"}
    assert all(r["source"] == "medqa" and r["id"].startswith("medqa-") for r in rows)
    assert result.manifest["inputs"][0]["format"] == "medqa"


def test_medqa_answer_text_must_match_the_named_option() -> None:
    row = dict(MEDQA[0], answer_idx="B")
    with pytest.raises(RecordError, match="answer: expected the text of option B"):
        formats.from_medqa(row)
    no_idx = {k: v for k, v in MEDQA[0].items() if k != "answer_idx"}
    assert formats.from_medqa(no_idx)["answer"] == "C"  # recovered from the answer text


def _medmcqa(cop: Any, i: int = 0) -> dict[str, Any]:
    return {
        "question": f"Question number {i} about the brachial plexus?",
        "exp": "Because.",
        "cop": cop,
        "opa": "first",
        "opb": "second",
        "opc": "third",
        "opd": "fourth",
        "subject_name": "Anatomy",
        "topic_name": None,
        "id": f"id-{i}",
        "choice_type": "single",
    }


@pytest.mark.parametrize(
    ("cops", "letters"),
    [
        ([1, 2, 3, 4, 2], ["A", "B", "C", "D", "B"]),  # original JSON release: 1–4
        ([0, 1, 2, 3, 2], ["A", "B", "C", "D", "C"]),  # hub parquet release: 0–3
    ],
)
def test_medmcqa_cop_base_is_decided_from_the_data(tmp_path: Path, cops: list[int], letters: list[str]) -> None:
    src = _write_jsonl(tmp_path / "mcqa.jsonl", [_medmcqa(c, i) for i, c in enumerate(cops)])
    ingest([str(src)], str(tmp_path / "out"), deid=False, eval_fraction=0.0)
    rows = _by_source_id(tmp_path / "out", "medmcqa_id")
    assert [rows[f"id-{i}"]["answer"] for i in range(len(cops))] == letters
    assert rows["id-0"]["explanation"] == "Because." and rows["id-0"]["meta"]["subject_name"] == "Anatomy"


def test_medmcqa_ambiguous_input_is_quarantined_not_guessed(tmp_path: Path) -> None:
    folder = tmp_path / "medmcqa"
    folder.mkdir()
    _write_jsonl(folder / "good.jsonl", [_medmcqa(4, 100), _medmcqa(1, 101)])
    ambiguous = _write_jsonl(folder / "amb.jsonl", [_medmcqa(c, i) for i, c in enumerate([1, 2, 3, 2])])
    mixed = _write_jsonl(folder / "mixed.jsonl", [_medmcqa(0, 200), _medmcqa(4, 201), _medmcqa(2, 202)])
    result = ingest([str(folder)], str(tmp_path / "out"), deid=False, eval_fraction=0.0)
    assert result.counts["train"] == 2 and result.counts["quarantined"] == 7
    quarantined = _quarantine(tmp_path / "out")
    amb = [q for q in quarantined if q["source_ref"].startswith(str(ambiguous))]
    assert len(amb) == 4
    assert all("fits both the 0–3 and the 1–4 convention" in q["reason"] for q in amb)
    assert all(q["reason"].startswith("cop:") for q in amb)
    both = [q for q in quarantined if q["source_ref"].startswith(str(mixed))]
    assert len(both) == 3 and all("both 0 and 4" in q["reason"] for q in both)


@pytest.mark.parametrize(("base", "letters"), [(1, ["A", "B", "C", "B"]), (0, ["B", "C", "D", "C"])])
def test_medmcqa_cop_base_can_be_stated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], base: int, letters: list[str]
) -> None:
    """A file whose cop values are all 1–3 fits both numberings: it loads once the numbering is stated."""
    src = _write_jsonl(tmp_path / "amb.jsonl", [_medmcqa(c, i) for i, c in enumerate([1, 2, 3, 2])])
    out = tmp_path / "out"
    assert main(["ingest", str(src), str(out), "--no-deid", "--eval-fraction", "0"]) == 1
    assert "fits both the 0–3 and the 1–4 convention" in capsys.readouterr().out
    assert (
        main(["ingest", str(src), str(out), "--no-deid", "--eval-fraction", "0", "--medmcqa-cop-base", str(base)]) == 0
    )
    got = _by_source_id(out, "medmcqa_id")
    assert [got[f"id-{i}"]["answer"] for i in range(4)] == letters
    (info,) = json.loads((out / "manifest.json").read_text())["inputs"]
    assert info["cop_base"] == base and info["cop_base_from"] == "given"
    # a stated numbering the data contradicts quarantines the rows it cannot place
    _write_jsonl(src, [_medmcqa(4, 0), _medmcqa(1, 1)])
    assert main(["ingest", str(src), str(out), "--no-deid", "--medmcqa-cop-base", "0"]) == 0
    (q,) = _quarantine(out)
    assert q["reason"] == "cop: expected 0–3 under this input's numbering, found 4"


def test_medmcqa_cop_base_choices_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["ingest", "a.jsonl", "out", "--medmcqa-cop-base", "2"])
    assert exit_.value.code == 2 and "invalid choice: 2" in capsys.readouterr().err


def test_medmcqa_base_rules() -> None:
    assert formats.medmcqa_base([0, 1, 2])[0] == 0
    assert formats.medmcqa_base([1, "4", 2])[0] == 1
    assert formats.medmcqa_base([0, 4])[0] is None
    assert formats.medmcqa_base([1, 2, 3])[0] is None
    assert formats.medmcqa_base([None, "x"])[0] is None
    with pytest.raises(RecordError, match="cop: expected 1–4 under this input's numbering, found 7"):
        formats.from_medmcqa(_medmcqa(7), base=1)


def test_pubmedqa_original_and_hf_columns(tmp_path: Path) -> None:
    ori = {
        "11111111": {
            "QUESTION": "Does drug X lower blood pressure in adults?",
            "CONTEXTS": ["Background text.", "Results text."],
            "LABELS": ["BACKGROUND", "RESULTS"],
            "MESHES": ["Hypertension"],
            "YEAR": "2001",
            "final_decision": "Yes",
            "LONG_ANSWER": "It does.",
        },
        "22222222": {
            "QUESTION": "Is Y associated with Z?",
            "CONTEXTS": ["Only text."],
            "LABELS": ["RESULTS"],
            "final_decision": "maybe",
            "LONG_ANSWER": "Unclear.",
        },
    }
    (tmp_path / "ori_pqal.json").write_text(json.dumps(ori, indent=1))
    hf_rows = [
        {
            "pubid": 33333333,
            "question": "Does exercise improve sleep quality?",
            "context": {"contexts": ["A trial."], "labels": ["METHODS"], "meshes": ["Sleep"]},
            "long_answer": "No clear effect.",
            "final_decision": "no",
        }
    ]
    _write_jsonl(tmp_path / "pqa_labeled.jsonl", hf_rows)
    ingest([str(tmp_path)], str(tmp_path / "out"), deid=False, eval_fraction=0.0)
    rows = _by_source_id(tmp_path / "out", "pmid")
    assert rows["11111111"]["answer"] == "yes" and rows["11111111"]["answer_type"] == "yes_no_maybe"
    assert rows["11111111"]["context"] == "BACKGROUND: Background text.\n\nRESULTS: Results text."
    assert rows["11111111"]["explanation"] == "It does." and rows["11111111"]["meta"]["year"] == "2001"
    assert rows["22222222"]["answer"] == "maybe"
    assert rows["33333333"]["answer"] == "no" and rows["33333333"]["context"] == "METHODS: A trial."
    assert all(r["options"] is None for r in rows.values())


def test_verifiable_list_and_jsonl(tmp_path: Path) -> None:
    items = [
        {"Open-ended Verifiable Question": "Name the enzyme inhibited by aspirin.", "Ground-True Answer": "COX"},
        {
            "Open-ended Verifiable Question": "Normal adult resting heart rate upper limit (beats/min)?",
            "Ground-True Answer": "100",
        },
    ]
    (tmp_path / "v.json").write_text(json.dumps(items))
    ingest([str(tmp_path / "v.json")], str(tmp_path / "out"), deid=False, eval_fraction=0.0)
    rows = {r["answer"]: r for r in _published(tmp_path / "out")}
    assert rows["COX"]["answer_type"] == "text" and rows["100"]["answer_type"] == "numeric"
    assert all(r["source"] == "verifiable" for r in rows.values())


HUATUO_SFT: list[dict[str, Any]] = [  # FreedomIntelligence/medical-o1-reasoning-SFT rows (written for this test)
    {
        "Question": "A 30-year-old woman has heat intolerance and exophthalmos. Which antibody is most likely present?",
        "Complex_CoT": "Okay, heat intolerance and exophthalmos point to Graves disease. So the TSH receptor antibody.",
        "Response": "Thyroid-stimulating immunoglobulin (TSH receptor antibody), as in Graves disease.",
    },
    {
        "Question": "Upper limit of a normal adult resting heart rate in beats per minute?",
        "Complex_CoT": "Tachycardia starts above this value.",
        "Response": "100",
    },
]


def test_huatuo_reasoning_sft_rows_are_detected_and_mapped(tmp_path: Path) -> None:
    assert [formats.detect_row(r) for r in HUATUO_SFT] == ["verifiable", "verifiable"]
    record = formats.from_verifiable(HUATUO_SFT[0])
    assert record["question"] == HUATUO_SFT[0]["Question"]
    assert record["answer"] == HUATUO_SFT[0]["Response"] and record["answer_type"] == "text"
    assert record["explanation"] == HUATUO_SFT[0]["Complex_CoT"]  # the chain of thought is the explanation
    assert record["options"] is None and record["meta"] == {"variant": "reasoning_sft"}
    assert formats.from_verifiable(HUATUO_SFT[1])["answer_type"] == "numeric"
    src = _write_jsonl(tmp_path / "medical_o1_sft_mix.jsonl", HUATUO_SFT)
    result = ingest([str(src)], str(tmp_path / "out"), deid=False, eval_fraction=0.0)
    assert result.manifest["inputs"][0]["format"] == "verifiable" and result.counts["train"] == 2
    rows = {r["answer"]: r for r in _published(tmp_path / "out")}
    assert set(rows) == {HUATUO_SFT[0]["Response"], "100"}
    assert all(r["source"] == "verifiable" and r["explanation"] for r in rows.values())


def test_huatuo_verifiable_problem_rows_keep_the_ground_truth_answer() -> None:
    row = {
        "Open-ended Verifiable Question": "Which toxoid does a child with a rusty-nail wound need?",
        "Ground-True Answer": "Tetanus toxoid",
        "Complex_CoT": "A dirty wound and unknown immunization.",
        "Response": "Give tetanus toxoid (and immunoglobulin if never immunized).",
    }
    assert formats.detect_row(row) == "verifiable"
    record = formats.from_verifiable(row)
    assert record["answer"] == "Tetanus toxoid" and record["explanation"] == "A dirty wound and unknown immunization."
    assert record["meta"] == {}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"Question": "Q?", "Complex_CoT": "c", "Response": "  "}, "Response: expected a non-empty answer"),
        ({"Question": "", "Complex_CoT": "c", "Response": "r"}, "Question: expected a non-empty string"),
        ({"Question": "Q?", "Complex_CoT": ["c"], "Response": "r"}, "Complex_CoT: expected the reasoning as a string"),
    ],
)
def test_huatuo_reasoning_sft_bad_rows_name_the_field(row: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        formats.from_verifiable(row)


def test_canonical_ids_are_replaced_by_keyed_ids_and_kept_only_in_the_map(tmp_path: Path) -> None:
    rows = [
        {"id": "mine-0001", "source": "local", "question": "2+2?", "answer": "4", "answer_type": "numeric"},
        {"source": "local", "question": "Is water wet?", "answer": "yes", "answer_type": "yes_no_maybe"},
    ]
    _write_jsonl(tmp_path / "c.jsonl", rows)
    ingest([str(tmp_path / "c.jsonl")], str(tmp_path / "out"), deid=False, eval_fraction=0.0)
    out = {r["question"]: r for r in _published(tmp_path / "out")}
    assert all(re.fullmatch(r"local-[0-9a-f]{16}", r["id"]) for r in out.values())
    assert _by_source_id(tmp_path / "out", "record_id") == {"mine-0001": out["2+2?"]}
    assert not any("mine-0001" in p.read_text() for p in (tmp_path / "out").iterdir())


def test_every_sample_file_loads_with_its_format(tmp_path: Path) -> None:
    result = ingest([str(SAMPLES)], str(tmp_path / "out"), deid=False)
    detected = {Path(i["uri"]).name: i["format"] for i in result.manifest["inputs"]}
    assert detected == {
        "medmcqa_original.jsonl": "medmcqa",
        "medqa_usmle.jsonl": "medqa",
        "pubmedqa_ori_pqal.json": "pubmedqa",
        "synth_calculations.jsonl": "canonical",
        "verifiable_open_ended.json": "verifiable",
        "with_broken_lines.jsonl": "medqa",
    }
    c = result.counts
    assert c["quarantined"] == 2
    assert c["read"] == c["train"] + c["eval"] + c["quarantined"] + c["duplicates"]
    by_source = result.manifest["counts_by_record_source"]
    assert set(by_source) == {"medqa", "medmcqa", "pubmedqa", "synth", "verifiable"}


def test_parquet_hub_release(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_medmcqa(c, i) for i, c in enumerate([0, 3, 1, 2])]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train-00000-of-00001.parquet")
    ingest([str(tmp_path)], str(tmp_path / "out"), deid=False, eval_fraction=0.0)
    got = {k: r["answer"] for k, r in _by_source_id(tmp_path / "out", "medmcqa_id").items()}
    assert got == {"id-0": "A", "id-1": "D", "id-2": "B", "id-3": "C"}


def test_hf_saved_dataset_via_load_from_disk(tmp_path: Path) -> None:
    import datasets

    pqa = [
        {
            "pubid": 44444444 + i,
            "question": f"Does intervention {i} help?",
            "context": {"contexts": ["Some text."], "labels": ["RESULTS"], "meshes": ["X"]},
            "long_answer": "Yes.",
            "final_decision": ["yes", "no"][i % 2],
        }
        for i in range(4)
    ]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(pqa)}).save_to_disk(str(tmp_path / "pqa"))
    spec = f"hf://{tmp_path / 'pqa'}@train"
    assert parse_hf(spec) == (str(tmp_path / "pqa"), None, "train")
    ingest([spec], str(tmp_path / "out"), deid=False, eval_fraction=0.0)
    got = {k: r["answer"] for k, r in _by_source_id(tmp_path / "out", "pmid").items()}
    assert got == {"44444444": "yes", "44444445": "no", "44444446": "yes", "44444447": "no"}
    # no split given: every split of the saved DatasetDict is an input
    assert [i.uri for i in expand(f"hf://{tmp_path / 'pqa'}")] == [f"hf://{tmp_path / 'pqa'}@train"]


def test_hf_dataset_folder_via_load_dataset(tmp_path: Path) -> None:
    """A hub-style dataset repository checked out locally (data files per split) loads through
    ``datasets.load_dataset`` exactly as a hub id would where the hub is reachable."""
    repo = tmp_path / "medqa-repo"
    repo.mkdir()
    _write_jsonl(repo / "train.jsonl", MEDQA)
    _write_jsonl(repo / "test.jsonl", [dict(MEDQA[0], question="Another question about tetany?")])
    result = ingest([f"hf://{repo}@train"], str(tmp_path / "out"), deid=False, eval_fraction=0.0)
    assert result.counts["train"] == 2
    assert sorted(r["answer"] for r in _published(tmp_path / "out")) == ["A", "C"]
    both = ingest([f"hf://{repo}"], str(tmp_path / "out2"), deid=False, eval_fraction=0.0)
    assert both.counts["train"] == 3
    assert [i["uri"] for i in both.manifest["inputs"]] == [f"hf://{repo}@test", f"hf://{repo}@train"]


@pytest.mark.slow  # the hub client retries for ~25 s before giving up offline
def test_hf_unreachable_dataset_fails_naming_it(tmp_path: Path) -> None:
    from medgrpo.data.ingest import IngestError

    with pytest.raises(IngestError, match="hf://no-such-org/no-such-dataset"):
        ingest(["hf://no-such-org/no-such-dataset"], str(tmp_path / "out"), deid=False)


def test_detection_by_majority_and_unknown_format(tmp_path: Path) -> None:
    assert formats.detect([MEDQA[0], MEDQA[1], _medmcqa(1)]) == "medqa"
    assert formats.detect([{"foo": 1}, "x", 3]) is None
    _write_jsonl(tmp_path / "weird.jsonl", [{"patient": "x", "note": "y"}])
    from medgrpo.data.ingest import IngestError

    with pytest.raises(IngestError, match=r"weird\.jsonl.*nothing usable.*format: expected rows of one of"):
        ingest([str(tmp_path / "weird.jsonl")], str(tmp_path / "out"), deid=False)


def test_mixed_formats_in_one_file_quarantine_the_minority(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "mixed.jsonl", [MEDQA[0], MEDQA[1], _medmcqa(1)])
    result = ingest([str(src)], str(tmp_path / "out"), deid=False)
    assert result.counts["quarantined"] == 1
    (q,) = _quarantine(tmp_path / "out")
    assert q["source_ref"] == f"{src}:3"
    assert "medqa format" in q["reason"]


def test_one_line_documents_and_long_first_lines(tmp_path: Path) -> None:
    ori = {
        str(50000000 + i): {
            "QUESTION": f"Does treatment {i} reduce readmissions?",
            "CONTEXTS": ["Background sentence. " * 20, "Results sentence. " * 20],
            "LABELS": ["BACKGROUND", "RESULTS"],
            "final_decision": ["yes", "no", "maybe"][i % 3],
            "LONG_ANSWER": "Answer.",
        }
        for i in range(300)
    }
    one_line = json.dumps(ori)
    assert len(one_line) > 65536 and "\n" not in one_line
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ori_pqal.json").write_text(one_line)
    result = ingest([str(tmp_path / "a")], str(tmp_path / "out"), deid=False)
    assert result.counts["read"] == 300 and result.counts["quarantined"] == 0
    long_first = {
        "source": "local",
        "question": "Long context?",
        "context": "x " * 40000,
        "answer": "no",
        "answer_type": "yes_no_maybe",
    }
    short = {"source": "local", "question": "Short?", "answer": "yes", "answer_type": "yes_no_maybe"}
    _write_jsonl(tmp_path / "long.jsonl", [long_first, short])
    result = ingest([str(tmp_path / "long.jsonl")], str(tmp_path / "out2"), deid=False)
    assert result.counts["read"] == 2 and result.counts["quarantined"] == 0


def test_hf_missing_split_fails_naming_it(tmp_path: Path) -> None:
    import datasets

    from medgrpo.data.ingest import IngestError

    datasets.DatasetDict({"train": datasets.Dataset.from_list(MEDQA[:1])}).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(IngestError, match=r"hf://.*saved: expected split 'validation', found splits \['train'\]"):
        ingest([f"hf://{tmp_path / 'saved'}@validation"], str(tmp_path / "out"), deid=False)
