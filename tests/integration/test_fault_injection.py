"""Fault injection against the real services: one chain, seven crashes, nothing lost, nothing doubled.

One stack for the module: Airflow 3 (api-server, scheduler, dag-processor, triggerer; LocalExecutor) and an
MLflow server, both on PostgreSQL, real TRL training of the tiny model. One ``medical_ingest`` run goes
through the Asset chain (``grpo_training`` → ``gated_evaluation``, promotion on pass) while the tests kill
(SIGKILL), at fault points that hold a process still (:mod:`medgrpo.faults`, armed through
``MEDGRPO_FAULT_DIR``):

=================  ============================  ========================================================
scenario           point                         killed, then
=================  ============================  ========================================================
de-identification  ``deid.shard``                the ``deidentify`` task's process → Airflow retry
                   ``deid.shard``                the scheduler and everything it started (executor
                                                 workers, task processes) → restart, orphans reset
                   ``deid.shard``                the MLflow server, down until ``finalize`` failed on its
                                                 lineage run (nothing published) → restart, retry
registration       ``train.register``            the MLflow server → the try fails, restart, retry resumes
                   ``registry.version_created``  the ``train`` task's process (version created, alias not
                                                 set): its training child must die too; retry finds the
                                                 version
gate → promotion   ``promote.start``             the scheduler with the ``promote`` task → restart, reset
                   ``promote.locked``            the ``promote`` task holding the promotion lock, audit tags
                                                 written, no alias moved → retry takes the expired lock over
=================  ============================  ========================================================

Afterwards: one published dataset (the same content as a fault-free in-process ingest of the same data,
no hidden build/incoming/retired folders, staged rows removed, one lineage run, one Asset event), one model
version (READY, from one training run that reached its last step), one ``challenger`` and one ``champion``
alias move (counted from MLflow's own webhook deliveries), the lock released and no process left behind.
The kills hit only processes of this module's stack: each pid is checked to be one of its components or
below one, or to carry its fault folder in its environment, before it is signalled; the MLflow server is the
one this module started. A scheduler crash costs each task it kills one try (Airflow resets an orphan with a
new try number and the same ``max_tries``), so each task here meets at most two faults (``retries=2``).
The gate policy is this module's own, explicit and permissive (a first model: floors only, no PHI probe).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from medgrpo.demo import DAG_IDS, find_repo_root
from medgrpo.faults import FAULT_DIR_ENV, FaultDir
from medgrpo.services.airflow_stack import AirflowStack
from medgrpo.services.mlflow_server import MlflowServer, start_mlflow_server
from medgrpo.services.process import descendants, free_port, pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = f"medgrpo-faults-{uuid.uuid4().hex[:6]}"
DATASET = "faults"
SHARD_SIZE = 100  # the embedded samples make three shards: three de-identification tasks
INGEST, TRAINING, GATE = "medical_ingest", "grpo_training", "gated_evaluation"
WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
}
PERMISSIVE_POLICY = """\
# Fault-injection tests only: PERMISSIVE on purpose. The first model has no champion, so only the floors
# decide; they are off because this module tests crashes, not model quality. Never serve with it.
name: faults-permissive
min_items: 1
min_accuracy: 0.0
min_format_rate: 0.0
margin: 0.25
alpha: 0.05
bootstrap_resamples: 200
phi_probe: false
"""


# --------------------------------------------------------------------------- the stack


class AliasMoves:
    """A receiver of MLflow's ``model_version_alias.created`` webhook deliveries (signature checked)."""

    def __init__(self, secret: str) -> None:
        from medgrpo.registry_events import change_from_webhook, verify_webhook

        self.moves: dict[str, tuple[str, str, str | None]] = {}  # delivery id -> (model, alias, version)
        self.refused: list[str] = []
        moves, refused = self.moves, self.refused

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = verify_webhook(secret, body, dict(self.headers))
                    delivery = self.headers["X-MLflow-Delivery-Id"]
                    change = change_from_webhook(payload, delivery_id=delivery, signed_at=int(time.time()))
                    if change is not None:
                        moves[delivery] = (change.model_name, change.alias, change.version)
                    self.send_response(200)
                except Exception as err:  # counted, and the test fails on it
                    refused.append(str(err))
                    self.send_response(400)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mlflow-webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, alias: str) -> int:
        return sum(1 for model, a, _ in self.moves.values() if model == MODEL and a == alias)


