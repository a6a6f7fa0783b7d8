"""Connecting to the Kubernetes API (the ``kubernetes`` client, imported only when a cluster is used)."""

from __future__ import annotations

import json
from typing import Any

from medgrpo.launch.k8s_settings import K8sSettings


def api_client(settings: K8sSettings) -> Any:
    """An ``ApiClient`` from ``MEDGRPO_K8S_KUBECONFIG``, else in-cluster config, else ``~/.kube/config``."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    if settings.kubeconfig:
        return config.new_client_from_config(config_file=settings.kubeconfig)
    try:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    except ConfigException:
        try:
            return config.new_client_from_config()
        except ConfigException as err:
            raise RuntimeError(
                "no Kubernetes configuration: set MEDGRPO_K8S_KUBECONFIG, run inside a cluster, "
                f"or provide ~/.kube/config ({err})"
            ) from None


def to_dict(client: Any, obj: Any) -> dict[str, Any]:
    """A client model (or a dict) in the API's JSON shape (camelCase keys, RFC 3339 times)."""
    if isinstance(obj, dict):
        return obj
    data: dict[str, Any] = client.sanitize_for_serialization(obj)
    return data


class _Response:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = json.dumps(data)


def from_dict(client: Any, data: dict[str, Any], klass: str) -> Any:
    """A client model (e.g. ``"V1Pod"``) from a manifest dict, through the client's own deserializer."""
    return client.deserialize(_Response(data), klass)


def api_status(err: Exception) -> int | None:
    """The HTTP status of a client ``ApiException`` (None for other errors)."""
    return getattr(err, "status", None)


def log_text(data: Any) -> str:
    """A pod log as text (the client returns ``str`` or, for some content types, ``bytes``)."""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(data)
