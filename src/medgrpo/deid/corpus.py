"""A generator of labelled synthetic clinical notes for measuring de-identification (no real patient data).

Notes come in four kinds (ICU nursing notes, discharge summaries, telephone notes, radiology reports)
and three letter-case styles (ALL CAPS, all lower case, mixed), with shorthand, run-together
punctuation and typos. Every PHI value is recorded with its offsets and entity type, so scoring is
exact at the token level.

Honesty rules (issue #11):

- **Disjoint sources.** Person names come from ``resources/deid/corpus_names.tsv.gz`` (census-2000
  derived lists shipped in the ``probablepeople`` package), towns are synthesised from morphemes
  below, hospitals are built from those names and towns; the detector reads none of these.
  :func:`overlap_report` measures how many generated names and towns the detector's lexicons
  happen to contain anyway (common names are in every list), and the evaluator reports recall on
  the out-of-lexicon part separately.
- **Disjoint splits.** ``dev`` (for tuning) and ``test`` (frozen, see ``FROZEN_TEST``) use disjoint
  halves of the name pool, different seeds, and the test split alone uses the ``held-out`` sentence
  templates. ``tests/unit/deid/data/deid_test_split.jsonl.gz`` was generated once with
  ``generate_corpus(300, split="test", seed=FROZEN_TEST_SEED)`` and is checked by checksum.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medgrpo.deid.types import word_list

RESOURCE = Path(__file__).resolve().parent.parent / "resources" / "deid" / "corpus_names.tsv.gz"
FROZEN_TEST_SEED = 20261202
KINDS = ("nursing", "discharge", "telephone", "radiology")
STYLES = ("upper", "lower", "mixed")


@dataclass
class Note:
    """A generated note with gold PHI spans ``(start, end, type)``."""

    text: str
    phi: list[tuple[int, int, str]] = field(default_factory=list)
    kind: str = ""
    style: str = ""

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "phi": self.phi, "kind": self.kind, "style": self.style})

    @staticmethod
    def from_json(line: str) -> Note:
        d = json.loads(line)
        phi = [(int(a), int(b), str(c)) for a, b, c in d["phi"]]
        return Note(d["text"], phi, d.get("kind", ""), d.get("style", ""))


def _pool() -> tuple[list[str], list[str]]:
    firsts: list[str] = []
    lasts: list[str] = []
    for line in gzip.decompress(RESOURCE.read_bytes()).decode().splitlines():
        if line.startswith("#") or not line:
            continue
        name, kind = line.split("\t")
        (firsts if kind == "f" else lasts).append(name)
    return firsts, lasts


_TOWN_HEAD = [
    "ash",
    "bram",
    "cedar",
    "clay",
    "elm",
    "fair",
    "glen",
    "hazel",
    "iron",
    "kings",
    "lark",
    "maple",
    "north",
    "oak",
    "pine",
    "quarry",
    "red",
    "rose",
    "salt",
    "stone",
    "thorn",
    "wal",
    "west",
    "white",
    "wick",
    "wil",
    "win",
    "wood",
    "brook",
    "brad",
    "chester",
    "dun",
    "ever",
    "hart",
    "high",
    "lake",
    "mill",
    "new",
    "spring",
    "sum",
    "wex",
    "yar",
    "zell",
    "tarn",
    "orr",
    "belle",
    "cran",
    "dover",
    "fox",
    "gran",
    "hol",
    "hunt",
]
_TOWN_TAIL = word_list(
    "ton ville field brook ford port wood dale burg bury ham stead ridge haven mouth by wick well mere leigh"
)
_TOWN_WORD = ("Falls", "Springs", "Heights", "Junction", "Center", "Landing", "Harbor", "Crossing")
_STREET = ("St", "Street", "Ave", "Avenue", "Rd", "Road", "Lane", "Drive", "Way", "Court", "Blvd")
_HOSP_TAIL = ("Hospital", "hosp", "Medical Center", "Med Ctr", "Memorial Hospital", "Rehab", "Nursing Home",
              "Manor", "Clinic", "Health Center", "Community Hospital")  # fmt: skip


class _Gen:
    """Random PHI values (plain strings) from the corpus's own sources."""

    def __init__(self, rng: random.Random, split: str) -> None:
        self.rng = rng
        firsts, lasts = _pool()
        half = 0 if split == "dev" else 1
        self.firsts = [n for i, n in enumerate(firsts) if i % 2 == half]
        self.lasts = [n for i, n in enumerate(lasts) if i % 2 == half]

    def first(self) -> str:
        return self.rng.choice(self.firsts).capitalize()

    def last(self) -> str:
        name = self.rng.choice(self.lasts).capitalize()
        if self.rng.random() < 0.05:
            name = name + "-" + self.rng.choice(self.lasts).capitalize()
        return name

    def town(self) -> str:
        r = self.rng.random()
        base = (self.rng.choice(_TOWN_HEAD) + self.rng.choice(_TOWN_TAIL)).capitalize()
        if r < 0.2:
            return f"{self.rng.choice(('East', 'West', 'North', 'South', 'Port', 'Fort', 'Lake'))} {base}"
        if r < 0.35:
            return f"{base} {self.rng.choice(_TOWN_WORD)}"
        if r < 0.5:
            return self.last() + self.rng.choice(("ville", "ton", "burg", "field"))
        return base

    def hospital(self) -> str:
        r = self.rng.random()
        if r < 0.15:
            return f"St. {self.first()}'s {self.rng.choice(('Hospital', 'Medical Center', 'hosp'))}"
        if r < 0.25:
            a, b = self.last(), self.town()
            return f"{a[0]}{b[0]}H".upper()
        root = self.last() if r < 0.65 else self.town()
        return f"{root} {self.rng.choice(_HOSP_TAIL)}"

    def date(self) -> str:
        m, d, y = self.rng.randint(1, 12), self.rng.randint(1, 28), self.rng.randint(1995, 2024)
        mon = [
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
        ][m - 1]
        shapes = [
            f"{m}/{d}", f"{m}/{d}", f"{m}/{d}", f"{m}-{d}", f"{m}/{d}/{y % 100:02d}", f"{m:02d}/{d:02d}/{y}",
            f"{y}-{m:02d}-{d:02d}", f"{mon} {d}", f"{mon[:3]} {d}, {y}", f"{d} {mon[:3]} {y}", f"{d}.{m}.{y % 100:02d}",
            f"{mon[:3]}-{y % 100:02d}", f"{mon} {d}th",
        ]  # fmt: skip
        return self.rng.choice(shapes)

    def phone(self) -> str:
        a, b, c = self.rng.randint(201, 989), self.rng.randint(200, 999), self.rng.randint(1000, 9999)
        shapes = [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{b}-{c}", f"+1 {a} {b} {c}",
                  f"{a}{b}{c}", f"+44 20 {self.rng.randint(7000, 8999)} {c}"]  # fmt: skip
        return self.rng.choice(shapes)

    def pager(self) -> str:
        return self.rng.choice(
            (f"{self.rng.randint(1, 9)}-{self.rng.randint(1000, 9999)}", str(self.rng.randint(10000, 99999)))
        )

    def mrn(self) -> str:
        return self.rng.choice(
            (
                str(self.rng.randint(1000000, 99999999)),
                f"{self.rng.randint(100, 999)}-{self.rng.randint(10, 99)}-{self.rng.randint(10, 99)}",
            )
        )

    def age(self) -> str:
        return str(self.rng.randint(90, 104))

    def street(self) -> str:
        return f"{self.rng.randint(2, 9999)} {self.last()} {self.rng.choice(_STREET)}"

    def email(self) -> str:
        first, last = self.first().lower(), self.last().lower().replace("-", "")  # draw order matters (frozen split)
        host = self.rng.choice(("mail", "inbox", "post"))
        return f"{first}.{last}@{host}{self.rng.randint(1, 99)}.com"


