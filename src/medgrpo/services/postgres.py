"""Fresh, uniquely named PostgreSQL databases for a local stack, dropped when it stops."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

#: The server the demo and the tests use (trust auth, user postgres); ``MEDGRPO_TEST_PG_DSN`` overrides it.
DEFAULT_DSN = os.environ.get("MEDGRPO_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432")


def _admin(dsn: str) -> Any:
    import psycopg2

    try:
        conn = psycopg2.connect(f"{dsn}/postgres", connect_timeout=5)
    except psycopg2.OperationalError as err:
        raise RuntimeError(f"expected PostgreSQL at {dsn}; connecting failed: {err}") from None
    conn.autocommit = True
    return conn


def create_database(prefix: str, dsn: str = DEFAULT_DSN) -> str:
    """Create ``<prefix>_<random>`` and return its ``postgresql://`` URI."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", prefix):
        raise ValueError(f"database prefix: expected lower-case letters, digits and '_', found {prefix!r}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = _admin(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return f"{dsn}/{name}"


def drop_database(uri: str) -> None:
    """Drop the database of ``uri`` (closing its connections); no error if it is gone."""
    dsn, _, name = uri.rpartition("/")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"refusing to drop {name!r}: not a database this module creates")
    conn = _admin(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
