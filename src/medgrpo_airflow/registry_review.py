"""Which alias changes a ``registry_alias_review`` run reviews (Airflow side of :mod:`medgrpo.registry_events`).

A run reviews the events that triggered it **and** the events recorded on the alias Asset after
its ``run_after``. The second part is needed because Airflow 3.3 queues an Asset-triggered run
with one row per (Asset, DAG): an event that arrives between that row and the run's creation (two
alias moves a few hundred milliseconds apart, as a promotion makes) is not among the run's
triggering events, and its queue row is deleted with the first one's, so without this it would
wait for the next event. Reviewing a change twice is harmless (:func:`medgrpo.registry_events.review`
is idempotent), and a run reviews each change once.
"""

from __future__ import annotations

from typing import Any

from medgrpo_airflow.assets import REGISTRY_ALIAS_EVENTS


def changes_to_review(context: Any) -> list[Any]:
    """The :class:`~medgrpo.registry_events.AliasChange` records a review run should look at."""
    from medgrpo.registry_events import changes_from_event_extra

    triggering = context.get("triggering_asset_events") or {}
    extras = [dict(e.extra or {}) for e in triggering.get(REGISTRY_ALIAS_EVENTS, [])] if triggering else []
    run_after = getattr(context.get("dag_run"), "run_after", None)
    if run_after is not None:
        late = context["inlet_events"][REGISTRY_ALIAS_EVENTS].after(run_after.isoformat())
        extras += [dict(e.extra or {}) for e in late]
    return [change for extra in extras for change in changes_from_event_extra(extra)]


__all__ = ["changes_to_review"]