@dataclass
class Fault:
    """One injected fault, for the figures."""

    scenario: str
    point: str
    killed: str
    pids: list[int]
    task: str
    recovered_by: str
    seconds_to_recover: float = 0.0


@dataclass
class Chain:
    """The module's stack and what the scenarios saw, in order."""

    stack: AirflowStack
    mlflow: MlflowServer
    state: Path
    faults: FaultDir
    moves: AliasMoves
    injected: list[Fault] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)  # dag id -> the chain's run
    orphans: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # every process held at a fault point

    @property
    def work(self) -> Path:
        return self.state / "work"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, pg_database: Callable[[str], str]) -> Iterator[Chain]:
    from cryptography.fernet import Fernet
    from mlflow import MlflowClient
    from mlflow.entities.webhook import WebhookEvent

    repo = find_repo_root()
    state = tmp_path_factory.mktemp("faults")
    policy = state / "gate-policy-faults.yaml"
    policy.write_text(PERMISSIVE_POLICY)
    secret = secrets.token_urlsafe(24)
    moves = AliasMoves(secret)
    mlflow = start_mlflow_server(
        state,
        backend_store_uri=pg_database("medgrpo_faults_mlflow"),
        # a fixed key: the restarted server must read the webhook secret it stored
        extra_env={**WEBHOOK_ENV, "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode()},
    )
    stack = AirflowStack(
        home=state / "airflow",
        dags_folder=repo / "dags",
        plugins_folder=repo / "plugins",
        db_uri=pg_database("medgrpo_faults_airflow").replace("postgresql://", "postgresql+psycopg2://", 1),
        extra_env={
            "MLFLOW_TRACKING_URI": mlflow.url,
            "MEDGRPO_STATE_DIR": str(state),
            "MEDGRPO_WORK_URI": str(state / "work"),
            "MEDGRPO_MODEL_NAME": MODEL,
            "MEDGRPO_DEFAULT_RECIPE": str(repo / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"),
            "MEDGRPO_GATE_POLICY": str(policy),  # explicit and permissive, see PERMISSIVE_POLICY
            "MEDGRPO_ALLOW_DEV_ID_KEY": "true",
            FAULT_DIR_ENV: str(state / "fault-points"),
            # a client facing a dead server gives up in seconds (then Airflow retries), not minutes
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        },
    )
    client = MlflowClient(mlflow.url, registry_uri=mlflow.url)
    try:
        client.create_webhook(
            name="faults-alias-moves",
            url=moves.url,
            events=[WebhookEvent("model_version_alias", "created")],
            secret=secret,
        )
        stack.start()
        stack.wait_for_dags(DAG_IDS)
        for dag_id in DAG_IDS:
            stack.unpause(dag_id)
        yield Chain(stack, mlflow, state, FaultDir(state / "fault-points"), moves)
    finally:
        stack.stop()
        mlflow.stop()
        moves.server.shutdown()


# --------------------------------------------------------------------------- helpers


def _wait(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _has_marker(chain: Chain, pid: int) -> bool:
    """Whether ``pid``'s environment names this module's fault folder (processes that keep their
    environment block: a training child; Airflow's processes overwrite it with their title)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"{FAULT_DIR_ENV}={chain.faults.path}".encode() in environ


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _ours(chain: Chain, pid: int) -> bool:
    """Whether ``pid`` is a process of this module's stack: one of its components or below one (by parent
    links), or a process carrying its fault folder in its environment."""
    components = {p.pid for p in chain.stack.processes}
    walk = pid
    while walk > 1:
        if walk in components:
            return True
        walk = _parent(walk)
    return _has_marker(chain, pid)


def _kill_task_process(chain: Chain, pid: int) -> None:
    assert _ours(chain, pid), f"pid {pid} is not a process of this module's stack: not killing it"
    os.kill(pid, signal.SIGKILL)
    _wait(f"pid {pid} to die", lambda: not pid_alive(pid), 30, every=0.2)


def _reached(chain: Chain, point: str, timeout: float) -> dict[str, Any]:
    """Who reached the armed ``point`` (pid, ppid, ...), while the stack's components are checked."""
    hit = chain.faults.wait_reached(point, timeout, while_waiting=chain.stack.check_alive)
    chain.held.append(int(hit["pid"]))
    return hit


def _task(chain: Chain, dag_id: str, task_id: str, **match: Any) -> dict[str, Any] | None:
    for ti in chain.stack.task_instances(dag_id, chain.runs[dag_id]):
        if ti["task_id"] == task_id and all(ti.get(k) == v for k, v in match.items()):
            return ti
    return None


def _task_of_pid(chain: Chain, dag_id: str, task_id: str, pid: int) -> dict[str, Any]:
    """The running task instance whose process is ``pid`` (Airflow records the task process's pid)."""
    return _wait(
        f"{dag_id}.{task_id} running as pid {pid}",
        lambda: _task(chain, dag_id, task_id, pid=pid, state="running"),
        60,
    )


def _wait_state(chain: Chain, dag_id: str, task_id: str, states: set[str], timeout: float) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        ti = _task(chain, dag_id, task_id)
        return ti if ti is not None and ti["state"] in states else None

    return _wait(f"{dag_id}.{task_id} to reach {sorted(states)}", reached, timeout)


def _new_run(chain: Chain, dag_id: str, timeout: float) -> str:
    """The run of ``dag_id`` the Asset chain started (the only one this module makes)."""
    runs = _wait(f"a run of {dag_id}", lambda: chain.stack.runs(dag_id), timeout, every=2)
    assert len(runs) == 1, f"expected one {dag_id} run, found {[r['dag_run_id'] for r in runs]}"
    chain.runs[dag_id] = runs[0]["dag_run_id"]
    return chain.runs[dag_id]


def _crash_scheduler(chain: Chain, held_pid: int, *, then_arm: str | None = None) -> list[int]:
    """SIGKILL the scheduler's whole tree (held task included), wait until Airflow sees it dead, restart it.

    ``then_arm`` is armed while the scheduler is down, for the task the new scheduler starts again.
    """
    stack = chain.stack
    scheduler = stack.component("scheduler")
    assert scheduler.pid is not None and _ours(chain, scheduler.pid)
    killed = stack.kill_component("scheduler")
    assert held_pid in killed, f"the held task process {held_pid} was not in the scheduler's tree {killed}"
    if then_arm:
        chain.faults.arm(then_arm)
    # a new scheduler resets the orphaned task instances of a scheduler job whose heartbeat is stale
    _wait(
        "the dead scheduler to be reported unhealthy",
        lambda: stack.api("GET", "/monitor/health")["scheduler"]["status"] == "unhealthy",
        120,
    )
    stack.restart_component("scheduler")
    return killed


def _tries(chain: Chain, dag_id: str, task_id: str) -> dict[int, int]:
    """map index -> try number of ``task_id`` in the chain's run of ``dag_id``."""
    return {
        t["map_index"]: t["try_number"]
        for t in chain.stack.task_instances(dag_id, chain.runs[dag_id])
        if t["task_id"] == task_id
    }


def _finish(chain: Chain, dag_id: str, timeout: float) -> dict[str, Any]:
    from medgrpo.demo import _require_success

    return _require_success(chain.stack, chain.stack.wait_for_run(dag_id, chain.runs[dag_id], timeout))


# --------------------------------------------------------------------------- scenarios


def test_deidentification_survives_a_killed_task_scheduler_and_mlflow_server(chain: Chain) -> None:
    stack, points = chain.stack, chain.faults
    points.arm("deid.shard")
    chain.runs[INGEST] = stack.trigger(INGEST, {"dataset_name": DATASET, "shard_size": SHARD_SIZE})

    # 1. a deidentify task, its shard de-identified but not written: its process dies, Airflow retries it
    hit = _reached(chain, "deid.shard", 300)
    ti = _task_of_pid(chain, INGEST, "deidentify", hit["pid"])
    points.arm("deid.shard")  # the next shard (or this one's retry) to get there meets a dead scheduler
    started = time.monotonic()
    _kill_task_process(chain, hit["pid"])
    shard = f"deidentify[{ti['map_index']}]"
    chain.injected.append(Fault("de-identification", "deid.shard", "task process", [hit["pid"]], shard, ""))

    # 2. the scheduler dies with its executor and the task held at the same point; a new one takes over
    hit2 = _reached(chain, "deid.shard", 300)
    ti2 = _task_of_pid(chain, INGEST, "deidentify", hit2["pid"])
    started2 = time.monotonic()
    killed = _crash_scheduler(chain, hit2["pid"], then_arm="deid.shard")  # the reset task will get there again
    shard2 = f"deidentify[{ti2['map_index']}]"
    chain.injected.append(Fault("de-identification", "deid.shard", "scheduler", killed, shard2, ""))

    # 3. the MLflow server dies while a shard is held, and stays down until finalize failed on it once
    hit3 = _reached(chain, "deid.shard", 300)
    started3 = time.monotonic()
    killed3 = chain.mlflow.kill()
    points.release("deid.shard")  # de-identification needs no MLflow: the shard finishes
    failed = _wait_state(chain, INGEST, "finalize", {"up_for_retry", "failed"}, 600)
    assert failed["state"] == "up_for_retry", failed
    assert not (chain.work / "datasets" / DATASET).exists(), "finalize published without its lineage run"
    chain.mlflow.restart()
    chain.injected.append(Fault("de-identification", "deid.shard", "MLflow server", killed3, "finalize", ""))
    assert hit3["pid"] not in (hit["pid"], hit2["pid"])

    run = _finish(chain, INGEST, 600)
    assert run["state"] == "success"
    tries = _tries(chain, INGEST, "deidentify")
    done = time.monotonic()
    chain.injected[0].recovered_by = f"Airflow retry (try {tries[ti['map_index']]} of the shard succeeded)"
    chain.injected[1].recovered_by = f"scheduler restarted, orphan reset (try {tries[ti2['map_index']]} succeeded)"
    chain.injected[
        2
    ].recovered_by = f"MLflow restarted, Airflow retry (finalize try {_tries(chain, INGEST, 'finalize')[-1]} published)"
    for fault, since in zip(chain.injected, (started, started2, started3), strict=True):
        fault.seconds_to_recover = done - since


def test_registration_survives_a_killed_mlflow_server_and_a_killed_training_task(chain: Chain) -> None:
    points = chain.faults
    points.arm("train.register")
    _new_run(chain, TRAINING, 120)

    # 4. the logged model is uploaded, the version not registered yet: the MLflow server dies
    hit = _reached(chain, "train.register", 900)
    ti = _task_of_pid(chain, TRAINING, "train", hit["ppid"])  # the training child's parent is the task
    killed = chain.mlflow.kill()
    started = time.monotonic()
    points.release("train.register")  # registering now meets a dead server: the try fails
    failed = _wait_state(chain, TRAINING, "train", {"up_for_retry", "failed"}, 300)
    assert failed["state"] == "up_for_retry", failed
    chain.mlflow.restart()
    chain.injected.append(Fault("registration", "train.register", "MLflow server", killed, "train", ""))

    # 5. the version exists, the challenger alias is not set: the task process dies (its training child with it)
    points.arm("registry.version_created")
    hit2 = _reached(chain, "registry.version_created", 600)
    ti2 = _task_of_pid(chain, TRAINING, "train", hit2["ppid"])
    assert ti2["try_number"] == ti["try_number"] + 1
    _kill_task_process(chain, hit2["ppid"])
    started2 = time.monotonic()
    try:
        _wait(f"training child {hit2['pid']} to die with its task", lambda: not pid_alive(hit2["pid"]), 20, 0.2)
    except TimeoutError:
        chain.orphans.append(hit2["pid"])  # the retry would train beside it: remove it, fail below
        _kill_task_process(chain, hit2["pid"])
    chain.injected.append(
        Fault("registration", "registry.version_created", "task process", [hit2["ppid"], hit2["pid"]], "train", "")
    )

    run = _finish(chain, TRAINING, 900)
    assert run["state"] == "success"
    final = _task(chain, TRAINING, "train")
    assert final is not None
    chain.injected[-2].recovered_by = f"MLflow restarted, Airflow retry (try {ti['try_number'] + 1})"
    chain.injected[-2].seconds_to_recover = time.monotonic() - started
    chain.injected[-1].recovered_by = f"Airflow retry found the version (try {final['try_number']} succeeded)"
    chain.injected[-1].seconds_to_recover = time.monotonic() - started2
    assert not chain.orphans, f"training child(ren) {chain.orphans} outlived their killed Airflow task"


def test_promotion_survives_a_killed_scheduler_and_a_task_killed_holding_the_lock(chain: Chain) -> None:
    from mlflow import MlflowClient

    points = chain.faults
    points.arm("promote.start")
    _new_run(chain, GATE, 300)

    # 6. the gate passed, the promotion not started: the scheduler dies with the promote task
    hit = _reached(chain, "promote.start", 900)
    ti = _task_of_pid(chain, GATE, "promote", hit["pid"])
    assert _task(chain, GATE, "evaluate_and_gate", state="success") is not None
    started = time.monotonic()
    killed = _crash_scheduler(chain, hit["pid"], then_arm="promote.locked")
    chain.injected.append(Fault("gate → promotion", "promote.start", "scheduler", killed, "promote", ""))

    # 7. the promote task runs again, takes the promotion lock, writes the audit tags and dies before any alias
    # moves: its lock stays behind (until it expires) and the tags say "promoted" while the alias does not
    hit2 = _reached(chain, "promote.locked", 300)
    ti2 = _task_of_pid(chain, GATE, "promote", hit2["pid"])
    client = MlflowClient(chain.mlflow.url, registry_uri=chain.mlflow.url)
    lock = client.get_experiment_by_name(f"medgrpo/locks/promotion/{MODEL}")
    assert lock is not None and lock.lifecycle_stage == "active", "the promote task should hold the lock here"
    assert client.get_model_version(MODEL, "1").tags.get("promoted_by") == "airflow"
    assert "champion" not in client.get_registered_model(MODEL).aliases
    started2 = time.monotonic()
    _kill_task_process(chain, hit2["pid"])
    chain.injected.append(Fault("gate → promotion", "promote.locked", "task process", [hit2["pid"]], "promote", ""))

    run = _finish(chain, GATE, 600)
    assert run["state"] == "success"
    final = _task(chain, GATE, "promote")
    assert final is not None and final["state"] == "success"
    assert ti2["try_number"] > ti["try_number"] and final["try_number"] > ti2["try_number"]
    # the retry waited for the dead holder's lock to expire, then took it over
    assert "retiring an expired promotion lock" in chain.stack.task_log(
        GATE, chain.runs[GATE], "promote", final["try_number"]
    )
    done = time.monotonic()
    chain.injected[-2].recovered_by = f"scheduler restarted, orphan reset (try {ti2['try_number']} ran)"
    chain.injected[-1].recovered_by = f"Airflow retry took over the expired lock (try {final['try_number']} promoted)"
    chain.injected[-2].seconds_to_recover = done - started
    chain.injected[-1].seconds_to_recover = done - started2


# --------------------------------------------------------------------------- what readers see afterwards


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_dataset_one_version_one_alias_move_and_nothing_half_written(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from medgrpo.data.ingest import ingest
    from medgrpo.pipeline import default_sources, run_slug

    _report(chain)
    assert {INGEST, TRAINING, GATE} <= set(chain.runs), f"the chain did not get through: {chain.runs}"
    stack, lost = chain.stack, []
    for dag_id in (INGEST, TRAINING, GATE):
        runs = stack.runs(dag_id)
        assert [(r["dag_run_id"], r["state"]) for r in runs] == [(chain.runs[dag_id], "success")], runs

    # one dataset version: the complete directory, nothing beside it, the content of a fault-free ingest
    datasets = chain.work / "datasets"
    assert sorted(p.name for p in datasets.iterdir()) == [DATASET], "hidden build/incoming/retired folders left"
    published = datasets / DATASET
    assert sorted(p.name for p in published.iterdir()) == [
        "eval.jsonl",
        "manifest.json",
        "quarantine.jsonl",
        "train.jsonl",
    ]
    manifest = json.loads((published / "manifest.json").read_text())
    for name, facts in manifest["files"].items():
        assert _sha256(published / name) == facts["sha256"], f"{name} does not match its manifest entry"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the reference logs no lineage
    reference = ingest(default_sources(), str(tmp_path / "reference"), name=DATASET, shard_size=SHARD_SIZE)
    if manifest["content_sha256"] != reference.manifest["content_sha256"]:
        lost.append(f"dataset content {manifest['counts']} differs from a fault-free ingest {reference.counts}")
    assert manifest["counts"] == reference.counts

    # staging: the raw rows are gone, only the markers that make a retry a no-op stay
    staging = chain.work / "staging" / run_slug(INGEST, chain.runs[INGEST])
    left = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
    assert not [f for f in left if f.endswith(".jsonl")], f"staged rows left behind: {left}"
    events = stack.api("GET", "/assets/events", params={"source_dag_id": INGEST})["asset_events"]
    assert len(events) == 1, f"expected one dataset Asset event, found {len(events)}"

    client = MlflowClient(chain.mlflow.url, registry_uri=chain.mlflow.url)
    ingest_exp = client.get_experiment_by_name("medgrpo/ingest")
    assert ingest_exp is not None, "no ingest lineage experiment"
    lineage = client.search_runs([ingest_exp.experiment_id], f"tags.dataset_name = '{DATASET}'")
    assert [r.info.status for r in lineage] == ["FINISHED"], "expected one lineage run of the dataset"

    # one model version, READY, from one training run that reached its last step
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert [(v.version, v.status) for v in versions] == [("1", "READY")], versions
    train_exp = client.get_experiment_by_name("medgrpo/train")
    assert train_exp is not None, "no training experiment"
    version = client.get_model_version(MODEL, "1")
    model_id = version.model_id or str(version.source).removeprefix("models:/")
    dag_run = f"{TRAINING}/{chain.runs[TRAINING]}"
    train_runs = client.search_runs([train_exp.experiment_id], f"tags.airflow_dag_run = '{dag_run}'")
    assert [r.info.run_id for r in train_runs] == [versions[0].run_id], "every try must reuse the training run"
    result = json.loads((chain.work / "runs" / run_slug(TRAINING, chain.runs[TRAINING]) / "result.json").read_text())
    assert result["metrics"]["global_step"] == 6.0 and result["model_version"] == "1", result
    logged = client.get_logged_model(model_id)
    assert str(getattr(logged.status, "name", logged.status)) == "READY"
    model_events = stack.api("GET", "/assets/events", params={"source_dag_id": TRAINING})["asset_events"]
    assert len(model_events) == 1, f"expected one challenger Asset event, found {len(model_events)}"

    # at most one alias move: MLflow's own deliveries, one challenger and one champion
    _wait("MLflow's webhook deliveries", lambda: chain.moves.count("champion") >= 1, 30)
    assert not chain.moves.refused, chain.moves.refused
    assert chain.moves.count("challenger") == 1, chain.moves.moves
    assert chain.moves.count("champion") == 1, chain.moves.moves
    model = client.get_registered_model(MODEL)
    assert model.aliases == {"champion": "1"}, model.aliases  # challenger cleared, no previous champion
    tags = client.get_model_version(MODEL, "1").tags  # read again: promotion came after registration
    assert (tags["promoted_by"], tags["promoted_from"], tags["gate_verdict"]) == ("airflow", "none", "passed")
    lock = client.get_experiment_by_name(f"medgrpo/locks/promotion/{MODEL}")
    assert lock is None or lock.lifecycle_stage == "deleted", "the promotion lock was left behind"

    # no process of this stack outside the running components (no orphaned task or training process)
    components = {p.pid for p in stack.processes} | {c for p in stack.processes for c in descendants(p.pid or 0)}
    stray = [
        pid
        for pid in map(int, (e.name for e in Path("/proc").iterdir() if e.name.isdigit()))
        if pid_alive(pid) and pid not in components and _has_marker(chain, pid)
    ]
    assert not stray, f"processes of the stack outside its components: {stray}"
    held = [pid for pid in chain.held if pid_alive(pid)]
    assert not held, f"processes held at fault points still alive: {held}"

    print("lost:", "; ".join(lost) or "nothing (dataset identical to a fault-free ingest, every check above held)")
    assert len(chain.injected) == 7 and not lost


def _report(chain: Chain) -> None:
    """The figures: every fault injected, what recovered it and how long it took."""
    print(f"\nfault injection: {len(chain.injected)} faults injected")
    print(f"{'scenario':18} {'point':25} {'killed':15} {'pids':>5} {'task':14} {'s':>5}  recovered by")
    for f in chain.injected:
        print(
            f"{f.scenario:18} {f.point:25} {f.killed:15} {len(f.pids):5} {f.task:14} "
            f"{f.seconds_to_recover:5.0f}  {f.recovered_by}"
        )