# ---------------------------------------------------------------------------------------------
# Sentence templates. {X} placeholders become PHI; text outside is clinical language (never PHI).
# "held-out" templates are used only by the test split.
_SHARED: dict[str, list[str]] = {
    "nursing": [
        "Neuro: A&Ox3, follows commands, MAE. PERRL 3mm brisk.",
        "CV: NSR 70-80s, no ectopy. BP 110-130/60s. K 3.9 repleted with 40 meq KCL.",
        "Resp: LS coarse bilat, sx for mod amt thick tan sputum. O2 sat 95% on 4L NC.",
        "GI: abd soft, +BS, tolerating TF @ goal 60cc/hr. Last BM {DATE}.",
        "GU: foley draining clear yellow urine 40-60cc/hr.",
        "Skin: coccyx stage 2, duoderm intact. Heels boggy, off-loaded.",
        "Social: wife {FIRST} called for update, plan reviewed.",
        "Pt seen by dr {LAST} this am, aware of low UOP. Lasix 20mg IV given.",
        "Dextrose 5% at KVO. A fib with RVR overnight, dilt gtt started per {LAST}.",
        "Hx PVD, CAD s/p CABG, IDDM. Transferred from {HOSP} on {DATE}.",
        "Son {FIRST} and daughter {FIRST} in to visit, updated by RN.",
        "Plan: cont to monitor, f/u with Dr. {LAST} in am, pager {PAGER}.",
        "1/2 NS @ 75/hr. 5/5 strength all ext. 2/6 SEM at LSB. Pain 4/10, tylenol given.",
        "Family meeting {DATE} with {FIRST} {LAST} (HCP) and team; pt remains full code.",
        "Pt is a {AGE} yo female from {TOWN}, lives alone at {STREET}.",
        "Per {FIRST}, pt was at baseline until {DATE}.",
        "Called {HOSP} ICU for records, spoke with {FIRST}, RN.",
    ],
    "discharge": [
        "Admission Date: {DATE}   Discharge Date: {DATE}",
        "Patient: {FIRST} {LAST}   MRN: {MRN}   DOB: {DOB}",
        "Attending: {FIRST} {LAST}, M.D.",
        "Mr. {LAST} is a 67 year old man with CHF (EF 25%), COPD and CKD stage 3 admitted with dyspnea.",
        "He was transferred from {HOSP} where he was started on heparin gtt.",
        "Hospital course notable for NSTEMI, troponin peak 2.3; cath on {DATE} showed 90% LAD lesion.",
        "Discharge medications: metoprolol 25 mg PO BID, atorvastatin 80 mg daily, ASA 81 mg daily.",
        "Follow-up: Dr. {LAST} ({PHONE}) on {DATE}. Cardiology clinic at {HOSP}.",
        "Disposition: home with services. Lives with his wife {FIRST} in {TOWN}.",
        "Dictated by: {FIRST} {LAST}, MD   Job #: {MRN}",
        "Contact e-mail for the family: {EMAIL}.",
        "She is {AGE} years old and was living at {STREET}, {TOWN}, MA.",
    ],
    "telephone": [
        "Telephone encounter {DATE} 14:20.",
        "Caller: {FIRST} {LAST} (daughter), call back number {PHONE}.",
        "States pt had a fall at home yesterday, no LOC, bruise L hip.",
        "Advised to go to {HOSP} ED if pain worse. Message routed to Dr {LAST}.",
        "Spoke w/ {FIRST} at pharmacy re: warfarin 5mg, INR 2.4 on {DATE}.",
        "Pt's husband {FIRST} asks for refill of metformin 500 mg BID.",
        "Returned call, left msg on voicemail {PHONE}. -- {FIRST} {LAST} RN",
    ],
    "radiology": [
        "EXAM: CT chest w/o contrast. DATE: {DATE}.",
        "CLINICAL HISTORY: {AGE} year old with cough, r/o PNA.",
        "COMPARISON: CXR from {HOSP} dated {DATE}.",
        "FINDINGS: Bibasilar atelectasis. No PTX. Small L effusion. Heart size nl.",
        "IMPRESSION: 1. No PE. 2. Small L effusion. Findings d/w Dr. {LAST} at {PHONE} on {DATE}.",
        "Electronically signed by {FIRST} {LAST}, MD on {DATE}.",
        "Accession #: {MRN}. Ordering provider: {LAST}, {FIRST}.",
    ],
}
_HELDOUT: dict[str, list[str]] = {
    "nursing": [
        "Events: pt more agitated ~0200, haldol 2mg IV x1 with effect. {FIRST} (niece) aware.",
        "Brother {FIRST} {LAST} visiting from {TOWN}, very supportive.",
        "OOB to chair w/ PT, tol well. 3/4 of meals eaten. GCS 14.",
        "Lines: R IJ TLC placed {DATE} at {HOSP}; A-line L radial.",
        "Pt's friend {FIRST} brought clothes, will return {DATE}.",
    ],
    "discharge": [
        "Primary care: {FIRST} {LAST}, NP at {HOSP}, tel {PHONE}.",
        "Brief history: seen in {TOWN} urgent care on {DATE} and sent in by ambulance.",
        "SSN on file {SSN}; insurance verified.",
    ],
    "telephone": [
        "Mother {FIRST} reports fever to 102 since {DATE}; tylenol q6h.",
        "Call from {FIRST} {LAST} at {HOSP} lab re: critical K 6.1.",
    ],
    "radiology": [
        "TECHNIQUE: Doppler US of LLE. Reported to {FIRST} {LAST}, PA, on {DATE} at 15:10.",
    ],
}
_LABEL = {
    "FIRST": "NAME", "LAST": "NAME", "HOSP": "ORGANIZATION", "TOWN": "LOCATION", "DATE": "DATE", "DOB": "DATE",
    "PHONE": "PHONE", "PAGER": "PHONE", "MRN": "MRN", "AGE": "AGE", "STREET": "ADDRESS", "EMAIL": "EMAIL", "SSN": "SSN",
}  # fmt: skip
_PH = re.compile(r"\{([A-Z]+)\}")


