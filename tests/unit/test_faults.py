"""Fault points (medgrpo.faults): off without MEDGRPO_FAULT_DIR, one process per arming, held until released."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from medgrpo.faults import FAULT_DIR_ENV, FaultDir, fault_point

REACH = "from medgrpo.faults import fault_point; fault_point('deid.shard'); print('passed', flush=True)"


def _reach(folder: Path) -> subprocess.Popen[str]:
    env = {"PATH": "/usr/bin:/bin", FAULT_DIR_ENV: str(folder)}
    return subprocess.Popen([sys.executable, "-c", REACH], env=env, stdout=subprocess.PIPE, text=True)


def test_a_point_is_a_no_op_without_the_folder_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(FAULT_DIR_ENV, raising=False)
    FaultDir(tmp_path).arm("deid.shard")
    started = time.monotonic()
    fault_point("deid.shard")
    assert time.monotonic() - started < 0.1
    assert (tmp_path / "deid.shard.armed").exists()  # nobody claimed it


def test_one_process_claims_an_arming_and_holds_until_released(tmp_path: Path) -> None:
    points = FaultDir(tmp_path)
    points.arm("deid.shard", hold_s=60)
    first, second = _reach(tmp_path), _reach(tmp_path)
    hit = points.wait_reached("deid.shard", 30)
    assert hit["pid"] in (first.pid, second.pid) and hit["point"] == "deid.shard"
    held, other = (first, second) if hit["pid"] == first.pid else (second, first)
    assert other.wait(30) == 0  # the arming fired once: the other process passed by
    time.sleep(0.5)
    assert held.poll() is None, "the process that claimed the point should hold still"
    points.release("deid.shard")
    assert held.wait(30) == 0 and held.stdout is not None and held.stdout.read() == "passed\n"
    assert not (tmp_path / "deid.shard.armed").exists()


def test_an_unreleased_hold_ends_by_itself(tmp_path: Path) -> None:
    FaultDir(tmp_path).arm("promote.start", hold_s=0.5)
    proc = subprocess.run(
        [sys.executable, "-c", REACH.replace("deid.shard", "promote.start")],
        env={"PATH": "/usr/bin:/bin", FAULT_DIR_ENV: str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0 and proc.stdout == "passed\n"


def test_unknown_points_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected one of"):
        FaultDir(tmp_path).arm("deid.typo")
