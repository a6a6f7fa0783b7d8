"""Fault points: named places where a fault-injection test holds a process still and kills something.

Test-only and off by default. ``fault_point("deid.shard")`` costs one environment lookup unless
``MEDGRPO_FAULT_DIR`` names a folder (the fault-injection tests set it on the stack they start; never
set it in a deployment: an armed point stalls the process that reaches it). With the folder set:

1. the test *arms* a point: :meth:`FaultDir.arm` creates ``<dir>/<name>.armed``;
2. the first process to reach the armed point *claims* it (an atomic rename, so one arming fires once,
   in whichever process gets there first; others pass by), writes who it is (pid, parent pid, process
   group, time) to ``<name>.reached`` and holds still;
3. the test reads that (:meth:`FaultDir.wait_reached`), kills what it chose (this process, its parent,
   the scheduler, the MLflow server) and, if this process should go on, writes ``<name>.release``
   (:meth:`FaultDir.release`); an unreleased hold ends by itself after ``hold_s`` seconds.

The points (one call each, placed where a crash would leave the most to clean up):

- ``deid.shard``: :func:`medgrpo.data.ingest.deidentify_shard`, a shard de-identified, its output not written;
- ``train.register``: :mod:`medgrpo.train.grpo`, the logged model uploaded (READY), no version registered yet;
- ``registry.version_created``: :func:`medgrpo.registry.register_model_version`, the version created, the
  ``challenger`` alias not moved yet;
- ``promote.start``: :func:`medgrpo.pipeline.promote_version`, the gate passed, the promotion not started;
- ``promote.locked``: :func:`medgrpo.registry.promote`, the promotion lock held and the audit tags written, no
  alias moved yet.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAULT_DIR_ENV = "MEDGRPO_FAULT_DIR"
POINTS = ("deid.shard", "train.register", "registry.version_created", "promote.start", "promote.locked")
DEFAULT_HOLD_S = 300.0


def fault_point(name: str) -> None:
    """Hold here while a test injects a fault, when ``name`` is armed in ``MEDGRPO_FAULT_DIR``; else nothing."""
    folder = os.environ.get(FAULT_DIR_ENV)
    if not folder:
        return
    FaultDir(Path(folder)).hold(name)


@dataclass(frozen=True)
class FaultDir:
    """The folder through which a test and the processes it watches agree on fault points."""

    path: Path

    def _file(self, name: str, state: str) -> Path:
        if name not in POINTS:
            raise ValueError(f"fault point: expected one of {list(POINTS)}, found {name!r}")
        return self.path / f"{name}.{state}"

    # ---- the process side -------------------------------------------------------------------
    def hold(self, name: str) -> None:
        """Claim ``name`` if it is armed, say who reached it, and wait for release (or ``hold_s``)."""
        armed = self._file(name, "armed")
        claimed = self.path / f"{name}.claimed-{os.getpid()}"
        try:
            os.rename(armed, claimed)  # atomic: one process per arming
        except FileNotFoundError:
            return
        try:
            hold_s = float(json.loads(claimed.read_text() or "{}").get("hold_s", DEFAULT_HOLD_S))
        except (OSError, ValueError):
            hold_s = DEFAULT_HOLD_S
        me = {"point": name, "pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "at": time.time()}
        reached = self._file(name, "reached")
        tmp = reached.with_name(f".{reached.name}.{os.getpid()}")
        tmp.write_text(json.dumps(me))
        os.replace(tmp, reached)
        claimed.unlink(missing_ok=True)
        release = self._file(name, "release")
        deadline = time.monotonic() + hold_s
        while time.monotonic() < deadline and not release.exists():
            time.sleep(0.2)

    # ---- the test side ----------------------------------------------------------------------
    def arm(self, name: str, *, hold_s: float = DEFAULT_HOLD_S) -> None:
        """Arm ``name`` once (forgetting an earlier arming's reached/release files)."""
        self.path.mkdir(parents=True, exist_ok=True)
        for state in ("reached", "release"):
            self._file(name, state).unlink(missing_ok=True)
        self._file(name, "armed").write_text(json.dumps({"hold_s": hold_s}))

    def wait_reached(self, name: str, timeout: float, *, while_waiting: Any = None) -> dict[str, Any]:
        """Who reached ``name`` (pid, ppid, pgid, at); ``while_waiting()`` is called between polls."""
        reached = self._file(name, "reached")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reached.exists():
                return dict(json.loads(reached.read_text()))
            if while_waiting is not None:
                while_waiting()
            time.sleep(0.5)
        raise TimeoutError(f"fault point {name!r} was not reached within {timeout:.0f} s")

    def release(self, name: str) -> None:
        """Let the process holding at ``name`` carry on."""
        self._file(name, "release").write_text("")

    def disarm(self, name: str) -> bool:
        """Remove an arming nobody claimed; True when there was one."""
        armed = self._file(name, "armed")
        existed = armed.exists()
        armed.unlink(missing_ok=True)
        return existed
