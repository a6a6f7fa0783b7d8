"""values.yaml and values.schema.json agree: every value commented, typed, described and defaulted the same."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml
from chartlib import CHART_DIR

VALUES_FILE = CHART_DIR / "values.yaml"
SCHEMA_FILE = CHART_DIR / "values.schema.json"


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES_FILE.read_text())


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def test_values_yaml_validates_against_the_schema(values: dict[str, Any], schema: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(values), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_schema_rejects_unknown_keys_and_bad_values(schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(schema)
    assert not validator.is_valid({"mlflow": {"imageTag": "x"}})
    assert not validator.is_valid({"settings": {"workUri": "file:///data"}})
    assert not validator.is_valid({"training": {"image": {"digest": "latest"}}})
    assert not validator.is_valid({"mlflow": {"auth": {"defaultPermission": "ALL"}}})
    assert validator.is_valid({"training": {"resourceQuota": {"hard": {"requests.amd.com/gpu": "4"}}}})


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of every key the schema names (free-form maps' entries are data, not values)."""
    paths = set()
    for key, child in schema.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        paths |= _schema_paths(child, path)
    return paths


def _key_lines(text: str) -> list[tuple[int, str, str]]:
    """(line number, dotted path, previous non-blank line) for every mapping key of values.yaml outside lists."""
    found = []
    lines = text.splitlines()
    stack: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)(- )?([A-Za-z0-9_.\-/]+):(\s|$)", line)
        if not match:
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if match.group(2):
            stack.append((indent, "[]"))
            continue
        stack.append((indent, match.group(3)))
        previous = next((p for p in reversed(lines[:number]) if p.strip()), "")
        found.append((number + 1, ".".join(k for _, k in stack), previous))
    return found


def test_every_value_has_a_one_line_comment_above_it(schema: dict[str, Any]) -> None:
    named = _schema_paths(schema)
    key_lines = [(n, path, previous) for n, path, previous in _key_lines(VALUES_FILE.read_text()) if path in named]
    assert len(key_lines) == len(named), "every key the schema names appears once in values.yaml"
    missing = [f"line {n}: {path}" for n, path, previous in key_lines if not previous.strip().startswith("#")]
    assert missing == [], "values without a comment line above them: " + ", ".join(missing)


def _walk(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    """Problems where the schema node and the values.yaml value disagree (recursively)."""
    problems = []
    if path and not schema.get("description"):
        problems.append(f"{path}: no description")
    if path and schema.get("default") != value:
        problems.append(f"{path}: schema default {schema.get('default')!r} != values.yaml {value!r}")
    if schema.get("type") == "object" and "properties" in schema:
        if schema.get("additionalProperties") is None:
            problems.append(f"{path}: object without additionalProperties")
        if schema.get("additionalProperties") is not False and not isinstance(schema.get("additionalProperties"), dict):
            problems.append(f"{path}: additionalProperties is {schema.get('additionalProperties')!r}")
        for key, child in schema["properties"].items():
            if key not in value:
                problems.append(f"{path}.{key}: in the schema, not in values.yaml")
            else:
                problems += _walk(child, value[key], f"{path}.{key}" if path else key)
        if schema.get("additionalProperties") is False:
            problems += [
                f"{path}.{k}: in values.yaml, not in the schema" for k in value if k not in schema["properties"]
            ]
    return problems


def test_schema_and_values_agree_key_by_key(values: dict[str, Any], schema: dict[str, Any]) -> None:
    assert schema["additionalProperties"] is False
    assert _walk(schema, values, "") == []
