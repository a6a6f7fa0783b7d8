"""A checker for the Pod Security Standards "restricted" profile (Kubernetes v1.25+ definition).

``violations(manifest)`` finds every pod spec in a Pod, a PyTorchJob's replica templates or a
TrainJob's runtime patch (with its trainer container) and lists each rule it breaks, naming the
field path — the same rules the ``pod-security.kubernetes.io/enforce: restricted`` namespace
label enforces at admission (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
The launchers check their own manifests with it before submitting.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Manifest = dict[str, Any]

ALLOWED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
ALLOWED_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def pod_specs(manifest: Manifest) -> Iterator[tuple[str, Manifest]]:
    """``(path, pod spec)`` for every pod a manifest creates."""
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        yield "spec", spec
    elif kind == "PyTorchJob":
        for role, replica in (spec.get("pytorchReplicaSpecs") or {}).items():
            yield f"spec.pytorchReplicaSpecs.{role}.template.spec", (replica.get("template") or {}).get("spec") or {}
    elif kind == "TrainJob":
        for p_index, patch in enumerate(spec.get("runtimePatches") or []):
            template = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec") or {}
            for j_index, rjob in enumerate(template.get("replicatedJobs") or []):
                pod = (((rjob.get("template") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
                path = (
                    f"spec.runtimePatches[{p_index}].trainingRuntimeSpec.template.spec.replicatedJobs[{j_index}]"
                    ".template.spec.template.spec"
                )
                yield path, pod
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        yield "spec.template.spec", ((spec.get("template") or {}).get("spec") or {})


def violations(manifest: Manifest) -> list[str]:
    """Every "restricted" rule the manifest's pods break (empty: compliant)."""
    found: list[str] = []
    for path, spec in pod_specs(manifest):
        found += _check_pod(path, spec)
    return found


def _containers(spec: Manifest) -> Iterator[tuple[str, Manifest]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(field) or []):
            yield f"{field}[{index}]", container


def _check_pod(path: str, spec: Manifest) -> list[str]:
    out: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    containers = list(_containers(spec))
    if not containers:
        out.append(f"{path}: no containers to check")
    # baseline
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            out.append(f"{path}.{host} must be false")
    for index, volume in enumerate(spec.get("volumes") or []):
        kinds = [k for k in volume if k != "name"]
        bad = [k for k in kinds if k not in ALLOWED_VOLUME_TYPES]
        if bad:
            out.append(f"{path}.volumes[{index}] ({volume.get('name')}) uses forbidden volume type {bad}")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"{path}.securityContext.sysctls: {sysctl.get('name')} is not a safe sysctl")
    out += _check_common_context(f"{path}.securityContext", pod_sc)
    pod_non_root = pod_sc.get("runAsNonRoot") is True
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        out.append(
            f"{path}.securityContext.seccompProfile.type must be RuntimeDefault or Localhost, found {pod_seccomp}"
        )
    for cpath, container in containers:
        where = f"{path}.{cpath} ({container.get('name')})"
        sc = container.get("securityContext") or {}
        out += _check_common_context(f"{where}.securityContext", sc)
        if sc.get("privileged"):
            out.append(f"{where}.securityContext.privileged must be false")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"{where}.ports: hostPort {port['hostPort']} is forbidden")
        if sc.get("procMount", "Default") != "Default":
            out.append(f"{where}.securityContext.procMount must be Default")
        # restricted
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}.securityContext.allowPrivilegeEscalation must be false")
        if sc.get("runAsNonRoot") is False or not (sc.get("runAsNonRoot") is True or pod_non_root):
            out.append(f"{where}: runAsNonRoot must be true (on the container or the pod)")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp is None and pod_seccomp is None:
            out.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost (on the container or the pod)")
        elif seccomp not in (None, "RuntimeDefault", "Localhost"):
            out.append(f"{where}.securityContext.seccompProfile.type must be RuntimeDefault or Localhost")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where}.securityContext.capabilities.drop must include ALL")
        added = [c for c in caps.get("add") or [] if c != "NET_BIND_SERVICE"]
        if added:
            out.append(f"{where}.securityContext.capabilities.add may only hold NET_BIND_SERVICE, found {added}")
    return out


def _check_common_context(where: str, sc: Manifest) -> list[str]:
    out = []
    if sc.get("runAsUser") == 0:
        out.append(f"{where}.runAsUser must not be 0")
    if (sc.get("windowsOptions") or {}).get("hostProcess"):
        out.append(f"{where}.windowsOptions.hostProcess must be false")
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in ALLOWED_SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        out.append(f"{where}.seLinuxOptions may only set an allowed type")
    if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        out.append(f"{where}.appArmorProfile must not be Unconfined")
    if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        out.append(f"{where}.seccompProfile must not be Unconfined")
    return out
