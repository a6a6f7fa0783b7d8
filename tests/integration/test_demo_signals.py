"""``medgrpo demo`` stops every service it started when it is terminated part-way.

Runs the real command (real MLflow server and Airflow components) as a background job would
run it, with SIGINT ignored, sends SIGTERM once the services are up, and then looks for any
process still carrying the demo's state folder in its environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _processes_with_env(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return pids


def test_sigterm_stops_airflow_and_mlflow(tmp_path: Path) -> None:
    state = tmp_path / "state"
    marker = f"MEDGRPO_STATE_DIR={state.resolve()}"
    env = {**os.environ, "MEDGRPO_STATE_DIR": str(state.resolve()), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "medgrpo.cli", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as a shell's background job
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("MLflow UI:"):
            break
        assert time.monotonic() < deadline, "services did not come up:\n" + "".join(seen[-30:])
    else:
        pytest.fail("demo ended before its services came up:\n" + "".join(seen[-30:]))
    assert _processes_with_env(marker), "expected the services to be running before the signal"

    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=180)
    survivors = _processes_with_env(marker)
    if survivors:  # clean up before failing, so one failure does not leak into the next test
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
    assert survivors == [], f"processes left running after SIGTERM: {survivors}\n{rest[-2000:]}"
    assert proc.returncode == 130, rest[-2000:]
