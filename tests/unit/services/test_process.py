"""ManagedProcess stops whole process groups (children included) and reports early deaths."""

from __future__ import annotations

import os
import sys
import time

import pytest

from medgrpo.services.process import ManagedProcess, free_port, wait_http


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_stop_kills_children_that_ignore_sigterm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pid_file = tmp_path / "child.pid"
    code = (
        "import os, signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    proc = ManagedProcess("parent", [sys.executable, "-c", code], dict(os.environ), tmp_path / "p.log").start()
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "child never started"
        time.sleep(0.1)
    child = int(pid_file.read_text())
    assert _alive(child)
    proc.stop(timeout=1.0)
    time.sleep(0.3)
    assert not _alive(child), "a child that ignores SIGTERM survived stop()"
    assert proc.poll() is not None


def test_wait_http_fails_fast_when_process_dies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = ManagedProcess(
        "dies", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], dict(os.environ), tmp_path / "d.log"
    ).start()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with code 3"):
        wait_http(f"http://127.0.0.1:{free_port()}/", timeout=30, proc=proc)
    assert time.monotonic() - start < 15
    assert "boom" in proc.tail()