def _value(gen: _Gen, key: str) -> str:
    rng = gen.rng
    return {
        "FIRST": gen.first, "LAST": gen.last, "HOSP": gen.hospital, "TOWN": gen.town, "DATE": gen.date,
        "DOB": lambda: f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1930, 1990)}", "PHONE": gen.phone,
        "PAGER": gen.pager, "MRN": gen.mrn, "AGE": gen.age, "STREET": gen.street, "EMAIL": gen.email,
        "SSN": lambda: f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
    }[key]()  # fmt: skip


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 5 or not word.isalpha():
        return word
    i = rng.randint(1, len(word) - 3)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def generate_note(rng: random.Random, split: str, gen: _Gen | None = None) -> Note:
    """One note: a random kind and style, 6-12 sentences."""
    gen = gen or _Gen(rng, split)
    kind = rng.choice(KINDS)
    style = rng.choice(STYLES)
    pool = list(_SHARED[kind]) + (list(_HELDOUT[kind]) if split == "test" else [])
    sentences = rng.sample(pool, min(len(pool), rng.randint(6, 12)))
    text_parts: list[str] = []
    phi: list[tuple[int, int, str]] = []
    pos = 0
    joiner = rng.choice(["\n", " ", "  ", ". ", "\n"])
    for k, template in enumerate(sentences):
        if k:
            text_parts.append(joiner)
            pos += len(joiner)
        last = 0
        for m in _PH.finditer(template):
            plain = template[last : m.start()]
            if rng.random() < 0.08:
                plain = " ".join(_typo(w, rng) for w in plain.split(" "))
            text_parts.append(plain)
            pos += len(plain)
            value = _value(gen, m.group(1))
            phi.append((pos, pos + len(value), _LABEL[m.group(1)]))
            text_parts.append(value)
            pos += len(value)
            last = m.end()
        tail = template[last:]
        text_parts.append(tail)
        pos += len(tail)
    text = "".join(text_parts)
    if style == "upper":
        text = text.upper()
    elif style == "lower":
        text = text.lower()
    return Note(text, phi, kind, style)


