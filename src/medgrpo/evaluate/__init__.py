"""Evaluation: harness (greedy batched generation, per-item scoring), metrics, gates, reports.

Importing this package is cheap: torch, transformers and MLflow are imported inside functions.
"""

from medgrpo.evaluate.gates import Gate, GateThresholds, Verdict, apply_gates, compare_paired
from medgrpo.evaluate.harness import EvalResult, ItemResult, evaluate_model
from medgrpo.evaluate.metrics import Metrics, summarize, wilson_interval
from medgrpo.evaluate.runner import GateResult, read_eval_records, run_gate

__all__ = [
    "EvalResult",
    "Gate",
    "GateResult",
    "GateThresholds",
    "ItemResult",
    "Metrics",
    "Verdict",
    "apply_gates",
    "compare_paired",
    "evaluate_model",
    "read_eval_records",
    "run_gate",
    "summarize",
    "wilson_interval",
]
