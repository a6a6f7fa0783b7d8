"""Start the MLflow tracking server with its credentials read from Secret files, not pod env vars.

The chart mounts the backend-store Secret under ``$MEDGRPO_MLFLOW_SECRETS_DIR/backend-store`` and the
basic-auth Secret under ``.../auth`` and the webhook key under ``.../webhooks``. This script turns
them into what ``mlflow server`` reads (``MLFLOW_BACKEND_STORE_URI``, ``MLFLOW_AUTH_ADMIN_*``,
``MLFLOW_FLASK_SERVER_SECRET_KEY``, ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`` and a basic-auth config
file on a writable emptyDir) and then replaces itself with ``mlflow server``, so
no credential appears in the pod spec. Standard library only: it runs in the MLflow image.
"""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path

AUTHORIZATION_FUNCTION = "mlflow.server.auth:authenticate_request_basic_auth"
PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")


def read_secret(secrets_dir: Path, relative: str) -> str:
    """The stripped content of one mounted Secret key; exits naming the file when it is missing or empty."""
    path = secrets_dir / relative
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SystemExit(
            f"mlflow entrypoint: expected the Secret key file {path}, found none ({exc.strerror})"
        ) from None
    if not value:
        raise SystemExit(f"mlflow entrypoint: expected a non-empty value in {path}, found an empty file")
    return value


def write_auth_config(path: Path, database_uri: str, default_permission: str) -> None:
    """Write MLflow's basic-auth config (user store URL, default permission) readable by this user only."""
    if default_permission not in PERMISSIONS:
        raise SystemExit(
            f"mlflow entrypoint: MEDGRPO_MLFLOW_AUTH_DEFAULT_PERMISSION must be one of {', '.join(PERMISSIONS)}, "
            f"found {default_permission!r}"
        )
    config = configparser.RawConfigParser()
    # MLflow reads this file with interpolation on: a literal '%' (URL-encoded passwords) must be doubled.
    config["mlflow"] = {
        "default_permission": default_permission,
        "database_uri": database_uri.replace("%", "%%"),
        "authorization_function": AUTHORIZATION_FUNCTION,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        config.write(handle)


def server_command(environ: dict[str, str], extra_args: list[str]) -> list[str]:
    """Fill ``environ`` from the mounted Secrets and return the ``mlflow server`` argv to exec."""
    secrets_dir = Path(environ.get("MEDGRPO_MLFLOW_SECRETS_DIR", "/etc/medgrpo/secrets"))
    environ["MLFLOW_BACKEND_STORE_URI"] = read_secret(secrets_dir, "backend-store/uri")
    # Webhook secrets are stored encrypted; without a fixed key MLflow makes a new one at every start.
    environ["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] = read_secret(secrets_dir, "webhooks/encryption-key")
    argv = ["mlflow", "server"]
    if environ.get("MEDGRPO_MLFLOW_AUTH", "true").lower() == "true":
        auth_config = Path(environ.get("MEDGRPO_MLFLOW_AUTH_CONFIG", "/tmp/mlflow-auth/basic_auth.ini"))
        write_auth_config(
            auth_config,
            read_secret(secrets_dir, "backend-store/auth-uri"),
            environ.get("MEDGRPO_MLFLOW_AUTH_DEFAULT_PERMISSION", "READ"),
        )
        environ["MLFLOW_AUTH_CONFIG_PATH"] = str(auth_config)
        environ["MLFLOW_AUTH_ADMIN_USERNAME"] = read_secret(secrets_dir, "auth/admin-username")
        environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = read_secret(secrets_dir, "auth/admin-password")
        environ["MLFLOW_FLASK_SERVER_SECRET_KEY"] = read_secret(secrets_dir, "auth/flask-secret-key")
        argv += ["--app-name", "basic-auth"]
    return argv + extra_args


def main() -> None:
    environ = dict(os.environ)
    argv = server_command(environ, sys.argv[1:])
    os.execvpe(argv[0], argv, environ)


if __name__ == "__main__":
    main()
