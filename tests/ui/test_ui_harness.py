"""The browser harness's install-or-skip decision, without installing anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import ui_harness


@pytest.fixture
def no_browser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ui_harness, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setattr(ui_harness, "CHROMEDRIVER", tmp_path / "chromedriver")


def test_not_root_says_why_and_never_tries_sudo(no_browser: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui_harness.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(ui_harness.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(ui_harness, "_apt", lambda *a, **k: pytest.fail("apt-get must not run without root"))
    with pytest.raises(ui_harness.BrowserUnavailable, match=r"needs root .*uid 1000.*no sudo"):
        ui_harness.ensure_chromium()


def test_no_apt_says_why(no_browser: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui_harness.shutil, "which", lambda name: None)
    with pytest.raises(ui_harness.BrowserUnavailable, match="apt-get is not available"):
        ui_harness.ensure_chromium()


def test_failed_install_refreshes_lists_once_then_says_why(no_browser: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    calls: list[tuple[str, ...]] = []

    def apt(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(["apt-get", *args], 100, "", "E: Unable to locate package chromium")

    monkeypatch.setattr(ui_harness.os, "geteuid", lambda: 0)
    monkeypatch.setattr(ui_harness.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(ui_harness, "_apt", apt)
    with pytest.raises(ui_harness.BrowserUnavailable, match="Unable to locate package chromium"):
        ui_harness.ensure_chromium()
    assert [c[0] for c in calls] == ["install", "update", "install"]


def test_browser_flags_keep_everything_on_this_machine() -> None:
    flags = set(ui_harness.CHROMIUM_FLAGS)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"):
        assert flag in flags
    for flag in ("--disable-background-networking", "--disable-component-update", "--disable-sync"):
        assert flag in flags
    assert any(f.startswith("--host-resolver-rules=MAP * ~NOTFOUND") for f in flags)
