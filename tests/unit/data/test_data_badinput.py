"""Bad input, property-based: the loader never crashes, drops nothing silently, and every bad row
is quarantined with a reason that names a field."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medgrpo.data import sources
from medgrpo.data.ingest import IngestError, ingest
from medgrpo.data.schema import RecordError, validate_record

REASON = re.compile(r"^[A-Za-z_][\w .\-\[\]]*: expected .+")


def _medqa(i: int) -> dict[str, Any]:
    return {
        "question": f"Item {i}: which nerve supplies the deltoid muscle?",
        "options": {"A": "Axillary", "B": "Radial", "C": "Median"},
        "answer_idx": "A",
        "answer": "Axillary",
        "meta_info": "step1",
    }


def _bad_line(kind: str, i: int, draw_text: str) -> bytes:
    good = _medqa(i)
    if kind == "truncated":
        text = json.dumps(good)
        return text[: max(1, len(text) // 2)].encode()
    if kind == "wrong_type_question":
        return json.dumps(good | {"question": i}).encode()
    if kind == "wrong_type_options":
        return json.dumps(good | {"options": [1, 2, 3]}).encode()
    if kind == "missing_options":
        return json.dumps({k: v for k, v in good.items() if k != "options"}).encode()
    if kind == "one_option":
        return json.dumps(good | {"options": {"A": "Axillary"}}).encode()
    if kind == "extra_option_mismatch":
        return json.dumps(good | {"options": {"A": "x", "B": "y", "C": "z", "D": "w"}}).encode()
    if kind == "empty_question":
        return json.dumps(good | {"question": "   "}).encode()
    if kind == "answer_names_no_option":
        return json.dumps(good | {"answer_idx": "E"}).encode()
    if kind == "enormous":
        return json.dumps(good | {"question": "x" * 25_000}).encode()
    if kind == "invalid_utf8":
        return json.dumps(good).encode()[:20] + b"\xff\xfe" + draw_text.encode().replace(b"\n", b" ")  # one line
    if kind == "not_object":
        return json.dumps([draw_text, i]).encode()
    if kind == "other_format":
        return json.dumps({"question": "q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 9}).encode()
    if kind == "garbage":
        return draw_text.encode("utf-8", errors="surrogatepass").replace(b"\n", b" ") or b"?"
    raise AssertionError(kind)


KINDS = [
    "truncated", "wrong_type_question", "wrong_type_options", "missing_options", "one_option",
    "extra_option_mismatch", "empty_question", "answer_names_no_option", "enormous", "invalid_utf8",
    "not_object", "other_format", "garbage",
]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(["good", *KINDS]), st.text(max_size=40)),
        min_size=1,
        max_size=25,
    )
)
def test_every_bad_row_is_quarantined_with_a_reason(tmp_path: Path, plan: list[tuple[str, str]]) -> None:
    lines = [
        json.dumps(_medqa(i)).encode() if kind == "good" else _bad_line(kind, i, text)
        for i, (kind, text) in enumerate(plan)
    ]
    # a "garbage" line of only JSON whitespace is a blank line, which is not a row (other whitespace,
    # e.g. a form feed, is a row the reader quarantines)
    rows = sum(1 for line in lines if line.strip(b" \t\r\n"))
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "ds"
    good = sum(1 for kind, _ in plan if kind == "good")
    try:
        result = ingest([str(src)], str(out), deid=False, fmt="medqa")
    except IngestError as err:
        assert good == 0, f"rejected a source with {good} good rows: {err}"
        assert str(src) in str(err) and "\n" not in str(err)
        return
    c = result.counts
    assert c["read"] == rows
    assert c["read"] == c["train"] + c["eval"] + c["quarantined"] + c["duplicates"]
    assert c["train"] + c["eval"] + c["duplicates"] == good
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert len(quarantine) == c["quarantined"]
    for q in quarantine:
        assert REASON.match(q["reason"]), q["reason"]
        assert q["source_ref"].startswith(f"{src}:")


@settings(max_examples=300, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
        max_leaves=20,
    )
)
def test_validation_never_crashes_on_arbitrary_json(value: Any) -> None:
    try:
        validate_record(value)
    except RecordError as err:
        assert REASON.match(str(err)), str(err)


@settings(max_examples=200, deadline=None)
@given(
    record=st.fixed_dictionaries(
        {
            "id": st.one_of(st.just("x-0001"), st.integers(), st.text(max_size=5)),
            "source": st.one_of(st.just("medqa"), st.just("Bad Source"), st.none()),
            "question": st.one_of(st.just("A question?"), st.just(""), st.integers()),
            "options": st.one_of(st.none(), st.dictionaries(st.sampled_from("ABz"), st.text(max_size=3), max_size=3)),
            "answer": st.one_of(st.sampled_from(["A", "B", "yes", "7.5", "12 mg"]), st.integers()),
            "answer_type": st.sampled_from(["choice", "numeric", "yes_no_maybe", "text", "essay"]),
        }
    )
)
def test_validation_reasons_name_a_field(record: dict[str, Any]) -> None:
    try:
        out = validate_record(record)
    except RecordError as err:
        field = str(err).split(":", 1)[0].split(".")[0]
        assert field in {*record, "record"}, str(err)
        return
    if out["answer_type"] == "choice":
        assert out["answer"] in (out["options"] or {})


def test_reasons_describe_free_text_without_echoing_it() -> None:
    secret = "Patient Johnathan Whitfield lives at 12 Elm Street"
    with pytest.raises(RecordError) as info:
        validate_record({"id": "a-1", "source": "s", "question": "q", "answer": secret, "answer_type": "numeric"})
    assert "Whitfield" not in str(info.value) and "answer: expected a decimal string" in str(info.value)


def test_overlong_line_is_quarantined_without_being_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "MAX_LINE_BYTES", 1000)
    lines = [json.dumps(_medqa(0)), json.dumps(_medqa(1) | {"question": "y" * 5000}), json.dumps(_medqa(2))]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    result = ingest([str(tmp_path / "in.jsonl")], str(tmp_path / "ds"), deid=False)
    assert result.counts["quarantined"] == 1 and result.counts["read"] == 3
    (q,) = [json.loads(line) for line in (tmp_path / "ds" / "quarantine.jsonl").read_text().splitlines()]
    assert q["source_ref"].endswith(":2") and "at most 1000 bytes" in q["reason"] and q["record"] is None


def test_gzip_bom_and_crlf(tmp_path: Path) -> None:
    body = "\ufeff" + "\r\n".join(json.dumps(_medqa(i)) for i in range(3)) + "\r\n"
    with gzip.open(tmp_path / "in.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(body)
    result = ingest([str(tmp_path / "in.jsonl.gz")], str(tmp_path / "ds"), deid=False)
    assert result.counts["quarantined"] == 0 and result.counts["train"] + result.counts["eval"] == 3
    (tmp_path / "trunc.jsonl.gz").write_bytes((tmp_path / "in.jsonl.gz").read_bytes()[:-12])
    result = ingest([str(tmp_path / "trunc.jsonl.gz")], str(tmp_path / "ds2"), deid=False)
    assert result.counts["quarantined"] >= 1 and result.counts["read"] >= 1


def test_truncated_json_document_is_one_quarantined_row(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text(json.dumps([_medqa(i) for i in range(3)])[:-20])
    (tmp_path / "ok.jsonl").write_text(json.dumps(_medqa(9)) + "\n")
    result = ingest([str(tmp_path)], str(tmp_path / "ds"), deid=False)
    assert result.counts["quarantined"] == 1 and result.counts["read"] == 2


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(st.tuples(st.sampled_from(["good", "medmcqa", "pubmed", *KINDS]), st.text(max_size=20)), max_size=20)
)
def test_mixed_formats_with_auto_detection_account_for_every_row(tmp_path: Path, plan: list[tuple[str, str]]) -> None:
    lines = []
    for i, (kind, text) in enumerate(plan):
        if kind == "good":
            lines.append(json.dumps(_medqa(i)).encode())
        elif kind == "medmcqa":
            row = {"question": f"q{i}?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 4}
            lines.append(json.dumps(row).encode())
        elif kind == "pubmed":
            lines.append(json.dumps({"question": f"Is {i} prime?", "final_decision": "maybe"}).encode())
        else:
            lines.append(_bad_line(kind, i, text))
    rows = sum(1 for line in lines if line.strip())
    src = tmp_path / "mixed.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    try:
        result = ingest([str(src)], str(tmp_path / "ds"), deid=False)
    except IngestError as err:
        assert str(src) in str(err) and "\n" not in str(err)
        return
    c = result.counts
    assert c["read"] == rows
    assert c["read"] == c["train"] + c["eval"] + c["quarantined"] + c["duplicates"]
    quarantine = [json.loads(line) for line in (tmp_path / "ds" / "quarantine.jsonl").read_text().splitlines()]
    assert len(quarantine) == c["quarantined"] and all(REASON.match(q["reason"]) for q in quarantine)
