"""Identities of the Airflow Assets that chain the DAGs (names and URIs; no Airflow import).

The Airflow-side objects are built from these in :mod:`medgrpo_airflow.assets`; the library uses
the names in messages. One definition, so producer and consumer DAGs can never drift apart.
"""

from __future__ import annotations

ASSET_GROUP = "medgrpo"
DATASET_ASSET_NAME = "medgrpo_deidentified_dataset"
DATASET_ASSET_URI = "medgrpo://datasets/deidentified"
MODEL_ASSET_NAME = "medgrpo_challenger_model"
MODEL_ASSET_URI = "medgrpo://models/challenger"
REGISTRY_ALIAS_ASSET_NAME = "medgrpo_registry_alias_event"
REGISTRY_ALIAS_ASSET_URI = "medgrpo://registry/alias-events"
