"""checkov (3.x) finds no failed check in the rendered chart; every skip is one the chart itself justifies.

checkov runs from a venv of its own under ``.venv-tools/checkov`` (gitignored), made on first use from the
exact pins in ``checkov-requirements.txt`` and reused while those pins are unchanged. It needs PyPI only
for that install; the scan itself runs offline (``--skip-download``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartlib import REPO_ROOT, VALUE_SETS

pytestmark = pytest.mark.slow

REQUIREMENTS = Path(__file__).with_name("checkov-requirements.txt")
TOOLS_DIR = REPO_ROOT / ".venv-tools"
CHECKOV_VENV = TOOLS_DIR / "checkov"
CHECKOV = CHECKOV_VENV / "bin" / "checkov"
STAMP = CHECKOV_VENV / ".installed"
# The one check a value set may skip, with the condition under which the chart emits that skip.
ALLOWED_SKIPS = {"CKV_K8S_43"}


def _pinned_version() -> str:
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("checkov=="):
            return line.split("==", 1)[1]
    raise AssertionError(f"{REQUIREMENTS} must pin checkov==X.Y.Z, found no such line")


def _ensure_checkov() -> Path:
    """The checkov executable of the cached venv, installing it first when missing or stale."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    TOOLS_DIR.mkdir(exist_ok=True)
    with (TOOLS_DIR / "checkov.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if CHECKOV.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
            return CHECKOV
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(CHECKOV_VENV)],
            [
                str(CHECKOV_VENV / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
            ],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
                pytest.skip(
                    f"checkov {_pinned_version()} could not be installed into {CHECKOV_VENV} "
                    f"({' '.join(step[:3])} exited {done.returncode}): " + " | ".join(tail)
                )
        STAMP.write_text(wanted + "\n")
    return CHECKOV


@pytest.fixture(scope="module")
def checkov() -> Path:
    executable = _ensure_checkov()
    version = subprocess.run([str(executable), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert version == _pinned_version(), f"expected checkov {_pinned_version()} in {CHECKOV_VENV}, found {version}"
    return executable


def _scan(checkov: Path, manifests: Path) -> dict[str, Any]:
    """checkov's JSON report for one folder of manifests (Kubernetes framework, no network)."""
    done = subprocess.run(
        [str(checkov), "-d", str(manifests), "--framework", "kubernetes", "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Exit status 1 means "failed checks"; anything else non-zero is checkov itself failing.
    assert done.returncode in (0, 1), f"checkov exited {done.returncode}: {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    kubernetes = [r for r in reports if r.get("check_type") == "kubernetes"]
    assert len(kubernetes) == 1, f"expected one kubernetes report, found {[r.get('check_type') for r in reports]}"
    return kubernetes[0]


@pytest.fixture(scope="module")
def reports(
    checkov: Path, rendered_sets: dict[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """One checkov report per value set (each scanned alone, so graph checks see one release at a time)."""
    folders = {}
    for name, objects in rendered_sets.items():
        folder = tmp_path_factory.mktemp(f"checkov-{name}")
        (folder / "manifests.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
        folders[name] = folder
    with ThreadPoolExecutor(max_workers=2) as pool:
        scanned = dict(zip(folders, pool.map(lambda f: _scan(checkov, f), folders.values()), strict=True))
    return scanned


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_checkov_finds_no_failed_check(reports: dict[str, dict[str, Any]], value_set: str) -> None:
    report = reports[value_set]
    summary = report["summary"]
    assert summary["parsing_errors"] == 0 and summary["passed"] > 100, summary
    failed = [f"{c['check_id']} {c['check_name']} on {c['resource']}" for c in report["results"]["failed_checks"]]
    assert failed == [], f"{value_set}: " + "; ".join(failed)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_skip_is_justified_in_the_chart(reports: dict[str, dict[str, Any]], value_set: str) -> None:
    for check in reports[value_set]["results"]["skipped_checks"]:
        assert check["check_id"] in ALLOWED_SKIPS, f"{value_set}: unexpected skip {check['check_id']}"
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) > 40, f"{value_set}: skip {check['check_id']} on {check['resource']} has no justification"


def test_production_values_need_no_skip(reports: dict[str, dict[str, Any]]) -> None:
    """With image digests set (as production values must), checkov passes with nothing skipped."""
    assert reports["production"]["results"]["skipped_checks"] == []
    assert reports["production"]["summary"]["failed"] == 0


def test_checkov_reports_an_insecure_deployment(checkov: Path, tmp_path: Path) -> None:
    """The scan can fail: a privileged, root Deployment is reported."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bad", "namespace": "medgrpo"},
        "spec": {
            "selector": {"matchLabels": {"app": "bad"}},
            "template": {
                "metadata": {"labels": {"app": "bad"}},
                "spec": {"containers": [{"name": "c", "image": "x:1", "securityContext": {"privileged": True}}]},
            },
        },
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(deployment))
    failed = {c["check_id"] for c in _scan(checkov, tmp_path)["results"]["failed_checks"]}
    assert {"CKV_K8S_16", "CKV_K8S_22", "CKV_K8S_43"} <= failed, sorted(failed)
