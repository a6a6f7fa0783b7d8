"""A Redis database number claimed for one stack's Celery broker, emptied when it is released.

The Redis server (127.0.0.1:6379) is shared; a Celery broker needs a database of its own. A stack
claims the first database that is empty, by setting a claim key with ``SET NX`` (atomic, so two
stacks starting together never share one), and releases it with ``FLUSHDB`` at the end. A claim
expires after a day, so a database left behind by a killed run is not claimed again while it still
holds that run's keys (it is not empty).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

CLAIM_KEY = "medgrpo:claim"
CLAIM_SECONDS = 24 * 3600


@dataclass
class RedisDb:
    """A claimed database: ``url`` is the broker URL (``redis://host:port/N``)."""

    host: str
    port: int
    db: int
    token: str

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"

    def release(self) -> None:
        """Empty the database (broker queues, claim) if it is still ours."""
        import redis

        client = redis.Redis(host=self.host, port=self.port, db=self.db)
        try:
            if client.get(CLAIM_KEY) == self.token.encode():
                client.flushdb()
        finally:
            client.close()


def claim_redis_db(host: str = "127.0.0.1", port: int = 6379, candidates: range | None = None) -> RedisDb:
    """Claim the first empty database among ``candidates`` (default: 15 down to 1; 0 is everyone's default)."""
    import redis

    token = uuid.uuid4().hex
    first = redis.Redis(host=host, port=port)
    try:
        config: Any = first.config_get("databases")
        count = int(config.get("databases", 16))
    except redis.ConnectionError as err:
        raise RuntimeError(f"expected Redis at {host}:{port} (the Celery broker); connecting failed: {err}") from None
    finally:
        first.close()
    for db in candidates or range(count - 1, 0, -1):
        client = redis.Redis(host=host, port=port, db=db)
        try:
            if client.set(CLAIM_KEY, token, nx=True, ex=CLAIM_SECONDS):
                if client.dbsize() == 1:
                    return RedisDb(host, port, db, token)
                if client.get(CLAIM_KEY) == token.encode():
                    client.delete(CLAIM_KEY)  # not empty: someone else's data
        finally:
            client.close()
    raise RuntimeError(f"no empty Redis database to claim on {host}:{port} (all of 1-{count - 1} hold keys)")
