"""Shared fixtures for the de-identification tests: one engine per session (loading takes ~2 s)."""

from __future__ import annotations

import pytest

from medgrpo.deid.engine import Deidentifier


@pytest.fixture(scope="session")
def deid() -> Deidentifier:
    """The default-policy de-identifier."""
    from medgrpo.deid import load_deidentifier

    return load_deidentifier(None)
