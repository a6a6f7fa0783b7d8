"""Verifiable clinical-calculation problems: original content we can ship, test on and train on.

Each calculator draws physiologically plausible inputs, writes a natural-language vignette and
computes the exact answer. Records are canonical (DESIGN §4): ``source`` ``"synth"``,
``answer_type`` ``"numeric"``, a decimal-string answer rounded to the calculator's precision, and
``meta`` with ``calculator``, ``unit``, ``tolerance`` (relative), ``difficulty`` and ``inputs`` (the
values in the formula's own units, so a test can recompute the answer independently).

Difficulty:
- ``easy``: the values the formula needs, in its units, and little else.
- ``medium``: the same values inside a fuller vignette with distracting findings.
- ``hard``: a fuller vignette with some inputs in other units (lb, inches, mmol/L, °F-free
  conversions such as glucose mmol/L → mg/dL), which must be converted first.

Formulas (inputs → output, with units):
- anion_gap: AG = Na − (Cl + HCO3); mEq/L.
- corrected_calcium: Ca + 0.8 × (4.0 − albumin); Ca mg/dL, albumin g/dL → mg/dL.
- cockcroft_gault: (140 − age) × weight / (72 × Cr) × (0.85 if female); years, kg, mg/dL → mL/min.
- bmi: weight / height²; kg, m → kg/m².
- bsa_mosteller: √(height × weight / 3600); cm, kg → m².
- mean_arterial_pressure: (SBP + 2 × DBP) / 3; mmHg → mmHg.
- qtc_bazett: QT / √RR with RR = 60 / HR; ms, s → ms.
- qtc_fridericia: QT / ∛RR with RR = 60 / HR; ms, s → ms.
- aa_gradient: FiO2 × (Patm − 47) − PaCO2 / 0.8 − PaO2; Patm 760 mmHg, RQ 0.8 → mmHg.
- corrected_sodium: Na + 1.6 × (glucose − 100) / 100 (Katz); mEq/L, mg/dL → mEq/L.
- free_water_deficit: TBW × (Na / 140 − 1), TBW = weight × (0.6 man, 0.5 woman; 0.5 / 0.45 if
  age ≥ 65); kg, mEq/L → L.
- weight_based_dose: dose/kg × weight, capped at a maximum single dose; mg/kg, kg → mg.
- infusion_rate: dose × weight × 60 / concentration; mcg/kg/min, kg, mcg/mL → mL/h.
- serum_osmolality: 2 × Na + glucose / 18 + BUN / 2.8; mEq/L, mg/dL, mg/dL → mOsm/kg.
- ldl_friedewald: TC − HDL − TG / 5; mg/dL → mg/dL.
- maintenance_fluids: 4-2-1 rule, 4 mL/kg/h for the first 10 kg, 2 for the next 10, 1 after; → mL/h.
- parkland: 4 mL × weight × %TBSA, half in the first 8 h; → mL/h during the first 8 h.
- fena: (urine Na × plasma Cr) / (plasma Na × urine Cr) × 100; → %.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from medgrpo.data.schema import make_id

DIFFICULTIES = ("easy", "medium", "hard")
LB_PER_KG = 2.20462
CM_PER_IN = 2.54
GLUCOSE_MGDL_PER_MMOL = 18.0
BUN_MGDL_PER_UREA_MMOL = 2.8


@dataclass(frozen=True)
class Problem:
    """One drawn problem before it becomes a record."""

    question: str
    value: float
    decimals: int
    unit: str
    tolerance: float
    explanation: str
    inputs: dict[str, float | str]


@dataclass(frozen=True)
class _Patient:
    age: int
    sex: str  # "man" | "woman"

    @property
    def female(self) -> bool:
        return self.sex == "woman"

    @property
    def pronoun(self) -> str:
        return "She" if self.female else "He"

    def intro(self, rng: random.Random) -> str:
        setting = rng.choice(
            [
                "presents to the emergency department",
                "is seen in clinic",
                "is admitted to the medical ward",
                "is reviewed on the morning round",
                "is evaluated in the intensive care unit",
                "attends a follow-up visit",
            ]
        )
        return f"{_a(self.age)} {self.age}-year-old {self.sex} {setting}"


_COMPLAINTS = [
    "with fatigue and poor oral intake for three days",
    "after two days of vomiting",
    "with new confusion noted by family",
    "with shortness of breath on exertion",
    "with palpitations since the morning",
    "for pre-operative assessment",
    "with a fever and productive cough",
    "with generalized weakness",
]
_DISTRACTORS = [
    "Heart rate is {hr}/min and temperature {temp} °C.",
    "Hemoglobin is {hb} g/dL and the platelet count {plt} ×10^9/L.",
    "Oxygen saturation is {spo2}% on room air.",
    "The white cell count is {wbc} ×10^9/L.",
    "Past history includes hypertension treated with amlodipine.",
    "There is a history of type 2 diabetes managed with metformin.",
    "Serum potassium is {k} mEq/L.",
]


def _patient(rng: random.Random, lo: int = 18, hi: int = 89) -> _Patient:
    return _Patient(age=rng.randint(lo, hi), sex=rng.choice(["man", "woman"]))


def _distract(rng: random.Random, difficulty: str) -> str:
    if difficulty == "easy":
        return ""
    k = 1 if difficulty == "medium" else 2
    fills = {
        "hr": rng.randint(55, 125),
        "temp": round(rng.uniform(36.2, 39.4), 1),
        "hb": round(rng.uniform(8.5, 16.0), 1),
        "plt": rng.randint(120, 420),
        "spo2": rng.randint(88, 99),
        "wbc": round(rng.uniform(3.5, 18.0), 1),
        "k": round(rng.uniform(3.1, 5.6), 1),
    }
    return " " + " ".join(s.format(**fills) for s in rng.sample(_DISTRACTORS, k))


def _opening(rng: random.Random, p: _Patient, difficulty: str) -> str:
    if difficulty == "easy":
        return f"{_a(p.age)} {p.age}-year-old {p.sex}."
    return f"{p.intro(rng)} {rng.choice(_COMPLAINTS)}."


def _lc(text: str) -> str:
    """Lower-case the first letter only (units and acronyms keep their case)."""
    return text[:1].lower() + text[1:]


def _a(age: int) -> str:
    """'A' or 'An' before an age ("An 18-year-old", "An 80-year-old")."""
    return "An" if str(age).startswith("8") or age in (11, 18) else "A"


def _ask(rng: random.Random, what: str, unit: str, decimals: int) -> str:
    places = "a whole number" if decimals == 0 else f"{decimals} decimal place{'s' if decimals > 1 else ''}"
    form = rng.choice(
        [
            f"Calculate the {what} in {unit}, rounded to {places}.",
            f"What is the {what} ({unit})? Round to {places}.",
            f"Compute this patient's {what}. Give the result in {unit} to {places}.",
        ]
    )
    return form


def _weight_phrase(rng: random.Random, kg: float, difficulty: str) -> tuple[str, float]:
    """Weight as text, and the kg value the formula uses (hard: given in pounds)."""
    if difficulty == "hard" and rng.random() < 0.6:
        lb = round(kg * LB_PER_KG, 1)
        return f"weighs {lb} lb", lb / LB_PER_KG
    return f"weighs {kg} kg", kg


def _height_phrase(rng: random.Random, cm: float, difficulty: str) -> tuple[str, float]:
    """Height as text, and the cm value the formula uses (hard: given in inches)."""
    if difficulty == "hard" and rng.random() < 0.6:
        inches = round(cm / CM_PER_IN, 1)
        return f"is {inches} inches tall", inches * CM_PER_IN
    return f"is {cm} cm tall", cm


def _glucose_phrase(rng: random.Random, mgdl: float, difficulty: str) -> tuple[str, float]:
    """Glucose as text, and the mg/dL value used (hard: given in mmol/L)."""
    if difficulty == "hard" and rng.random() < 0.6:
        mmol = round(mgdl / GLUCOSE_MGDL_PER_MMOL, 1)
        return f"glucose {mmol} mmol/L", mmol * GLUCOSE_MGDL_PER_MMOL
    return f"glucose {mgdl:g} mg/dL", mgdl


# --- calculators -------------------------------------------------------------------------------


def anion_gap(rng: random.Random, difficulty: str) -> Problem:
    """AG = Na − (Cl + HCO3), mEq/L."""
    p = _patient(rng)
    na, cl, hco3 = rng.randint(125, 150), rng.randint(88, 112), rng.randint(8, 30)
    while na - cl - hco3 < 3:
        cl -= 2
    ag = na - (cl + hco3)
    q = (
        f"{_opening(rng, p, difficulty)} Serum chemistry: sodium {na} mEq/L, chloride {cl} mEq/L, "
        f"bicarbonate {hco3} mEq/L.{_distract(rng, difficulty)} {_ask(rng, 'serum anion gap', 'mEq/L', 0)}"
    )
    expl = f"AG = Na − (Cl + HCO3) = {na} − ({cl} + {hco3}) = {ag} mEq/L."
    return Problem(q, ag, 0, "mEq/L", 0.02, expl, {"sodium": na, "chloride": cl, "bicarbonate": hco3})


def corrected_calcium(rng: random.Random, difficulty: str) -> Problem:
    """Ca_corr = Ca + 0.8 × (4.0 − albumin), mg/dL."""
    p = _patient(rng)
    ca, alb = round(rng.uniform(6.5, 10.5), 1), round(rng.uniform(1.5, 4.5), 1)
    value = ca + 0.8 * (4.0 - alb)
    q = (
        f"{_opening(rng, p, difficulty)} Total serum calcium is {ca} mg/dL and serum albumin is {alb} g/dL."
        f"{_distract(rng, difficulty)} Using a normal albumin of 4.0 g/dL, "
        f"{_lc(_ask(rng, 'albumin-corrected calcium', 'mg/dL', 2))}"
    )
    expl = f"Corrected Ca = {ca} + 0.8 × (4.0 − {alb}) = {value:.2f} mg/dL."
    return Problem(q, value, 2, "mg/dL", 0.01, expl, {"calcium": ca, "albumin": alb})


def cockcroft_gault(rng: random.Random, difficulty: str) -> Problem:
    """CrCl = (140 − age) × weight / (72 × Cr) × (0.85 if female), mL/min."""
    p = _patient(rng, 20, 89)
    kg = round(rng.uniform(45, 120), 1)
    cr = round(rng.uniform(0.6, 3.5), 1)
    wtxt, kg_used = _weight_phrase(rng, kg, difficulty)
    value = (140 - p.age) * kg_used / (72 * cr) * (0.85 if p.female else 1.0)
    q = (
        f"{_opening(rng, p, difficulty)} {p.pronoun} {wtxt} and the serum creatinine is {cr} mg/dL."
        f"{_distract(rng, difficulty)} Using the Cockcroft-Gault equation with actual body weight, "
        f"{_lc(_ask(rng, 'estimated creatinine clearance', 'mL/min', 1))}"
    )
    sexf = " × 0.85" if p.female else ""
    expl = f"CrCl = (140 − {p.age}) × {kg_used:.1f} / (72 × {cr}){sexf} = {value:.1f} mL/min."
    return Problem(
        q,
        value,
        1,
        "mL/min",
        0.02,
        expl,
        {"age": p.age, "weight_kg": kg_used, "creatinine": cr, "sex": p.sex},
    )


def bmi(rng: random.Random, difficulty: str) -> Problem:
    """BMI = weight / height², kg/m²."""
    p = _patient(rng)
    kg, cm = round(rng.uniform(40, 150), 1), float(rng.randint(145, 200))
    wtxt, kg_used = _weight_phrase(rng, kg, difficulty)
    htxt, cm_used = _height_phrase(rng, cm, difficulty)
    value = kg_used / (cm_used / 100) ** 2
    q = (
        f"{_opening(rng, p, difficulty)} {p.pronoun} {htxt} and {wtxt}.{_distract(rng, difficulty)} "
        f"{_ask(rng, 'body mass index', 'kg/m²', 1)}"
    )
    expl = f"BMI = {kg_used:.1f} kg / ({cm_used / 100:.3f} m)² = {value:.1f} kg/m²."
    return Problem(q, value, 1, "kg/m²", 0.01, expl, {"weight_kg": kg_used, "height_cm": cm_used})


def bsa_mosteller(rng: random.Random, difficulty: str) -> Problem:
    """BSA = √(height_cm × weight_kg / 3600), m² (Mosteller)."""
    p = _patient(rng)
    kg, cm = round(rng.uniform(40, 140), 1), float(rng.randint(145, 200))
    wtxt, kg_used = _weight_phrase(rng, kg, difficulty)
    htxt, cm_used = _height_phrase(rng, cm, difficulty)
    value = math.sqrt(cm_used * kg_used / 3600)
    q = (
        f"{_opening(rng, p, difficulty)} Before chemotherapy dosing, the team notes that {p.pronoun.lower()} "
        f"{htxt} and {wtxt}.{_distract(rng, difficulty)} Using the Mosteller formula, "
        f"{_lc(_ask(rng, 'body surface area', 'm²', 2))}"
    )
    expl = f"BSA = √({cm_used:.1f} × {kg_used:.1f} / 3600) = {value:.2f} m²."
    return Problem(q, value, 2, "m²", 0.01, expl, {"weight_kg": kg_used, "height_cm": cm_used})


def mean_arterial_pressure(rng: random.Random, difficulty: str) -> Problem:
    """MAP = (SBP + 2 × DBP) / 3, mmHg."""
    p = _patient(rng)
    dbp = rng.randint(40, 115)
    sbp = dbp + rng.randint(20, 90)
    value = (sbp + 2 * dbp) / 3
    q = (
        f"{_opening(rng, p, difficulty)} Blood pressure is {sbp}/{dbp} mmHg.{_distract(rng, difficulty)} "
        f"{_ask(rng, 'mean arterial pressure', 'mmHg', 1)}"
    )
    expl = f"MAP = ({sbp} + 2 × {dbp}) / 3 = {value:.1f} mmHg."
    return Problem(q, value, 1, "mmHg", 0.01, expl, {"systolic": sbp, "diastolic": dbp})


def _qtc(rng: random.Random, difficulty: str, method: str) -> Problem:
    p = _patient(rng)
    hr, qt = rng.randint(45, 140), rng.randint(300, 520)
    rr = 60 / hr
    value = qt / (math.sqrt(rr) if method == "bazett" else rr ** (1 / 3))
    name = "Bazett" if method == "bazett" else "Fridericia"
    q = (
        f"{_opening(rng, p, difficulty)} The ECG shows sinus rhythm at {hr} beats/min with a QT interval of "
        f"{qt} ms.{_distract(rng, difficulty)} Using the {name} formula, "
        f"{_lc(_ask(rng, 'corrected QT interval (QTc)', 'ms', 0))}"
    )
    root = "√RR" if method == "bazett" else "∛RR"
    expl = f"RR = 60 / {hr} = {rr:.3f} s; QTc = QT / {root} = {qt} / {root} = {value:.0f} ms."
    return Problem(q, value, 0, "ms", 0.01, expl, {"heart_rate": hr, "qt_ms": qt})


def qtc_bazett(rng: random.Random, difficulty: str) -> Problem:
    """QTc = QT / √RR, RR = 60 / HR seconds; ms."""
    return _qtc(rng, difficulty, "bazett")


def qtc_fridericia(rng: random.Random, difficulty: str) -> Problem:
    """QTc = QT / ∛RR, RR = 60 / HR seconds; ms."""
    return _qtc(rng, difficulty, "fridericia")


def aa_gradient(rng: random.Random, difficulty: str) -> Problem:
    """A−a = FiO2 × (760 − 47) − PaCO2 / 0.8 − PaO2, mmHg (sea level, RQ 0.8)."""
    p = _patient(rng)
    fio2 = rng.choice([0.21, 0.21, 0.28, 0.35, 0.4, 0.5])
    paco2 = rng.randint(25, 60)
    alveolar = fio2 * (760 - 47) - paco2 / 0.8
    pao2 = rng.randint(40, max(41, int(alveolar) - 2))
    value = alveolar - pao2
    oxygen = "on room air" if fio2 == 0.21 else f"on an FiO2 of {fio2}"
    q = (
        f"{_opening(rng, p, difficulty)} An arterial blood gas drawn {oxygen} at sea level shows PaO2 {pao2} mmHg "
        f"and PaCO2 {paco2} mmHg.{_distract(rng, difficulty)} Assuming a respiratory quotient of 0.8 and water "
        f"vapour pressure of 47 mmHg, {_lc(_ask(rng, 'alveolar-arterial oxygen gradient', 'mmHg', 1))}"
    )
    expl = (
        f"PAO2 = {fio2} × (760 − 47) − {paco2} / 0.8 = {alveolar:.1f}; "
        f"A−a = {alveolar:.1f} − {pao2} = {value:.1f} mmHg."
    )
    return Problem(q, value, 1, "mmHg", 0.02, expl, {"fio2": fio2, "paco2": paco2, "pao2": pao2})


def corrected_sodium(rng: random.Random, difficulty: str) -> Problem:
    """Na_corr = Na + 1.6 × (glucose − 100) / 100 (Katz), mEq/L."""
    p = _patient(rng)
    na = rng.randint(118, 140)
    glucose = float(rng.randint(180, 1200))
    gtxt, g_used = _glucose_phrase(rng, glucose, difficulty)
    value = na + 1.6 * (g_used - 100) / 100
    q = (
        f"{_opening(rng, p, difficulty)} Labs: sodium {na} mEq/L, {gtxt}.{_distract(rng, difficulty)} "
        f"Using the Katz correction (1.6 mEq/L per 100 mg/dL of glucose above 100 mg/dL), "
        f"{_lc(_ask(rng, 'glucose-corrected sodium', 'mEq/L', 1))}"
    )
    expl = f"Corrected Na = {na} + 1.6 × ({g_used:.0f} − 100) / 100 = {value:.1f} mEq/L."
    return Problem(q, value, 1, "mEq/L", 0.005, expl, {"sodium": na, "glucose_mgdl": g_used})


def free_water_deficit(rng: random.Random, difficulty: str) -> Problem:
    """FWD = TBW × (Na / 140 − 1), TBW = weight × 0.6/0.5 (man/woman; 0.5/0.45 at age ≥ 65); L."""
    p = _patient(rng)
    kg = round(rng.uniform(45, 110), 1)
    na = rng.randint(148, 175)
    wtxt, kg_used = _weight_phrase(rng, kg, difficulty)
    elderly = p.age >= 65
    factor = {(False, False): 0.6, (False, True): 0.5, (True, False): 0.5, (True, True): 0.45}[(elderly, p.female)]
    value = kg_used * factor * (na / 140 - 1)
    q = (
        f"{_opening(rng, p, difficulty)} {p.pronoun} {wtxt} and the serum sodium is {na} mEq/L."
        f"{_distract(rng, difficulty)} Estimating total body water as 0.6 × weight for adult men, 0.5 for adult "
        f"women, 0.5 for men aged 65 or older and 0.45 for women aged 65 or older, and targeting a sodium of "
        f"140 mEq/L, {_lc(_ask(rng, 'free water deficit', 'L', 2))}"
    )
    expl = f"TBW = {factor} × {kg_used:.1f} kg; FWD = TBW × ({na}/140 − 1) = {value:.2f} L."
    return Problem(q, value, 2, "L", 0.02, expl, {"weight_kg": kg_used, "sodium": na, "age": p.age, "sex": p.sex})


_DOSING = [
    # drug, mg/kg, max single dose mg, indication
    ("amoxicillin", 25.0, 1000.0, "acute otitis media"),
    ("ceftriaxone", 50.0, 2000.0, "suspected bacterial meningitis"),
    ("paracetamol (acetaminophen)", 15.0, 1000.0, "fever"),
    ("ibuprofen", 10.0, 400.0, "pain after a fall"),
    ("gentamicin", 5.0, 500.0, "pyelonephritis"),
    ("vancomycin", 15.0, 2000.0, "MRSA bacteremia"),
    ("ondansetron", 0.15, 8.0, "vomiting"),
    ("dexamethasone", 0.6, 16.0, "croup"),
]


def weight_based_dose(rng: random.Random, difficulty: str) -> Problem:
    """Dose = mg/kg × weight, capped at the maximum single dose; mg."""
    drug, per_kg, cap, why = rng.choice(_DOSING)
    child = rng.random() < 0.6
    p = _Patient(age=rng.randint(1, 15), sex=rng.choice(["boy", "girl"])) if child else _patient(rng)
    kg = round(rng.uniform(8, 45), 1) if child else round(rng.uniform(45, 110), 1)
    wtxt, kg_used = _weight_phrase(rng, kg, difficulty)
    value = min(per_kg * kg_used, cap)
    pron = "She" if p.sex in ("woman", "girl") else "He"
    q = (
        f"{_a(p.age)} {p.age}-year-old {p.sex} is treated for {why}. {pron} {wtxt}.{_distract(rng, difficulty)} "
        f"The order is {drug} {per_kg:g} mg/kg per dose, not exceeding {cap:g} mg per dose. "
        f"{_ask(rng, 'single dose', 'mg', 1)}"
    )
    expl = f"{per_kg:g} mg/kg × {kg_used:.1f} kg = {per_kg * kg_used:.1f} mg; capped at {cap:g} mg → {value:.1f} mg."
    return Problem(q, value, 1, "mg", 0.01, expl, {"dose_mg_per_kg": per_kg, "weight_kg": kg_used, "max_mg": cap})


_INFUSIONS = [
    # drug, mcg/kg/min range, mg in bag, bag mL
    ("norepinephrine", (0.02, 0.5), 4.0, 250.0),
    ("dopamine", (2.0, 15.0), 400.0, 250.0),
    ("dobutamine", (2.0, 15.0), 250.0, 250.0),
    ("epinephrine", (0.02, 0.3), 1.0, 250.0),
    ("propofol", (5.0, 50.0), 1000.0, 100.0),
]


def infusion_rate(rng: random.Random, difficulty: str) -> Problem:
    """Rate = dose (mcg/kg/min) × weight × 60 / concentration (mcg/mL), mL/h."""
    drug, (lo, hi), mg, ml = rng.choice(_INFUSIONS)
    p = _patient(rng)
    kg = round(rng.uniform(50, 110), 1)
    dose = round(rng.uniform(lo, hi), 2 if hi < 1 else 1)
    wtxt, kg_used = _weight_phrase(rng, kg, difficulty)
    conc = mg * 1000 / ml
    value = dose * kg_used * 60 / conc
    q = (
        f"{_opening(rng, p, difficulty)} {p.pronoun} {wtxt}.{_distract(rng, difficulty)} {drug.capitalize()} is "
        f"prepared as {mg:g} mg in {ml:g} mL and ordered at {dose:g} mcg/kg/min. "
        f"{_ask(rng, 'pump rate', 'mL/h', 1)}"
    )
    expl = (
        f"Concentration = {mg:g} mg × 1000 / {ml:g} mL = {conc:g} mcg/mL; rate = {dose:g} × {kg_used:.1f} × 60 / "
        f"{conc:g} = {value:.1f} mL/h."
    )
    return Problem(
        q, value, 1, "mL/h", 0.01, expl,
        {"dose_mcg_kg_min": dose, "weight_kg": kg_used, "concentration_mcg_ml": conc},
    )  # fmt: skip


def serum_osmolality(rng: random.Random, difficulty: str) -> Problem:
    """Osm = 2 × Na + glucose / 18 + BUN / 2.8, mOsm/kg."""
    p = _patient(rng)
    na, bun = rng.randint(120, 160), rng.randint(5, 90)
    glucose = float(rng.randint(60, 900))
    gtxt, g_used = _glucose_phrase(rng, glucose, difficulty)
    value = 2 * na + g_used / 18 + bun / 2.8
    q = (
        f"{_opening(rng, p, difficulty)} Labs: sodium {na} mEq/L, {gtxt}, blood urea nitrogen {bun} mg/dL."
        f"{_distract(rng, difficulty)} {_ask(rng, 'calculated serum osmolality', 'mOsm/kg', 1)}"
    )
    expl = f"Osm = 2 × {na} + {g_used:.0f}/18 + {bun}/2.8 = {value:.1f} mOsm/kg."
    return Problem(q, value, 1, "mOsm/kg", 0.005, expl, {"sodium": na, "glucose_mgdl": g_used, "bun": bun})


def ldl_friedewald(rng: random.Random, difficulty: str) -> Problem:
    """LDL = TC − HDL − TG / 5, mg/dL (valid for TG < 400 mg/dL)."""
    p = _patient(rng, 25, 85)
    hdl, tg = rng.randint(25, 90), rng.randint(50, 390)
    tc = hdl + tg // 5 + rng.randint(40, 220)
    value = tc - hdl - tg / 5
    q = (
        f"{_opening(rng, p, difficulty)} A fasting lipid panel shows total cholesterol {tc} mg/dL, HDL {hdl} mg/dL "
        f"and triglycerides {tg} mg/dL.{_distract(rng, difficulty)} Using the Friedewald equation, "
        f"{_lc(_ask(rng, 'LDL cholesterol', 'mg/dL', 1))}"
    )
    expl = f"LDL = {tc} − {hdl} − {tg}/5 = {value:.1f} mg/dL."
    return Problem(q, value, 1, "mg/dL", 0.01, expl, {"total_cholesterol": tc, "hdl": hdl, "triglycerides": tg})


def maintenance_fluids(rng: random.Random, difficulty: str) -> Problem:
    """4-2-1 rule: 4 mL/kg/h for the first 10 kg, 2 for the next 10, 1 for each kg above 20; mL/h."""
    child = rng.random() < 0.5
    age = rng.randint(1, 14) if child else rng.randint(18, 80)
    sex = rng.choice(["boy", "girl"] if child else ["man", "woman"])
    kg = round(rng.uniform(6, 45), 1) if child else round(rng.uniform(45, 100), 1)
    wtxt, kg_used = _weight_phrase(rng, kg, difficulty)
    value = 4 * min(kg_used, 10) + 2 * min(max(kg_used - 10, 0), 10) + max(kg_used - 20, 0)
    pron = "She" if sex in ("woman", "girl") else "He"
    q = (
        f"{_a(age)} {age}-year-old {sex} is kept nil by mouth before surgery. {pron} {wtxt}."
        f"{_distract(rng, difficulty)} "
        f"Using the 4-2-1 rule, {_lc(_ask(rng, 'hourly maintenance fluid rate', 'mL/h', 1))}"
    )
    first, second, rest = min(kg_used, 10), min(max(kg_used - 10, 0), 10), max(kg_used - 20, 0)
    expl = f"4 × {first:.1f} + 2 × {second:.1f} + 1 × {rest:.1f} = {value:.1f} mL/h."
    return Problem(q, value, 1, "mL/h", 0.01, expl, {"weight_kg": kg_used})


def parkland(rng: random.Random, difficulty: str) -> Problem:
    """Parkland: 4 mL × weight (kg) × %TBSA over 24 h, half in the first 8 h; mL/h during those 8 h."""
    p = _patient(rng)
    kg = round(rng.uniform(45, 110), 1)
    tbsa = rng.randint(15, 70)
    wtxt, kg_used = _weight_phrase(rng, kg, difficulty)
    value = 4 * kg_used * tbsa / 2 / 8
    q = (
        f"{_opening(rng, p, difficulty).rstrip('.')} after a house fire with burns over {tbsa}% of total body "
        f"surface area. {p.pronoun} {wtxt}.{_distract(rng, difficulty)} Using the Parkland formula "
        f"(4 mL/kg/%TBSA over 24 h, half in the first 8 h), "
        f"{_lc(_ask(rng, 'infusion rate for the first 8 hours', 'mL/h', 1))}"
    )
    expl = f"24-h volume = 4 × {kg_used:.1f} × {tbsa} = {4 * kg_used * tbsa:.0f} mL; over 8 h: {value:.1f} mL/h."
    return Problem(q, value, 1, "mL/h", 0.01, expl, {"weight_kg": kg_used, "tbsa_percent": tbsa})


def fena(rng: random.Random, difficulty: str) -> Problem:
    """FENa = (urine Na × plasma Cr) / (plasma Na × urine Cr) × 100, %."""
    p = _patient(rng)
    una, pna = rng.randint(5, 120), rng.randint(128, 148)
    pcr, ucr = round(rng.uniform(0.8, 6.0), 1), rng.randint(20, 200)
    value = (una * pcr) / (pna * ucr) * 100
    q = (
        f"{_opening(rng, p, difficulty)} With a rising creatinine, labs show plasma sodium {pna} mEq/L, plasma "
        f"creatinine {pcr} mg/dL, urine sodium {una} mEq/L and urine creatinine {ucr} mg/dL."
        f"{_distract(rng, difficulty)} {_ask(rng, 'fractional excretion of sodium', '%', 2)}"
    )
    expl = f"FENa = ({una} × {pcr}) / ({pna} × {ucr}) × 100 = {value:.2f}%."
    return Problem(
        q, value, 2, "%", 0.02, expl,
        {"urine_sodium": una, "plasma_sodium": pna, "plasma_creatinine": pcr, "urine_creatinine": ucr},
    )  # fmt: skip


CALCULATORS: dict[str, Callable[[random.Random, str], Problem]] = {
    "anion_gap": anion_gap,
    "corrected_calcium": corrected_calcium,
    "cockcroft_gault": cockcroft_gault,
    "bmi": bmi,
    "bsa_mosteller": bsa_mosteller,
    "mean_arterial_pressure": mean_arterial_pressure,
    "qtc_bazett": qtc_bazett,
    "qtc_fridericia": qtc_fridericia,
    "aa_gradient": aa_gradient,
    "corrected_sodium": corrected_sodium,
    "free_water_deficit": free_water_deficit,
    "weight_based_dose": weight_based_dose,
    "infusion_rate": infusion_rate,
    "serum_osmolality": serum_osmolality,
    "ldl_friedewald": ldl_friedewald,
    "maintenance_fluids": maintenance_fluids,
    "parkland": parkland,
    "fena": fena,
}


def format_answer(value: float, decimals: int) -> str:
    """A decimal string rounded half away from zero to ``decimals`` places (never ``-0``)."""
    scaled = math.floor(abs(value) * 10**decimals + 0.5) / 10**decimals
    text = f"{scaled:.{decimals}f}"
    return text if value >= 0 or float(text) == 0 else f"-{text}"


def to_record(kind: str, difficulty: str, problem: Problem) -> dict[str, Any]:
    """The canonical record for a drawn problem."""
    record: dict[str, Any] = {
        "source": "synth",
        "question": problem.question,
        "options": None,
        "answer": format_answer(problem.value, problem.decimals),
        "answer_type": "numeric",
        "context": None,
        "explanation": problem.explanation,
        "meta": {
            "calculator": kind,
            "unit": problem.unit,
            "tolerance": problem.tolerance,
            "difficulty": difficulty,
            "decimals": problem.decimals,
            "inputs": problem.inputs,
        },
    }
    return {"id": make_id("synth", record), **record}


def generate(
    n: int, *, seed: int = 0, kinds: Sequence[str] | None = None, difficulty: str | None = None
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` canonical synthetic records, reproducibly for a given seed.

    ``kinds`` restricts the calculators (names in :data:`CALCULATORS`); ``difficulty`` fixes the
    level (default: drawn per record). Calculators are cycled in a seeded shuffled order so every
    kind appears about equally often.
    """
    if n < 0:
        raise ValueError(f"n: expected a non-negative count, found {n}")
    names = list(kinds) if kinds else list(CALCULATORS)
    unknown = [k for k in names if k not in CALCULATORS]
    if unknown:
        raise ValueError(f"kinds: unknown calculator(s) {unknown}; expected some of {sorted(CALCULATORS)}")
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty: expected one of {', '.join(DIFFICULTIES)}, found {difficulty!r}")
    rng = random.Random(seed)
    order: list[str] = []
    for _ in range(n):
        if not order:
            order = names[:]
            rng.shuffle(order)
        kind = order.pop()
        level = difficulty or rng.choice(DIFFICULTIES)
        yield to_record(kind, level, CALCULATORS[kind](rng, level))
