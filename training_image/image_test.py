"""``make image-test``: build the CPU training image with buildah and train the tiny recipe inside it.

1. tools  ``buildah`` and ``debootstrap``: installed with apt-get when missing and running as root;
          otherwise one line says what is missing (exit 2).
2. base   Debian bookworm minbase (debootstrap) imported as ``localhost/medgrpo-base:bookworm-<key>``;
          reused while an image of that name exists (``--rebuild-base`` makes a new one).
3. build  ``training_image/Dockerfile`` with the CPU build arguments (``buildah bud --layers
          --isolation chroot --network host``); the host's pip configuration (config files, the CA
          folder, local wheel folders and indexes it names) is mounted read-only at the same paths
          and its ``PIP_*`` variables are passed as build arguments.
4. image  config (non-root USER, ENTRYPOINT, VOLUMEs, OCI labels) and filesystem (no compiler, no pip
          cache, nothing of the host's pip configuration).
5. run    as the image's USER (``buildah run --isolation chroot``): uid != 0, ``medgrpo train --help``,
          writable paths only under the declared volumes, then the tiny recipe on a dataset that
          ``medgrpo ingest`` published from the packaged samples, writing ``result.json`` to a mounted
          output folder and registering the model with a real MLflow server on loopback.

Prints the image size and the build and run times, and closes with ``image-test: N passed, M failed``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "training_image" / "Dockerfile"
IMAGE = "localhost/medgrpo-train:cpu-test"
# The build stages of IMAGE (pass 1 of the build), kept so their layers stay named.
BUILD_STAGES_IMAGE = "localhost/medgrpo-train:cpu-test-build-stages"
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Build arguments of the CPU test image (the production defaults live in the Dockerfile).
CPU_BUILD_ARGS = {"PYTHON": "python3.11", "TORCH_VARIANT": "cpu", "WITH_VLLM": "0"}
USER_ID = 10001
VOLUMES = ("/home/medgrpo", "/cache", "/tmp", "/workspace")
RECIPE = "/opt/medgrpo/training_image/recipes/tiny/grpo/config.yaml"
SAMPLES = ROOT / "src" / "medgrpo" / "resources" / "samples" / "synth_calculations.jsonl"
MODEL_NAME = "medgrpo-image-test"
# pip settings whose value is an index URL (a local one is mounted with its parent folder).
INDEX_KEYS = {"index-url", "extra-index-url"}
# pip settings whose value is a certificate file (mounted with its folder: the CA folder).
CERT_KEYS = {"cert", "client-cert"}


def say(message: str) -> None:
    print(f"image-test: {message}", flush=True)


def run(argv: Sequence[str], *, log: Path | None = None, check: bool = True, **kwargs: object) -> str:
    """Run ``argv``; its output goes to ``log`` when given (and its tail is shown on failure)."""
    if log is None:
        done = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
        output = done.stdout + done.stderr
    else:
        with log.open("a") as sink:
            sink.write(f"\n$ {' '.join(argv)}\n")
            sink.flush()
            done = subprocess.run(list(argv), stdout=sink, stderr=subprocess.STDOUT, text=True, **kwargs)  # type: ignore[call-overload]
        output = log.read_text()[-4000:]
    if check and done.returncode != 0:
        raise CommandFailed(argv, done.returncode, output[-4000:])
    return str(done.stdout) if log is None else ""


class CommandFailed(RuntimeError):
    def __init__(self, argv: Sequence[str], code: int, tail: str) -> None:
        super().__init__(f"{' '.join(argv[:4])} ... exited {code}:\n{tail}")


# ---------------------------------------------------------------------------------------------
# 1. tools


def ensure_tools(tools: Sequence[str] = ("buildah", "debootstrap")) -> bool:
    """Install missing tools with apt-get as root (True: it did); else exit 2 with one line saying what is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if os.geteuid() != 0:
        needs = f"root and {' '.join(missing)}" if missing else "root"
        print(f"image-test: missing {needs}: run as root (debootstrap and buildah's chroot builds need it)")
        raise SystemExit(2)
    if not missing:
        return False
    if shutil.which("apt-get") is None:
        print(f"image-test: missing {' '.join(missing)} and apt-get to install them with")
        raise SystemExit(2)
    say(f"installing {', '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)
    return True


# ---------------------------------------------------------------------------------------------
# 2. base


def base_image_name(suite: str = SUITE, packages: Sequence[str] = BASE_PACKAGES) -> str:
    """Name of the local base: changes when what debootstrap is asked for changes."""
    key = hashlib.sha256(json.dumps([suite, "minbase", sorted(packages)]).encode()).hexdigest()[:12]
    return f"localhost/medgrpo-base:{suite}-{key}"


def image_exists(name: str) -> bool:
    return subprocess.run(["buildah", "inspect", "--type", "image", name], capture_output=True).returncode == 0


def build_base(name: str, mirror: str, log: Path) -> None:
    """debootstrap a minbase root filesystem and import it as image ``name``."""
    with tempfile.TemporaryDirectory(prefix="medgrpo-base-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp, "rootfs")
        run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs), mirror],
            log=log,
        )
        # Package caches are not part of an image (the Dockerfile runs apt-get update if it needs apt).
        for leftover in [*rootfs.glob("var/cache/apt/archives/*.deb"), *rootfs.glob("var/lib/apt/lists/*_*")]:
            leftover.unlink()
        tarball = Path(tmp, "rootfs.tar")
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."], log=log)
        container = run(["buildah", "from", "scratch"]).strip()
        try:
            run(["buildah", "add", container, str(tarball), "/"], log=log)
            run(
                [
                    "buildah", "config",
                    "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--env", "LANG=C.UTF-8",
                    "--cmd", "/bin/bash",
                    "--label", f"io.medgrpo.base=debootstrap --variant=minbase {SUITE} +{','.join(BASE_PACKAGES)}",
                    container,
                ],
                log=log,
            )  # fmt: skip
            run(["buildah", "commit", "--rm", container, name], log=log)
        except BaseException:
            subprocess.run(["buildah", "rm", container], capture_output=True)
            raise


