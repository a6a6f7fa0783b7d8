"""The registry watcher: a deferrable operator whose trigger polls the model's aliases in MLflow.

For deployments whose MLflow server cannot call Airflow (no webhook). ``registry_watch`` runs
:class:`RegistryAliasWatchOperator` continuously: the task defers to
:class:`RegistryAliasTrigger` (no worker slot is held while it waits), which polls the aliases
every ``MEDGRPO_REGISTRY_POLL_SECONDS`` and fires when they differ from the last snapshot the
watcher committed. The task then emits the changes as one Asset event on
``medgrpo_registry_alias_event`` (the same Asset and payload the webhook endpoint records), and
:func:`commit_snapshot` stores the new snapshot in an Airflow Variable. A change is therefore
reported at least once: if the commit is lost the next run reports it again, and the review is
idempotent. See ``docs/registry-events.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator, Variable
from airflow.sdk.exceptions import AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from medgrpo_airflow.assets import REGISTRY_ALIAS_EVENTS

log = logging.getLogger(__name__)

#: The longest one watch task waits before it ends quietly (the next run takes over).
DEFAULT_MAX_WAIT_S = 3600.0
SNAPSHOT_VARIABLE_PREFIX = "medgrpo_registry_aliases__"


def snapshot_variable(model_name: str) -> str:
    """The Airflow Variable holding the last committed alias snapshot of ``model_name``."""
    return SNAPSHOT_VARIABLE_PREFIX + model_name.replace("/", "__")


def load_snapshot(model_name: str) -> dict[str, str] | None:
    raw = Variable.get(snapshot_variable(model_name), default=None)
    if raw in (None, ""):
        return None
    data = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(data, dict):
        raise ValueError(f"Variable {snapshot_variable(model_name)} must hold a JSON object, found {raw!r}")
    return {str(k): str(v) for k, v in data.items()}


def commit_snapshot(model_name: str, aliases: dict[str, str]) -> None:
    """Store ``aliases`` as the baseline the next watch compares with."""
    Variable.set(snapshot_variable(model_name), json.dumps(aliases, sort_keys=True))


def _managed(aliases: dict[str, str]) -> dict[str, str]:
    from medgrpo.registry_events import MANAGED_ALIASES

    return {k: v for k, v in aliases.items() if k in MANAGED_ALIASES}


class RegistryAliasTrigger(BaseTrigger):
    """Polls the aliases of ``model_name``; fires ``changed`` when they differ from ``baseline``.

    Fires ``idle`` (with the baseline) after ``max_wait`` seconds without a change. A registry that
    does not answer is retried at the next poll (logged), never reported as a change.
    """

    def __init__(self, *, model_name: str, baseline: dict[str, str], poll_interval: float, max_wait: float) -> None:
        super().__init__()
        self.model_name = model_name
        self.baseline = dict(baseline)
        self.poll_interval = float(poll_interval)
        self.max_wait = float(max_wait)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "model_name": self.model_name,
                "baseline": self.baseline,
                "poll_interval": self.poll_interval,
                "max_wait": self.max_wait,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from medgrpo.registry_events import current_aliases

        deadline = time.monotonic() + self.max_wait
        want = _managed(self.baseline)
        polls = 0
        while True:
            polls += 1
            try:
                now = await asyncio.to_thread(current_aliases, self.model_name)
            except Exception as err:  # registry down: keep watching, say so
                self.log.warning("registry poll %d of %s failed: %s", polls, self.model_name, err)
            else:
                if _managed(now) != want:
                    yield TriggerEvent(
                        {
                            "status": "changed",
                            "aliases": now,
                            "detected_at": datetime.now(UTC).isoformat(),
                            "polls": polls,
                        }
                    )
                    return
            if time.monotonic() >= deadline:
                yield TriggerEvent({"status": "idle", "aliases": self.baseline, "polls": polls})
                return
            await asyncio.sleep(self.poll_interval)


class RegistryAliasWatchOperator(BaseOperator):
    """Wait (deferred) for an alias change of the platform's model; emit it as an alias Asset event.

    :param max_wait: seconds one task waits before it ends without a change (skipped).
    :param poll_interval: seconds between registry polls; default ``MEDGRPO_REGISTRY_POLL_SECONDS``.
    """

    def __init__(
        self, *, max_wait: float = DEFAULT_MAX_WAIT_S, poll_interval: float | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("outlets", [REGISTRY_ALIAS_EVENTS])
        super().__init__(**kwargs)
        self.max_wait = max_wait
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> None:
        from medgrpo import registry
        from medgrpo.registry_events import current_aliases, poll_seconds

        name = registry.resolve_model_name()
        baseline = load_snapshot(name)
        if baseline is None:
            baseline = current_aliases(name)
            commit_snapshot(name, baseline)
            self.log.info("first watch of %s: baseline aliases %s", name, baseline)
        interval = self.poll_interval or poll_seconds()
        self.log.info("watching aliases of %s every %.0f s (baseline %s)", name, interval, baseline)
        self.defer(
            trigger=RegistryAliasTrigger(
                model_name=name, baseline=baseline, poll_interval=interval, max_wait=self.max_wait
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.max_wait + 600),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from medgrpo import registry
        from medgrpo.registry_events import diff_aliases, event_extra

        name = registry.resolve_model_name()
        if event.get("status") != "changed":
            raise AirflowSkipException(f"no alias of {name} changed within {self.max_wait:.0f} s")
        baseline = load_snapshot(name) or {}
        after = {str(k): str(v) for k, v in dict(event["aliases"]).items()}
        detected_at = datetime.fromisoformat(str(event["detected_at"]))
        changes = diff_aliases(name, baseline, after, detected_at=detected_at)
        if not changes:
            raise AirflowSkipException(f"aliases of {name} are back to the committed snapshot {baseline}")
        for change in changes:
            self.log.info("alias change detected: %s", change.describe())
        context["outlet_events"][REGISTRY_ALIAS_EVENTS].extra = event_extra(changes)
        return {"model_name": name, "aliases": after, "changes": [c.describe() for c in changes]}


__all__ = [
    "RegistryAliasTrigger",
    "RegistryAliasWatchOperator",
    "commit_snapshot",
    "load_snapshot",
    "snapshot_variable",
]
