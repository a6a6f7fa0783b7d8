"""The training image's definition, its pins and the helpers of ``make image-test``.

The image itself is built and run by ``make image-test`` (``training_image/image_test.py``, in CI
after the tests). Here:

- the Dockerfile parses; its production bases are pinned CUDA images; the final stage runs as
  non-root with ``ENTRYPOINT ["medgrpo", "train"]``, declares the writable volumes and the OCI labels,
  and installs nothing with pip; every build argument is documented in the README;
- the requirement files pin every package exactly, the pins agree with TRL's ``vllm`` extra and with
  the ``train`` extra, and (slow, needs PyPI) the whole production set resolves for Python 3.12 on
  manylinux x86_64 with the CUDA torch build;
- the build helper and the discovery of the host's pip configuration behave as documented;
- the entrypoint runs from an install of the package (the console script in this venv).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]
IMAGE = ROOT / "training_image"
REQUIREMENT_FILES = ("requirements.txt", "requirements-cuda.txt", "requirements-vllm.txt")
INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def load_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, IMAGE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


def stages(steps: list[tuple[str, str]]) -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """Global ``ARG`` defaults (before the first FROM) and the steps of each stage."""
    global_args: dict[str, str] = {}
    found: list[list[tuple[str, str]]] = []
    for kind, args in steps:
        if kind == "FROM":
            found.append([(kind, args)])
        elif not found and kind == "ARG":
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            found[-1].append((kind, args))
    return global_args, found


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in REQUIREMENT_FILES:
        for line in (IMAGE / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            req = Requirement(line)
            specs = list(req.specifier)
            assert len(specs) == 1 and specs[0].operator == "==", f"{name}: not an exact pin: {line}"
            assert req.name.lower() not in found, f"{req.name} pinned twice"
            found[req.name.lower()] = specs[0].version
    return found


def test_dockerfile_stages_follow_the_rules() -> None:
    global_args, (deps, app, final) = stages(parse_dockerfile((IMAGE / "Dockerfile").read_text()))
    for name in ("BASE_IMAGE", "BUILDER_IMAGE"):  # production: pinned CUDA images
        image, _, tag = global_args[name].partition(":")
        assert image == "nvidia/cuda" and tag and tag != "latest", global_args[name]
    assert deps[0][1] == "${BUILDER_IMAGE} AS deps" and app[0][1] == "deps AS app"
    assert final[0][1] == "${BASE_IMAGE}"

    kinds = [kind for kind, _ in final]
    users = [args for kind, args in final if kind == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert kinds.index("USER") < kinds.index("ENTRYPOINT")
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["medgrpo", "train"]
    assert set(json.loads(dict(final)["VOLUME"])) == {"/home/medgrpo", "/cache", "/tmp", "/workspace"}
    labels = " ".join(args for kind, args in final if kind == "LABEL")
    for key in ("source", "revision", "version"):
        assert f"org.opencontainers.image.{key}=" in labels
    # Nothing is pip-installed in the final stage and no pip setting is declared there.
    final_runs = " ".join(args for kind, args in final if kind == "RUN")
    assert "pip " not in final_runs
    assert not [args for kind, args in final if kind == "ARG" and args.startswith("PIP_")]
    # The final stage takes the venv and the package's own files from the build stages.
    copies = [args for kind, args in final if kind == "COPY"]
    assert "--from=deps /opt/venv /opt/venv" in copies and "--from=app /opt/app-files/ /" in copies
    for args in [a for stage in (deps, app, final) for k, a in stage if k == "COPY"]:
        if "--from=" in args:
            continue
        for source in [s for s in args.split() if not s.startswith("--")][:-1]:
            assert (ROOT / source).exists(), f"COPY source {source} missing"
    deps_runs = " ".join(args for kind, args in deps if kind == "RUN")
    for name in REQUIREMENT_FILES:
        assert f"training_image/{name}" in deps_runs


def test_every_build_argument_is_documented() -> None:
    readme = (IMAGE / "README.md").read_text()
    names = set(re.findall(r"^ARG\s+(\w+)", (IMAGE / "Dockerfile").read_text(), flags=re.MULTILINE))
    undocumented = sorted(n for n in names if f"`{n}`" not in readme)
    assert not undocumented, f"training_image/README.md does not describe build arguments {undocumented}"


def test_context_ignores_what_is_not_copied() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".git", ".state", "**/__pycache__"):
        assert entry in ignored


def test_parser_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="unknown instruction 'FORM'"):
        parse_dockerfile("FORM ubuntu\n")
    with pytest.raises(ValueError, match="continued line"):
        parse_dockerfile("RUN a \\\n")


def test_requirements_pin_the_whole_stack() -> None:
    pinned = pins()
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "deepspeed", "vllm", "datasets", "mlflow"):
        assert name in pinned, f"{name} is not pinned"
    # TRL's own vllm extra bounds the vLLM it supports; the pin must be inside it.
    trl_requires = [Requirement(r) for r in metadata.requires("trl") or []]
    (vllm_req,) = [r for r in trl_requires if r.name == "vllm"]
    assert pinned["vllm"] in vllm_req.specifier, (pinned["vllm"], str(vllm_req.specifier))
    assert pinned["trl"] == metadata.version("trl")  # the image runs the TRL the tests run
    assert pinned["mlflow"] == metadata.version("mlflow")  # the client matches the tracking server


def test_pins_satisfy_the_train_extra_the_image_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins()
    for line in project["dependencies"] + project["optional-dependencies"]["train"]:
        req = Requirement(line)
        if req.name.lower() in pinned:
            assert pinned[req.name.lower()] in req.specifier, (
                f"pyproject {line!r} excludes the image's pin {req.name}=={pinned[req.name.lower()]}"
            )


def test_build_helper_lists_dependencies_and_copies_a_distribution(tmp_path: Path) -> None:
    helper = load_module("build_helper")
    lines = helper.project_requirements(ROOT / "pyproject.toml", ["train"])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert lines == project["dependencies"] + project["optional-dependencies"]["train"]
    with pytest.raises(SystemExit, match="no optional-dependencies extra 'gpu'"):
        helper.project_requirements(ROOT / "pyproject.toml", ["gpu"])
    count = helper.copy_distribution_files("packaging", tmp_path)
    init = Path(metadata.distribution("packaging").locate_file("packaging/__init__.py")).resolve()
    assert count > 5 and (tmp_path / init.relative_to("/")).read_bytes() == init.read_bytes()


def test_pip_configuration_becomes_mounts_and_build_args(tmp_path: Path) -> None:
    image_test = load_module("image_test")
    for folder in ("etc/xdg/pip", "certs", "wheels", "pypi/simple", "pypi/files", "extra"):
        (tmp_path / folder).mkdir(parents=True)
    for file in ("etc/xdg/pip/pip.conf", "etc/xdg/pip/constraints.txt", "certs/ca.crt", "wheels/x.whl"):
        (tmp_path / file).write_text("x")
    listing = "\n".join(
        [
            f"For variant 'global', will try loading '{tmp_path}/etc/xdg/pip/pip.conf'",
            f"For variant 'user', will try loading '{tmp_path}/home/.config/pip/pip.conf'",  # absent: not mounted
            f"global.constraint='{tmp_path}/etc/xdg/pip/constraints.txt'",
            f"global.extra-index-url='file://{tmp_path}/pypi/simple https://mirror.invalid/simple'",
            f"global.cert='{tmp_path}/certs/ca.crt'",
            f":env:.find-links='{tmp_path}/wheels'",
        ]
    )
    environ = {
        "PIP_FIND_LINKS": f"{tmp_path}/wheels",
        "PIP_CERT": f"{tmp_path}/certs/ca.crt",
        "PIP_NOT_DECLARED": "1",
        "PIP_CONFIG_FILE": f"{tmp_path}/extra",
        "HOME": "/root",
    }
    found = image_test.discover_pip_config(listing, environ, {"PIP_FIND_LINKS", "PIP_CERT", "PIP_CONFIG_FILE"})
    assert found.build_args == {k: environ[k] for k in ("PIP_CERT", "PIP_CONFIG_FILE", "PIP_FIND_LINKS")}
    assert sorted(found.mounts) == sorted(
        [
            tmp_path / "certs",  # the CA folder
            tmp_path / "etc/xdg/pip/pip.conf",
            tmp_path / "etc/xdg/pip/constraints.txt",
            tmp_path / "pypi",  # the index with the files its links point at
            tmp_path / "wheels",
            tmp_path / "extra",
        ]
    )
    nested = image_test.discover_pip_config(f"global.find-links='{tmp_path}/wheels {tmp_path}/wheels/x.whl'", {}, set())
    assert nested.mounts == [tmp_path / "wheels"]  # a path inside a mounted folder is not mounted twice


def test_second_build_pass_must_reuse_every_build_stage_run() -> None:
    """Pass 2 of the image build runs without the pip mounts: a build-stage RUN that ran again is an error."""
    image_test = load_module("image_test")
    cached = "\n".join(
        [
            "[1/3] STEP 1/3: FROM localhost/base AS deps",
            "[1/3] STEP 2/3: RUN pip install -r requirements.txt",
            "--> Using cache 33fb7dc9b77a",
            "--> 33fb7dc9b77",
            "[2/3] STEP 1/2: FROM 33fb AS app",
            "[2/3] STEP 2/2: RUN pip install --no-deps /src",
            "--> Using cache a43321b45ed0",
            "[3/3] STEP 4/9: RUN groupadd --gid 10001 medgrpo",  # the final stage may run
            "--> 2f3b2a9a755",
        ]
    )
    assert image_test.uncached_build_stage_runs(cached) == []
    rerun = cached.replace("--> Using cache a43321b45ed0", "Processing /src\n--> a43321b45ed")
    assert image_test.uncached_build_stage_runs(rerun) == ["RUN pip install --no-deps /src"]
    cut_short = "[1/2] STEP 2/3: RUN pip install torch\nERROR: no matching distribution"
    assert image_test.uncached_build_stage_runs(cut_short) == ["RUN pip install torch"]


def test_without_root_image_test_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image_test = load_module("image_test")
    monkeypatch.setattr(image_test.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(image_test.shutil, "which", lambda name: None if name == "debootstrap" else f"/usr/bin/{name}")
    with pytest.raises(SystemExit) as stopped:
        image_test.ensure_tools()
    assert stopped.value.code == 2
    assert capsys.readouterr().out.splitlines() == [
        "image-test: missing root and debootstrap: run as root (debootstrap and buildah's chroot builds need it)"
    ]


def test_base_image_name_follows_what_is_bootstrapped() -> None:
    image_test = load_module("image_test")
    name = image_test.base_image_name()
    assert name.startswith("localhost/medgrpo-base:bookworm-")
    assert image_test.base_image_name(packages=("python3",)) != name
    assert image_test.base_image_name() == name


# glibc of the production base (Ubuntu 24.04: 2.39); pip does not expand manylinux tags by itself.
PRODUCTION_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(39, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64",
]  # fmt: skip
# Published as source distributions only: their metadata is built here (as the image build does),
# and their dependencies join the binary-only resolution.
SOURCE_ONLY = {"deepspeed"}


def _pip(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
@pytest.mark.integration
def test_production_requirements_resolve_for_python_3_12_cuda(tmp_path: Path) -> None:
    """The pinned CUDA set (common + CUDA + vLLM layers + the package's own dependencies) resolves.

    Binary-only for CPython 3.12 on manylinux x86_64 (the production base), against the real package
    index: every pin is what gets installed and torch is the CUDA build (its nvidia-* wheels come along).
    """
    python = re.search(r"^ARG PYTHON=python(\d+\.\d+)$", (IMAGE / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert python and python.group(1) == "3.12"
    pinned = pins()
    requirements = [f"{name}=={version}" for name, version in pinned.items() if name not in SOURCE_ONLY]
    for name in sorted(SOURCE_ONLY):
        report = tmp_path / f"{name}.json"
        built = _pip("install", "--dry-run", "--ignore-installed", "--no-deps", "--report", str(report),
                     f"{name}=={pinned[name]}")  # fmt: skip
        assert built.returncode == 0, built.stderr[-3000:]
        (item,) = json.loads(report.read_text())["install"]
        requires = [Requirement(r) for r in item["metadata"].get("requires_dist", [])]
        requirements += [str(r) for r in requires if not r.marker or "extra" not in str(r.marker)]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements += project["dependencies"] + project["optional-dependencies"]["train"]
    (tmp_path / "all.txt").write_text("\n".join(requirements) + "\n")
    report = tmp_path / "report.json"
    platforms = [arg for platform in PRODUCTION_PLATFORMS for arg in ("--platform", platform)]
    resolved = _pip(
        "install", "--dry-run", "--ignore-installed", "--report", str(report), "--only-binary=:all:",
        # Metadata through HTTP range requests: the index offers no PEP 658 metadata files, and
        # without this pip downloads every wheel (about 4 GB with the CUDA libraries).
        "--use-feature=fast-deps",
        "--python-version", "3.12", "--implementation", "cp", *platforms, "-r", str(tmp_path / "all.txt"),
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stdout[-2000:] + resolved.stderr[-3000:]
    installed = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in json.loads(
        report.read_text())["install"]}  # fmt: skip
    for name, version in pinned.items():
        if name not in SOURCE_ONLY:
            assert installed.get(name) == version, f"{name}: pinned {version}, resolved {installed.get(name)}"
    assert installed["torch"] == "2.13.0"  # the PyPI (CUDA 13.0) build, not +cpu
    assert any(name.startswith("nvidia-cudnn") for name in installed), "torch came without its CUDA libraries"
    assert "blake3" in installed  # the vLLM dependency an earlier attempt could not find


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
