"""Published ids are keyed hashes; source ids live only in the protected id map; patients are pseudonyms.

DESIGN §4 and §8a: a record's own id ("MRN-7730021") and ``meta.patient_id`` never reach the
dataset directory; ids stay the same when de-identification changes; per-patient surrogates work
through ``medgrpo ingest``.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from medgrpo.cli import main
from medgrpo.data.dataset import read_manifest, read_split
from medgrpo.data.ingest import IngestError, ingest
from medgrpo.data.schema import content_hash

SECRET = "unit-test-id-secret-0123456789"


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _clinical(i: int, patient: str) -> dict[str, Any]:
    return {
        "id": f"MRN-77300{i:02d}",
        "source": "clinic",
        "question": f"Mr. John Smith was seen in clinic on 03/04/2021 (visit {i}). Is a follow-up needed?",
        "answer": "yes",
        "answer_type": "yes_no_maybe",
        "meta": {"patient_id": patient},
    }


def _published(out: Path) -> list[dict[str, Any]]:
    return read_split(str(out), "train") + read_split(str(out), "eval")


def _all_text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MEDGRPO_ID_SECRET", SECRET)
    return SECRET


def test_source_ids_and_patient_ids_never_reach_the_dataset(tmp_path: Path, secret: str) -> None:
    rows = [_clinical(i, "P-4711" if i < 3 else "P-0815") for i in range(6)]
    rows.append({"id": "MRN-7730099", "source": "clinic", "question": "Broken?", "answer_type": "numeric"})
    src = _write_jsonl(tmp_path / "notes.jsonl", rows)
    result = ingest([str(src)], str(tmp_path / "ds"), deid=False, eval_fraction=0.3)
    assert result.counts["quarantined"] == 1
    records = _published(tmp_path / "ds")
    assert len(records) == 6
    assert all(re.fullmatch(r"clinic-[0-9a-f]{16}", r["id"]) for r in records)
    pseudonyms = {r["meta"]["patient_id"] for r in records}
    assert len(pseudonyms) == 2 and all(re.fullmatch(r"pt-[0-9a-f]{16}", p) for p in pseudonyms)
    text = _all_text(tmp_path / "ds")  # every file, the manifest and the quarantine included
    for raw in ("MRN-77300", "7730099", "P-4711", "P-0815"):
        assert raw not in text
    # the map: outside the dataset, owner-only, marked PHI, one entry per record id and per patient
    ref = result.manifest["ids"]["source_id_map"]
    assert ref["classification"] == "PHI" and ref["entries"] == 6 + 2 + 1
    path = Path(ref["uri"])
    assert tmp_path / "ds" not in path.parents
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    header, *entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert header["classification"] == "PHI" and header["version"] == result.manifest["version"]
    by_source = {(e["kind"], e["source_id"]): e["published_id"] for e in entries}
    published = {r["id"] for r in records}
    assert {by_source[("record_id", f"MRN-77300{i:02d}")] for i in range(6)} == published
    assert {by_source[("patient_id", "P-4711")], by_source[("patient_id", "P-0815")]} == pseudonyms
    assert ("record_id", "MRN-7730099") in by_source  # the quarantined row's id is mapped, not published


def test_ids_are_keyed_not_a_plain_content_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    row = {"source": "clinic", "question": "Is water wet?", "answer": "yes", "answer_type": "yes_no_maybe"}
    src = _write_jsonl(tmp_path / "in.jsonl", [row])

    def published_id(secret: str, out: str) -> str:
        monkeypatch.setenv("MEDGRPO_ID_SECRET", secret)
        ingest([str(src)], str(tmp_path / out), deid=False, eval_fraction=0.0)
        (record,) = read_split(str(tmp_path / out), "train")
        return str(record["id"])

    a, again, other = published_id(SECRET, "a"), published_id(SECRET, "b"), published_id(SECRET + "-other", "c")
    assert a == again != other
    assert a != f"clinic-{content_hash(row)[:16]}"  # not the unkeyed sha256 anyone could recompute
    manifest = read_manifest(str(tmp_path / "c"))
    assert manifest["ids"]["key"] == "deployment" and re.fullmatch(r"[0-9a-f]{12}", manifest["ids"]["key_fingerprint"])
    assert manifest["ids"]["key_fingerprint"] != read_manifest(str(tmp_path / "a"))["ids"]["key_fingerprint"]


def test_ids_and_split_do_not_move_when_deidentification_changes(tmp_path: Path, secret: str) -> None:
    rows = [_clinical(i, f"P{i % 4}") for i in range(40)]
    src = _write_jsonl(tmp_path / "in.jsonl", rows)
    plain = ingest([str(src)], str(tmp_path / "plain"), deid=False, eval_fraction=0.3)
    clinical = ingest([str(src)], str(tmp_path / "deid"), policy="clinical", eval_fraction=0.3)
    assert plain.manifest["content_sha256"] != clinical.manifest["content_sha256"]  # the text did change
    for split in ("train", "eval"):
        before = {r["id"] for r in read_split(str(tmp_path / "plain"), split)}
        after = {r["id"] for r in read_split(str(tmp_path / "deid"), split)}
        assert before == after and before


def test_patient_surrogates_are_consistent_through_ingest(
    tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDGRPO_DEID_SECRET", "unit-test-deid-secret")
    rows = [_clinical(i, "P-1" if i < 4 else "P-2") for i in range(8)]
    src = _write_jsonl(tmp_path / "in.jsonl", rows)
    code = main(["ingest", str(src), str(tmp_path / "ds"), "--policy", "surrogates", "--eval-fraction", "0"])
    assert code == 0
    names: dict[str, set[str]] = {}
    for record in read_split(str(tmp_path / "ds"), "train"):
        assert "John Smith" not in record["question"]
        name = record["question"].split(" was seen")[0]
        names.setdefault(record["meta"]["patient_id"], set()).add(name)
    assert len(names) == 2
    assert all(len(v) == 1 for v in names.values()), names  # one surrogate per patient, not per record
    assert len(set().union(*names.values())) == 2  # and the two patients got different ones


def test_no_secret_uses_a_private_installation_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Out of the box (no secret, no dev flag) one machine ingests with its own random key, kept 0600."""
    monkeypatch.delenv("MEDGRPO_ID_SECRET", raising=False)
    monkeypatch.delenv("MEDGRPO_ALLOW_DEV_ID_KEY", raising=False)
    key_file = tmp_path / "config" / "medgrpo" / "id_key"
    monkeypatch.setenv("MEDGRPO_ID_KEY_FILE", str(key_file))
    src = _write_jsonl(tmp_path / "in.jsonl", [_clinical(0, "P")])
    first = ingest([str(src)], str(tmp_path / "ds1"), deid=False)
    assert first.manifest["ids"]["key"] == "installation"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert any("installation id key" in r.getMessage() for r in caplog.records)
    second = ingest([str(src)], str(tmp_path / "ds2"), deid=False)  # the same key again: the same ids
    ids = [
        json.loads(line)["id"]
        for ds in ("ds1", "ds2")
        for split in ("train", "eval")
        for line in (tmp_path / ds / f"{split}.jsonl").read_text().splitlines()
    ]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert first.manifest["ids"]["key_fingerprint"] == second.manifest["ids"]["key_fingerprint"]
    # the development key would have given other ids: the installation key is not the public one
    monkeypatch.setenv("MEDGRPO_ALLOW_DEV_ID_KEY", "true")
    dev = ingest([str(src)], str(tmp_path / "ds3"), deid=False)
    assert dev.manifest["ids"]["key_fingerprint"] != first.manifest["ids"]["key_fingerprint"]


