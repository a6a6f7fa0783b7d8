"""Bad-input sweep over every ``medgrpo`` command: hostile files, hostile names, hostile numbers.

Every case must end with a non-zero exit and exactly ONE error line (log lines and argparse's usage
text aside), never a traceback (an exception escaping ``main`` fails the test with it), and must
leave nothing at the output path it named. The hostile part of each case is drawn by hypothesis:
binary files, JSON nested thousands of levels deep, a line over the 16 MiB limit, path traversal
in names (``../../x``), nonsense recipe values (``num_generations=0``, a negative learning rate),
``trust_remote_code``. ``s3://`` URIs to missing buckets run against a real moto S3 server
(``test_s3_missing_bucket``, integration tier).

Cases whose failure lies in a module this sweep may not change are ``xfail(strict=True)`` with the
owner in the reason: they report the defect and turn into failures once it is fixed.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medgrpo.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY_RECIPE = REPO / "training_image" / "recipes" / "tiny" / "grpo" / "config.yaml"
# log records, argparse usage (and its continuation lines), library warnings: not error lines
NOISE = re.compile(r"^(\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d|usage: |\s|.*Warning: )")
FEW = settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
SOME = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))

# --- hostile content -------------------------------------------------------------------------

binary = st.binary(min_size=1, max_size=4096)
deep_json = st.tuples(st.integers(1_200, 30_000), st.sampled_from(["[]", '{"a":}'])).map(
    lambda t: (t[1][:-1] * t[0] + "1" * (t[1] == '{"a":}') + t[1][-1] * t[0]).encode()
)
garbage_text = st.text(min_size=1, max_size=2000).map(lambda s: s.encode("utf-8", "surrogatepass"))
hostile_file = st.one_of(binary, deep_json, garbage_text)
deep_yaml = st.integers(1_200, 20_000).map(lambda d: ("x: " + "[" * d + "]" * d + "\n").encode())
traversal = st.sampled_from(["../../x", "../../../etc/passwd", "/etc/passwd", "a/../../b", "..", "x/y", "~root/x"])
bad_recipe_value = st.one_of(
    st.integers(max_value=1).map(lambda v: f"num_generations={v}"),
    st.floats(max_value=0, allow_nan=False, allow_infinity=False).map(lambda v: f"learning_rate={v}"),
    st.integers(max_value=0).map(lambda v: f"per_device_train_batch_size={v}"),
    st.floats(max_value=0, allow_nan=False, allow_infinity=False).map(lambda v: f"temperature={v}"),
    st.integers(-(10**6), 0).filter(lambda v: v != -1).map(lambda v: f"max_steps={v}"),
    st.floats(min_value=1.0001, max_value=1e6).map(lambda v: f"top_p={v}"),
    st.sampled_from(["model_init_kwargs.trust_remote_code=true", "no_such_field=1", "garbage", "a.b.c=1"]),
    st.sampled_from(["learning_rate=[[[", "learning_rate=fast", "num_generations=2.5"]),
)


# --- running one command ---------------------------------------------------------------------


def run(argv: list[str]) -> tuple[int, list[str]]:
    """``medgrpo ARGV`` in this process: (exit code, error lines). Any exception escapes (= a traceback)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: Any = main(argv)
        except SystemExit as exc:  # argparse errors (2), or a handler's SystemExit("message")
            code = exc.code
            if isinstance(code, str):
                err.write(code + "\n")
                code = 1
    text = out.getvalue() + err.getvalue()
    assert "Traceback" not in text, text[-3000:]
    lines = [line for line in text.splitlines() if line.strip() and not NOISE.match(line)]
    return int(code or 0), lines