# ---------------------------------------------------------------------------------------------
# 3. build: the host's pip configuration


@dataclass
class PipHostConfig:
    """What a build needs of the host's pip setup: ``PIP_*`` build arguments and read-only mounts."""

    build_args: dict[str, str] = field(default_factory=dict)
    mounts: list[Path] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


def _paths_in(key: str, value: str) -> Iterator[Path]:
    """Local paths a pip setting refers to: absolute paths and ``file:`` URLs, one per word."""
    for word in value.split():
        if word.startswith("file:"):
            path = Path(unquote(urlparse(word).path))
        elif word.startswith("/"):
            path = Path(word)
        else:
            continue
        if key in INDEX_KEYS and path.parent != Path("/"):
            path = path.parent  # a PEP 503 index's links point beside it (ROOT/simple -> ROOT/files)
        elif key in CERT_KEYS:
            path = path.parent  # the CA folder
        yield path


def discover_pip_config(listing: str, environ: Mapping[str, str], declared_args: set[str]) -> PipHostConfig:
    """Read ``pip config list -v`` output and ``PIP_*`` variables into build args and mounts.

    Config files pip would load are mounted where they exist; every local path a setting names
    (wheel folders, constraint files, local indexes, the CA folder) is mounted too. Only variables the
    Dockerfile declares with ``ARG`` are passed (an undeclared one would not reach ``RUN``).
    """
    found = PipHostConfig()
    candidates: list[Path] = []
    for match in re.finditer(r"will try loading '([^']+)'", listing):
        candidates.append(Path(match.group(1)))
    for line in listing.splitlines():
        setting = re.match(r"^(?:[\w:-]*)\.([\w-]+)='(.*)'$", line.strip())
        if setting:
            key, value = setting.group(1), setting.group(2)
            found.settings[key] = value
            candidates.extend(_paths_in(key, value))
    for name, value in sorted(environ.items()):
        if not name.startswith("PIP_"):
            continue
        key = name[4:].lower().replace("_", "-")
        candidates.extend(_paths_in(key, value))
        if name == "PIP_CONFIG_FILE":
            candidates.append(Path(value))
        if name in declared_args:
            found.build_args[name] = value
    existing = sorted({path for path in candidates if path.exists()}, key=lambda p: (len(p.parts), str(p)))
    for path in existing:
        if not any(path.is_relative_to(kept) for kept in found.mounts if kept.is_dir()):
            found.mounts.append(path)
    return found


