"""The local Airflow stack keeps its secrets in 0600 files and hands each component only what it needs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from medgrpo.services.airflow_stack import COMPONENTS, AirflowStack


def _secret_values(stack: AirflowStack) -> list[str]:
    stack.environment()  # creates the secret files
    folder = stack.secrets_dir
    return [(folder / name).read_text().strip() for name in ("jwt_secret", "api_secret_key")] + [stack.password]


def test_secret_files_are_private(tmp_path: Path) -> None:
    stack = AirflowStack(home=tmp_path / "airflow", dags_folder=tmp_path, port=8080)
    stack.environment()
    assert stat.S_IMODE(stack.secrets_dir.stat().st_mode) == 0o700
    for path in stack.secrets_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_no_environment_holds_a_secret_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "inherited-from-the-caller")
    stack = AirflowStack(home=tmp_path / "airflow", dags_folder=tmp_path, port=8080)
    values = [*_secret_values(stack), "inherited-from-the-caller"]
    for component in (None, *COMPONENTS):
        env = stack.environment(component)
        leaked = [k for k, v in env.items() if any(value in v for value in values)]
        assert leaked == [], f"{component}: {leaked}"


def test_each_component_gets_only_the_secrets_it_needs(tmp_path: Path) -> None:
    stack = AirflowStack(home=tmp_path / "airflow", dags_folder=tmp_path, port=8080)
    needs = {
        component: sorted(k for k in stack.environment(component) if k.endswith("_CMD")) for component in COMPONENTS
    }
    assert needs == {
        "api-server": ["AIRFLOW__API_AUTH__JWT_SECRET_CMD", "AIRFLOW__API__SECRET_KEY_CMD"],
        # the scheduler signs task tokens; tasks are its children, so they inherit only the command, never the value
        "scheduler": ["AIRFLOW__API_AUTH__JWT_SECRET_CMD"],
        "dag-processor": [],
        "triggerer": [],
    }
    # the command reads the private file
    command = stack.environment("scheduler")["AIRFLOW__API_AUTH__JWT_SECRET_CMD"]
    assert command == f"cat {(stack.secrets_dir / 'jwt_secret').resolve()}"


def test_legacy_world_readable_files_are_removed(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    home.mkdir()
    (home / "secrets.json").write_text('{"jwt": "old"}')
    (home / "passwords.json").write_text('{"admin": "old"}')
    AirflowStack(home=home, dags_folder=tmp_path, port=8080).environment()
    assert not (home / "secrets.json").exists() and not (home / "passwords.json").exists()
