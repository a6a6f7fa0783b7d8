"""One real stack for the UI tests of this folder: MLflow (PostgreSQL, webhooks enabled for a loopback
receiver), Airflow 3 (PostgreSQL; api-server with the medgrpo plugin, scheduler, dag-processor,
triggerer) and a headless Chromium logged into the Airflow UI as the admin user.

Everything is package-scoped: started once for tests/ui, stopped when its last test ends.
The browser tests skip (saying why) only where Chromium cannot be installed (not root, no apt).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from medgrpo.services.airflow_stack import AirflowStack
from medgrpo.services.mlflow_server import MlflowServer, start_mlflow_server

REPO = Path(__file__).resolve().parents[2]
UI_DAGS = (
    "medical_ingest",
    "grpo_training",
    "gated_evaluation",
    "model_promotion",
    "registry_watch",
    "registry_alias_review",
)
#: MLflow delivers webhooks only to public https addresses by default; a loopback receiver needs both.
MLFLOW_WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    # the server caches the webhook list per event; short, so a webhook made or deleted by a test counts at once
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
}


@dataclass
class UIStack:
    airflow: AirflowStack
    mlflow: MlflowServer
    model_name: str
    state_dir: Path
    webhook_secret: str

    @property
    def webhook_url(self) -> str:
        from medgrpo_airflow.webhook import URL_PREFIX, WEBHOOK_PATH

        return f"{self.airflow.url}{URL_PREFIX}{WEBHOOK_PATH}"


@pytest.fixture(scope="package")
def chromium() -> tuple[Path, Path]:
    """Chromium and chromedriver from Debian (installed with apt when missing and allowed)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed: install the dev extra (pip install -e '.[dev]' -c constraints.txt)")
    from ui_harness import BrowserUnavailable, ensure_chromium

    try:
        return ensure_chromium()
    except BrowserUnavailable as err:
        pytest.skip(f"no browser for UI tests: {err}")


@pytest.fixture(scope="package")
def ui_stack(tmp_path_factory: pytest.TempPathFactory, pg_database: Callable[[str], str]) -> Iterator[UIStack]:
    """MLflow + Airflow on PostgreSQL with the medgrpo plugin and every DAG of the project parsed."""
    from cryptography.fernet import Fernet

    state = tmp_path_factory.mktemp("ui-state")
    with pytest.MonkeyPatch.context() as env:
        for key, value in MLFLOW_WEBHOOK_ENV.items():
            env.setenv(key, value)
        # MLflow encrypts webhook secrets at rest; without a fixed key a restarted server cannot read them
        env.setenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", Fernet.generate_key().decode())
        mlflow = start_mlflow_server(state, backend_store_uri=pg_database("medgrpo_ui_mlflow"))
    model_name = f"medgrpo-ui-{uuid.uuid4().hex[:8]}"
    secret = secrets.token_urlsafe(24)
    db = pg_database("medgrpo_ui_airflow").replace("postgresql://", "postgresql+psycopg2://", 1)
    stack = AirflowStack(
        home=state / "airflow",
        dags_folder=REPO / "dags",
        plugins_folder=REPO / "plugins",
        db_uri=db,
        parallelism=2,
        extra_env={
            "MLFLOW_TRACKING_URI": mlflow.url,
            "MEDGRPO_STATE_DIR": str(state),
            "MEDGRPO_MODEL_NAME": model_name,
            "MEDGRPO_WEBHOOK_SECRET": secret,
            "MEDGRPO_REGISTRY_POLL_SECONDS": "2",
            "MEDGRPO_DEFAULT_RECIPE": str(REPO / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"),
        },
    )
    try:
        stack.start()
        stack.wait_for_dags(UI_DAGS)
        yield UIStack(stack, mlflow, model_name, state, secret)
    finally:
        stack.stop()
        mlflow.stop()


@pytest.fixture(scope="package")
def browser(chromium: tuple[Path, Path]) -> Iterator[Any]:
    """One headless Chromium (fresh profile) for the package's UI tests."""
    from ui_harness import quit_browser, start_browser

    driver = start_browser(*chromium)
    try:
        yield driver
    finally:
        quit_browser(driver)


@pytest.fixture
def airflow_ui(browser: Any, ui_stack: UIStack) -> Any:
    """The browser, logged into the stack's Airflow UI as admin through the login page."""
    from ui_harness import AirflowUI

    ui = AirflowUI(browser, ui_stack.airflow.url)
    ui.ensure_logged_in("admin", ui_stack.airflow.password)
    return ui


@pytest.fixture
def mlflow_ui(browser: Any, ui_stack: UIStack) -> Any:
    """The browser on the stack's MLflow UI."""
    from ui_harness import MlflowUI

    return MlflowUI(browser, ui_stack.mlflow.url)


@pytest.fixture
def registry_env(ui_stack: UIStack, monkeypatch: pytest.MonkeyPatch) -> UIStack:
    """This process talks to the stack's MLflow and model, as the DAGs do."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", ui_stack.mlflow.url)
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", ui_stack.model_name)
    return ui_stack
