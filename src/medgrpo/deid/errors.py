"""The one exception de-identification raises."""

from __future__ import annotations


class DeidError(RuntimeError):
    """De-identification failed and nothing may be published.

    Messages name what went wrong and where (record index, field name, entity type, policy path)
    but never contain text from a record: they end up in logs, Airflow task logs and XCom.
    """