def declared_build_args(dockerfile: Path = DOCKERFILE) -> set[str]:
    return set(re.findall(r"^ARG\s+(\w+)", dockerfile.read_text(), flags=re.MULTILINE))


def host_pip_config() -> PipHostConfig:
    listing = run([sys.executable, "-m", "pip", "config", "list", "-v"])
    return discover_pip_config(listing, os.environ, declared_build_args())


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def project_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


# What the Dockerfile copies from the build context (the repository root).
CONTEXT_PATHS = ("pyproject.toml", "README.md", ".dockerignore", "src", "training_image")


def snapshot_context(dest: Path) -> Path:
    """Copy the build context's files (timestamps kept) so both build passes see the same content."""
    for name in CONTEXT_PATHS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def build_image(base: str, pip: PipHostConfig, log: Path) -> None:
    """Build ``IMAGE`` in two passes, so that no mount point of the host's pip setup reaches it.

    buildah 1.28 leaves an empty file or folder in the layer of every ``RUN`` that ran while a
    ``--volume`` was mounted (``/etc/pip.conf``, ``/opt/wheels``...). Pass 1 builds the build stages
    (``--target app``) with the pip setup mounted; pass 2 builds the whole file without mounts, taking
    the build stages from pass 1's layer cache (checked: a build-stage ``RUN`` that ran again fails).
    """
    sha = git("rev-parse", "HEAD") or "unknown"
    if git("status", "--porcelain", "--", "src", "training_image", "pyproject.toml"):
        sha += "-dirty"
    args = {
        "BASE_IMAGE": base,
        "BUILDER_IMAGE": base,
        **CPU_BUILD_ARGS,
        "GIT_SHA": sha,
        "VERSION": project_version(),
        "SOURCE_URL": git("config", "--get", "remote.origin.url") or f"file://{ROOT}",
        "IMAGE_TAG": IMAGE,
        **pip.build_args,
    }
    with tempfile.TemporaryDirectory(prefix="medgrpo-context-") as tmp:
        context = snapshot_context(Path(tmp))
        common = ["buildah", "bud", "--layers", "--isolation", "chroot", "--network", "host", "--pull=false"]
        common += ["-f", str(context / DOCKERFILE.relative_to(ROOT))]
        for name, value in args.items():
            common += ["--build-arg", f"{name}={value}"]
        mounts = [arg for path in pip.mounts for arg in ("-v", f"{path}:{path}:ro")]
        run([*common, "--target", "app", "-t", BUILD_STAGES_IMAGE, *mounts, str(context)], log=log)
        final_log = log.with_name(log.stem + "-final.log")
        final_log.write_text("")
        run([*common, "-t", IMAGE, str(context)], log=final_log)
    rerun = uncached_build_stage_runs(final_log.read_text())
    if rerun:
        raise CommandFailed(
            ["buildah", "bud", "(pass 2)"], 1, "build-stage RUN steps missed the cache: " + "; ".join(rerun)
        )


def uncached_build_stage_runs(build_log: str) -> list[str]:
    """``RUN`` steps of the build stages (all but the last stage) that ``buildah bud`` ran instead of reusing."""
    missed: list[str] = []
    pending: str | None = None
    for line in build_log.splitlines():
        step = re.match(r"^\[(\d+)/(\d+)\] STEP \d+/\d+: (.*)$", line)
        if step:
            if pending:
                missed.append(pending)
            stage, last = int(step.group(1)), int(step.group(2))
            pending = step.group(3)[:80] if stage < last and step.group(3).startswith("RUN ") else None
        elif line.startswith("-->") and pending:
            if not line.startswith("--> Using cache"):
                missed.append(pending)
            pending = None
    if pending:
        missed.append(pending)
    return missed


