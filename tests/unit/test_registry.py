"""Registry input validation: every bad value is refused before any server is contacted.

The tracking URI points at a closed port, so a test that reached the server would fail with a
connection error rather than the ValueError asserted here.
"""

from __future__ import annotations

import pytest

from medgrpo import registry


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.delenv("MEDGRPO_MODEL_NAME", raising=False)


@pytest.mark.parametrize("alias", ["champion", "previous_champion", "challenger", "a-b_1", "A1"])
def test_valid_aliases(alias: str) -> None:
    assert registry.validate_alias(alias) == alias


@pytest.mark.parametrize("alias", ["", "has space", "bad/slash", "latest", "v3", "V12", "x" * 256, "é"])
def test_invalid_aliases_are_named(alias: str) -> None:
    with pytest.raises(ValueError, match="invalid alias"):
        registry.validate_alias(alias)


@pytest.mark.parametrize(("given", "canonical"), [("3", "3"), (3, "3"), (" 12 ", "12"), ("007", "7")])
def test_valid_versions(given: str | int, canonical: str) -> None:
    assert registry.validate_version(given) == canonical


@pytest.mark.parametrize("version", ["0", 0, -1, "v3", "latest", "1.5", "", True, None])
def test_invalid_versions_are_named(version: object) -> None:
    with pytest.raises(ValueError, match=r"invalid model version .*expected a positive integer"):
        registry.validate_version(version)  # type: ignore[arg-type]


def test_default_model_name_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert registry.resolve_model_name() == "medgrpo-qwen2.5"
    monkeypatch.setenv("MEDGRPO_MODEL_NAME", "other-model")
    assert registry.resolve_model_name() == "other-model"
    with pytest.raises(ValueError, match="invalid registered model name 'bad name'"):
        registry.resolve_model_name("bad name")


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("models:/medgrpo-qwen2.5/3", ("medgrpo-qwen2.5", "3", None)),
        ("models:/medgrpo-qwen2.5@champion", ("medgrpo-qwen2.5", None, "champion")),
    ],
)
def test_parse_models_uri(uri: str, parsed: tuple[str, str | None, str | None]) -> None:
    assert registry.parse_models_uri(uri) == parsed


@pytest.mark.parametrize(
    "uri", ["runs:/abc/model", "models:/m", "models:/m/latest", "models:/m@v2", "models:/m/0", "/tmp/model"]
)
def test_parse_models_uri_rejects(uri: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        registry.parse_models_uri(uri)


def test_register_validates_before_contacting_server() -> None:
    with pytest.raises(ValueError, match="invalid run_id 'not a run'"):
        registry.register_model_version("not a run", tags={})
    with pytest.raises(ValueError, match=r"invalid artifact_path '\.\./x'"):
        registry.register_model_version("abc123", "../x", tags={})
    with pytest.raises(ValueError, match="invalid alias 'latest'"):
        registry.register_model_version("abc123", tags={}, alias="latest")
    with pytest.raises(ValueError, match="tag 'recipe' has value None"):
        registry.register_model_version("abc123", tags={"recipe": None})  # type: ignore[dict-item]


def test_other_calls_validate_first() -> None:
    with pytest.raises(ValueError, match="invalid model version 'x'"):
        registry.promote("x")
    with pytest.raises(ValueError, match="a forced promotion needs a reason"):
        registry.promote("3", force=True, reason="  ")
    with pytest.raises(ValueError, match="invalid model version '0'"):
        registry.set_version_tags("0", {"a": "b"})
    with pytest.raises(ValueError, match="invalid alias 'bad alias'"):
        registry.get_version_by_alias("bad alias")
    with pytest.raises(ValueError, match="invalid model URI"):
        registry.download_model("runs:/abc/model", "/tmp/nowhere")


def test_model_version_uri() -> None:
    mv = registry.ModelVersion(name="m", version="4", run_id="r", source="s")
    assert mv.model_uri == "models:/m/4"