def generate_corpus(n: int, *, split: str = "dev", seed: int = 0) -> list[Note]:
    """``n`` notes of the ``dev`` or ``test`` split (different name halves and templates; see the module doc)."""
    if split not in {"dev", "test"}:
        raise ValueError(f"split must be 'dev' or 'test', found {split!r}")
    rng = random.Random(f"{split}:{seed}")
    gen = _Gen(rng, split)
    return [generate_note(rng, split, gen) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
FROZEN_TEST = Path(__file__).resolve().parents[3] / "tests" / "unit" / "deid" / "data" / "deid_test_split.jsonl.gz"


def write_split(path: Path, notes: list[Note]) -> str:
    """Write notes as gzip JSONL (deterministic bytes); return the sha256 of the uncompressed text."""
    body = "".join(n.to_json() + "\n" for n in notes).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body, mtime=0))
    return hashlib.sha256(body).hexdigest()


def read_split(path: Path = FROZEN_TEST) -> tuple[list[Note], str]:
    """The notes of a written split and the sha256 of its uncompressed text."""
    body = gzip.decompress(path.read_bytes())
    return [Note.from_json(line) for line in body.decode("utf-8").splitlines() if line], hashlib.sha256(
        body
    ).hexdigest()


def overlap_report(notes: list[Note]) -> dict[str, float]:
    """Share of gold NAME / LOCATION words that the detector's lexicons contain (the rest is out-of-lexicon)."""
    from medgrpo.deid.lexicon import load_lexicon

    lex = load_lexicon()
    counts = {"NAME": [0, 0], "LOCATION": [0, 0]}
    for note in notes:
        for start, end, etype in note.phi:
            if etype not in counts:
                continue
            for w in re.findall(r"[A-Za-z]+", note.text[start:end]):
                info = lex.info(w)
                counts[etype][1] += 1
                counts[etype][0] += int(info.is_name if etype == "NAME" else info.place)
    return {k: (a / b if b else 0.0) for k, (a, b) in counts.items()}


def in_lexicon(word: str) -> bool:
    """True when the detector's name or place dictionaries contain ``word``."""
    from medgrpo.deid.lexicon import load_lexicon

    info = load_lexicon().info(word)
    return info.is_name or info.place


Analyzer = Callable[[str], list]  # text -> spans with .start/.end