# ---------------------------------------------------------------------------------------------
# 4. + 5. checks


@dataclass
class Checks:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        (self.passed if ok else self.failed).append(name)
        say(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        return ok


def image_config(name: str) -> dict[str, object]:
    info = json.loads(run(["buildah", "inspect", "--type", "image", name]))
    config: dict[str, object] = info["OCIv1"]["config"]
    return config


def image_size(name: str) -> int:
    """Bytes of the image's layers (uncompressed, as stored)."""
    manifest = json.loads(json.loads(run(["buildah", "inspect", "--type", "image", name]))["Manifest"])
    return sum(int(layer["size"]) for layer in manifest["layers"])


def check_image_config(checks: Checks, config: Mapping[str, object]) -> None:
    user = str(config.get("User", ""))
    checks.check("USER is not root", user.split(":")[0] not in {"", "0", "root"}, user)
    checks.check(
        "ENTRYPOINT is medgrpo train", config.get("Entrypoint") == ["medgrpo", "train"], str(config.get("Entrypoint"))
    )
    volumes = sorted(dict(config.get("Volumes") or {}))  # type: ignore[call-overload]
    checks.check("VOLUMEs are HOME, caches, /tmp, output", volumes == sorted(VOLUMES), str(volumes))
    labels: dict[str, str] = dict(config.get("Labels") or {})  # type: ignore[call-overload]
    wanted = [f"org.opencontainers.image.{k}" for k in ("source", "revision", "version")]
    checks.check(
        "OCI labels source, revision, version",
        all(labels.get(key, "unknown") not in {"", "unknown"} for key in wanted),
        ", ".join(f"{key.rsplit('.', 1)[1]}={labels.get(key)}" for key in wanted),
    )
    env = "\n".join(str(e) for e in config.get("Env") or [])  # type: ignore[attr-defined]
    checks.check("no PIP_* settings in the image's environment", "PIP_" not in env)


@contextmanager
def working_container(image: str) -> Iterator[tuple[str, Path]]:
    """A working container of ``image`` and its mounted root filesystem (read from the host)."""
    name = run(["buildah", "from", "--pull=false", image]).strip()
    try:
        rootfs = Path(run(["buildah", "mount", name]).strip())
        yield name, rootfs
    finally:
        subprocess.run(["buildah", "umount", name], capture_output=True)
        subprocess.run(["buildah", "rm", name], capture_output=True)


def check_filesystem(checks: Checks, rootfs: Path, base_rootfs: Path, pip: PipHostConfig) -> None:
    compilers = [c for c in ("gcc", "cc", "g++", "c++", "clang", "tcc") if (rootfs / "usr/bin" / c).exists()]
    checks.check("no compiler in the CPU image", not compilers, ", ".join(compilers))
    caches = [str(p) for p in ("root/.cache/pip", "home/medgrpo/.cache", "opt/venv/.cache") if (rootfs / p).exists()]
    checks.check("no pip cache", not caches, ", ".join(caches))
    # The host's pip setup was mounted during the build; none of it may remain (paths the base
    # itself has, such as /etc/ssl/certs, are compared with the base's own content).
    leaked = []
    for path in pip.mounts:
        inside, in_base = rootfs / path.relative_to("/"), base_rootfs / path.relative_to("/")
        added = inside.exists() and not in_base.exists()
        changed = inside.is_file() and in_base.is_file() and inside.read_bytes() != in_base.read_bytes()
        if added or changed:
            leaked.append(str(path))
    checks.check("no host pip configuration in the image", not leaked, ", ".join(leaked))
    owners = {v: (rootfs / v.lstrip("/")).stat().st_uid for v in VOLUMES if (rootfs / v.lstrip("/")).exists()}
    writable_volumes = {v for v in VOLUMES if v == "/tmp" or owners.get(v) == USER_ID}
    checks.check("volume folders exist, owned by the user", writable_volumes == set(VOLUMES), str(owners))


def check_cpu_torch(checks: Checks, rootfs: Path) -> None:
    """The test image has the CPU torch wheel and no CUDA libraries."""
    site = "opt/venv/lib/python3*/site-packages"
    torch = sorted(p.name for p in rootfs.glob(f"{site}/torch-*.dist-info"))
    cuda = sorted(p.name for p in rootfs.glob(f"{site}/nvidia*"))
    checks.check(
        "CPU torch 2.13.0 and no CUDA libraries",
        torch == ["torch-2.13.0+cpu.dist-info"] and not cuda,
        f"{torch} {cuda}",
    )


def check_mlflow_client(checks: Checks, rootfs: Path) -> None:
    """The image's MLflow client is the tracking server's version (the one this venv runs)."""
    from importlib import metadata

    server = metadata.version("mlflow")
    found = sorted(p.name for p in rootfs.glob("opt/venv/lib/python3*/site-packages/mlflow-*.dist-info"))
    checks.check(
        "MLflow client in the image = server version",
        found == [f"mlflow-{server}.dist-info"],
        f"{found}, server {server}",
    )


def buildah_run(
    container: str, command: Sequence[str], *, mounts: Mapping[Path, str] = {}, env: Mapping[str, str] = {},
    log: Path | None = None, check: bool = True,
) -> str:  # fmt: skip
    argv = ["buildah", "run", "--isolation", "chroot", "--network", "host"]
    for host, inside in mounts.items():
        argv += ["-v", f"{host}:{inside}"]
    for name, value in env.items():
        argv += ["-e", f"{name}={value}"]
    return run([*argv, container, "--", *command], log=log, check=check)


def publish_dataset(out: Path, log: Path) -> Path:
    """``medgrpo ingest`` the packaged calculation samples on the host (the pipeline's own publisher)."""
    medgrpo = Path(sys.executable).with_name("medgrpo")
    dataset = out / "calc"
    log.write_text("")
    # Synthetic data: the public development key for record ids is allowed explicitly.
    env = {**os.environ, "MEDGRPO_ALLOW_DEV_ID_KEY": "true"}
    run([str(medgrpo), "ingest", str(SAMPLES), str(dataset), "--name", "image-test-calc"], log=log, env=env)
    return dataset


def user_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, USER_ID, USER_ID)
    return path


# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rebuild-base", action="store_true", help="debootstrap a new base even if one exists")
    parser.add_argument("--mirror", default=os.environ.get("MEDGRPO_DEBIAN_MIRROR", DEFAULT_MIRROR))
    parser.add_argument("--logs", type=Path, default=ROOT / ".state" / "image-test", help="where build logs go")
    args = parser.parse_args(argv)

    times: dict[str, float] = {}
    began = started = time.monotonic()
    if ensure_tools():
        times["tools (apt-get install)"] = time.monotonic() - started
    args.logs.mkdir(parents=True, exist_ok=True)
    checks = Checks()

    base = base_image_name()
    started = time.monotonic()
    if args.rebuild_base or not image_exists(base):
        say(f"building base {base} (debootstrap {SUITE} from {args.mirror}; log {args.logs / 'base.log'})")
        build_base(base, args.mirror, args.logs / "base.log")
        times["base (debootstrap + import)"] = time.monotonic() - started
    else:
        say(f"reusing base {base}")

    pip = host_pip_config()
    say(f"pip build args: {', '.join(sorted(pip.build_args)) or 'none'}; mounted read-only: "
        + (", ".join(str(p) for p in pip.mounts) or "nothing"))  # fmt: skip
    build_log = args.logs / "build.log"
    build_log.write_text("")
    say(f"building {IMAGE} (log {build_log})")
    started = time.monotonic()
    build_image(base, pip, build_log)
    times["image build"] = time.monotonic() - started
    size = image_size(IMAGE)

    check_image_config(checks, image_config(IMAGE))
    from medgrpo.services.mlflow_server import start_mlflow_server

    with tempfile.TemporaryDirectory(prefix="medgrpo-image-test-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)
        with working_container(base) as (_, base_rootfs), working_container(IMAGE) as (container, rootfs):
            check_filesystem(checks, rootfs, base_rootfs, pip)
            check_cpu_torch(checks, rootfs)
            check_mlflow_client(checks, rootfs)
            volumes = {user_dir(tmp / "volumes" / v.strip("/").replace("/", "_")): v for v in VOLUMES}
            identity = buildah_run(container, ["id", "-u"], mounts=volumes).strip()
            checks.check("runs as a non-root user", identity not in {"", "0"}, f"uid {identity}")
            shown = buildah_run(container, ["medgrpo", "train", "--help"], mounts=volumes)
            checks.check("medgrpo train --help", "--recipe" in shown and "--dataset" in shown)
            writable = buildah_run(
                container,
                ["find", "/", "-xdev", "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "/dev", ")",
                 "-prune", "-o", "-writable", "-print"],
                mounts=volumes, check=False,
            ).split()  # fmt: skip
            outside = [p for p in writable if not any(p == v or p.startswith(v + "/") for v in VOLUMES)]
            checks.check(
                "writable only under the declared volumes (read-only root works)", not outside, " ".join(outside[:10])
            )

            dataset = publish_dataset(tmp / "data", args.logs / "ingest.log")
            server = start_mlflow_server(tmp / "mlflow-state")
            try:
                run_log = args.logs / "train.log"
                run_log.write_text("")
                say(f"training the tiny recipe in the image (log {run_log}); MLflow at {server.url}")
                started = time.monotonic()
                try:
                    buildah_run(
                        container,
                        [
                            "medgrpo", "train", "--recipe", RECIPE, "--dataset", "/data/calc",
                            "--output-dir", "/workspace/run", "--run-name", "image-test",
                            "--tag", "source=image-test",
                        ],
                        mounts={**volumes, dataset: "/data/calc:ro"},
                        env={"MLFLOW_TRACKING_URI": server.url, "MEDGRPO_MODEL_NAME": MODEL_NAME},
                        log=run_log,
                    )  # fmt: skip
                    ok = True
                except CommandFailed as failure:
                    ok = False
                    say(str(failure))
                times["training run in the image"] = time.monotonic() - started
                checks.check("tiny recipe trained in the image", ok)
                check_result(checks, volumes, server.url)
            finally:
                server.stop()

    times["total"] = time.monotonic() - began
    say(f"image {IMAGE}: {size / 1e6:.0f} MB")
    for what, seconds in times.items():
        say(f"{what}: {seconds:.0f} s")
    say(f"{len(checks.passed)} passed, {len(checks.failed)} failed")
    return 0 if not checks.failed else 1


