"""The MLflow container's entrypoint (rendered into a ConfigMap by helm/medgrpo) turns the mounted Secret
files into what ``mlflow server`` reads, and starts a real MLflow server from the rendered Deployment's env.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from chartlib import RenderChart, find

from medgrpo.services.process import free_port, wait_http


def _load_entrypoint(rendered: list[dict[str, Any]], tmp_path: Path) -> tuple[Path, ModuleType]:
    """The script exactly as the chart renders it into the ConfigMap, written out and imported."""
    config_map = find(rendered, "ConfigMap", "medgrpo-mlflow-entrypoint")[0]
    script = tmp_path / "entrypoint.py"
    script.write_text(config_map["data"]["entrypoint.py"])
    spec = importlib.util.spec_from_file_location(f"mlflow_entrypoint_{uuid.uuid4().hex}", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return script, module


def _write_secrets(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _mlflow_auth_config_module() -> ModuleType:
    """MLflow's own basic-auth config reader, loaded from its file.

    Importing ``mlflow.server.auth.config`` normally runs the auth package's ``__init__``, which needs
    Flask-WTF (in the server image, not in the project venv); the reader itself needs only MLflow.
    """
    import mlflow

    path = Path(mlflow.__file__).parent / "server" / "auth" / "config.py"
    spec = importlib.util.spec_from_file_location("mlflow_auth_config_reader", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECRET_FILES = {
    "backend-store/uri": "postgresql+psycopg2://mlflow:p%40ss@db:5432/mlflow?sslmode=require\n",
    "backend-store/auth-uri": "postgresql+psycopg2://mlflow:p%40ss@db:5432/mlflow_auth?sslmode=require\n",
    "auth/admin-username": "admin\n",
    "auth/admin-password": "s3cret-admin-password\n",
    "auth/flask-secret-key": "flask-key-0123456789\n",
    "webhooks/encryption-key": "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg=\n",
}


@pytest.fixture(scope="module")
def rendered(render_chart: RenderChart) -> list[dict[str, Any]]:
    return render_chart({})


def test_auth_on_reads_every_secret_file_and_selects_the_basic_auth_app(
    rendered: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, entrypoint = _load_entrypoint(rendered, tmp_path)
    secrets = _write_secrets(tmp_path / "secrets", SECRET_FILES)
    auth_ini = tmp_path / "auth" / "basic_auth.ini"
    environ = {
        "MEDGRPO_MLFLOW_SECRETS_DIR": str(secrets),
        "MEDGRPO_MLFLOW_AUTH": "true",
        "MEDGRPO_MLFLOW_AUTH_DEFAULT_PERMISSION": "READ",
        "MEDGRPO_MLFLOW_AUTH_CONFIG": str(auth_ini),
    }
    argv = entrypoint.server_command(environ, ["--dev"])
    assert argv == ["mlflow", "server", "--app-name", "basic-auth", "--dev"]
    assert environ["MLFLOW_BACKEND_STORE_URI"] == SECRET_FILES["backend-store/uri"].strip()
    assert environ["MLFLOW_AUTH_ADMIN_PASSWORD"] == "s3cret-admin-password"
    assert environ["MLFLOW_FLASK_SERVER_SECRET_KEY"] == "flask-key-0123456789"
    assert environ["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] == SECRET_FILES["webhooks/encryption-key"].strip()
    assert auth_ini.stat().st_mode & 0o777 == 0o600

    # MLflow's own reader sees the user-store URL unmangled ('%40' survives its interpolation).
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    config = _mlflow_auth_config_module().read_auth_config()
    assert config.database_uri == SECRET_FILES["backend-store/auth-uri"].strip()
    assert config.default_permission == "READ"
    assert (config.admin_username, config.admin_password) == ("admin", "s3cret-admin-password")


def test_a_missing_secret_file_is_named_in_the_error(rendered: list[dict[str, Any]], tmp_path: Path) -> None:
    _, entrypoint = _load_entrypoint(rendered, tmp_path)
    files = dict(SECRET_FILES)
    del files["auth/admin-password"]
    secrets = _write_secrets(tmp_path / "secrets", files)
    environ = {"MEDGRPO_MLFLOW_SECRETS_DIR": str(secrets), "MEDGRPO_MLFLOW_AUTH_CONFIG": str(tmp_path / "a.ini")}
    with pytest.raises(SystemExit, match=r"auth/admin-password"):
        entrypoint.server_command(environ, [])
    (secrets / "auth" / "admin-password").write_text("\n")
    with pytest.raises(SystemExit, match=r"non-empty value in .*admin-password"):
        entrypoint.server_command(environ, [])


def test_an_unknown_default_permission_is_refused(rendered: list[dict[str, Any]], tmp_path: Path) -> None:
    _, entrypoint = _load_entrypoint(rendered, tmp_path)
    secrets = _write_secrets(tmp_path / "secrets", SECRET_FILES)
    environ = {
        "MEDGRPO_MLFLOW_SECRETS_DIR": str(secrets),
        "MEDGRPO_MLFLOW_AUTH_CONFIG": str(tmp_path / "a.ini"),
        "MEDGRPO_MLFLOW_AUTH_DEFAULT_PERMISSION": "ALL",
    }
    with pytest.raises(SystemExit, match=r"must be one of READ, EDIT, MANAGE, NO_PERMISSIONS, found 'ALL'"):
        entrypoint.server_command(environ, [])


@pytest.mark.integration
@pytest.mark.slow
def test_the_rendered_deployment_starts_a_real_mlflow_server(
    render_chart: RenderChart,
    pg_database: Callable[[str], str],
    moto_server: str,
    tmp_path: Path,
) -> None:
    """Run the rendered entrypoint with the rendered Deployment's env against real PostgreSQL and S3 (moto).

    Auth is off here: MLflow's basic-auth app needs Flask-WTF, which the server image carries
    (helm/images/mlflow/requirements.txt) and the project venv does not; the auth path is covered above.
    """
    import boto3
    import mlflow
    import requests
    from cryptography.fernet import Fernet

    bucket = f"mlflow-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket)
    objects = render_chart(
        {
            "mlflow": {
                "auth": {"enabled": False},
                "workers": 1,
                "artifacts": {"destination": f"s3://{bucket}/mlflow", "s3EndpointUrl": moto_server},
            }
        }
    )
    script, _ = _load_entrypoint(objects, tmp_path)
    container = find(objects, "Deployment", "medgrpo-mlflow")[0]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    port = free_port()
    env.update(
        MEDGRPO_MLFLOW_SECRETS_DIR=str(
            _write_secrets(
                tmp_path / "secrets",
                {
                    "backend-store/uri": pg_database("helm_mlflow"),
                    "webhooks/encryption-key": Fernet.generate_key().decode(),
                },
            )
        ),
        MLFLOW_HOST="127.0.0.1",
        MLFLOW_PORT=str(port),
        HOME=str(tmp_path),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        MLFLOW_SERVER_ALLOWED_HOSTS=env["MLFLOW_SERVER_ALLOWED_HOSTS"] + f",127.0.0.1:{port}",
    )
    log = (tmp_path / "mlflow.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", timeout=120)
        # A Host header outside the allowed list is refused (the chart lists only the Service's names).
        assert (
            requests.get(
                f"{url}/api/2.0/mlflow/experiments/search?max_results=1", headers={"Host": "evil.example"}, timeout=10
            ).status_code
            == 403
        )
        client = mlflow.MlflowClient(tracking_uri=url)
        experiment = client.create_experiment(f"helm-{uuid.uuid4().hex[:6]}")
        run = client.create_run(experiment)
        artifact = tmp_path / "note.txt"
        artifact.write_text("proxied to S3")
        client.log_artifact(run.info.run_id, str(artifact))
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert any(k.startswith("mlflow/") and k.endswith("/note.txt") for k in keys), keys
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
