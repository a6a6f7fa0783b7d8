"""Labelled synthetic clinical notes for measuring de-identification (no real patient data).

Templates are split into two sets that share no template: ``tuning`` (used while developing the
detectors) and ``heldout`` (used only to measure). Each template is a note in some style (discharge
summary, referral letter, triage, nursing, telephone, e-mail, exam vignette …) with placeholders:
``{NAME}``-style placeholders become PHI of that type, ``{{clinical text}}`` marks a clinical phrase
that must survive. Names come from the name dictionary (many origins) and, for a share of them,
from an invented-name generator (names no dictionary contains) so out-of-dictionary recall is
measured too.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field

from medgrpo.deid.lexicon import load_lexicon


@dataclass
class Note:
    """A generated note with gold PHI spans ``(start, end, type)`` and clinical phrase spans."""

    text: str
    phi: list[tuple[int, int, str]] = field(default_factory=list)
    clinical: list[tuple[int, int]] = field(default_factory=list)
    template: str = ""


# ---------------------------------------------------------------------------------------------
_SYLLABLES_A = [
    "ka",
    "ra",
    "lo",
    "mi",
    "ze",
    "tu",
    "vo",
    "ny",
    "qua",
    "xi",
    "dra",
    "bel",
    "mor",
    "thal",
    "wen",
    "gri",
    "sha",
    "ol",
    "ix",
    "ur",
    "fen",
    "dal",
    "pim",
    "ros",
    "zor",
    "vel",
    "kyr",
]
_SYLLABLES_B = [
    "lin",
    "dor",
    "wyn",
    "ska",
    "bek",
    "tor",
    "rix",
    "vane",
    "mund",
    "lough",
    "quist",
    "zell",
    "hart",
    "brook",
    "thorne",
    "kow",
    "vitch",
    "ssen",
    "oulos",
]


def _plain(name: str) -> str:
    """A name as it could appear in an e-mail address or a host name (letters only, lower case)."""
    return re.sub(r"[^a-z]", "", name.lower()) or "x"


def invented_name(rng: random.Random, *, last: bool = False) -> str:
    """A pronounceable name that is in no dictionary and does not look like a drug or disease."""
    from medgrpo.deid.detect import _MED_SUFFIX_RE

    lex = load_lexicon()
    while True:
        name = _invent(rng, last=last)
        low = name.lower()
        if not (_MED_SUFFIX_RE.search(low) or low in lex.english or lex.is_name(low) or low in lex.medical):
            return name


def _invent(rng: random.Random, *, last: bool) -> str:
    parts = [rng.choice(_SYLLABLES_A) for _ in range(rng.randint(1, 2))]
    parts.append(rng.choice(_SYLLABLES_B) if last else rng.choice([*_SYLLABLES_A, "a", "o", "is", "en"]))
    return "".join(parts).capitalize()


class _Gen:
    def __init__(self, rng: random.Random, invented_share: float) -> None:
        lex = load_lexicon()
        self.rng = rng
        self.invented_share = invented_share
        self.firsts = [n for n in lex.first_list if n[:1].isupper() and len(n) > 2]
        self.lasts = [n for n in lex.last_list if n[:1].isupper() and len(n) > 2]
        self.cities = [c for c in lex.cities]

    def first(self) -> str:
        if self.rng.random() < self.invented_share:
            return invented_name(self.rng)
        return self.rng.choice(self.firsts)

    def last(self) -> str:
        if self.rng.random() < self.invented_share:
            return invented_name(self.rng, last=True)
        return self.rng.choice(self.lasts)

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def letters(self, n: int) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))

    def value(self, kind: str) -> tuple[str, str]:
        """(text, entity type) for one placeholder kind."""
        r = self.rng
        if kind == "NAME":
            f, last = self.first(), self.last()
            form = r.randrange(7)
            text = [
                f"{f} {last}",
                f"{last}, {f}",
                f"{f[0]}. {last}",
                f"{f} {r.choice(string.ascii_uppercase)}. {last}",
                f"{f} {last}",
                f"{last.upper()}, {f.upper()}",
                f"{f} {last}-{self.last()}",
            ][form]
            return text, "NAME"
        if kind == "FIRST":
            return self.first(), "NAME"
        if kind == "LAST":
            return self.last(), "NAME"
        if kind == "DATE":
            y, m, d = r.randint(1995, 2025), r.randint(1, 12), r.randint(1, 28)
            months = [
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ]
            mon = months[m - 1]
            text = r.choice(
                [
                    f"{m}/{d}/{y}",
                    f"{m:02d}/{d:02d}/{y}",
                    f"{y}-{m:02d}-{d:02d}",
                    f"{mon} {d}, {y}",
                    f"{d} {mon} {y}",
                    f"{mon[:3]} {d}, {y}",
                    f"{m}/{d}/{y % 100:02d}",
                    f"{mon} {d}",
                    f"{d}-{mon[:3]}-{y}",
                    f"{mon} {y}",
                    f"{m}-{d}-{y}",
                    f"{d}.{m}.{y}",
                    f"{mon} {d}th",
                ]
            )
            if text.endswith("th") and not text.split()[-1][:-2].isdigit():
                text = f"{mon} {d}"
            return text, "DATE"
        if kind == "DOB":
            y, m, d = r.randint(1930, 2005), r.randint(1, 12), r.randint(1, 28)
            return r.choice([f"{m}/{d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{m:02d}/{d:02d}/{y}"]), "DATE"
        if kind == "AGE90":
            a = r.randint(90, 104)
            return r.choice([f"{a}-year-old", f"{a} years old", f"{a} y/o", f"{a} yo", f"{a}-year-old"]), "AGE"
        if kind == "PHONE":
            a, b, c = r.randint(201, 989), r.randint(200, 999), self.digits(4)
            return r.choice(
                [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}", f"{a}-{b}-{c} ext. 21"]
            ), "PHONE"
        if kind == "FAX":
            a, b, c = r.randint(201, 989), r.randint(200, 999), self.digits(4)
            return r.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}"]), "FAX"
        if kind == "EMAIL":
            f, last = _plain(self.first()), _plain(self.last())
            dom = r.choice(["gmail.com", "yahoo.com", "outlook.com", "mail.org", "hospital.org", "uni.edu"])
            return r.choice([f"{f}.{last}@{dom}", f"{f[0]}{last}{r.randint(1, 99)}@{dom}"]), "EMAIL"
        if kind == "SSN":
            return f"{r.randint(100, 665)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}", "SSN"
        if kind == "MRN":
            return r.choice(
                [
                    self.digits(8),
                    f"{self.letters(2)}{self.digits(7)}",
                    f"{self.digits(3)}-{self.digits(4)}-{self.digits(2)}",
                ]
            ), "MRN"
        if kind == "PLAN":
            return r.choice([f"{self.letters(3)}{self.digits(9)}", f"{self.digits(4)}-{self.digits(5)}"]), "HEALTH_PLAN"
        if kind == "ACCOUNT":
            return r.choice([self.digits(10), f"{self.letters(1)}{self.digits(8)}"]), "ACCOUNT"
        if kind == "LICENSE":
            return r.choice(
                [f"{self.letters(1)}{self.digits(7)}", f"{self.letters(2)}{self.digits(7)}", self.digits(10)]
            ), "LICENSE"
        if kind == "PLATE":
            return r.choice(
                [f"{r.randint(1, 9)}{self.letters(3)}{self.digits(3)}", f"{self.letters(3)}-{self.digits(4)}"]
            ), "VEHICLE"
        if kind == "VIN":
            chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
            return "1" + "".join(r.choice(chars) for _ in range(15)) + str(r.randint(0, 9)), "VEHICLE"
        if kind == "SERIAL":
            return r.choice(
                [f"{self.letters(2)}{self.digits(6)}", f"{self.letters(3)}-{self.digits(5)}-{self.letters(1)}"]
            ), "DEVICE"
        if kind == "BIOMETRIC":
            return f"{self.letters(2)}-{self.digits(6)}", "BIOMETRIC"
        if kind == "URL":
            return r.choice(
                [
                    f"https://www.{_plain(self.last())}health.com/patients/{self.digits(5)}",
                    f"www.{_plain(self.last())}-clinic.org",
                    f"http://portal.{_plain(self.last())}.net/chart",
                ]
            ), "URL"
        if kind == "IP":
            return f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}", "IP_ADDRESS"
        if kind == "STREET":
            street = r.choice([self.last(), r.choice(["Oak", "Maple", "Cedar", "Lake", "Hill", "Park"]), self.first()])
            suffix = r.choice(["Street", "St.", "Avenue", "Ave", "Road", "Rd", "Lane", "Drive", "Boulevard", "Court"])
            unit = r.choice(["", "", f", Apt {r.randint(1, 40)}", f" Unit {r.randint(1, 9)}{r.choice('ABC')}"])
            return f"{r.randint(1, 9999)} {street} {suffix}{unit}", "ADDRESS"
        if kind == "CITY":
            if r.random() < 0.5:
                return r.choice(self.cities), "LOCATION"
            return invented_name(r, last=True) + r.choice(
                ["ville", "ton", " Falls", " Springs", "burg", ""]
            ), "LOCATION"
        if kind == "COUNTY":
            return f"{self.last()} County", "LOCATION"
        if kind == "ZIP":
            return r.choice([self.digits(5), f"{self.digits(5)}-{self.digits(4)}"]), "ZIP"
        if kind == "HOSPITAL":
            return r.choice(
                [
                    f"{self.last()} Memorial Hospital",
                    f"St. {self.first()}'s Medical Center",
                    f"{self.last()} Regional Medical Center",
                    f"{self.last()} Family Clinic",
                    f"{invented_name(r, last=True)} General Hospital",
                    f"{self.last()} Children's Hospital",
                ]
            ), "ORGANIZATION"
        if kind == "EMPLOYER":
            return r.choice(
                [
                    f"{self.last()} Logistics",
                    f"{self.last()} & Sons",
                    f"{invented_name(r, last=True)} Industries",
                    f"{self.last()} Manufacturing Inc.",
                    f"{self.last()} Bakery",
                ]
            ), "ORGANIZATION"
        raise KeyError(kind)


_CLINICAL = [
    "metformin 500 mg twice daily",
    "lisinopril 10 mg daily",
    "atorvastatin 40 mg at bedtime",
    "warfarin with INR goal 2-3",
    "Parkinson disease",
    "Wernicke encephalopathy",
    "Cushing syndrome",
    "Hodgkin lymphoma",
    "Crohn disease",
    "Alzheimer dementia",
    "Cockcroft-Gault creatinine clearance",
    "Graves disease",
    "Guillain-Barré syndrome",
    "creatinine 1.4 mg/dL",
    "hemoglobin A1c of 8.2%",
    "potassium 5.9 mEq/L",
    "troponin I 0.8 ng/mL",
    "blood pressure 152/94 mm Hg",
    "heart rate 112/min",
    "temperature 38.9°C (102°F)",
    "leukocyte count 14,500/mm3",
    "levodopa-carbidopa",
    "amoxicillin-clavulanate 875 mg",
    "furosemide 40 mg IV",
    "insulin glargine 20 units",
    "Staphylococcus aureus",
    "Escherichia coli",
    "Kaposi sarcoma",
    "Epstein-Barr virus",
    "Brown-Séquard syndrome",
    "left anterior descending artery",
    "chronic kidney disease stage 3",
    "type 2 diabetes mellitus",
    "A 45-year-old man",
    "a 67-year-old woman",
    "for 3 days",
    "in 2019",
    "ejection fraction of 35%",
    "Glasgow Coma Scale score of 14",
    "Apgar scores of 8 and 9",
    "Murphy sign",
    "Babinski sign",
    "Virchow node",
    "Osler nodes",
    "Janeway lesions",
    "Horner syndrome",
    "Bell palsy",
    "Addison disease",
    "Hashimoto thyroiditis",
    "Kawasaki disease",
    "Zollinger-Ellison syndrome",
    "Barrett esophagus",
]

TUNING_TEMPLATES = [
    "DISCHARGE SUMMARY\nPatient: {NAME}   MRN: {MRN}   DOB: {DOB}\nAdmitted: {DATE}  Discharged: {DATE}\n"
    "Attending: Dr. {LAST}\n{{A 45-year-old man}} with {{type 2 diabetes mellitus}} on {{metformin 500 mg "
    "twice daily}} "
    "was admitted with {{Wernicke encephalopathy}}. {{creatinine 1.4 mg/dL}}. Follow up with Dr. {NAME} at {HOSPITAL}.",
    "Mr. {LAST} is a {AGE90} retired teacher from {CITY} seen on {DATE}. History of {{Parkinson disease}} treated with "
    "{{levodopa-carbidopa}}. His daughter {FIRST} can be reached at {PHONE}. Address: {STREET}, {CITY}, MA {ZIP}.",
    "Referral letter\nDear Dr. {LAST},\nI am referring {NAME} (DOB {DOB}, SSN {SSN}) for evaluation of "
    "{{Cushing syndrome}}. "
    "{{potassium 5.9 mEq/L}} on {DATE}. Please fax results to {FAX}. Sincerely, {NAME}, MD",
    "ED triage {DATE}: pt {NAME}, {AGE90}, brought by wife {FIRST}. {{blood pressure 152/94 mm Hg}}, {{heart "
    "rate 112/min}}. "
    "Insurance member ID: {PLAN}. Works at {EMPLOYER}.",
    "Telephone encounter: {FIRST} {LAST} called from {PHONE} on {DATE} asking about {{warfarin with INR goal 2-3}}. "
    "Email: {EMAIL}. Account number {ACCOUNT}.",
    "Device clinic: pacemaker serial number {SERIAL} checked on {DATE}. Patient {NAME} drives a car with "
    "license plate {PLATE}. "
    "{{ejection fraction of 35%}}. Portal: {URL}",
    "Social work note: {NAME} lives in {COUNTY} with her son {FIRST}. Driver's license {LICENSE}. Seen by "
    "{NAME}, LCSW, on {DATE}. "
    "Remote login from IP {IP}.",
    "{{A 45-year-old man}} presents {{for 3 days}} with fever. He was diagnosed with {{Hodgkin lymphoma}} {{in 2019}}. "
    "{{leukocyte count 14,500/mm3}}. {{Staphylococcus aureus}} grew in blood cultures. {{Murphy sign}} is negative.",
]
HELDOUT_TEMPLATES = [
    "PROGRESS NOTE — {DATE}\n{NAME} ({MRN}) is a {AGE90} woman with {{Alzheimer dementia}} and {{Graves disease}}. "
    "Seen with her granddaughter {FIRST} {LAST}. Plan discussed with {NAME}, NP. {{insulin glargine 20 units}} "
    "continued.",
    "Radiology report. Name: {NAME}. Accession number: {MRN}. Exam date {DATE}. Ordering provider: Dr. {FIRST} {LAST}, "
    "{HOSPITAL}. Findings consistent with {{Crohn disease}}; no {{Kaposi sarcoma}}.",
    "From: {EMAIL}\nTo: clinic\nHi, this is {FIRST} ({NAME}'s husband). She was discharged from {HOSPITAL} on "
    "{DATE} and "
    "still takes {{furosemide 40 mg IV}}?? Call me at {PHONE}. We moved to {STREET}, {CITY}, TX {ZIP}.",
    "Operative note {DATE}. Surgeon: {NAME}, MD. Assistant: {NAME}, PA-C. Patient {LAST}, {FIRST} (MRN {MRN}). "
    "Implant serial {SERIAL}. {{Zollinger-Ellison syndrome}} suspected; {{Barrett esophagus}} biopsied.",
    "Nursing note: Pt {FIRST} refused meds this am. Son {NAME} at bedside, contact {PHONE}. Pt states she is "
    "{AGE90} and "
    "was born in {CITY}. {{temperature 38.9°C (102°F)}}. {{Bell palsy}} on the left.",
    "Pharmacy: Rx for {NAME}, DOB {DOB}, prescriber DEA number {LICENSE}, {{amoxicillin-clavulanate 875 mg}}. "
    "Medicare ID {PLAN}. Billing account {ACCOUNT}. Pick-up at {STREET}.",
    "Case vignette: {{a 67-year-old woman}} from {CITY} with {{Hashimoto thyroiditis}} and {{Addison disease}} "
    "presents "
    "with {{Horner syndrome}}. {{Glasgow Coma Scale score of 14}}. She works for {EMPLOYER} and her employee "
    "ID is {MRN}.",
    "Biometrics: fingerprint ID {BIOMETRIC} enrolled {DATE} for {NAME}. Vehicle VIN {VIN}. Web access {URL} from {IP}. "
    "{{Epstein-Barr virus}} serology positive; {{Kawasaki disease}} excluded.",
    "Lab requisition {DATE} — patient {LAST.UPPER}, {FIRST.UPPER}; collected at {HOSPITAL}; {{hemoglobin A1c "
    "of 8.2%}}, "
    "{{troponin I 0.8 ng/mL}}. Results phoned to {NAME} at {PHONE} on {DATE}.",
    "Consult: thank you for asking us to see {FIRST} {LAST}, a {AGE90} gentleman who resides in {CITY}, {COUNTY}. "
    "Exam notable for {{Osler nodes}} and {{Janeway lesions}}; {{Virchow node}} absent. Discussed with his "
    "wife, {FIRST}.",
]
_PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}|\{([A-Z0-9]+)(?:\.(UPPER))?\}")


def generate_note(template: str, gen: _Gen) -> Note:
    """Fill one template, recording PHI and clinical spans."""
    out: list[str] = []
    pos = 0
    note = Note(text="", template=template[:40])
    cursor = 0
    for m in _PLACEHOLDER.finditer(template):
        literal = template[pos : m.start()]
        out.append(literal)
        cursor += len(literal)
        if m.group(1) is not None:
            value = m.group(1)
            note.clinical.append((cursor, cursor + len(value)))
        else:
            value, etype = gen.value(m.group(2))
            if m.group(3):
                value = value.upper()
            note.phi.append((cursor, cursor + len(value), etype))
        out.append(value)
        cursor += len(value)
        pos = m.end()
    out.append(template[pos:])
    note.text = "".join(out)
    return note


def generate_corpus(n: int, *, split: str = "heldout", seed: int = 0, invented_share: float = 0.25) -> list[Note]:
    """``n`` labelled notes from the ``tuning`` or ``heldout`` template set (deterministic per seed)."""
    templates = {"tuning": TUNING_TEMPLATES, "heldout": HELDOUT_TEMPLATES}.get(split)
    if templates is None:
        raise ValueError(f"split must be 'tuning' or 'heldout', found {split!r}")
    rng = random.Random(f"{split}:{seed}")
    gen = _Gen(rng, invented_share)
    notes = []
    for i in range(n):
        note = generate_note(templates[i % len(templates)], gen)
        # pad with clinical sentences to about 1 KB, as in real notes
        extra: list[str] = []
        while len(note.text) + sum(len(e) + 1 for e in extra) < 900:
            extra.append(rng.choice(_CLINICAL))
        if extra:
            base = len(note.text) + 1
            text = note.text + "\n" + ". ".join(extra) + "."
            off = base
            for e in extra:
                note.clinical.append((off, off + len(e)))
                off += len(e) + 2
            note.text = text
        notes.append(note)
    return notes


# MedQA-style vignettes with no PHI at all: everything in them must survive de-identification.
CLINICAL_VIGNETTES = [
    "A 45-year-old man presents to the emergency department with crushing substernal chest pain for 2 hours. "
    "He has a history of type 2 diabetes mellitus treated with metformin and hypertension treated with lisinopril. "
    "His blood pressure is 160/95 mm Hg, pulse is 110/min, and respirations are 22/min. An ECG shows ST elevations "
    "in leads II, III, and aVF. Which of the following is the most appropriate next step in management?",
    "A 67-year-old woman with Parkinson disease is brought to the clinic by her daughter because of worsening tremor. "
    "She takes carbidopa-levodopa 25/100 mg three times daily. Examination shows a resting tremor, cogwheel rigidity "
    "and bradykinesia. Which of the following drugs is most likely to worsen her symptoms? (A) Haloperidol "
    "(B) Pramipexole (C) Selegiline (D) Amantadine",
    "A 32-year-old woman comes to the physician because of weight gain, easy bruising and purple striae. Her serum "
    "cortisol is elevated and is not suppressed by low-dose dexamethasone. High-dose dexamethasone suppresses it. "
    "The most likely diagnosis is Cushing disease caused by a pituitary adenoma.",
    "A 58-year-old man with chronic alcohol use is confused and ataxic with ophthalmoplegia. Wernicke encephalopathy "
    "is suspected and intravenous thiamine is given before glucose. Korsakoff syndrome may follow.",
    "Creatinine clearance is estimated with the Cockcroft-Gault equation: (140 - age) x weight / (72 x serum "
    "creatinine), multiplied by 0.85 in women. For a 70-kg, 60-year-old man with creatinine 1.4 mg/dL the result "
    "is about 56 mL/min.",
    "A 24-year-old man has painless cervical lymphadenopathy. Biopsy shows Reed-Sternberg cells, consistent with "
    "Hodgkin lymphoma. He is treated with ABVD (doxorubicin, bleomycin, vinblastine, dacarbazine).",
    "A 19-year-old woman has recurrent abdominal pain, bloody diarrhea and weight loss. Colonoscopy shows "
    "skip lesions with transmural inflammation and noncaseating granulomas, consistent with Crohn disease. "
    "Infliximab is started.",
    "A 74-year-old man has progressive memory loss over 3 years. MRI shows diffuse cortical atrophy. Alzheimer "
    "disease is diagnosed and donepezil is prescribed. In 2019 he was diagnosed with atrial fibrillation and "
    "takes apixaban 5 mg twice daily.",
    "A 6-year-old boy develops fever for 5 days, conjunctival injection, strawberry tongue and desquamation of the "
    "fingers. Kawasaki disease is treated with intravenous immunoglobulin and aspirin to prevent coronary aneurysms.",
    "A 40-year-old woman has heat intolerance, weight loss, exophthalmos and pretibial myxedema. Thyroid-stimulating "
    "immunoglobulins are positive. Graves disease is treated with methimazole; propylthiouracil is preferred in the "
    "first trimester of pregnancy.",
    "Gram-positive cocci in clusters grew from blood cultures; Staphylococcus aureus was confirmed and vancomycin was "
    "started. Escherichia coli and Klebsiella pneumoniae are common causes of urinary tract infection. "
    "Pseudomonas aeruginosa is treated with piperacillin-tazobactam or cefepime.",
    "A 28-year-old woman has ascending weakness 2 weeks after a Campylobacter jejuni infection. Guillain-Barré "
    "syndrome is diagnosed; lumbar puncture shows albuminocytologic dissociation. Plasmapheresis is begun.",
    "Laboratory studies show: hemoglobin 9.2 g/dL, leukocyte count 12,500/mm3, platelet count 150,000/mm3, "
    "sodium 128 mEq/L, potassium 5.9 mEq/L, bicarbonate 18 mEq/L, and glucose 245 mg/dL. Arterial blood gas shows "
    "pH 7.21 and PaCO2 24 mm Hg.",
    "A 55-year-old man from rural Ohio has cough and hilar lymphadenopathy. Histoplasma capsulatum is found in "
    "macrophages. He had spelunking exposure in the Ohio River Valley. Itraconazole is started.",
    "A 30-year-old man returning from sub-Saharan Africa has cyclic fevers. A blood smear shows Plasmodium "
    "falciparum. Artemether-lumefantrine is prescribed. He was vaccinated against yellow fever before travel.",
    "Physical examination shows a positive Murphy sign, and ultrasonography shows gallstones with pericholecystic "
    "fluid. Charcot triad and Reynolds pentad suggest ascending cholangitis. Courvoisier sign is absent.",
    "A newborn has Apgar scores of 8 and 9 at 1 and 5 minutes. Down syndrome is suspected because of a single "
    "palmar crease and epicanthal folds; karyotype shows trisomy 21. Echocardiography shows an atrioventricular "
    "septal defect.",
    "A 35-year-old woman has fatigue and a goiter; anti-thyroid peroxidase antibodies are elevated. Hashimoto "
    "thyroiditis is treated with levothyroxine. She also has vitiligo and Addison disease, suggesting autoimmune "
    "polyglandular syndrome.",
    "A 50-year-old man has refractory peptic ulcers and diarrhea; fasting gastrin is elevated. Zollinger-Ellison "
    "syndrome is suspected. Chronic reflux may cause Barrett esophagus, which is surveilled by endoscopy.",
    "Her Glasgow Coma Scale score is 14. Brudzinski and Kernig signs are positive. Cerebrospinal fluid shows "
    "neutrophilic pleocytosis. Ceftriaxone, vancomycin and dexamethasone are started for Neisseria meningitidis.",
    "A 62-year-old woman has a Virchow node and weight loss; endoscopy shows gastric adenocarcinoma. A Sister Mary "
    "Joseph nodule indicates peritoneal spread. Krukenberg tumors are ovarian metastases.",
    "Which of the following is the mechanism of action of warfarin? (A) Inhibition of vitamin K epoxide reductase "
    "(B) Direct thrombin inhibition (C) Factor Xa inhibition (D) Antithrombin III activation. The answer is A.",
]


# Eponyms, scores and named signs (many contain dictionary names): all must survive.
EPONYM_PHRASES = [
    "Carey Coombs murmur",
    "Charles Bonnet syndrome",
    "Miller Fisher syndrome",
    "Bence Jones protein",
    "Philadelphia chromosome",
    "Ramsay Hunt syndrome",
    "Austin Flint murmur",
    "Graham Steell murmur",
    "Marcus Gunn pupil",
    "Grey Turner sign",
    "Li-Fraumeni syndrome",
    "Still murmur",
    "Job syndrome",
    "Williams syndrome",
    "Noonan syndrome",
    "Cowden syndrome",
    "von Willebrand disease",
    "de Quervain tenosynovitis",
    "Lou Gehrig disease",
    "a Jehovah's Witness",
    "attends Alcoholics Anonymous",
    "served in the Peace Corps",
    "Roux-en-Y gastric bypass",
    "Whipple procedure",
    "Swan-Ganz catheter",
    "Foley catheter",
    "Tdap vaccine",
    "CHA2DS2-VASc score of 4",
    "Mallory-Weiss tear",
    "Howell-Jolly bodies",
    "Tay-Sachs disease",
    "Fitz-Hugh-Curtis syndrome",
    "Legg-Calvé-Perthes disease",
    "Salter-Harris fracture",
    "Hill-Sachs lesion",
    "Kayser-Fleischer rings",
    "Argyll Robertson pupils",
    "Kussmaul respirations",
    "Cheyne-Stokes breathing",
    "Trendelenburg position",
    "Heberden nodes",
    "Gottron papules",
    "Koplik spots",
    "Hutchinson teeth",
    "Capgras delusion",
    "Broca aphasia",
    "Waldenström macroglobulinemia",
    "Dubin-Johnson syndrome",
    "Crigler-Najjar syndrome",
    "Gilbert syndrome",
    "Prinzmetal angina",
    "Takotsubo cardiomyopathy",
    "Libman-Sacks endocarditis",
    "Pickwickian syndrome",
    "Tolosa-Hunt syndrome",
    "Creutzfeldt-Jakob disease",
    "Charcot-Marie-Tooth disease",
    "Friedreich ataxia",
    "Werdnig-Hoffmann disease",
    "Arnold-Chiari malformation",
    "Dandy-Walker malformation",
    "Pott disease",
    "Paget disease of bone",
    "Ewing sarcoma",
    "Burkitt lymphoma",
    "Sézary syndrome",
    "Richter transformation",
    "Wilms tumor",
    "Merkel cell carcinoma",
    "Marjolin ulcer",
    "Breslow depth",
    "Gleason score",
    "Child-Pugh class B",
    "Wells score",
    "Light's criteria",
    "Ranson criteria",
    "Ann Arbor staging",
    "Duke criteria",
    "Beers criteria",
    "Glasgow Coma Scale",
    "Apgar score",
    "Lown-Ganong-Levine syndrome",
    "Mobitz type II block",
    "Wenckebach block",
    "Dressler syndrome",
    "Kartagener syndrome",
    "Hamman-Rich syndrome",
    "Bell palsy",
    "Horner syndrome",
    "Pancoast tumor",
    "Lambert-Eaton syndrome",
    "Budd-Chiari syndrome",
    "Plummer-Vinson syndrome",
    "Zenker diverticulum",
    "Meckel diverticulum",
    "Ogilvie syndrome",
    "Peutz-Jeghers syndrome",
    "Sturge-Weber syndrome",
    "Kasabach-Merritt phenomenon",
    "Klippel-Trenaunay syndrome",
    "Osler-Weber-Rendu syndrome",
    "Eisenmenger syndrome",
    "tetralogy of Fallot",
    "Wolff-Parkinson-White syndrome",
    "Loeffler endocarditis",
    "Bernard-Soulier syndrome",
    "Glanzmann thrombasthenia",
    "Wiskott-Aldrich syndrome",
    "Chediak-Higashi syndrome",
    "Bruton agammaglobulinemia",
    "Takayasu arteritis",
    "Buerger disease",
    "Henoch-Schönlein purpura",
    "Caplan syndrome",
    "Löfgren syndrome",
    "Gardner syndrome",
    "Turcot syndrome",
    "Lynch syndrome",
    "von Hippel-Lindau disease",
    "Osgood-Schlatter disease",
    "Monteggia fracture",
    "Colles fracture",
    "Jones fracture",
    "Lisfranc injury",
    "Baker cyst",
    "Dupuytren contracture",
    "Tinel sign",
    "Phalen maneuver",
    "McMurray test",
    "Lachman test",
    "Homan sign",
    "Hoffmann sign",
    "Battle sign",
    "Cushing triad",
    "Beck triad",
    "Virchow triad",
    "Whipple triad",
    "Cullen sign",
    "Kehr sign",
    "Rovsing sign",
    "McBurney point",
    "Trousseau sign",
    "Chvostek sign",
    "Levine sign",
    "Duroziez sign",
    "Quincke pulses",
    "Corrigan pulse",
    "Roth spots",
    "Ewart sign",
    "Pemberton sign",
    "Nikolsky sign",
    "Auspitz sign",
    "Koebner phenomenon",
    "Darier sign",
    "Wickham striae",
    "Forchheimer spots",
    "Marcus Gunn pupil",
    "Adie pupil",
    "Parinaud syndrome",
    "Weber syndrome",
    "Benedikt syndrome",
    "Gerstmann syndrome",
    "Balint syndrome",
    "Anton syndrome",
    "Cotard delusion",
    "Munchausen syndrome",
    "Ganser syndrome",
    "Asperger syndrome",
    "Klinefelter syndrome",
    "Angelman syndrome",
    "Prader-Willi syndrome",
    "Ehlers-Danlos syndrome",
    "Alport syndrome",
    "Fabry disease",
    "Gaucher disease",
    "Hunter syndrome",
    "Hurler syndrome",
    "Pompe disease",
    "McArdle disease",
    "Lesch-Nyhan syndrome",
    "Menkes disease",
    "Hartnup disease",
    "Bartter syndrome",
    "Gitelman syndrome",
    "Liddle syndrome",
    "Fanconi anemia",
    "Goodpasture syndrome",
    "Berger disease",
    "Churg-Strauss syndrome",
    "Behçet disease",
    "Reiter syndrome",
    "Felty syndrome",
]


# Lab values, codes, genes, scores and exam-question scaffolding: all must survive.
CLINICAL_SNIPPETS = [
    "HbA1c 7.2%, CD4+ count 180/mm3, HLA-B27 positive, JAK2 V617F mutation, BCR-ABL t(9;22).",
    "ICD-10 code E11.9; Type 1 DM; COVID-19 due to SARS-CoV-2; H1N1 influenza; 5-FU; IL-6; TNF-α inhibitors.",
    "Vitamin B12 1000 mcg IM monthly. G6PD deficiency. Factor V Leiden mutation. MTHFR C677T. BRCA1/2 carriers.",
    "PD-L1 expression 60%, HER2/neu negative, EGFR exon 19 deletion, T315I mutation, IgA nephropathy, "
    "p53, Ki-67 of 40%.",
    "pH 7.21, PaO2/FiO2 ratio 180, GFR 45 mL/min/1.73 m2, QTc 520 ms, ANA titer 1:160, Tanner stage 4, "
    "G3P2 at 38 weeks' gestation.",
    "She is 5 ft 7 in (170 cm) tall and weighs 150 lb (68 kg); BMI is 32 kg/m2. Serum osmolality 295 mOsm/kg.",
    "Platelets 450000/uL. Reticulocyte count 3.5%. Ferritin 12 ng/mL. Lead level 45 ug/dL. TSH 0.01 uU/mL.",
    "Over the next 2-3 days, 1 of 4 siblings, 20-30 cigarettes daily for 40 pack-years; 3 of 5 strength.",
    "The mother, who is 92 kg, has a 10-year history of hypertension. The father died at 67 of a "
    "myocardial infarction.",
    "He was treated with the RICE protocol and the DASH diet. ACLS protocol was followed. CAGE questionnaire score 3.",
    "Which of the following is the most likely cause? A. Chlamydia trachomatis B. Neisseria gonorrhoeae "
    "C. Treponema pallidum",
    "Option E: Lithium; Option F: Valproate. Correct answer: B. Explanation: Ebstein anomaly is "
    "associated with lithium.",
    "During the 1918 influenza pandemic... In the 1980s, HIV... The Framingham Heart Study showed... The "
    "WHO recommends...",
    "US Preventive Services Task Force (USPSTF) recommends screening at age 50. The CDC and FDA issued "
    "guidance in 2021.",
]


# Answer options in Title Case and newer drug names: must survive alone and inside an option list.
CLINICAL_OPTIONS = [
    "Acute Interstitial Nephritis",
    "Minimal Change Disease",
    "Membranoproliferative Glomerulonephritis",
    "Focal Segmental Glomerulosclerosis",
    "Rapidly Progressive Glomerulonephritis",
    "Idiopathic Pulmonary Fibrosis",
    "Primary Sclerosing Cholangitis",
    "Systemic Lupus Erythematosus",
    "Hypertrophic Obstructive Cardiomyopathy",
    "Chronic Lymphocytic Leukemia",
    "Acute Promyelocytic Leukemia",
    "Diffuse Large B-cell Lymphoma",
    "Paroxysmal Nocturnal Hemoglobinuria",
    "Thrombotic Thrombocytopenic Purpura",
    "Hemolytic Uremic Syndrome",
    "Disseminated Intravascular Coagulation",
    "Autoimmune Hemolytic Anemia",
    "Hereditary Spherocytosis",
    "Sickle Cell Disease",
    "Beta Thalassemia Major",
    "Polycythemia Vera",
    "Essential Thrombocythemia",
    "Myelodysplastic Syndrome",
    "Multiple Myeloma",
    "Amyotrophic Lateral Sclerosis",
    "Multiple Sclerosis",
    "Myasthenia Gravis",
    "Subarachnoid Hemorrhage",
    "Epidural Hematoma",
    "Subdural Hematoma",
    "Normal Pressure Hydrocephalus",
    "Progressive Multifocal Leukoencephalopathy",
    "Subacute Sclerosing Panencephalitis",
    "Ankylosing Spondylitis",
    "Psoriatic Arthritis",
    "Reactive Arthritis",
    "Septic Arthritis",
    "Pseudogout",
    "Osteogenesis Imperfecta",
    "Achondroplasia",
    "Slipped Capital Femoral Epiphysis",
    "Developmental Dysplasia of the Hip",
    "Transient Synovitis",
    "Juvenile Idiopathic Arthritis",
    "Pyloric Stenosis",
    "Intussusception",
    "Necrotizing Enterocolitis",
    "Biliary Atresia",
    "Tracheoesophageal Fistula",
    "Congenital Diaphragmatic Hernia",
    "Gastroschisis",
    "Omphalocele",
    "Eosinophilic Esophagitis",
    "Achalasia",
    "Diffuse Esophageal Spasm",
    "Hepatocellular Carcinoma",
    "Cholangiocarcinoma",
    "Pheochromocytoma",
    "Medullary Thyroid Carcinoma",
    "Papillary Thyroid Carcinoma",
    "Anaplastic Thyroid Carcinoma",
    "Subacute Granulomatous Thyroiditis",
    "Nephrogenic Diabetes Insipidus",
    "Syndrome of Inappropriate Antidiuretic Hormone",
    "Primary Hyperaldosteronism",
    "Congenital Adrenal Hyperplasia",
    "Metformin",
    "Glipizide",
    "Empagliflozin",
    "Sitagliptin",
    "Pioglitazone",
    "Acarbose",
    "Exenatide",
    "Pramlintide",
    "Canagliflozin",
    "Ertugliflozin",
    "Bromocriptine",
    "Colesevelam",
    "Miglitol",
    "Nateglinide",
    "Repaglinide",
    "Tolbutamide",
    "Chlorpropamide",
    "Sacubitril-valsartan",
    "Ivabradine",
    "Vericiguat",
    "Mavacamten",
    "Inclisiran",
    "Bempedoic acid",
    "Icosapent ethyl",
    "Lomitapide",
    "Mipomersen",
]