def test_an_unusable_key_fails_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("MEDGRPO_ID_SECRET", raising=False)
    monkeypatch.delenv("MEDGRPO_ALLOW_DEV_ID_KEY", raising=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("MEDGRPO_ID_KEY_FILE", str(blocker / "id_key"))
    src = _write_jsonl(tmp_path / "in.jsonl", [_clinical(0, "P")])
    with pytest.raises(IngestError, match=r"installation id key .* could not be read or created"):
        ingest([str(src)], str(tmp_path / "ds"), deid=False)
    assert main(["ingest", str(src), str(tmp_path / "ds"), "--no-deid"]) == 1
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "MEDGRPO_ID_SECRET" in out
    assert not (tmp_path / "ds").exists()
    monkeypatch.setenv("MEDGRPO_ID_SECRET", "short")
    with pytest.raises(IngestError, match="at least 16 characters, found 5"):
        ingest([str(src)], str(tmp_path / "ds"), deid=False)


def test_development_key_is_explicit_and_loud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MEDGRPO_ID_SECRET", raising=False)
    monkeypatch.setenv("MEDGRPO_ALLOW_DEV_ID_KEY", "true")
    src = _write_jsonl(tmp_path / "in.jsonl", [_clinical(0, "P")])
    result = ingest([str(src)], str(tmp_path / "ds"), deid=False)
    assert result.manifest["ids"]["key"] == "development"
    assert any("PUBLIC development id key" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_id_map_inside_the_dataset_is_refused(tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDGRPO_ID_MAP_ROOT", str(tmp_path / "ds" / "maps"))
    src = _write_jsonl(tmp_path / "in.jsonl", [_clinical(0, "P")])
    with pytest.raises(IngestError, match="outside the dataset directory"):
        ingest([str(src)], str(tmp_path / "ds"), deid=False)
    assert not (tmp_path / "ds").exists()


def test_default_id_map_root_is_under_the_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MEDGRPO_ID_MAP_ROOT", raising=False)
    monkeypatch.setenv("MEDGRPO_STATE_DIR", str(tmp_path / "state"))
    from medgrpo.data import ids

    assert ids.id_map_root() == str(tmp_path / "state" / "id-maps")


def test_quarantined_raw_rows_lose_their_source_ids(tmp_path: Path, secret: str) -> None:
    rows = [
        _clinical(0, "P-9"),
        {"id": "MRN-1234567", "question": "no answer", "answer_type": "text", "meta": {"patient_id": "P-9"}},
    ]
    src = _write_jsonl(tmp_path / "in.jsonl", rows)
    ingest([str(src)], str(tmp_path / "ds"), deid=False)
    (q,) = read_split(str(tmp_path / "ds"), "quarantine")
    assert q["record"]["id"].startswith("q-") and q["record"]["meta"]["patient_id"].startswith("pt-")
    assert "1234567" not in json.dumps(q) and "P-9" not in json.dumps(q)
