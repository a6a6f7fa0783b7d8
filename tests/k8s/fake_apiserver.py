"""A FAKE Kubernetes API server for the lifecycle tests — there is no cluster on this machine.

It speaks the Kubernetes REST wire protocol over HTTP on a loopback port, for the endpoints the
real clients use here (the ``kubernetes`` client in the launchers and the KubernetesPodOperator,
``kubernetes_asyncio`` in the provider's trigger): pods (create, get, list with label/field
selectors, patch, delete, logs with ``follow``/``timestamps``/``sinceSeconds``/``tailLines``),
events (list and ``watch``), services, and the Kubeflow custom resources ``TrainJob``
(trainer.kubeflow.org/v1alpha1) and ``PyTorchJob`` (kubeflow.org/v1).

What a scheduler, a kubelet and the Kubeflow controllers would do is simulated by a
:class:`Script` per pod, evaluated against the wall clock whenever the pod is read: it stays
unschedulable (with the scheduler's message and FailedScheduling events), or is scheduled,
starts, prints its log lines over time and then succeeds, fails with an exit code and a
termination message, is evicted (phase Failed, reason Evicted) or keeps running. Hooks let a
script act like the container's work (write ``result.json`` or a checkpoint to the test's S3).
A TrainJob or PyTorchJob creates one pod per node, and its conditions follow its pods. Nothing
here validates manifests (the schema tests do) or enforces RBAC/admission.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

Obj = dict[str, Any]

CORE = ("", "v1")
RESOURCES = {
    # (group, version, plural): (kind, namespaced list kind)
    ("", "v1", "pods"): "Pod",
    ("", "v1", "events"): "Event",
    ("", "v1", "services"): "Service",
    ("trainer.kubeflow.org", "v1alpha1", "trainjobs"): "TrainJob",
    ("kubeflow.org", "v1", "pytorchjobs"): "PyTorchJob",
}


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _ts(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Script:
    """How one simulated pod behaves, in seconds after its creation.

    ``schedule_after=None`` never schedules it (``unschedulable`` says why). Once running it
    prints ``lines`` spread over ``run_for`` seconds, then ends as ``outcome``: ``succeed``,
    ``fail`` (``exit_code``, ``termination_message``), ``evict`` (``evict_message``) or
    ``forever``. ``on_running`` / ``on_end`` run once, in the server, with the pod object.
    """

    schedule_after: float | None = 0.05
    start_after: float = 0.05
    lines: list[str] = field(default_factory=lambda: ["step 1", "step 2", "step 3"])
    run_for: float = 0.3
    outcome: str = "succeed"
    exit_code: int = 1
    termination_message: str = ""
    evict_message: str = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 20Mi."
    unschedulable: str = (
        "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint "
        "{dedicated: inference}. preemption: 0/4 nodes are available: 4 No preemption victims found."
    )
    on_running: Callable[[Obj], None] | None = None
    on_end: Callable[[Obj], list[str] | None] | None = None
    #: run the container for real: ``process(pod) -> (Popen with stdout piped, termination-log path)``;
    #: its output is the log, its exit code the container's; ``evict_when()`` true evicts (SIGKILL)
    process: Callable[[Obj], tuple[subprocess.Popen[bytes], Path]] | None = None
    evict_when: Callable[[], bool] | None = None


@dataclass
class _PodSim:
    created: float
    script: Script
    ran_hooks: set[str] = field(default_factory=set)
    extra_lines: list[str] = field(default_factory=list)
    killed_at: float | None = None  # the job failed: its controller stopped this pod
    proc: subprocess.Popen[bytes] | None = None
    termination_log: Path | None = None
    timed_lines: list[tuple[float, str]] = field(default_factory=list)
    evicted_at: float | None = None


class FakeKubernetes:
    """The fake API server (see the module docstring). Use as a context manager or start()/stop()."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[tuple[str, str, str], dict[tuple[str, str], Obj]] = {k: {} for k in RESOURCES}
        self.pods: dict[tuple[str, str], _PodSim] = {}
        self.scripts: list[tuple[Callable[[Obj], bool], Script]] = []
        self.default_script = Script()
        self.requests: list[tuple[str, str]] = []
        self.deleted: list[Obj] = []
        self._rv = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- test API -------------------------------------------------------------------------------
    def start(self) -> FakeKubernetes:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-k8s", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeKubernetes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path

    def script(self, when: Callable[[Obj], bool], script: Script) -> None:
        """Pods for which ``when(pod)`` is true (checked newest rule first) follow ``script``."""
        with self.lock:
            self.scripts.insert(0, (when, script))

    def reset(self) -> None:
        self.stop_processes()
        with self.lock:
            for store in self.objects.values():
                store.clear()
            self.pods.clear()
            self.scripts.clear()
            self.requests.clear()
            self.deleted.clear()

    def list(self, plural: str, namespace: str | None = None) -> list[Obj]:
        key = next(k for k in RESOURCES if k[2] == plural)
        with self.lock:
            items = [o for (ns, _), o in self.objects[key].items() if namespace in (None, ns)]
            if plural == "pods":
                for pod in items:
                    self._advance(pod)
            self._advance_jobs()
            return copy.deepcopy(items)

    def count(self, method: str, pattern: str) -> int:
        """How many requests matched ``method`` and the regex ``pattern`` on the path."""
        return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    def emit(self, pod: Obj, line: str) -> None:
        """Append a log line to a running pod (used by hooks that act like the container)."""
        with self.lock:
            sim = self.pods[(pod["metadata"]["namespace"], pod["metadata"]["name"])]
            sim.extra_lines.append(line)

    # ---- object store ---------------------------------------------------------------------------
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def create(self, key: tuple[str, str, str], namespace: str, body: Obj) -> Obj:
        with self.lock:
            store = self.objects[key]
            name = body.get("metadata", {}).get("name")
            if not name and body.get("metadata", {}).get("generateName"):
                name = body["metadata"]["generateName"] + secrets.token_hex(3)
            if (namespace, name) in store:
                raise _ApiError(409, "AlreadyExists", f'{key[2]} "{name}" already exists')
            obj = copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            meta.update(
                name=name,
                namespace=namespace,
                uid=str(uuid.uuid4()),
                creationTimestamp=_ts(time.time()),
                resourceVersion=self._next_rv(),
            )
            meta.setdefault("labels", {})
            obj.setdefault("apiVersion", "/".join(p for p in key[:2] if p))
            obj.setdefault("kind", RESOURCES[key])
            store[(namespace, name)] = obj
            if key[2] == "pods":
                obj["status"] = {"phase": "Pending", "qosClass": "Burstable"}
                self.pods[(namespace, name)] = _PodSim(time.time(), self._script_for(obj))
            elif key[2] == "trainjobs":
                obj["status"] = {"conditions": []}
                self._start_trainjob(obj)
            elif key[2] == "pytorchjobs":
                obj["status"] = {"conditions": []}
                self._start_pytorchjob(obj)
            elif key[2] == "services":
                obj.setdefault("spec", {})["clusterIP"] = "10.0.0." + str(len(store) + 10)
            return copy.deepcopy(obj)

    def get(self, key: tuple[str, str, str], namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self.objects[key].get((namespace, name))
            if obj is None:
                raise _ApiError(404, "NotFound", f'{key[2]} "{name}" not found')
            if key[2] == "pods":
                self._advance(obj)
            else:
                self._advance_jobs()
            return copy.deepcopy(obj)

    def delete(self, key: tuple[str, str, str], namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self.objects[key].pop((namespace, name), None)
            if obj is None:
                raise _ApiError(404, "NotFound", f'{key[2]} "{name}" not found')
            self.deleted.append(copy.deepcopy(obj))
            sim = self.pods.pop((namespace, name), None)
            if sim is not None and sim.proc is not None and sim.proc.poll() is None:
                os.killpg(sim.proc.pid, signal.SIGTERM)  # the kubelet stops a deleted pod's containers
                sim.proc.wait()
            uid = obj["metadata"]["uid"]
            for dep_key in RESOURCES:  # garbage collection of owned objects
                for (ns, n), dep in list(self.objects[dep_key].items()):
                    if any(ref.get("uid") == uid for ref in dep["metadata"].get("ownerReferences") or []):
                        self.delete(dep_key, ns, n)
            return copy.deepcopy(obj)

    def patch(self, key: tuple[str, str, str], namespace: str, name: str, body: Any) -> Obj:
        with self.lock:
            obj = self.objects[key].get((namespace, name))
            if obj is None:
                raise _ApiError(404, "NotFound", f'{key[2]} "{name}" not found')
            if isinstance(body, list):
                for op in body:  # JSON patch: add/replace on labels and annotations is all that is needed
                    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].strip("/").split("/")]
                    target = obj
                    for part in parts[:-1]:
                        target = target.setdefault(part, {})
                    if op["op"] in ("add", "replace"):
                        target[parts[-1]] = op["value"]
                    elif op["op"] == "remove":
                        target.pop(parts[-1], None)
            else:
                _merge(obj, body)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            return copy.deepcopy(obj)

    def select(self, key: tuple[str, str, str], namespace: str | None, labels: str, fields: str) -> list[Obj]:
        with self.lock:
            if key[2] == "events":  # events are written as pods advance
                for pod in self.objects[("", "v1", "pods")].values():
                    self._advance(pod)
            out = []
            for (ns, _), obj in self.objects[key].items():
                if namespace and ns != namespace:
                    continue
                if key[2] == "pods":
                    self._advance(obj)
                if _labels_match(obj["metadata"].get("labels") or {}, labels) and _fields_match(obj, fields):
                    out.append(copy.deepcopy(obj))
            if key[2] in ("trainjobs", "pytorchjobs"):
                self._advance_jobs()
                out = [
                    copy.deepcopy(self.objects[key][(o["metadata"]["namespace"], o["metadata"]["name"])]) for o in out
                ]
            return sorted(out, key=lambda o: o["metadata"]["name"])

    # ---- simulated scheduler / kubelet ------------------------------------------------------------
    def _script_for(self, pod: Obj) -> Script:
        for when, script in self.scripts:
            if when(pod):
                return script
        return self.default_script

    def _event(self, pod: Obj, kind: str, reason: str, message: str, moment: float, count: int = 1) -> None:
        key = ("", "v1", "events")
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        event_name = f"{name}.{reason.lower()}"
        existing = self.objects[key].get((ns, event_name))
        if existing is not None:
            if existing["count"] != count:
                existing.update(count=count, lastTimestamp=_ts(moment))
                existing["metadata"]["resourceVersion"] = self._next_rv()
            return
        self.objects[key][(ns, event_name)] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": event_name,
                "namespace": ns,
                "uid": str(uuid.uuid4()),
                "resourceVersion": self._next_rv(),
            },
            "involvedObject": {"kind": "Pod", "name": name, "namespace": ns, "uid": pod["metadata"]["uid"]},
            "type": kind,
            "reason": reason,
            "message": message,
            "count": count,
            "firstTimestamp": _ts(moment),
            "lastTimestamp": _ts(moment),
            "source": {"component": "fake-kubernetes"},
        }

    def _lines_due(self, sim: _PodSim, now: float) -> list[tuple[float, str]]:
        script = sim.script
        if script.schedule_after is None:
            return []
        start = sim.created + script.schedule_after + script.start_after
        if now < start:
            return []
        count = max(len(script.lines), 1)
        step = script.run_for / count
        due = [(start + step * i, line) for i, line in enumerate(script.lines) if start + step * i <= now]
        return due + [(start, line) for line in sim.extra_lines] + list(sim.timed_lines)

    def _advance(self, pod: Obj) -> None:
        """Bring a pod's status up to now according to its script (idempotent)."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        sim = self.pods.get((ns, name))
        if sim is None:
            return
        script, now, created = sim.script, time.time(), sim.created
        container = pod["spec"]["containers"][0]
        status = pod["status"]
        scheduled_cond = {"type": "PodScheduled", "status": "True", "lastTransitionTime": _ts(created)}
        base_cs = {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "started": False,
        }
        if script.schedule_after is None:
            status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": script.unschedulable,
                    "lastTransitionTime": _ts(created),
                }
            ]
            self._event(pod, "Warning", "FailedScheduling", script.unschedulable, now, count=int(now - created) + 1)
            return
        t_sched = created + script.schedule_after
        if now < t_sched:
            return
        scheduled_cond["lastTransitionTime"] = _ts(t_sched)
        self._event(pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to gpu-node-1", t_sched)
        pod["spec"]["nodeName"] = "gpu-node-1"
        t_start = t_sched + script.start_after
        if now < t_start:
            status["conditions"] = [scheduled_cond]
            status["containerStatuses"] = [{**base_cs, "state": {"waiting": {"reason": "ContainerCreating"}}}]
            return
        self._event(pod, "Normal", "Started", f"Started container {container['name']}", t_start)
        t_end = t_start + script.run_for
        running = {**base_cs, "ready": True, "started": True, "state": {"running": {"startedAt": _ts(t_start)}}}
        if "running" not in sim.ran_hooks:
            sim.ran_hooks.add("running")
            if script.on_running:
                script.on_running(copy.deepcopy(pod))
        if script.process is not None:
            self._advance_process(pod, sim, base_cs, scheduled_cond, t_sched, t_start)
            return
        if sim.killed_at is not None and sim.killed_at < t_end:
            stopped = {"exitCode": 143, "reason": "Error", "message": "stopped: another node of the job failed"}
            state = {"terminated": {"startedAt": _ts(t_start), "finishedAt": _ts(sim.killed_at), **stopped}}
            status.update(phase="Failed", startTime=_ts(t_sched), conditions=[scheduled_cond],
                          containerStatuses=[{**base_cs, "state": state}])  # fmt: skip
            return
        if now < t_end or script.outcome == "forever":
            status.update(
                phase="Running", startTime=_ts(t_sched), conditions=[scheduled_cond], containerStatuses=[running]
            )
            return
        if "end" not in sim.ran_hooks:
            sim.ran_hooks.add("end")
            if script.on_end:
                sim.extra_lines += script.on_end(copy.deepcopy(pod)) or []
        terminated = {"startedAt": _ts(t_start), "finishedAt": _ts(t_end), "containerID": "fake://" + name}
        if script.outcome == "succeed":
            state = {"terminated": {**terminated, "exitCode": 0, "reason": "Completed"}}
            status.update(phase="Succeeded")
        elif script.outcome == "fail":
            state = {
                "terminated": {
                    **terminated,
                    "exitCode": script.exit_code,
                    "reason": "Error",
                    "message": script.termination_message,
                }
            }
            status.update(phase="Failed")
        elif script.outcome == "evict":
            state = {"terminated": {**terminated, "exitCode": 137, "reason": "ContainerStatusUnknown"}}
            status.update(phase="Failed", reason="Evicted", message=script.evict_message)
            status["conditions"] = [
                scheduled_cond,
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "TerminationByKubelet",
                    "message": script.evict_message,
                    "lastTransitionTime": _ts(t_end),
                },
            ]
            self._event(pod, "Warning", "Evicted", script.evict_message, t_end)
        else:
            raise AssertionError(f"unknown outcome {script.outcome!r}")
        status.setdefault("conditions", [scheduled_cond])
        status.update(startTime=_ts(t_sched), containerStatuses=[{**base_cs, "started": False, "state": state}])

    def _advance_process(
        self, pod: Obj, sim: _PodSim, base_cs: Obj, scheduled_cond: Obj, t_sched: float, t_start: float
    ) -> None:
        """A pod whose container really runs (as a local process group): its state follows the process."""
        script, status = sim.script, pod["status"]
        assert script.process is not None
        if sim.proc is None:
            sim.proc, sim.termination_log = script.process(copy.deepcopy(pod))
            threading.Thread(target=self._read_output, args=(sim,), daemon=True).start()
        code = sim.proc.poll()
        if code is None and sim.evicted_at is None and script.evict_when is not None and script.evict_when():
            os.killpg(sim.proc.pid, signal.SIGKILL)  # the kubelet evicts: no grace for a memory-pressure eviction
            sim.proc.wait()
            sim.evicted_at = time.time()
            self._event(pod, "Warning", "Evicted", script.evict_message, sim.evicted_at)
        code = sim.proc.poll()
        running = {**base_cs, "ready": True, "started": True, "state": {"running": {"startedAt": _ts(t_start)}}}
        status.update(startTime=_ts(t_sched), conditions=[scheduled_cond])
        if code is None:
            status.update(phase="Running", containerStatuses=[running])
            return
        ended = {"startedAt": _ts(t_start), "finishedAt": _ts(sim.evicted_at or time.time()), "exitCode": code}
        if sim.evicted_at is not None:
            state = {"terminated": {**ended, "exitCode": 137, "reason": "ContainerStatusUnknown"}}
            status.update(phase="Failed", reason="Evicted", message=script.evict_message)
            status["conditions"] = [
                scheduled_cond,
                {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                 "message": script.evict_message, "lastTransitionTime": _ts(sim.evicted_at)},
            ]  # fmt: skip
        else:
            message = ""
            if sim.termination_log is not None and sim.termination_log.is_file():
                message = sim.termination_log.read_text()[:4096]
            if not message and code != 0:  # terminationMessagePolicy: FallbackToLogsOnError
                message = "\n".join(line for _, line in sim.timed_lines[-80:])[-2048:]
            reason = "Completed" if code == 0 else "Error"
            state = {"terminated": {**ended, "reason": reason, "message": message}}
            status.update(phase="Succeeded" if code == 0 else "Failed")
        status["containerStatuses"] = [{**base_cs, "started": False, "state": state}]

    def _read_output(self, sim: _PodSim) -> None:
        assert sim.proc is not None and sim.proc.stdout is not None
        for raw in sim.proc.stdout:
            with self.lock:
                sim.timed_lines.append((time.time(), raw.decode("utf-8", errors="replace").rstrip("\n")))

    def stop_processes(self) -> None:
        """Kill every container process still running (test teardown)."""
        with self.lock:
            for sim in self.pods.values():
                if sim.proc is not None and sim.proc.poll() is None:
                    os.killpg(sim.proc.pid, signal.SIGKILL)
                    sim.proc.wait()

    def log_lines(self, namespace: str, name: str) -> tuple[list[tuple[float, str]], bool, bool]:
        """``(lines so far, container started, container ended)`` of a pod."""
        with self.lock:
            pod = self.objects[("", "v1", "pods")].get((namespace, name))
            sim = self.pods.get((namespace, name))
            if pod is None or sim is None:
                raise _ApiError(404, "NotFound", f'pods "{name}" not found')
            self._advance_jobs()  # the controllers act while a log is being followed
            self._advance(pod)
            states = [cs.get("state") or {} for cs in pod["status"].get("containerStatuses") or []]
            started = any("running" in s or "terminated" in s for s in states)
            ended = any("terminated" in s for s in states)
            return self._lines_due(sim, time.time()), started, ended

    # ---- simulated Kubeflow controllers ---------------------------------------------------------
    def _owned_pod(self, owner: Obj, name: str, labels: Obj, spec: Obj) -> None:
        meta = {
            "name": name,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                }
            ],
        }
        self.create(("", "v1", "pods"), owner["metadata"]["namespace"], {"metadata": meta, "spec": spec})

    def _start_trainjob(self, job: Obj) -> None:
        trainer = job["spec"].get("trainer") or {}
        patch: Obj = {}
        pod_labels: Obj = {}
        for rp in job["spec"].get("runtimePatches") or []:
            for rj in rp["trainingRuntimeSpec"]["template"]["spec"].get("replicatedJobs") or []:
                template = rj["template"]["spec"]["template"]
                patch = template.get("spec") or {}
                pod_labels = (template.get("metadata") or {}).get("labels") or {}
        container = {
            "name": "node",
            "image": trainer.get("image"),
            "command": trainer.get("command"),
            "args": trainer.get("args"),
            "env": trainer.get("env"),
            "resources": trainer.get("resourcesPerNode"),
        }
        for cpatch in patch.get("containers") or []:
            if cpatch["name"] == "node":
                container.update({k: v for k, v in cpatch.items() if k != "name"})
        spec = {k: v for k, v in patch.items() if k != "containers"}
        spec.update(containers=[container], restartPolicy="Never")
        name = job["metadata"]["name"]
        for index in range(int(trainer.get("numNodes") or 1)):
            labels = {
                **pod_labels,
                "jobset.sigs.k8s.io/jobset-name": name,
                "jobset.sigs.k8s.io/replicatedjob-name": "node",
                "jobset.sigs.k8s.io/job-index": "0",
                "batch.kubernetes.io/job-completion-index": str(index),
            }
            self._owned_pod(job, f"{name}-node-0-{index}-{secrets.token_hex(3)[:5]}", labels, copy.deepcopy(spec))

    def _start_pytorchjob(self, job: Obj) -> None:
        name = job["metadata"]["name"]
        for role, replica in job["spec"]["pytorchReplicaSpecs"].items():
            template = replica["template"]
            for index in range(int(replica.get("replicas") or 1)):
                labels = {
                    **((template.get("metadata") or {}).get("labels") or {}),
                    "training.kubeflow.org/job-name": name,
                    "training.kubeflow.org/replica-type": role.lower(),
                    "training.kubeflow.org/replica-index": str(index),
                }
                spec = {**copy.deepcopy(template["spec"]), "restartPolicy": replica.get("restartPolicy", "Never")}
                self._owned_pod(job, f"{name}-{role.lower()}-{index}", labels, spec)

    def _advance_jobs(self) -> None:
        pods = self.objects[("", "v1", "pods")]
        for key, success in ((("trainer.kubeflow.org", "v1alpha1", "trainjobs"), "Complete"),
                             (("kubeflow.org", "v1", "pytorchjobs"), "Succeeded")):  # fmt: skip
            for job in self.objects[key].values():
                name = job["metadata"]["name"]
                owned = [  # the controller's own pods (not other objects the job owns, like a vLLM server)
                    p for p in pods.values()
                    if name in (p["metadata"]["labels"].get("jobset.sigs.k8s.io/jobset-name"),
                                p["metadata"]["labels"].get("training.kubeflow.org/job-name"))
                ]  # fmt: skip
                for pod in owned:
                    self._advance(pod)
                phases = [p["status"].get("phase") for p in owned]
                conditions = [c for c in job["status"].get("conditions") or [] if c["type"] == "Created"]
                if not conditions:
                    conditions = [_cond("Created", "JobCreated", f"{job['kind']} {job['metadata']['name']} is created")]
                failed = [p for p in owned if p["status"].get("phase") == "Failed"]
                for pod in owned:  # a failed job's controller stops its other pods
                    sim = self.pods.get((pod["metadata"]["namespace"], pod["metadata"]["name"]))
                    if failed and sim is not None and sim.killed_at is None and pod not in failed:
                        sim.killed_at = time.time()
                        self._advance(pod)
                if failed:
                    reason = failed[0]["status"].get("reason") or "Error"
                    conditions.append(
                        _cond("Failed", "FailedJobs" if key[2] == "trainjobs" else "JobFailed",
                              f"jobset failed: pod {failed[0]['metadata']['name']} failed ({reason})")
                    )  # fmt: skip
                elif owned and all(ph == "Succeeded" for ph in phases):
                    conditions.append(_cond(success, "JobsCompleted", "all nodes succeeded"))
                elif any(ph == "Running" for ph in phases) and key[2] == "pytorchjobs":
                    conditions.append(_cond("Running", "JobRunning", "the job is running"))
                if [c["type"] for c in conditions] != [c["type"] for c in job["status"]["conditions"]]:
                    job["status"]["conditions"] = conditions
                    job["metadata"]["resourceVersion"] = self._next_rv()


def _cond(kind: str, reason: str, message: str) -> Obj:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": _ts(time.time()),
    }


def _merge(target: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _labels_match(labels: Obj, selector: str) -> bool:
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def _fields_match(obj: Obj, selector: str) -> bool:
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        key, _, value = term.partition("=")
        current: Any = obj
        for part in key.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if str(current) != value:
            return False
    return True


class _ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> Obj:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}  # fmt: skip


_PATH = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>log|status))?$"
)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubernetes
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing --
    def _send(self, code: int, body: Obj) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null") if length else None

    def _route(self) -> tuple[tuple[str, str, str], str | None, str | None, str | None, dict[str, list[str]]]:
        url = urlparse(self.path)
        match = _PATH.match(url.path)
        if not match:
            raise _ApiError(404, "NotFound", f"the server could not find the requested resource {url.path}")
        group = match["group"] or ""
        version = match["cv"] or match["version"]
        key = (group, version, match["plural"])
        if key not in RESOURCES:
            raise _ApiError(404, "NotFound", f"the server could not find the requested resource {url.path}")
        return key, match["ns"], match["name"], match["sub"], parse_qs(url.query)

    def _handle(self, method: str) -> None:
        self.fake.requests.append((method, self.path))
        try:
            key, ns, name, sub, query = self._route()
            q = {k: v[-1] for k, v in query.items()}
            if method == "GET" and sub == "log":
                return self._logs(ns or "default", name or "", q)
            if method == "GET" and name:
                return self._send(200, self.fake.get(key, ns or "default", name))
            if method == "GET":
                if str(q.get("watch", "")).lower() in ("true", "1"):
                    return self._watch(key, ns, q)
                items = self.fake.select(key, ns, q.get("labelSelector", ""), q.get("fieldSelector", ""))
                return self._send(200, self._list(key, items))
            if method == "POST":
                return self._send(201, self.fake.create(key, ns or "default", self._body()))
            if method == "DELETE" and name:
                return self._send(200, self.fake.delete(key, ns or "default", name))
            if method == "PATCH" and name:
                return self._send(200, self.fake.patch(key, ns or "default", name, self._body()))
            raise _ApiError(405, "MethodNotAllowed", f"{method} {self.path} is not supported by the fake")
        except _ApiError as err:
            self._send(err.code, err.body())

    def _list(self, key: tuple[str, str, str], items: list[Obj]) -> Obj:
        return {
            "apiVersion": "/".join(p for p in key[:2] if p),
            "kind": RESOURCES[key] + "List",
            "metadata": {"resourceVersion": str(self.fake._rv)},
            "items": items,
        }

    def _logs(self, ns: str, name: str, q: dict[str, str]) -> None:
        lines, started, ended = self.fake.log_lines(ns, name)
        if not started:
            raise _ApiError(400, "BadRequest", f'container in pod "{name}" is waiting to start: ContainerCreating')
        stamps = str(q.get("timestamps", "")).lower() in ("true", "1")
        since = float(q["sinceSeconds"]) if "sinceSeconds" in q else None

        def render(batch: list[tuple[float, str]]) -> bytes:
            out = []
            for moment, line in batch:
                if since is not None and moment < time.time() - since:
                    continue
                out.append(f"{_ts(moment).replace('Z', '000Z')} {line}" if stamps else line)
            return ("".join(f"{line}\n" for line in out)).encode()

        if str(q.get("follow", "")).lower() not in ("true", "1"):
            if "tailLines" in q:
                lines = lines[-int(q["tailLines"]) :]
            data = render(lines)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
            return
        self._start_stream("text/plain")
        sent = 0
        try:
            while True:
                try:
                    lines, _, ended = self.fake.log_lines(ns, name)
                except _ApiError:
                    break  # pod deleted: the stream ends
                if len(lines) > sent:
                    self._chunk(render(lines[sent:]))
                    sent = len(lines)
                if ended:
                    break
                time.sleep(0.02)
            self._end_stream()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _watch(self, key: tuple[str, str, str], ns: str | None, q: dict[str, str]) -> None:
        since_rv = int(q.get("resourceVersion") or 0)
        deadline = time.time() + min(float(q.get("timeoutSeconds") or 1), 1.0)
        self._start_stream("application/json")
        seen: dict[str, str] = {}
        try:
            while True:
                for obj in self.fake.select(key, ns, q.get("labelSelector", ""), q.get("fieldSelector", "")):
                    rv = obj["metadata"]["resourceVersion"]
                    uid = obj["metadata"]["uid"]
                    if int(rv) > since_rv and seen.get(uid) != rv:
                        kind = "ADDED" if uid not in seen else "MODIFIED"
                        seen[uid] = rv
                        self._chunk((json.dumps({"type": kind, "object": obj}) + "\n").encode())
                if time.time() >= deadline:
                    break
                time.sleep(0.05)
            self._end_stream()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        if self.path in ("/version", "/version/"):
            return self._send(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake"})
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._body()
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        body = self._body()
        self._body = lambda: body  # type: ignore[method-assign]
        self._handle("PATCH")
