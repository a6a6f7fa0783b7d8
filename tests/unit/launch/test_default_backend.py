"""Scheduled grpo_training runs use MEDGRPO_DEFAULT_BACKEND (the form's default backend)."""

from __future__ import annotations

import pytest

from medgrpo.launch import BACKENDS, default_backend


def test_local_unless_the_deployment_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDGRPO_DEFAULT_BACKEND", raising=False)
    assert default_backend() == "local"
    for name in BACKENDS:
        monkeypatch.setenv("MEDGRPO_DEFAULT_BACKEND", name)
        assert default_backend() == name


def test_an_unknown_backend_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDGRPO_DEFAULT_BACKEND", "slurm")
    with pytest.raises(ValueError, match=r"MEDGRPO_DEFAULT_BACKEND must be one of .*'kubernetes'.*found 'slurm'"):
        default_backend()


def test_the_dag_form_defaults_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("airflow.sdk")
    from medgrpo_airflow.params import backend_param

    monkeypatch.setenv("MEDGRPO_DEFAULT_BACKEND", "kubeflow")
    param = backend_param()
    assert param.value == "kubeflow"
    assert param.schema["enum"] == list(BACKENDS)
