"""Airflow plugin: task buttons that open the MLflow run and the registered model version, and the
MLflow registry webhook receiver (:mod:`medgrpo_airflow.webhook`).

Tasks push the URLs to XCom under the keys below (see ``medgrpo.pipeline.mlflow_links``); the
links read them back on the API server, so no MLflow call happens while rendering the UI.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

MLFLOW_RUN_KEY = "medgrpo_mlflow_run_url"
MODEL_VERSION_KEY = "medgrpo_model_version_url"
GATE_REPORT_KEY = "medgrpo_gate_report_url"


class _XComUrlLink(BaseOperatorLink):
    """A link whose URL the task stored in XCom; empty (greyed out) for tasks that stored none."""

    link_name = ""
    key = ""

    @property
    def name(self) -> str:
        return self.link_name

    @property
    def xcom_key(self) -> str:
        return self.key

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.serialization.definitions.operatorlink import XComOperatorLink

        return str(XComOperatorLink(name=self.link_name, xcom_key=self.key).get_link(operator, ti_key=ti_key))


class MlflowRunLink(_XComUrlLink):
    """Opens the MLflow run the task logged (training or evaluation)."""

    link_name = "MLflow run"
    key = MLFLOW_RUN_KEY


class MlflowModelVersionLink(_XComUrlLink):
    """Opens the model version the task registered or gated."""

    link_name = "MLflow model version"
    key = MODEL_VERSION_KEY


class GateReportLink(_XComUrlLink):
    """Opens the HTML gate report (verdict, reasons, plots) of the version the task gated."""

    link_name = "Gate report"
    key = GATE_REPORT_KEY


def _fastapi_apps() -> list[dict[str, Any]]:
    """The MLflow registry webhook receiver, mounted in the API server (``docs/registry-events.md``)."""
    from medgrpo_airflow.webhook import URL_PREFIX, create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "medgrpo registry webhook"}]


class MedgrpoPlugin(AirflowPlugin):
    """Registers medgrpo's extra links on every task (they stay empty where not applicable) and
    mounts the MLflow registry webhook receiver at ``/medgrpo/mlflow/webhook`` in the API server."""

    name = "medgrpo"
    global_operator_extra_links: ClassVar[list[Any]] = [MlflowRunLink(), MlflowModelVersionLink(), GateReportLink()]
    fastapi_apps: ClassVar[list[Any]] = _fastapi_apps()
