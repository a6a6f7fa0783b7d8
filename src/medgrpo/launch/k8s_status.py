"""Reading what the cluster says about a training pod or job (pure functions over API objects as dicts).

Shared by the library launchers, the Airflow operators and the trigger, so a failure reads the
same everywhere: an unschedulable pod fails with the scheduler's message ("0/4 nodes are
available: 4 Insufficient nvidia.com/gpu"), an evicted or preempted pod with the kubelet's or
scheduler's reason, a crashed trainer with its exit code and termination message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from medgrpo.launch.base import FAILED, PENDING, RUNNING, SUCCEEDED, JobStatus

Manifest = dict[str, Any]

#: Container waiting reasons that never resolve by waiting (fail the try at once).
FATAL_WAITING_REASONS = {"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError"}
#: Pod condition reasons (type DisruptionTarget) set when a pod is evicted or preempted.
DISRUPTION_REASONS = {
    "PreemptionByScheduler",
    "DeletionByTaintManager",
    "EvictionByEvictionAPI",
    "TerminationByKubelet",
}


def parse_time(value: Any) -> datetime | None:
    """An API timestamp (``2026-01-01T00:00:00Z`` or a datetime) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _condition(pod: Manifest, kind: str) -> Manifest | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _container_status(pod: Manifest, container: str) -> Manifest | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return dict(status)
    return None


def pod_status(pod: Manifest, container: str) -> JobStatus:
    """The training container's pod as a :class:`JobStatus` (phase, the cluster's reason and message)."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    disruption = _condition(pod, "DisruptionTarget")
    main = _container_status(pod, container) or {}
    state = main.get("state") or {}
    terminated = state.get("terminated")
    if phase == "Failed" and status.get("reason") == "Evicted":
        return JobStatus(FAILED, reason="Evicted", message=status.get("message") or "the pod was evicted")
    if (
        disruption
        and disruption.get("status") == "True"
        and (phase == "Failed" or pod["metadata"].get("deletionTimestamp"))
    ):
        return JobStatus(
            FAILED,
            reason=disruption.get("reason") or "Disrupted",
            message=disruption.get("message") or "the pod was preempted or evicted",
        )
    if phase == "Succeeded" or (terminated and terminated.get("exitCode") == 0):
        return JobStatus(SUCCEEDED, exit_code=0)
    if terminated or phase == "Failed":
        terminated = terminated or {}
        code = terminated.get("exitCode")
        message = (terminated.get("message") or status.get("message") or "").strip()
        return JobStatus(
            FAILED,
            reason=terminated.get("reason") or status.get("reason") or "Failed",
            exit_code=code,
            message=message or "the training container failed without a termination message",
        )
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in FATAL_WAITING_REASONS:
        return JobStatus(FAILED, reason=waiting["reason"], message=waiting.get("message") or "")
    if phase == "Running" and state.get("running"):
        return JobStatus(RUNNING)
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return JobStatus(
            PENDING, reason=scheduled.get("reason") or "Unschedulable", message=scheduled.get("message") or ""
        )
    if waiting:
        return JobStatus(PENDING, reason=waiting.get("reason") or "Waiting", message=waiting.get("message") or "")
    return JobStatus(PENDING if phase in ("Pending", "Unknown") else RUNNING)


def pending_since(pod: Manifest) -> datetime | None:
    """When the pod's current wait started: scheduling (creation) or, once scheduled, start-up."""
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "True":
        return parse_time(scheduled.get("lastTransitionTime")) or parse_time(pod["metadata"].get("creationTimestamp"))
    return parse_time(pod["metadata"].get("creationTimestamp"))


def pending_timeout_status(pod: Manifest, container: str, events: Sequence[Manifest], timeout_s: int) -> JobStatus:
    """The failed status of a pod that stayed Pending past ``timeout_s``, with the scheduler's reason."""
    current = pod_status(pod, container)
    reason = scheduling_message(pod, events) or current.message
    what = "unschedulable" if current.reason == "Unschedulable" else f"not started ({current.reason or 'Pending'})"
    return JobStatus(
        FAILED,
        reason="PendingTimeout" if current.reason != "Unschedulable" else "Unschedulable",
        message=f"pod {pod['metadata']['name']} was {what} for more than {timeout_s} s: {reason}".rstrip(": "),
    )


def is_past_pending_timeout(pod: Manifest, timeout_s: int, now: datetime | None = None) -> bool:
    since = pending_since(pod)
    if since is None:
        return False
    return ((now or datetime.now(tz=UTC)) - since).total_seconds() > timeout_s


def scheduling_message(pod: Manifest, events: Sequence[Manifest]) -> str:
    """The scheduler's explanation: the PodScheduled condition, else the newest FailedScheduling event."""
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False" and scheduled.get("message"):
        return str(scheduled["message"])
    failed = [e for e in events if e.get("reason") == "FailedScheduling"]
    return str(failed[-1].get("message") or "") if failed else ""


def describe_containers(pod: Manifest) -> list[str]:
    """One line per container: name, state, reason, exit code, message (for the task log)."""
    lines = []
    status = pod.get("status") or {}
    for field in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(field) or []:
            state = cs.get("state") or {}
            kind = next((k for k in ("terminated", "running", "waiting") if state.get(k)), "unknown")
            detail = state.get(kind) or {}
            parts = [f"{pod['metadata']['name']}/{cs.get('name')}: {kind}"]
            if detail.get("reason"):
                parts.append(f"reason={detail['reason']}")
            if "exitCode" in detail:
                parts.append(f"exit_code={detail['exitCode']}")
            if cs.get("restartCount"):
                parts.append(f"restarts={cs['restartCount']}")
            if detail.get("message"):
                parts.append(f"message={str(detail['message']).strip()[:500]!r}")
            lines.append(" ".join(parts))
    if not lines:
        lines.append(f"{pod['metadata']['name']}: phase={status.get('phase')} reason={status.get('reason')}")
    return lines


def describe_events(events: Iterable[Manifest]) -> list[str]:
    """One line per event, oldest first: ``Warning FailedScheduling (x3): message``."""

    def when(event: Manifest) -> str:
        return str(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or "")

    lines = []
    for event in sorted(events, key=when):
        count = f" (x{event['count']})" if (event.get("count") or 1) > 1 else ""
        lines.append(f"{event.get('type', 'Normal')} {event.get('reason')}{count}: {event.get('message', '')}")
    return lines


def job_conditions_status(obj: Manifest, *, success: str, failure: str = "Failed") -> JobStatus | None:
    """A TrainJob/PyTorchJob's terminal or suspended condition as a status (None: still going)."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == success:
            return JobStatus(SUCCEEDED)
        if cond.get("type") == failure:
            return JobStatus(FAILED, reason=cond.get("reason") or failure, message=cond.get("message") or "")
        if cond.get("type") == "Suspended":
            return JobStatus(PENDING, reason="Suspended", message=cond.get("message") or "waiting for admission")
    return None
