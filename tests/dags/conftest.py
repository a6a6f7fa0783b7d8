"""Fixtures for DAG tests that run a DAG with Airflow's in-process runner (``dag.test()``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An AIRFLOW_HOME with a migrated SQLite metadata database and the repository's DAGs serialized;
    returns the environment for child processes that run ``dag.test()``."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "MEDGRPO_ALLOW_DEV_ID_KEY": "true",
    }
    for argv in (["db", "migrate"], ["dags", "reserialize"]):
        proc = subprocess.run([sys.executable, "-m", "airflow", *argv], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return env