def check_result(checks: Checks, volumes: Mapping[Path, str], tracking_uri: str) -> None:
    """``result.json`` in the mounted output folder names a READY version in the MLflow registry."""
    output = next(host for host, inside in volumes.items() if inside == "/workspace")
    result_file = output / "run" / "result.json"
    if not checks.check("result.json in the mounted output folder", result_file.is_file(), str(result_file)):
        return
    result = json.loads(result_file.read_text())
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    version = client.get_model_version(result["model_name"], result["model_version"])
    checks.check(
        "model registered with the MLflow server",
        version.status == "READY" and version.run_id == result["run_id"] and result["model_name"] == MODEL_NAME,
        f"{version.name} v{version.version} ({version.status}), run {version.run_id}",
    )
    aliases = client.get_registered_model(MODEL_NAME).aliases
    checks.check("alias challenger points at it", aliases.get("challenger") == version.version, str(aliases))
    tags = version.tags
    checks.check(
        "version tagged with the image",
        tags.get("image") == IMAGE,
        f"image={tags.get('image')} git_sha={tags.get('git_sha')}",
    )
    run_info = client.get_run(result["run_id"])
    checks.check(
        "training metrics logged",
        "train_loss" in run_info.data.metrics or any(k.startswith("reward") for k in run_info.data.metrics),
        f"{len(run_info.data.metrics)} metrics, global_step={result.get('metrics', {}).get('global_step')}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
