"""The training image, as far as it can be checked without a Docker engine.

- the Dockerfile parses into known instructions, its base is pinned by tag, it runs as non-root and
  its entrypoint is ``medgrpo train``; every path it copies exists;
- ``requirements.txt`` pins every package exactly, and the pins agree with each other (TRL's
  ``vllm`` extra) and with the ``train`` extra of ``pyproject.toml`` the image installs;
- the entrypoint runs from an install of the package (the console script in this venv).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]
IMAGE = ROOT / "training_image"
INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs: comments dropped, ``\\`` continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        if keyword.upper() not in INSTRUCTIONS:
            raise ValueError(f"line {number}: unknown instruction {keyword!r}")
        out.append((keyword.upper(), args.strip()))
    if pending:
        raise ValueError("file ends inside a continued line")
    return out


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (IMAGE / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"not an exact pin: {line}"
        found[req.name.lower()] = specs[0].version
    return found


def test_dockerfile_parses_and_follows_the_rules() -> None:
    steps = parse_dockerfile((IMAGE / "Dockerfile").read_text())
    kinds = [k for k, _ in steps]
    base = dict(steps)["FROM"]
    image, _, tag = base.partition(":")
    assert image == "nvidia/cuda" and tag and tag != "latest", base
    assert kinds.count("FROM") == 1
    users = [args for k, args in steps if k == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["medgrpo", "train"]
    assert kinds.index("USER") < kinds.index("ENTRYPOINT")
    for args in (a for k, a in steps if k == "COPY"):
        sources = [s for s in args.split() if not s.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY source {source} missing"
    run_text = " ".join(a for k, a in steps if k == "RUN")
    assert "-r training_image/requirements.txt" in run_text
    assert '".[train]"' in run_text


def test_parser_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="unknown instruction 'FORM'"):
        parse_dockerfile("FORM ubuntu\n")
    with pytest.raises(ValueError, match="continued line"):
        parse_dockerfile("RUN a \\\n")


def test_requirements_pin_the_whole_stack() -> None:
    pinned = pins()
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "deepspeed", "vllm", "datasets"):
        assert name in pinned, f"{name} is not pinned"
    # TRL's own vllm extra bounds the vLLM it supports; the pin must be inside it.
    trl_requires = [Requirement(r) for r in metadata.requires("trl") or []]
    (vllm_req,) = [r for r in trl_requires if r.name == "vllm"]
    assert pinned["vllm"] in vllm_req.specifier, (pinned["vllm"], str(vllm_req.specifier))
    assert pinned["trl"] == metadata.version("trl")  # the image runs the TRL the tests run


def test_pins_satisfy_the_train_extra_the_image_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins()
    for line in project["optional-dependencies"]["train"]:
        req = Requirement(line)
        if req.name.lower() in pinned:
            assert pinned[req.name.lower()] in req.specifier, (
                f"pyproject train extra {line!r} excludes the image's pin {req.name}=={pinned[req.name.lower()]}"
            )


def test_entrypoint_runs_from_the_installed_package() -> None:
    script = Path(sys.executable).parent / "medgrpo"
    command = [str(script)] if script.exists() else [shutil.which("medgrpo") or "medgrpo"]
    shown = subprocess.run([*command, "train", "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "--recipe" in shown.stdout and "--dataset" in shown.stdout
    recipe = IMAGE / "recipes" / "tiny" / "grpo" / "config.yaml"
    checked = subprocess.run(
        [*command, "train", "--recipe", str(recipe), "--validate-only"], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert "is valid" in checked.stdout
    bad = subprocess.run(
        [*command, "train", "--recipe", str(recipe), "--set", "num_generations=3", "--validate-only"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "generation_batch_size (16) must be divisible by num_generations (3)" in bad.stdout
