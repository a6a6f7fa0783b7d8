"""The Pod Security "restricted" checker finds each rule a pod breaks (so the manifest tests can fail)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from medgrpo.launch.manifests import container_security_context, pod_security_context
from medgrpo.launch.pod_security import violations


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "securityContext": pod_security_context(),
            "containers": [{"name": "c", "image": "i", "securityContext": container_security_context()}],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        },
    }


def test_compliant_pod_passes() -> None:
    assert violations(_pod()) == []


DROP = object()  # remove the field
POD, CTR = ("spec", "securityContext"), ("spec", "containers", 0, "securityContext")


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    if value is DROP:
        obj.pop(path[-1])
    else:
        obj[path[-1]] = value


CASES = {
    "privileged": ([((*CTR, "privileged"), True)], "privileged must be false"),
    "escalation": ([((*CTR, "allowPrivilegeEscalation"), True)], "allowPrivilegeEscalation"),
    "no-drop-all": ([((*CTR, "capabilities"), DROP)], "drop must include ALL"),
    "add-cap": ([((*CTR, "capabilities"), {"drop": ["ALL"], "add": ["SYS_ADMIN"]})], "NET_BIND_SERVICE"),
    "root-user": ([((*POD, "runAsUser"), 0)], "runAsUser must not be 0"),
    "may-run-as-root": (
        [((*POD, "runAsNonRoot"), DROP), ((*CTR, "runAsNonRoot"), DROP)],
        "runAsNonRoot must be true",
    ),
    "no-seccomp": ([((*POD, "seccompProfile"), DROP), ((*CTR, "seccompProfile"), DROP)], "seccompProfile must be"),
    "unconfined": ([((*POD, "seccompProfile"), {"type": "Unconfined"})], "Unconfined"),
    "host-path": ([(("spec", "volumes", 0), {"name": "h", "hostPath": {"path": "/"}})], "forbidden volume type"),
    "host-network": ([(("spec", "hostNetwork"), True)], "hostNetwork must be false"),
    "host-port": ([(("spec", "containers", 0, "ports"), [{"containerPort": 80, "hostPort": 80}])], "hostPort 80"),
    "bare-init": ([(("spec", "initContainers"), [{"name": "init", "image": "i"}])], "initContainers[0] (init)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule_is_enforced(case: str) -> None:
    edits, expected = CASES[case]
    pod = copy.deepcopy(_pod())
    for path, value in edits:
        _set(pod, path, value)
    found = violations(pod)
    assert any(expected in v for v in found), found


def test_job_kinds_are_checked_through_their_pod_templates() -> None:
    spec = _pod()["spec"]
    spec["containers"][0]["securityContext"]["privileged"] = True
    job = {"kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {"Master": {"template": {"spec": spec}}}}}
    assert any("pytorchReplicaSpecs.Master" in v for v in violations(job))
