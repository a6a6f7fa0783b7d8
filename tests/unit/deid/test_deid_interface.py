"""The contract others integrate against: load_deidentifier, deidentify_records, audit, DeidError."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from medgrpo.deid import DeidError, load_deidentifier
from medgrpo.deid.clinical_texts import CLINICAL_VIGNETTES
from medgrpo.deid.engine import Deidentifier

PHI_NOTE = (
    "Patient: John Smith, MRN 12345678, seen 03/14/2019 by Dr. Alvarez at Mercy General Hospital. "
    "Call (617) 555-1234 or john.smith@gmail.com. Lives at 123 Main Street, Springfield, IL 62704."
)
PHI_VALUES = ["John", "Smith", "12345678", "03/14/2019", "Alvarez", "Mercy", "555-1234", "john.smith@gmail.com",
              "123 Main Street", "Springfield", "62704"]  # fmt: skip


def test_package_import_is_light() -> None:
    code = (
        "import sys, medgrpo.deid, medgrpo.deid.commands; "
        "print(any(m.startswith(('presidio', 'spacy', 'torch')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_named_fields_are_deidentified_and_others_pass_through(deid: Deidentifier) -> None:
    records: list[dict[str, Any]] = [
        {"id": "r1", "question": PHI_NOTE, "options": {"A": "Call John Smith", "B": "Parkinson disease"},
         "answer": "B", "source": "John Smith", "meta": {"n": 3}},
        {"id": "r2", "question": "A 45-year-old man presents with chest pain.", "options": None, "answer": "yes"},
    ]  # fmt: skip
    out = deid.deidentify_records(records, text_fields=["question", "options", "context", "explanation", "answer"])
    assert [r["id"] for r in out] == ["r1", "r2"]
    for value in PHI_VALUES:
        assert value not in out[0]["question"], value
    assert out[0]["options"] == {"A": "Call [NAME]", "B": "Parkinson disease"}
    assert out[0]["source"] == "John Smith"  # not a named field: passes through untouched
    assert out[0]["meta"] == {"n": 3}
    assert out[1] == records[1]
    assert records[0]["question"] == PHI_NOTE  # the input is not modified


def test_text_fields_none_means_every_string_field_but_id(deid: Deidentifier) -> None:
    records = [{"id": "Smith-0001 John Smith", "note": "Seen by Dr. Alvarez.", "meta": {"who": ["Mr. Garcia"]}, "n": 4}]
    out = deid.deidentify_records(records, text_fields=None)
    assert out[0]["id"] == records[0]["id"]
    assert out[0]["note"] == "Seen by Dr. [NAME]."
    assert out[0]["meta"] == {"who": ["Mr. [NAME]"]}
    assert out[0]["n"] == 4


def test_same_input_same_policy_same_output(deid: Deidentifier) -> None:
    records = [{"id": str(i), "question": f"{PHI_NOTE} Visit {i}."} for i in range(5)]
    first = deid.deidentify_records(records, text_fields=["question"])
    again = load_deidentifier(None).deidentify_records(records, text_fields=["question"])
    assert first == again


def test_audit_counts_types_and_fields_never_values() -> None:
    deid = load_deidentifier(None)
    deid.deidentify_records([{"id": "a", "question": PHI_NOTE, "explanation": "Dr. Alvarez agreed."}], None)
    deid.deidentify_records([{"id": "b", "question": "No identifiers in a 45-year-old man."}], None)
    audit = deid.audit()
    assert audit["records"] == 2
    assert audit["records_touched"] == 1
    assert audit["entities"]["NAME"] == 3 and audit["entities"]["PHONE"] == 1 and audit["entities"]["ZIP"] == 1
    assert audit["entities_by_field"]["explanation"] == {"NAME": 1}
    assert len(audit["policy_sha256"]) == 64 and "presidio-analyzer" in audit["engine_version"]
    assert len(audit["engine_sha256"]) == 64
    blob = json.dumps(audit)
    for value in PHI_VALUES:
        assert value not in blob


def test_exam_vignettes_survive_intact(deid: Deidentifier) -> None:
    from medgrpo.deid.clinical_texts import CLINICAL_SNIPPETS

    for vignette in [*CLINICAL_VIGNETTES, *CLINICAL_SNIPPETS]:
        assert deid.deidentify_text(vignette)[0] == vignette


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A 45-year-old man has a cough.", "A 45-year-old man has a cough."),
        # clinical policy (DESIGN §8a): ages over 89 become "90+", whole dates become [DATE] (a kept year would be
        # a token of the date left behind); a year on its own is not a date element and stays
        ("A 93-year-old man has a cough.", "A 90+-year-old man has a cough."),
        ("Patient is 101 years old.", "Patient is 90+ years old."),
        ("Diagnosed in 2019, treated in 2020.", "Diagnosed in 2019, treated in 2020."),
        ("Admitted on March 3, 2019 and seen 4/5/2020.", "Admitted on [DATE] and seen [DATE]."),
        ("DOB: 07/04/1928.", "DOB: [DATE]."),
        ("Surgery on 3/4/21; DOB 5/1/60; DOB 5/1/30.", "Surgery on [DATE]; DOB [DATE]; DOB [DATE]."),
        ("Born in 1925, she lives alone.", "Born in [DATE], she lives alone."),  # a birth year revealing an age > 89
        ("Lives in Boston, MA 02115.", "Lives in [LOCATION], MA 021."),
        ("Address: 12 Elm Road, Tillingham, NH 03601.", "Address: [ADDRESS], [LOCATION], NH 000."),
        (
            "Cockcroft-Gault estimates CrCl 45 mL/min; BP 120/80 mm Hg; 3/6 murmur.",
            "Cockcroft-Gault estimates CrCl 45 mL/min; BP 120/80 mm Hg; 3/6 murmur.",
        ),
        ("SSN 123-45-6789, IP 10.1.2.3, https://x.example.org/a", "SSN [SSN], IP [IP_ADDRESS], [URL]"),
    ],
)
def test_safe_harbor_rules(deid: Deidentifier, text: str, expected: str) -> None:
    assert deid.deidentify_text(text)[0] == expected


def test_bad_input_raises_deid_error_without_content(deid: Deidentifier) -> None:
    with pytest.raises(DeidError, match=r"record #1: expected a JSON object, found str"):
        deid.deidentify_records([{"id": "x", "question": "ok"}, "John Smith 555-1234"], None)  # type: ignore[list-item]
    with pytest.raises(DeidError, match="expected a list of records"):
        deid.deidentify_records("John Smith", None)  # type: ignore[arg-type]


def test_internal_failure_message_carries_no_phi(monkeypatch: pytest.MonkeyPatch) -> None:
    """A recognizer crash whose message quotes the text (simulated: no real recognizer crashes on demand)."""
    from medgrpo.deid.engine import CANARY_TEXT

    deid = load_deidentifier(None)
    real = deid._analyzer.analyze

    def crash_on_records(text: str, **kwargs: Any) -> list[Any]:
        if text == CANARY_TEXT:
            return real(text=text, **kwargs)
        raise ValueError(f"cannot parse {text}")

    monkeypatch.setattr(deid._analyzer, "analyze", crash_on_records)
    with pytest.raises(DeidError) as info:
        deid.deidentify_records([{"id": "x", "question": PHI_NOTE}], ["question"])
    assert str(info.value) == "record #0 field 'question': de-identification failed (ValueError)"
    assert info.value.__cause__ is None and info.value.__suppress_context__

    def crash_always(text: str, **kwargs: Any) -> list[Any]:
        raise ValueError(f"cannot parse {text}")

    monkeypatch.setattr(deid._analyzer, "analyze", crash_always)
    with pytest.raises(DeidError) as info:
        deid.deidentify_records([{"id": "x", "question": PHI_NOTE}], ["question"])
    assert str(info.value) == "canary self-check crashed (ValueError); nothing was published"


def test_bad_policy_fails_closed(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("actions:\n  NAME: {action: keep}\n")
    with pytest.raises(DeidError, match=r"actions.NAME.action is 'keep'"):
        load_deidentifier(bad)
    with pytest.raises(DeidError, match="cannot read"):
        load_deidentifier(tmp_path / "missing.yaml")
    bad.write_text("actions: [1, 2\n")
    with pytest.raises(DeidError, match="not valid YAML"):
        load_deidentifier(bad)


def test_eponyms_and_named_signs_survive(deid: Deidentifier) -> None:
    from medgrpo.deid.clinical_texts import EPONYM_PHRASES

    lost = []
    for phrase in EPONYM_PHRASES:
        for text in (f"The findings are consistent with {phrase}.", f"{phrase} was considered."):
            if deid.deidentify_text(text)[0] != text:
                lost.append(phrase)
    assert len(EPONYM_PHRASES) > 150
    assert lost == []


def test_ner_engine_from_policy_is_never_downloaded(tmp_path: Path) -> None:
    policy = tmp_path / "ner.yaml"
    policy.write_text("nlp_engine: {provider: spacy, model: en_core_web_nonexistent}\n")
    with pytest.raises(DeidError, match=r"en_core_web_nonexistent.*not installed"):
        load_deidentifier(policy)


def test_title_case_options_and_drug_names_survive(deid: Deidentifier) -> None:
    from medgrpo.deid.clinical_texts import CLINICAL_OPTIONS

    lost = []
    for option in CLINICAL_OPTIONS:
        for text in (option, f"Which is most likely? A. {option} B. Other"):
            if deid.deidentify_text(text)[0] != text:
                lost.append(option)
    assert lost == []


def test_long_blobs_are_removed_whole_and_fast(deid: Deidentifier) -> None:
    import random
    import string
    import time

    rng = random.Random(0)
    blob = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(50_000))
    started = time.perf_counter()
    out = deid.deidentify_text(f"Attachment: {blob} (scanned).")[0]
    assert time.perf_counter() - started < 10  # regex scanning must not go quadratic on a 50 KB token
    assert out == "Attachment: [ID] (scanned)."


def test_policy_deny_and_allow_lists(tmp_path: Path) -> None:
    policy = tmp_path / "lists.yaml"
    policy.write_text(
        "actions: {default: {action: tag}, DATE: {action: keep_year}, AGE: {action: age_cap}, ZIP: {action: zip3}}\n"
        "recognizers:\n  allow_list: [Alvarez]\n  deny_list: {NAME: [nightingale]}\n"
    )
    deid = load_deidentifier(policy)
    out = deid.deidentify_text("Dr. Alvarez and nurse nightingale met Dr. Okafor.")[0]
    assert out == "Dr. Alvarez and nurse [NAME] met Dr. [NAME]."
