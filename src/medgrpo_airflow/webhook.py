"""The MLflow registry webhook receiver, a FastAPI app the medgrpo plugin mounts in the Airflow API server.

``POST /medgrpo/mlflow/webhook`` takes MLflow's ``model_version_alias.created`` deliveries,
verifies their HMAC signature with ``MEDGRPO_WEBHOOK_SECRET`` (no secret: every delivery is
refused), and records each alias change of the platform's model as an Asset event on
``medgrpo_registry_alias_event`` through the API server's own database session; the
``registry_alias_review`` DAG then reviews it. The endpoint does not use Airflow's login: the
signature is its authentication. See ``docs/registry-events.md``.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from medgrpo import registry_events as events
from medgrpo.assets import REGISTRY_ALIAS_ASSET_NAME, REGISTRY_ALIAS_ASSET_URI

log = logging.getLogger(__name__)

URL_PREFIX = "/medgrpo"
WEBHOOK_PATH = "/mlflow/webhook"
#: MLflow's alias payloads are a few hundred bytes; anything far larger is not one of them.
MAX_BODY_BYTES = 64 * 1024


class AssetNotReady(RuntimeError):
    """The alias Asset is not in Airflow's database yet (no DAG that uses it has been parsed)."""


class _RecentDeliveries:
    """Delivery ids recorded lately, so a delivery MLflow retries is recorded once (per API server)."""

    def __init__(self, size: int = 2048) -> None:
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def seen(self, delivery_id: str) -> bool:
        with self._lock:
            return delivery_id in self._ids

    def add(self, delivery_id: str) -> None:
        with self._lock:
            self._ids[delivery_id] = None
            while len(self._ids) > self._size:
                self._ids.popitem(last=False)


def record_alias_event(extra: dict[str, Any]) -> int:
    """Record an Asset event on the alias Asset with the API server's DB session; return its id."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(
            select(AssetModel).where(
                AssetModel.name == REGISTRY_ALIAS_ASSET_NAME, AssetModel.uri == REGISTRY_ALIAS_ASSET_URI
            )
        )
        if asset is None:
            raise AssetNotReady(
                f"Asset {REGISTRY_ALIAS_ASSET_NAME!r} is not known to Airflow yet: "
                "the registry_alias_review DAG has not been parsed"
            )
        event = asset_manager.register_asset_change(asset=asset, extra=extra, source_is_api=True, session=session)
        if event is None:
            raise AssetNotReady(f"Airflow did not record an event for Asset {REGISTRY_ALIAS_ASSET_NAME!r}")
        return int(event.id)


def _answer(code: int, **body: Any) -> JSONResponse:
    return JSONResponse(status_code=code, content=body)


def create_app() -> FastAPI:
    """The receiver app (mounted at :data:`URL_PREFIX`)."""
    app = FastAPI(title="medgrpo registry webhook", docs_url=None, redoc_url=None, openapi_url=None)
    recent = _RecentDeliveries()

    @app.post(WEBHOOK_PATH)
    async def mlflow_webhook(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _answer(413, error=f"body of {declared} bytes exceeds {MAX_BODY_BYTES}")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _answer(413, error=f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
        secret = os.environ.get(events.WEBHOOK_SECRET_ENV, "")
        headers = dict(request.headers)
        try:
            payload = events.verify_webhook(secret, body, headers)
            delivery_id = headers[events.DELIVERY_ID_HEADER.lower()]
            signed_at = int(headers[events.TIMESTAMP_HEADER.lower()])
            change = events.change_from_webhook(payload, delivery_id=delivery_id, signed_at=signed_at)
        except events.WebhookRejected as err:
            log.warning("refused an MLflow webhook delivery: %s", err)
            return _answer(err.status, error=str(err))
        if change is None:
            kind = f"{payload.get('entity')}.{payload.get('action')}"
            return _answer(200, status="ignored", reason=f"event {kind} is not model_version_alias.created")
        from medgrpo.registry import resolve_model_name

        model_name = resolve_model_name()
        if change.model_name != model_name or change.alias not in events.MANAGED_ALIASES:
            reason = f"{change.describe()} is not a managed alias of {model_name!r}"
            return _answer(200, status="ignored", reason=reason)
        if recent.seen(delivery_id):
            return _answer(200, status="duplicate", delivery_id=delivery_id)
        try:
            event_id = await run_in_threadpool(record_alias_event, events.event_extra([change]))
        except AssetNotReady as err:
            # 503 makes MLflow retry the delivery with back-off
            return _answer(503, error=str(err))
        recent.add(delivery_id)
        log.info("recorded registry alias change %s as asset event %s", change.describe(), event_id)
        return _answer(202, status="recorded", asset_event_id=event_id, change=change.to_extra())

    return app


__all__ = ["MAX_BODY_BYTES", "URL_PREFIX", "WEBHOOK_PATH", "create_app", "record_alias_event"]
