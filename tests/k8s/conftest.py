"""Fixtures for the Kubernetes tests: the fake API server (tests/k8s/fake_apiserver.py — a fake,
there is no cluster here), settings pointing the real clients at it, and a training job."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# The operator tests import Airflow: give it a throwaway home (unless the session already chose one).
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="medgrpo-k8s-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from fake_apiserver import FakeKubernetes
from jobs import NAMESPACE


@pytest.fixture(scope="session")
def fake_k8s_server() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        yield server


@pytest.fixture
def fake_k8s(
    fake_k8s_server: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeKubernetes]:
    """The shared fake server, emptied, with ``MEDGRPO_K8S_*`` pointing the launchers at it."""
    fake_k8s_server.reset()
    kubeconfig = fake_k8s_server.write_kubeconfig(tmp_path / "kubeconfig", NAMESPACE)
    monkeypatch.setenv("MEDGRPO_K8S_KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("MEDGRPO_K8S_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("MEDGRPO_K8S_PENDING_TIMEOUT", "2")
    monkeypatch.setenv("MEDGRPO_K8S_IMAGE", "registry.example/medgrpo-train:1.0")
    monkeypatch.setenv("MEDGRPO_K8S_NODE_SELECTOR", '{"pool": "a100"}')
    yield fake_k8s_server
    fake_k8s_server.reset()
