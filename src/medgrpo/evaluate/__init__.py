"""Evaluation: gate policy, decoding settings, harness, metrics, gates, PHI probe, cached scores, reports.

Importing this package is cheap and imports nothing else: names are loaded on first use (PEP 562),
so ``medgrpo.evaluate.policy`` can be imported by the DAG processor without pulling in the runner,
the registry or MLflow. torch, transformers, MLflow and matplotlib are imported inside functions.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DecodingSettings": "medgrpo.evaluate.decoding",
    "EvalResult": "medgrpo.evaluate.harness",
    "GateOutcome": "medgrpo.evaluate.gates",
    "GatePolicy": "medgrpo.evaluate.policy",
    "GateResult": "medgrpo.evaluate.runner",
    "ItemResult": "medgrpo.evaluate.harness",
    "Metrics": "medgrpo.evaluate.metrics",
    "Verdict": "medgrpo.evaluate.gates",
    "apply_gates": "medgrpo.evaluate.gates",
    "compare_paired": "medgrpo.evaluate.gates",
    "evaluate_model": "medgrpo.evaluate.harness",
    "load_policy": "medgrpo.evaluate.policy",
    "read_eval_records": "medgrpo.evaluate.runner",
    "run_gate": "medgrpo.evaluate.runner",
    "summarize": "medgrpo.evaluate.metrics",
    "wilson_interval": "medgrpo.evaluate.metrics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'medgrpo.evaluate' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
