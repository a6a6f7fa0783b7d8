"""Reward-hacking diagnostics reach MLflow per training step (issue #16, item 4).

A real two-step GRPO run of the tiny recipe logs ``answers/hedge_share``, ``answers/list_share``,
``answers/empty_share``, ``answers/malformed_share`` and ``answers/mean_answer_chars`` for every
step, and they agree with the completions TRL recorded for that step (the ``answer_status``
column the accuracy reward adds to the completions table, and the answer blocks' lengths).
"""

from __future__ import annotations

from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
METRICS = ("hedge_share", "list_share", "empty_share", "malformed_share", "mean_answer_chars")


@pytest.mark.integration
@pytest.mark.slow
def test_answer_diagnostics_are_logged_per_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd
    from mlflow import MlflowClient

    from medgrpo.answers import answer_chars
    from medgrpo.train.config import load_recipe
    from medgrpo.train.grpo import train

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # a sqlite store puts run artifacts under ./mlruns
    cfg = load_recipe(
        RECIPE,
        overrides=["max_steps=2", "save_steps=1", "warmup_sft_steps=20", "log_completions=true"],
        explicit={"dataset": "synth:32", "output_dir": str(tmp_path / "out")},
    )
    outcome = train(cfg, recipe=str(RECIPE), register=False)

    client = MlflowClient()
    for name in METRICS:
        history = client.get_metric_history(outcome["run_id"], f"answers/{name}")
        assert sorted(m.step for m in history) == [1, 2], name
    for step in (1, 2):
        table = pd.read_parquet(tmp_path / "out" / "completions" / f"completions_{step:05d}.parquet")
        logged = {
            name: next(
                m.value for m in client.get_metric_history(outcome["run_id"], f"answers/{name}") if m.step == step
            )
            for name in METRICS
        }
        statuses = list(table["answer_status"])
        print(f"step {step}: logged {logged}; statuses {sorted(set(statuses))}")
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in table["completion"]]
        assert logged["hedge_share"] == pytest.approx(statuses.count("hedge") / len(statuses))
        assert logged["list_share"] == pytest.approx(statuses.count("list") / len(statuses))
        empty = statuses.count("empty") + statuses.count("missing")
        assert logged["empty_share"] == pytest.approx(empty / len(statuses))
        assert logged["malformed_share"] == pytest.approx(statuses.count("malformed") / len(statuses))
        assert logged["mean_answer_chars"] == pytest.approx(sum(answer_chars(t) for t in texts) / len(texts))
