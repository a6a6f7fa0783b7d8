"""Drive a deferrable operator the way Airflow's task runner and triggerer do, in-process.

``run_deferrable`` calls ``execute``; when it defers, it re-creates the trigger from its
``serialize()`` output (as the triggerer does, by import path), runs it to its first event, and
resumes the operator at ``method_name`` with that event — on a *fresh* operator built by the same
factory, as a worker process would. The task-instance object is a small stand-in carrying what the operator code reads
(ids, try number, start date, XCom push); everything else is the real operator, trigger, provider
and ``kubernetes``/``kubernetes_asyncio`` clients talking HTTP to the fake API server.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class FakeTaskInstance:
    dag_id: str = "grpo_training"
    task_id: str = "train_on_kubernetes"
    run_id: str = "manual__2026-12-01T00:00:00+00:00"
    try_number: int = 1
    map_index: int = -1
    start_date: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


class FakeDag:
    dag_id = "grpo_training"


def context_for(ti: FakeTaskInstance) -> dict[str, Any]:
    return {"ti": ti, "task_instance": ti, "run_id": ti.run_id, "dag": FakeDag(), "params": {}}


def defer(operator: Any, ti: FakeTaskInstance) -> Any:
    """Run ``execute`` and return the ``TaskDeferred`` it raises (fails if it does not defer)."""
    from airflow.sdk.exceptions import TaskDeferred

    try:
        operator.execute(context_for(ti))
    except TaskDeferred as deferred:
        return deferred
    raise AssertionError(f"{operator.task_id} finished without deferring")


def trigger_from(deferred: Any) -> Any:
    """A new trigger built from the deferral's serialized form (what a (re)started triggerer does)."""
    classpath, kwargs = deferred.trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**copy.deepcopy(kwargs))


def first_event(trigger: Any, timeout: float = 60) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        agen = trigger.run()
        try:
            event = await asyncio.wait_for(agen.__anext__(), timeout)
        finally:
            await agen.aclose()
        return dict(event.payload)

    return asyncio.run(run())


def resume(make_operator: Callable[[], Any], deferred: Any, ti: FakeTaskInstance, event: dict[str, Any]) -> Any:
    """Resume a fresh operator (a new worker process) at the deferral's method with ``event``.

    Like the task runner, the returned value becomes the ``return_value`` XCom only when the
    operator's ``do_xcom_push`` is set; ``ti.xcom`` is what downstream tasks would see.
    """
    operator = make_operator()
    value = getattr(operator, deferred.method_name)(context_for(ti), event)
    if operator.do_xcom_push and value is not None:
        ti.xcom_push("return_value", value)
    return value


def run_deferrable(make_operator: Callable[[], Any], ti: FakeTaskInstance, timeout: float = 60) -> Any:
    """execute → defer → (new) trigger → first event → resume, as one try of a task."""
    deferred = defer(make_operator(), ti)
    return resume(make_operator, deferred, ti, first_event(trigger_from(deferred), timeout))
