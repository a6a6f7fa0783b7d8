"""Fixtures for the Helm chart tests: render helm/medgrpo with the Helm v4 library (no helm binary).

``helm_python`` (the ``helm-python-sdk`` wheel) binds Helm's Go SDK through a bundled shared library:
rendering, linting and schema validation run in-process and offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import helm_python
import pytest
from chartlib import CHART_DIR, NAMESPACE, RELEASE, VALUE_SETS, RenderChart, parse_manifests


@pytest.fixture(scope="session")
def chart() -> Iterator[helm_python.Chart]:
    """The loaded chart (one native handle for the whole session)."""
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def render_chart(chart: helm_python.Chart) -> RenderChart:
    """``render_chart(values, show_only=[...])``: the chart rendered as an install would, parsed into objects.

    ``show_only`` keeps the objects of the named templates (paths like ``templates/mlflow/deployment.yaml``).
    Values are validated against values.schema.json by the render itself.
    """

    def render(values: dict[str, Any] | None = None, show_only: list[str] | None = None) -> list[dict[str, Any]]:
        manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
        return parse_manifests(manifests, show_only)

    return render


@pytest.fixture(scope="session")
def rendered_sets(render_chart: RenderChart) -> dict[str, list[dict[str, Any]]]:
    """Every value set of ``VALUE_SETS`` rendered once."""
    return {name: render_chart(values) for name, values in VALUE_SETS.items()}