def refused(argv: list[str], *absent: Path) -> str:
    """Assert one error line and a non-zero exit, and that nothing exists at ``absent``; return the line."""
    code, lines = run(argv)
    assert code != 0, f"accepted: medgrpo {' '.join(argv)}\n" + "\n".join(lines)
    assert len(lines) == 1, f"expected one error line from medgrpo {' '.join(argv)}, found {lines}"
    for path in absent:
        assert not path.exists(), f"{path} left behind by a failed medgrpo {argv[0]}"
    return lines[0]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Path]]:
    """A fresh folder per hypothesis example (``fresh("name")``); cwd and state dir inside tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDGRPO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MEDGRPO_ID_MAP_ROOT", str(tmp_path / "id-maps"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def fresh(name: str) -> Path:
        folder = tmp_path / uuid.uuid4().hex[:8]
        folder.mkdir()
        return folder / name

    yield fresh


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid published dataset (for commands whose other input is the hostile one)."""
    import os

    from medgrpo.data import synth
    from medgrpo.data.ingest import ingest

    folder = tmp_path_factory.mktemp("dataset")
    src = folder / "s.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in synth.generate(20, seed=0)))
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        ingest([str(src)], str(folder / "ds"), deid=False)
    finally:
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return folder / "ds"


@pytest.fixture
def registry_db(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path_factory.getbasetemp() / 'badinput-mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


# --- hostile files ---------------------------------------------------------------------------


@FEW
@given(content=hostile_file)
def test_ingest_hostile_source(work: Callable[[str], Path], content: bytes) -> None:
    src, out = work("in.jsonl"), work("ds")
    src.write_bytes(content)
    line = refused(["ingest", str(src), str(out), "--no-deid"], out)
    assert line.startswith("medgrpo ingest: ") and "nothing usable read" in line


def test_ingest_huge_line(work: Callable[[str], Path]) -> None:
    src, out = work("in.jsonl"), work("ds")
    src.write_bytes(b'{"question": "' + b"x" * (17 * 1024 * 1024) + b'"}\n{"a": 1}\n')  # JSONL: the line is refused
    assert "line: expected at most 16777216 bytes" in refused(["ingest", str(src), str(out), "--no-deid"], out)


@FEW
@given(content=st.one_of(binary.filter(lambda b: b.decode("utf-8", "replace").strip()), deep_json))  # blank: 0 records
def test_deid_hostile_input(work: Callable[[str], Path], content: bytes) -> None:
    src, out = work("in.jsonl"), work("out.jsonl")
    src.write_bytes(content)
    assert refused(["deid", str(src), str(out)], out).startswith("medgrpo deid: ")


def test_deid_huge_line(work: Callable[[str], Path]) -> None:
    src, out = work("in.jsonl"), work("out.jsonl")
    src.write_bytes(b'{"text": "' + b"x" * (17 * 1024 * 1024) + b'"}\n')
    assert "line 1: expected at most 16777216 bytes" in refused(["deid", str(src), str(out)], out)


@FEW
@given(content=st.one_of(binary, deep_yaml, garbage_text))
def test_train_hostile_recipe(work: Callable[[str], Path], content: bytes) -> None:
    recipe = work("recipe.yaml")
    recipe.write_bytes(content)
    assert refused(["train", "--recipe", str(recipe), "--validate-only"]).startswith("medgrpo train: invalid recipe")


def test_train_recipe_over_the_size_limit(work: Callable[[str], Path]) -> None:
    recipe = work("recipe.yaml")
    recipe.write_bytes(b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    assert "expected a YAML file under 1048576 bytes" in refused(["train", "--recipe", str(recipe)])


@FEW
@given(content=binary)
def test_deid_hostile_policy_file(work: Callable[[str], Path], content: bytes) -> None:
    policy, src, out = work("policy.yaml"), work("in.jsonl"), work("out.jsonl")
    policy.write_bytes(content)
    src.write_text('{"text": "x"}\n')
    assert str(policy) in refused(["deid", str(src), str(out), "--policy", str(policy)], out)


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        pytest.param("deid", "deep"),
        ("gate", "deep"),
        ("gate", "binary"),
    ],
)
def test_hostile_policy_file(
    work: Callable[[str], Path], dataset: Path, registry_db: str, command: str, kind: str
) -> None:
    policy = work("policy.yaml")
    policy.write_bytes(b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n" if kind == "deep" else b"\xfc\xff\x00binary")
    src, out = work("in.jsonl"), work("out.jsonl")
    src.write_text('{"text": "x"}\n')
    argv = {
        "deid": ["deid", str(src), str(out), "--policy", str(policy)],
        "gate": ["gate", "--dataset", str(dataset), "--policy", str(policy)],
    }[command]
    assert str(policy) in refused(argv, out)  # a clear line names the file


@FEW
@given(content=st.one_of(binary, deep_json))
def test_evaluate_hostile_dataset_and_model(work: Callable[[str], Path], dataset: Path, content: bytes) -> None:
    folder = work("ds")
    folder.mkdir()
    (folder / "manifest.json").write_bytes(content)
    out = work("result.json")
    assert refused(["evaluate", "--model", str(folder), "--dataset", str(folder), "--out", str(out)], out)
    model = work("model")
    model.mkdir()
    (model / "config.json").write_bytes(content)
    refused(["evaluate", "--model", str(model), "--dataset", str(dataset), "--limit", "1", "--out", str(out)], out)


# --- hostile names and locations -------------------------------------------------------------


@SOME
@given(name=traversal)
def test_ingest_name_traversal(work: Callable[[str], Path], name: str) -> None:
    from medgrpo.data import synth

    src, out = work("in.jsonl"), work("ds")
    src.write_text("".join(json.dumps(r) + "\n" for r in synth.generate(3, seed=0)))
    assert "--name: expected letters, digits" in refused(["ingest", str(src), str(out), "--name", name], out)


@SOME
@given(name=traversal)
def test_registry_commands_refuse_traversal_model_names(
    work: Callable[[str], Path], registry_db: str, name: str
) -> None:
    for argv in (
        ["promote", "--version", "1", "--model-name", name],
        ["gate", "--dataset", "unused", "--model-name", name],
        ["rollback", "--model-name", name],
        ["registry", "list", "--model-name", name],
        ["registry", "retain", "--model-name", name],
    ):
        refused(argv)


@SOME
@given(version=st.text(min_size=1, max_size=20).filter(lambda v: not v.strip().isdigit() and not v.startswith("-")))
def test_promote_refuses_a_version_that_is_not_a_number(registry_db: str, version: str) -> None:
    refused(["promote", "--version", version])


@pytest.mark.parametrize(
    "where",
    ["inside a file", "a folder"],
)
def test_outputs_that_cannot_be_written(work: Callable[[str], Path], dataset: Path, where: str) -> None:
    blocker = work("afile")
    blocker.write_text("x")
    target = blocker / "out" if where == "inside a file" else blocker.parent
    src = work("in.jsonl")
    src.write_text('{"text": "x"}\n')
    refused(["synth", str(target if where == "a folder" else target / "s.jsonl"), "-n", "3"])
    if where == "inside a file":
        refused(["ingest", str(src), str(target), "--no-deid"])
        refused(["tiny-model", str(blocker)])
        refused(["tiny-model", str(target)])
        render = ["render-k8s", "--recipe", str(TINY_RECIPE), "--launcher", "kubernetes", "--out", str(target)]
        refused([*render, "--dataset", "s3://b/d", "--output-uri", "s3://b/o", "--checkpoint-store", "s3://b/c"])
        refused(["train", "--recipe", str(TINY_RECIPE), "--output-dir", str(target), "--no-register"])
        refused(["demo", "--state-dir", str(blocker)])


def test_deid_output_below_a_file(work: Callable[[str], Path]) -> None:
    blocker, src = work("afile"), work("in.jsonl")
    blocker.write_text("x")
    src.write_text('{"text": "x"}\n')
    refused(["deid", str(src), str(blocker / "out.jsonl")])


def test_deid_report_that_cannot_be_written_leaves_no_output(work: Callable[[str], Path]) -> None:
    blocker, src, out = work("afile"), work("in.jsonl"), work("out.jsonl")
    blocker.write_text("x")
    src.write_text('{"text": "x"}\n')
    refused(["deid", str(src), str(out), "--report", str(blocker / "r.json")], out)


def test_demo_refuses_a_repo_that_is_not_one(work: Callable[[str], Path]) -> None:
    assert "expected the medgrpo repository" in refused(["demo", "--repo", str(work("nowhere"))])


def test_tiny_model_refuses_s3(work: Callable[[str], Path]) -> None:
    refused(["tiny-model", "s3://bucket/tiny"])
    assert not Path("s3:").exists()


# --- hostile numbers and recipe values -------------------------------------------------------


@SOME
@given(override=bad_recipe_value)
def test_train_refuses_bad_recipe_values(work: Callable[[str], Path], override: str) -> None:
    line = refused(["train", "--recipe", str(TINY_RECIPE), "--set", override, "--validate-only"])
    assert line.startswith("medgrpo train: invalid recipe: ")


@SOME
@given(override=bad_recipe_value)
def test_render_k8s_refuses_bad_recipe_values(work: Callable[[str], Path], override: str) -> None:
    out = work("manifests")
    argv = ["render-k8s", "--recipe", str(TINY_RECIPE), "--launcher", "kubernetes", "--out", str(out)]
    argv += ["--dataset", "s3://b/d", "--output-uri", "s3://b/o", "--checkpoint-store", "s3://b/c", "--set", override]
    refused(argv, out)


@SOME
@given(
    case=st.one_of(
        st.integers(max_value=-1).map(lambda n: ["synth", "OUT", "-n", str(n)]),
        st.text(alphabet="abcxyz_", min_size=1, max_size=12).map(lambda k: ["synth", "OUT", "--kinds", k]),
        st.one_of(st.floats(min_value=1.0), st.floats(max_value=-1e-9), st.just(float("nan"))).map(
            lambda f: ["ingest", "SRC", "OUT", "--eval-fraction", repr(f)]
        ),
        st.integers(max_value=0).map(lambda n: ["deid", "SRC", "OUT", "--workers", str(n)]),
        st.integers(max_value=0).map(lambda n: ["deid", "SRC", "OUT", "--batch-size", str(n)]),
        st.integers(max_value=0).map(lambda n: ["registry", "retain", "--keep-last", str(n)]),
        st.one_of(st.floats(max_value=-1e-9), st.just(float("nan"))).map(
            lambda f: ["registry", "retain", "--min-age-days", repr(f)]
        ),
        st.integers(max_value=0).map(lambda n: ["evaluate", "--model", "M", "--dataset", "D", "--limit", str(n)]),
        st.sampled_from(["2", "-1", "x"]).map(lambda b: ["ingest", "SRC", "OUT", "--medmcqa-cop-base", b]),
        st.integers(max_value=0).map(
            lambda n: ["render-k8s", "--recipe", "R", "--launcher", "kubernetes", "--out", "OUT", "--attempt", str(n)]
        ),
    )
)
def test_bad_numbers_and_choices(work: Callable[[str], Path], registry_db: str, case: list[str]) -> None:
    src, out = work("in.jsonl"), work("out")
    src.write_text('{"question": "q?", "answer": "yes", "answer_type": "yes_no_maybe"}\n')
    names = {"SRC": str(src), "OUT": str(out / "x.jsonl") if case[0] == "synth" else str(out), "R": str(TINY_RECIPE)}
    names |= {"M": str(out), "D": str(out)}
    argv = [names.get(a, a) for a in case]
    if case[0] == "render-k8s":
        argv += ["--dataset", "s3://b/d", "--output-uri", "s3://b/o", "--checkpoint-store", "s3://b/c"]
    refused(argv, out)


# --- s3:// URIs to buckets that do not exist (real moto S3 server) -------------------------------


@pytest.mark.integration
def test_s3_missing_bucket(
    work: Callable[[str], Path], dataset: Path, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDGRPO_S3_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    missing = f"s3://medgrpo-missing-{uuid.uuid4().hex[:10]}"
    src = work("in.jsonl")
    from medgrpo.data import synth

    src.write_text("".join(json.dumps(r) + "\n" for r in synth.generate(3, seed=0)))
    cases = [
        ["synth", f"{missing}/s.jsonl", "-n", "3"],
        ["ingest", f"{missing}/src", str(work("ds")), "--no-deid"],
        ["ingest", str(src), f"{missing}/ds", "--no-deid"],
        ["train", "--recipe", str(TINY_RECIPE), "--dataset", f"{missing}/ds", "--no-register"],
        ["evaluate", "--model", f"{missing}/model", "--dataset", str(dataset), "--limit", "1"],
        ["evaluate", "--model", str(work("m")), "--dataset", f"{missing}/ds"],
        ["deid", str(src), f"{missing}/out.jsonl"],
        ["deid", f"{missing}/in.jsonl", str(work("out.jsonl"))],
    ]
    for argv in cases:  # each line names the bucket, or says what S3 answered
        line = refused(argv)
        assert missing[5:] in line or re.search(r"NoSuchBucket|S3UploadFailed", line), line
