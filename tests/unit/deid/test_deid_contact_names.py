"""Public-benchmark policy: a name given with contact details is a real person's and goes (names ``contact: true``).

Published QA items name patients only with a title or a label ("Mr. Jones"), so ``mode: titled`` leaves every other
capitalised phrase alone. A person-name-shaped phrase (a given name and one or more name words) in the same clause as
a direct identifier (phone, fax, e-mail, SSN, a labelled record number, a street address) is the exception: a real
person with their contact details. Both directions are checked: names with contact details go, and medical language,
institutions and places next to the same identifiers stay.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from medgrpo.deid import DeidError, load_deidentifier
from medgrpo.deid.engine import Deidentifier
from medgrpo.deid.recognizers.names import NameRecognizer
from medgrpo.deid.text import Document


@pytest.fixture(scope="module")
def public() -> Deidentifier:
    return load_deidentifier("public-benchmark")


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        (  # the MedQA row of the S3 staging test
            "Johnathan Whitfield, phone 617-555-0199, asks: which vitamin deficiency causes scurvy?",
            ["Johnathan", "Whitfield", "617-555-0199"],
        ),
        ("Contact Jane Doe at jane.doe@example.org for the protocol.", ["Jane", "Doe"]),
        ("Call Tom Brown on (617) 555-0142 about the results.", ["Tom", "Brown"]),
        ("Zebulon Quarrington (SSN 078-05-1120) presents with fever.", ["Zebulon", "Quarrington"]),
        ("John Q. Whitfield, 4417 Larkspur Avenue, has chest pain.", ["John", "Whitfield"]),
        ("Questions: Ottoline Vasquez-Brandt, fax 740-555-0199.", ["Ottoline", "Vasquez-Brandt"]),  # unlisted given
        ("617-555-0199 (Mary Ellen Carter) is the number to call.", ["Mary", "Ellen", "Carter"]),  # identifier first
        ("JOHNATHAN WHITFIELD, PHONE 617-555-0199, ASKS ABOUT SCURVY.", ["JOHNATHAN", "WHITFIELD"]),
    ],
)
def test_a_name_given_with_contact_details_is_removed(public: Deidentifier, text: str, gone: list[str]) -> None:
    out, _ = public.deidentify_text(text)
    assert "[NAME]" in out
    for value in gone:
        assert value not in out, out


@pytest.mark.parametrize(
    "text",
    [
        "Reach the Johns Hopkins Hospital at 410-955-5000 for referrals.",  # an institution
        "A 45-year-old man with Graves disease, phone 555-0199, has tremor.",  # eponyms
        "Mallory Weiss tear was noted; call 555-0199.",
        "The Kaplan Meier estimate was 0.8; fax 617-555-0100.",
        "Guillain Barre syndrome, call 555-0199.",
        "Santa Clara County, 408-555-0199, reported the outbreak.",  # a place
        "Mary Smith presented to the clinic. Her phone is 617-555-0199.",  # another sentence: not the same clause
        "Charles Darwin proposed natural selection in 1859.",  # no identifier at all
    ],
)
def test_medical_language_places_and_institutions_next_to_identifiers_stay(public: Deidentifier, text: str) -> None:
    out, spans = public.deidentify_text(text)
    assert not [s for s in spans if s.entity == "NAME"], out


def test_the_rule_is_the_contact_option_of_titled_mode() -> None:
    doc = Document("Johnathan Whitfield, phone 617-555-0199, asks about scurvy.")
    assert [doc.text[s.start : s.end] for s in NameRecognizer(mode="titled").analyze(doc)] == ["Johnathan Whitfield"]
    assert NameRecognizer(mode="titled", contact=False).analyze(doc) == []
    with pytest.raises(ValueError, match="contact must be true or false"):
        NameRecognizer(mode="titled", contact="yes")  # type: ignore[arg-type]


def test_a_public_policy_without_the_rule_fails_its_canary(tmp_path: Path) -> None:
    """The public-benchmark canary plants a name given with a fax number: turning the rule off cannot load."""
    from medgrpo.deid.policy import POLICY_DIR

    text = (POLICY_DIR / "public_benchmark_policy.yaml").read_text()
    assert "names: {mode: titled}" in text
    policy = tmp_path / "no_contact.yaml"
    policy.write_text(text.replace("names: {mode: titled}", "names: {mode: titled, contact: false}"))
    with pytest.raises(DeidError, match=r"canary self-check failed: .*NAME"):
        load_deidentifier(str(policy)).canary_check()
