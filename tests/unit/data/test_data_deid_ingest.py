"""Ingest through the real de-identification engine (medgrpo.deid): no raw PHI reaches the output, and answers and
options are never altered (an item that would need it is quarantined with the reason instead).

Policies by source kind (DESIGN §8a): the MedQA file goes through ``public-benchmark`` (strict identifiers, a
patient named with a title), the canonical notes through ``clinical``. These tests use the real engine (no mock);
they are the slowest data tests (engine load ~ seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medgrpo.data.ingest import deidentify_shard, ingest, prepare

PHI = ["Johnathan Whitfield", "617-555-0199", "j.whitfield@example.com", "MRN 48293017"]


def _rows() -> list[dict[str, Any]]:
    return [
        {
            "question": "Mr. Johnathan Whitfield (MRN 48293017, phone 617-555-0199) has chest pain. Best first test?",
            "options": {"A": "ECG", "B": "Chest X-ray", "C": "D-dimer"},
            "answer_idx": "A",
            "answer": "ECG",
            "meta_info": "step2&3",
        },
        {
            "source": "notes",
            "question": "Is the patient fit for discharge?",
            "context": "Seen by Dr. Whitfield; contact j.whitfield@example.com or 617-555-0199.",
            "answer": "yes",
            "answer_type": "yes_no_maybe",
            "meta": {"note": "called Johnathan Whitfield at 617-555-0199", "unit": "none"},
        },
        {
            "source": "notes",
            "question": "Who should be called about the result?",
            "answer": "Call Johnathan Whitfield at 617-555-0199",
            "answer_type": "text",
        },
    ]


@pytest.fixture(scope="module", autouse=True)
def _dev_id_key() -> Any:
    """Record ids need a key; the rows here are synthetic, so the public development key is fine."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDGRPO_ALLOW_DEV_ID_KEY", "true")
        yield


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    tmp = tmp_path_factory.mktemp("deid")
    lines = [json.dumps(r) for r in _rows()[:1]]
    lines.append('{"question": "Johnathan Whitfield, 617-555-0199, broken')  # raw PHI in an unparseable row
    lines.append(json.dumps(_rows()[0] | {"answer_idx": "Q"}))  # parseable bad row with PHI
    (tmp / "medqa.jsonl").write_text("\n".join(lines) + "\n")
    (tmp / "notes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()[1:]))
    result = ingest([str(tmp / "medqa.jsonl"), str(tmp / "notes.jsonl")], str(tmp / "ds"), eval_fraction=0.0)
    return tmp, result


def test_no_raw_phi_in_any_published_file(published: tuple[Path, Any]) -> None:
    tmp, result = published
    # the text answer that names a person is quarantined, not rewritten
    assert result.counts == {"read": 5, "train": 2, "eval": 0, "quarantined": 3, "duplicates": 0}
    for name in ("train.jsonl", "eval.jsonl", "quarantine.jsonl", "manifest.json"):
        text = (tmp / "ds" / name).read_text()
        for value in PHI:
            assert value not in text, f"{value!r} leaked into {name}"
    quarantine = [json.loads(line) for line in (tmp / "ds" / "quarantine.jsonl").read_text().splitlines()]
    assert len(quarantine) == 3 and all(q["record"] is not None for q in quarantine)


def test_structure_and_answers_survive(published: tuple[Path, Any]) -> None:
    tmp, result = published
    rows = {r["source"] + r["answer_type"]: r for r in map(json.loads, (tmp / "ds" / "train.jsonl").open())}
    assert rows["medqachoice"]["answer"] == "A" and set(rows["medqachoice"]["options"]) == {"A", "B", "C"}
    assert rows["notesyes_no_maybe"]["answer"] == "yes"
    assert rows["notesyes_no_maybe"]["meta"]["unit"] == "none"  # structured meta kept, free meta de-identified
    assert "note" in rows["notesyes_no_maybe"]["meta"]
    assert "[NAME]" in rows["medqachoice"]["question"] and "[PHONE]" in rows["medqachoice"]["question"]
    assert rows["medqachoice"]["options"] == _rows()[0]["options"]  # options are never altered
    assert "notestext" not in rows  # a text answer that would need redaction is quarantined instead
    quarantine = [json.loads(line) for line in (tmp / "ds" / "quarantine.jsonl").open()]
    (why,) = [q["reason"] for q in quarantine if "deid:" in q["reason"]]
    assert "answer would be altered" in why and "clinical" in why and "Whitfield" not in why
    deid = result.manifest["deid"]
    assert deid["enabled"] is True and deid["engine_version"]
    assert set(deid["policies"]) == {"public-benchmark", "clinical"}
    assert deid["policy_by_source"] == {
        str(tmp / "medqa.jsonl"): ["public-benchmark"],
        str(tmp / "notes.jsonl"): ["clinical"],
    }
    assert deid["policies"]["clinical"]["quarantined_protected_fields"] == 1
    assert deid["records"] == 3 and deid["records_touched"] >= 2 and sum(deid["entities"].values()) >= 6


def test_ids_hash_raw_content_so_they_do_not_depend_on_deid(published: tuple[Path, Any], tmp_path: Path) -> None:
    tmp, _ = published
    plain = ingest(
        [str(tmp / "medqa.jsonl"), str(tmp / "notes.jsonl")], str(tmp_path / "plain"), deid=False, eval_fraction=0.0
    )
    ids_plain = {json.loads(line)["id"] for line in (tmp_path / "plain" / "train.jsonl").open()}
    ids_deid = {json.loads(line)["id"] for line in (tmp / "ds" / "train.jsonl").open()}
    assert ids_deid < ids_plain and len(ids_plain - ids_deid) == 1  # the text answer with PHI went to quarantine
    assert plain.manifest["deid"]["enabled"] is False


def test_deidentify_shard_stage_is_deterministic(published: tuple[Path, Any], tmp_path: Path) -> None:
    tmp, _ = published
    prepared = prepare([str(tmp / "notes.jsonl")], str(tmp_path / "staging"))
    (shard,) = prepared["shards"]
    audit_a = deidentify_shard(shard, str(tmp_path / "a.jsonl"))
    audit_b = deidentify_shard(shard, str(tmp_path / "b.jsonl"))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert audit_a["records"] == audit_b["records"] == 2  # per-shard, not cumulative
    assert json.dumps(audit_a)  # JSON-able for XCom
    for value in PHI:
        assert value not in (tmp_path / "a.jsonl").read_text()


def test_bad_policy_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(json.dumps(_rows()[1]) + "\n")
    (tmp_path / "policy.yaml").write_text("this: [is not a policy\n")
    from medgrpo.deid import DeidError

    with pytest.raises(DeidError):
        ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), policy=str(tmp_path / "policy.yaml"))
    assert not (tmp_path / "ds").exists()


def test_finalize_without_audits_underclaims_but_still_protects_quarantine(tmp_path: Path) -> None:
    from medgrpo.data.ingest import finalize

    lines = [json.dumps(_rows()[0]), '{"question": "Johnathan Whitfield 617-555-0199 truncated']
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    prepared = prepare([str(tmp_path / "in.jsonl")], str(tmp_path / "staging"))
    result = finalize(prepared["shards"], str(tmp_path / "staging"), str(tmp_path / "ds"))  # no audits, no deid=
    assert result.manifest["deid"]["enabled"] is False
    assert "no de-identification audits" in result.manifest["deid"]["reason"]
    quarantine = (tmp_path / "ds" / "quarantine.jsonl").read_text()
    assert "617-555-0199" not in quarantine and "Johnathan Whitfield" not in quarantine


def test_no_part_of_a_name_survives(published: tuple[Path, Any]) -> None:
    tmp, _ = published
    for name in ("train.jsonl", "quarantine.jsonl"):
        assert "Whitfield" not in (tmp / "ds" / name).read_text()
