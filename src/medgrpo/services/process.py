"""Start, watch and stop child processes as whole process groups (or kill them as a crash would)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(
    url: str, *, timeout: float, proc: ManagedProcess | None = None, ok_codes: Sequence[int] = (200,)
) -> None:
    """Poll ``url`` until it answers one of ``ok_codes``; fail early if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with code {proc.poll()} before {url} answered; "
                f"last lines of {proc.log_path}:\n{proc.tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status in ok_codes:
                    return
                last_error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as err:
            if err.code in ok_codes:
                return
            last_error = f"HTTP {err.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
            last_error = str(err)
        time.sleep(0.5)
    tail = f"; last lines of {proc.log_path}:\n{proc.tail()}" if proc else ""
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s (last: {last_error}){tail}")


@dataclass
class ManagedProcess:
    """A child process in its own process group, with its output in a log file."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> ManagedProcess:
        """Launch the process; its stdout and stderr go to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        log.info("starting %s: %s (log: %s)", self.name, " ".join(self.argv), self.log_path)
        self._popen = subprocess.Popen(
            list(self.argv),
            env=dict(self.env),
            cwd=self.cwd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log_file.close()
        return self

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def poll(self) -> int | None:
        """The exit code, or None while running (or never started)."""
        return self._popen.poll() if self._popen else None

    def tail(self, lines: int = 30) -> str:
        """The last lines of the process log, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after ``timeout``."""
        if self._popen is None:
            return
        pgid = self._popen.pid
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self._popen.poll()
                if not _group_alive(pgid):
                    break
                time.sleep(0.2)
            else:
                continue
            break
        self._popen.poll()
        log.info("stopped %s", self.name)

    def kill(self, timeout: float = 10.0) -> list[int]:
        """SIGKILL the process and every descendant, those in groups or sessions of their own too.

        What a crashed host or container loses: no signal handler runs, nothing is cleaned up. Waits
        until each is gone (or a zombie) and returns the pids killed, the process first.
        """
        if self._popen is None or self._popen.poll() is not None:
            return []
        pids = [self._popen.pid, *descendants(self._popen.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signal.SIGKILL)  # anything forked meanwhile in the group
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._popen.poll()
            if not any(pid_alive(pid) for pid in pids):
                break
            time.sleep(0.1)
        log.warning("killed %s (SIGKILL): pids %s", self.name, pids)
        return pids

    def restart(self) -> ManagedProcess:
        """Start the same command again (same environment, same log), stopping what is left of it first."""
        if self._popen is not None:
            self.stop()
        return self.start()


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (children first), found from ``/proc`` parent links (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # fields after "(comm)": state, ppid, ...
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (Linux ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies of our own group still count as "alive" for killpg; reap what we can
    try:
        while True:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
            if pid == 0:
                return True
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
