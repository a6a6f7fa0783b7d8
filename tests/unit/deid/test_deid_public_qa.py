"""Published QA formats through ``medgrpo ingest --format auto`` with default settings: medical language survives.

Issue #11's done criterion: ingesting published QA files alters at most 1% of items and never an answer or
option; the ``clinical`` policy on the same files alters no answer or option either (it quarantines instead).
The samples below are written for this project in each published format (MedQA JSONL, MedMCQA with both ``cop``
bases, PubMedQA ``ori_pqal.json`` and the HF columns, verifiable problems as a JSON list, HuatuoGPT-o1-style
rows with ``Complex_CoT``), full of the vocabulary that used to be damaged (X-ray, GABA, von Willebrand, IgE,
T-cells, Tetanus, Doppler, NICU, Hypoxia, Commotio Retinae, PI3K/Akt, Pavlik, Kozak, OSA, PVD, AFIB, study
periods such as "January 2005 to December 2010"). "Altered" is measured against the same files ingested with
``--no-deid``: record ids hash the raw content, so the two runs pair up by id.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import pytest

from medgrpo.deid.clinical_texts import CLINICAL_OPTIONS, EPONYM_PHRASES

TERMS = [
    "X-ray", "GABA", "von Willebrand disease", "IgE", "T-cells", "Tetanus", "Doppler ultrasound", "NICU",
    "Hypoxia", "Commotio Retinae", "PI3K/Akt pathway", "Pavlik harness", "Kozak sequence", "OSA", "PVD", "AFIB",
    "Bence Jones proteins", "Charcot-Leyden crystals", "Auer rods", "Howell-Jolly bodies", "HbA1c", "CD4+ T-cells",
    "Reed-Sternberg cells", "Epstein-Barr virus", "Guillain-Barré syndrome", "Kawasaki disease", "Wilms tumor",
    "Kussmaul breathing", "Cheyne-Stokes respiration", "Trendelenburg sign", "Homans sign", "Murphy sign",
    "Glasgow Coma Scale", "APGAR score", "Swan-Ganz catheter", "Foley catheter", "BiPAP", "CPAP", "ECMO",
]  # fmt: skip
STEMS = [
    "A 45-year-old man presents with crushing chest pain radiating to the left arm for 2 hours.",
    "A 3-week-old girl in the NICU has bilious vomiting; an abdominal X-ray shows a double bubble sign.",
    "A 67-year-old woman with AFIB and PVD has sudden pain and pallor of the right leg; Doppler shows no flow.",
    "A 9-year-old boy stepped on a rusty nail; his Tetanus immunization history is unknown.",
    "A 30-year-old woman has heavy menstrual bleeding and gum bleeding; von Willebrand factor antigen is low.",
    "A 52-year-old obese man snores loudly and has daytime sleepiness; polysomnography confirms OSA.",
    "A newborn has an asymmetric thigh crease and a positive Ortolani maneuver; a Pavlik harness is applied.",
    "A 22-year-old man was hit in the eye by a tennis ball; fundoscopy shows Commotio Retinae.",
    "Benzodiazepines increase the frequency of chloride channel opening at the GABA-A receptor.",
    "Type I hypersensitivity is mediated by IgE bound to mast cells and basophils.",
    "HIV infects CD4+ T-cells through the CCR5 co-receptor; the viral load is 45,000 copies/mL.",
    "Mutations that activate the PI3K/Akt/mTOR pathway promote cell survival in many tumors.",
    "The Kozak sequence surrounds the start codon and is required for efficient translation initiation.",
    "A 70-year-old man with COPD has Hypoxia on room air; his SpO2 is 84% and PaO2 52 mm Hg.",
    "A 58-year-old man with a 40 pack-year smoking history has weight loss and hemoptysis.",
    "A 6-year-old boy has fever for 5 days, conjunctival injection and a strawberry tongue.",
    "A 28-year-old woman at 32 weeks' gestation has a blood pressure of 165/110 mm Hg and proteinuria 3+.",
    "A 61-year-old woman has fatigue; hemoglobin is 8.1 g/dL, MCV 112 fL and reticulocytes 0.5%.",
    "A 35-year-old man has an ascending paralysis two weeks after a diarrheal illness.",
    "An 80-year-old woman fell at home; her Glasgow Coma Scale score is 13 and a CT scan shows a crescent.",
    "A 15-year-old boy has a painful limp; X-ray shows a slipped capital femoral epiphysis.",
    "A 40-year-old woman has heat intolerance, exophthalmos and pretibial myxedema.",
    "A 24-year-old man has painless testicular enlargement; beta-hCG and AFP are elevated.",
    "A 72-year-old man with AFIB on warfarin has an INR of 6.2 and melena.",
    "A 33-year-old woman has episodic headaches, palpitations and sweating; metanephrines are elevated.",
    "A 50-year-old man has tearing chest pain radiating to the back and unequal arm blood pressures.",
    "A 4-month-old infant has poor feeding, constipation and a weak cry after eating honey.",
    "A 19-year-old college student has fever, neck stiffness and a petechial rash.",
    "A 65-year-old man has resting tremor, bradykinesia and cogwheel rigidity.",
    "A 27-year-old woman has a malar rash, arthralgia and a positive anti-dsDNA antibody test.",
]  # fmt: skip
ENDINGS = [
    "Which of the following is the most likely diagnosis?",
    "Which of the following is the most appropriate next step in management?",
    "Which of the following is the mechanism of action of the most appropriate drug?",
    "Which of the following best explains these findings?",
]
ABSTRACT = [
    "We retrospectively reviewed all patients treated between January 2005 and December 2010 at a tertiary centre.",
    "From March 2010 through June 2012, 412 consecutive patients aged 18 to 92 years were enrolled.",
    "The study period was January 2005 to December 2010; follow-up ended in 2014.",
    "Patients were recruited at Johns Hopkins Hospital and Seoul National University Hospital.",
    "The trial was registered at ClinicalTrials.gov (NCT01234567).",
    "Odds ratios with 95% CI were estimated by logistic regression (OR 2.31, 95% CI 1.45-3.67; p = 0.001).",
    "Serum IgE and eosinophil counts were measured at baseline and after 12 weeks of therapy.",
    "Doppler ultrasound of the lower limbs was performed in all patients with PVD.",
    "Hypoxia-inducible factor 1-alpha expression was assessed by immunohistochemistry.",
    "Activation of the PI3K/Akt pathway was quantified by western blot in T-cells from 35 donors.",
    "Kaplan-Meier curves were compared with the log-rank test; hazard ratios came from Cox regression.",
    "Infants admitted to the NICU between 2008 and 2015 with a birth weight under 1500 g were included.",
    "Median age was 67 years (range 41-93); 58% were men and 22% had AFIB.",
    "OSA was defined as an apnea-hypopnea index of 5 or more events per hour.",
    "Tetanus toxoid coverage rose from 61% in 1998 to 89% in 2012 across 14 districts.",
    "We used data from the National Health and Nutrition Examination Survey 1999-2004.",
    "A Pavlik harness was applied within 6 weeks of birth in 210 of 233 hips (90.1%).",
    "Mutations in the Kozak sequence were found in 3 of 120 families (2.5%).",
    "Commotio Retinae resolved without sequelae in 41 of 44 eyes by 6 weeks.",
    "The GABA concentration in the anterior cingulate cortex was measured by MR spectroscopy at 3 T.",
]  # fmt: skip
QUESTIONS_PQ = [
    "Does early Doppler ultrasound change outcomes in PVD?",
    "Is serum IgE a marker of treatment response?",
    "Do T-cells with active PI3K/Akt signalling predict relapse?",
    "Is the Pavlik harness effective after 6 weeks of age?",
    "Does CPAP for OSA reduce AFIB recurrence?",
    "Is Hypoxia in the NICU associated with later disability?",
]
VERIFIABLE = [
    ("A child with a rusty-nail wound and unknown immunization needs which toxoid?", "Tetanus toxoid"),
    ("Which disorder causes mucocutaneous bleeding with a prolonged bleeding time and a normal platelet count?",
     "von Willebrand disease"),
    ("Which device treats developmental dysplasia of the hip in a 2-month-old?", "Pavlik harness"),
    ("Name the retinal whitening seen after blunt ocular trauma.", "Commotio Retinae"),
    ("Which neurotransmitter acts at the receptor that benzodiazepines modulate?", "GABA"),
    ("Which antibody class mediates type I hypersensitivity?", "IgE"),
    ("Which consensus sequence surrounds the eukaryotic start codon?", "Kozak sequence"),
    ("Which imaging test first evaluates suspected deep vein thrombosis?", "Doppler ultrasound"),
    ("What is the calculated anion gap with Na 140, Cl 104, HCO3 24?", "12"),
    ("Which signalling pathway do PIK3CA mutations activate?", "PI3K/Akt pathway"),
]  # fmt: skip


def _options(rng: random.Random, k: int) -> dict[str, str]:
    pool = TERMS + CLINICAL_OPTIONS + EPONYM_PHRASES[:60]
    return {letter: text for letter, text in zip("ABCDE", rng.sample(pool, k), strict=False)}


def write_samples(folder: Path, seed: int = 0) -> dict[str, Path]:
    """One file per published format, deterministic; returns the paths."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    rows: list[dict[str, Any]] = []
    for k in range(60):
        opts = _options(rng, 5)
        letter = "ABCDE"[k % 5]
        question = f"{rng.choice(STEMS)} {rng.choice(STEMS[:10])} {rng.choice(ENDINGS)}"
        rows.append({"question": question, "options": opts, "answer_idx": letter, "answer": opts[letter],
                     "meta_info": "step1"})  # fmt: skip
    files["medqa"] = folder / "medqa_us.jsonl"
    files["medqa"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    for base, name in ((1, "medmcqa_json"), (0, "medmcqa_hf")):
        rows = []
        for k in range(40):
            texts = list(_options(rng, 4).values())
            rows.append({
                "id": f"{name}-{k}", "question": f"{rng.choice(STEMS)} {rng.choice(ENDINGS)}",
                "opa": texts[0], "opb": texts[1], "opc": texts[2], "opd": texts[3], "cop": base + k % 4,
                "exp": f"{rng.choice(ABSTRACT[6:])} Ref: Harrison 19th/e p 2345; Robbins 9/e p.112.",
                "subject_name": "Medicine", "topic_name": "Misc", "choice_type": "single",
            })  # fmt: skip
        files[name] = folder / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    ori: dict[str, Any] = {}
    for k in range(30):
        contexts = rng.sample(ABSTRACT, 3)
        ori[str(21000000 + k)] = {
            "QUESTION": rng.choice(QUESTIONS_PQ), "CONTEXTS": contexts, "LABELS": ["BACKGROUND", "METHODS", "RESULTS"],
            "MESHES": ["Humans", "Retrospective Studies"], "YEAR": str(2000 + k % 20),
            "reasoning_required_pred": "yes", "reasoning_free_pred": "yes",
            "final_decision": ["yes", "no", "maybe"][k % 3],
            "LONG_ANSWER": f"{rng.choice(ABSTRACT)} These data support the hypothesis.",
        }  # fmt: skip
    files["pubmedqa_ori"] = folder / "ori_pqal.json"
    files["pubmedqa_ori"].write_text(json.dumps(ori))
    rows = []
    for k in range(30):
        rows.append({
            "pubid": 22000000 + k, "question": rng.choice(QUESTIONS_PQ),
            "context": {"contexts": rng.sample(ABSTRACT, 2), "labels": ["OBJECTIVE", "RESULTS"], "meshes": ["Adult"]},
            "long_answer": rng.choice(ABSTRACT), "final_decision": ["yes", "no", "maybe"][k % 3],
        })  # fmt: skip
    files["pubmedqa_hf"] = folder / "pqa_labeled.jsonl"
    files["pubmedqa_hf"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    files["verifiable"] = folder / "verifiable.json"
    verifiable = [
        {"Open-ended Verifiable Question": f"{rng.choice(STEMS)} {q}", "Ground-True Answer": a}
        for q, a in VERIFIABLE * 2
    ]
    files["verifiable"].write_text(json.dumps(verifiable))
    rows = []
    for q, a in VERIFIABLE:
        rows.append({
            "Open-ended Verifiable Question": f"{rng.choice(STEMS)} {q}", "Ground-True Answer": a,
            "Complex_CoT": f"Okay, so {rng.choice(STEMS).lower()} {rng.choice(ABSTRACT)} So the answer is {a}.",
            "Response": f"The answer is {a}.",
        })  # fmt: skip
    files["huatuo"] = folder / "medical_o1_verifiable.jsonl"
    files["huatuo"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return files


def _ingest(*argv: str) -> int:
    from medgrpo.data import commands

    parser = argparse.ArgumentParser(prog="medgrpo")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ingest", *argv])
    return int(args.func(args))


def _published(folder: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for name in ("train.jsonl", "eval.jsonl"):
        for line in (folder / name).read_text().splitlines():
            record = json.loads(line)
            out[record["id"]] = record
    return out


@pytest.fixture(scope="module", autouse=True)
def _dev_id_key() -> Any:
    """Record ids need a key; these are synthetic samples, so the public development key is fine."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDGRPO_ALLOW_DEV_ID_KEY", "true")
        yield


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("qa")
    files = [str(p) for p in write_samples(tmp / "src").values()]
    out: dict[str, Any] = {}
    for label, extra in (("plain", ["--no-deid"]), ("default", []), ("clinical", ["--policy", "clinical"])):
        dest = tmp / label
        assert _ingest(*files, str(dest), "--format", "auto", "--eval-fraction", "0.1", *extra) == 0
        out[label] = _published(dest)
        out[f"{label}-manifest"] = json.loads((dest / "manifest.json").read_text())
        out[f"{label}-quarantine"] = [json.loads(x) for x in (dest / "quarantine.jsonl").read_text().splitlines()]
    return out


def _altered(plain: dict[str, Any], other: dict[str, Any]) -> list[str]:
    return [rid for rid, rec in plain.items() if other.get(rid) != rec]


def test_every_format_was_detected_and_read(runs: dict[str, Any]) -> None:
    manifest = runs["plain-manifest"]
    formats = sorted({i["format"] for i in manifest["inputs"]})
    assert formats == ["medmcqa", "medqa", "pubmedqa", "verifiable"]
    assert sorted(i.get("cop_base") for i in manifest["inputs"] if i["format"] == "medmcqa") == [0, 1]
    assert manifest["counts"]["quarantined"] == 0 and len(runs["plain"]) >= 200


def test_default_settings_alter_at_most_one_percent_and_never_an_answer(runs: dict[str, Any]) -> None:
    plain, default = runs["plain"], runs["default"]
    altered = _altered(plain, default)
    assert len(altered) / len(plain) <= 0.01, [
        (plain[r]["question"][:80], (default.get(r) or {}).get("question", "QUARANTINED")[:80]) for r in altered[:5]
    ]
    for rid, rec in default.items():
        assert rec["options"] == plain[rid]["options"] and rec["answer"] == plain[rid]["answer"]
    policies = runs["default-manifest"]["deid"]["policy_by_source"]
    assert set(map(tuple, policies.values())) == {("public-benchmark",)}


def test_clinical_policy_alters_no_answer_or_option(runs: dict[str, Any]) -> None:
    plain, clinical = runs["plain"], runs["clinical"]
    for rid, rec in clinical.items():
        assert rec["options"] == plain[rid]["options"], rid
        assert rec["answer"] == plain[rid]["answer"], rid
    missing = set(plain) - set(clinical)
    reasons = [q["reason"] for q in runs["clinical-quarantine"]]
    assert len(reasons) == len(missing) <= 0.01 * len(plain)  # each one quarantined with the reason
    assert all("deid:" in r and "never changed" in r for r in reasons)
    # the clinical policy removes study periods (dates) and institutions, but keeps the medical language
    lost = []
    for rid in _altered(plain, clinical):
        if rid not in clinical:
            continue
        for field in ("question", "context", "explanation"):
            before, after = plain[rid].get(field) or "", clinical[rid].get(field) or ""
            lost += [term for term in TERMS if term in before and before.count(term) != after.count(term)]
    assert lost == []


def test_identifiers_in_published_items_are_still_removed(tmp_path: Path) -> None:
    """The public-benchmark policy is not a pass-through: e-mails, phones and titled names in an item go."""
    rows = [{"question": "Mr. Quentin Albrecht (MRN: 88123401) calls 617-555-0142 and writes to q.albrecht@mail.com. "
                         "What is the most likely diagnosis?",
             "options": {"A": "Tetanus", "B": "GABA deficiency"}, "answer_idx": "A", "answer": "Tetanus"}]  # fmt: skip
    (tmp_path / "q.jsonl").write_text(json.dumps(rows[0]) + "\n")
    assert _ingest(str(tmp_path / "q.jsonl"), str(tmp_path / "ds"), "--eval-fraction", "0") == 0
    (record,) = _published(tmp_path / "ds").values()
    for value in ("Quentin", "Albrecht", "88123401", "555-0142", "q.albrecht@mail.com"):
        assert value not in record["question"]
    assert record["options"] == rows[0]["options"]
