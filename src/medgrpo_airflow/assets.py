"""The Assets that chain medical_ingest → grpo_training → gated_evaluation (one definition)."""

from __future__ import annotations

from airflow.sdk import Asset

from medgrpo.assets import (
    ASSET_GROUP,
    DATASET_ASSET_NAME,
    DATASET_ASSET_URI,
    MODEL_ASSET_NAME,
    MODEL_ASSET_URI,
    REGISTRY_ALIAS_ASSET_NAME,
    REGISTRY_ALIAS_ASSET_URI,
)

#: Published by ``medical_ingest`` (extra: uri, name, sha256); schedules ``grpo_training``.
DEIDENTIFIED_DATASET = Asset(name=DATASET_ASSET_NAME, uri=DATASET_ASSET_URI, group=ASSET_GROUP)
#: Published by ``grpo_training`` (extra: model_name, version, dataset_uri, run_id); schedules ``gated_evaluation``.
CHALLENGER_MODEL = Asset(name=MODEL_ASSET_NAME, uri=MODEL_ASSET_URI, group=ASSET_GROUP)
#: Alias changes seen in the MLflow registry (extra: source, changes), recorded by the webhook endpoint
#: and by ``registry_watch``; schedules ``registry_alias_review``.
REGISTRY_ALIAS_EVENTS = Asset(name=REGISTRY_ALIAS_ASSET_NAME, uri=REGISTRY_ALIAS_ASSET_URI, group=ASSET_GROUP)

__all__ = ["CHALLENGER_MODEL", "DEIDENTIFIED_DATASET", "REGISTRY_ALIAS_EVENTS"]
