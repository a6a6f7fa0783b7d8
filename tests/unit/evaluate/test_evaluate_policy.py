"""Gate policy: packaged defaults, validation of files and values, selection, and the fields the CLI
and the DAG form derive from it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from medgrpo.evaluate.policy import GatePolicy, PolicyError, load_policy, parse_policy, policy_fields


def test_packaged_production_policy_is_the_safe_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDGRPO_GATE_POLICY", raising=False)
    policy, source = load_policy()
    assert source.endswith("resources/gates/production.yaml")
    assert (policy.min_items, policy.min_accuracy, policy.min_format_rate, policy.margin, policy.alpha) == (
        200,
        0.3,
        0.9,
        0.02,
        0.05,
    )
    assert policy.phi_probe is True and policy.name == "production"
    # the dataclass defaults are the production values too: a policy built in code is safe by default
    assert {k: v for k, v in GatePolicy().as_dict().items() if k != "name"} == {
        k: v for k, v in policy.as_dict().items() if k != "name"
    }


def test_the_demo_policy_is_chosen_explicitly_by_name_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDGRPO_GATE_POLICY", raising=False)
    demo, _ = load_policy("demo")
    assert demo.name == "demo" and demo.min_items < 200 and demo.min_accuracy == 0.0
    monkeypatch.setenv("MEDGRPO_GATE_POLICY", "demo")
    assert load_policy()[0] == demo
    assert load_policy("production")[0].name == "production"  # an explicit choice beats the environment


def test_a_policy_file_is_validated_against_the_dataclass(tmp_path: Path) -> None:
    good = tmp_path / "site.yaml"
    good.write_text("min_items: 500\nmin_accuracy: 0.5\nmargin: 0\n")
    policy, source = load_policy(str(good))
    assert (policy.min_items, policy.min_accuracy, policy.margin, policy.name) == (500, 0.5, 0.0, "site")
    assert policy.min_format_rate == 0.9 and source == str(good)  # unnamed fields keep the safe defaults

    cases = {
        "min_itmes: 5\n": r"unknown field\(s\) \['min_itmes'\]",
        "min_items: many\n": "min_items must be an integer, found 'many'",
        "min_items: 2.5\n": "min_items must be an integer, found 2.5",
        "min_accuracy: 1.5\n": "min_accuracy must be <= 1, found 1.5",
        "alpha: 0\n": "alpha must be > 0, found 0",
        "phi_probe: 1\n": "phi_probe must be true or false, found 1",
        "- 1\n- 2\n": "expected a mapping of gate fields, found a list of 2 items",
        "margin: [\n": "not valid YAML",
    }
    for i, (text, message) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.yaml"
        bad.write_text(text)
        with pytest.raises(PolicyError, match=message) as err:
            load_policy(str(bad))
        assert str(bad) in str(err.value)  # the error says where
    with pytest.raises(PolicyError, match=r"neither a packaged policy .* nor a readable file"):
        load_policy(str(tmp_path / "absent.yaml"))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xfc\xff\x00binary", "expected UTF-8 YAML, found an invalid byte at offset 0"),
        (
            b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n",
            "not valid YAML: expected a mapping of gate fields \\(nested too deeply",
        ),
        (b"margin: [\n", r"not valid YAML: expected a mapping of gate fields \(.* at line 2\)"),
        (b"min_items: " + b"9" * 5000 + b"\n", r"not valid YAML: expected a mapping of gate fields \(ValueError\)"),
        (b"just a sentence\n", "expected a mapping of gate fields, found 'just a sentence'"),
        (b"- " + b"x" * 500 + b"\n", "expected a mapping of gate fields, found a list of 1 items"),
        (b"1: 2\nmin_items: 3\nzz: 1\n", r"unknown field\(s\) \['1', 'zz'\]"),
        (b"margin: .nan\n", "margin must be a finite number, found nan"),
        (b"min_accuracy: -.inf\n", "min_accuracy must be a finite number, found -inf"),
        (b"min_items: {a: [1, 2]}\n", "min_items must be an integer, found a mapping of 1 entries"),
        (b"name: [x]\n", "name must be a non-empty string, found a list of 1 items"),
        (b"# " + b"x" * (70 * 1024) + b"\n", r"expected a gate policy YAML file under 65536 bytes, found 71683 bytes"),
    ],
)
def test_a_hostile_policy_file_ends_in_one_line_naming_the_file(tmp_path: Path, content: bytes, expected: str) -> None:
    bad = tmp_path / "hostile.yaml"
    bad.write_bytes(content)
    with pytest.raises(PolicyError, match=expected) as err:
        load_policy(str(bad))
    message = str(err.value)
    assert message.startswith(f"{bad}: ") and "\n" not in message and len(message) < 400, message
    assert err.value.__cause__ is None  # no parser chain in a traceback


def test_a_missing_policy_names_the_environment_variable_that_chose_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDGRPO_GATE_POLICY", str(tmp_path))
    with pytest.raises(PolicyError, match=r"\(from MEDGRPO_GATE_POLICY\) is neither .* found a directory"):
        load_policy()


def test_overrides_are_validated_and_named_in_the_label() -> None:
    base = GatePolicy(name="production")
    assert base.with_overrides({"margin": None, "alpha": None}) is base
    changed = base.with_overrides({"margin": 0.05, "min_items": 200})
    assert changed.margin == 0.05 and changed.name == "production+margin=0.05"
    with pytest.raises(PolicyError, match="margin must be <= 1, found 3"):
        base.with_overrides({"margin": 3})
    with pytest.raises(PolicyError, match=r"unknown gate field\(s\) \['nope'\]"):
        base.with_overrides({"nope": 1})


@pytest.mark.parametrize(("alpha", "needed"), [(0.05, 5), (0.01, 7), (0.2, 3), (0.5, 2)])
def test_min_discordant_is_where_the_exact_test_can_first_reject(alpha: float, needed: int) -> None:
    policy = GatePolicy(alpha=alpha)
    assert policy.min_discordant == needed
    assert 0.5**needed < alpha <= 0.5 ** (needed - 1)


def test_policy_fields_describe_every_gate_field() -> None:
    specs = {s.name: s for s in policy_fields()}
    assert set(specs) == {f.name for f in fields(GatePolicy)} - {"name"}
    assert specs["min_items"].kind == "integer" and specs["min_items"].schema == {"minimum": 1}
    assert specs["alpha"].kind == "number" and specs["alpha"].schema["exclusiveMinimum"] == 0
    assert specs["phi_probe"].kind == "boolean"
    assert all(len(s.help) > 20 for s in specs.values())
    assert parse_policy({"margin": 0}, source="x").margin == 0.0  # YAML ints are accepted for numbers


def test_policy_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, json; import medgrpo.evaluate.policy, medgrpo.evaluate\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mlflow', 'torch', 'transformers', 'matplotlib') or m == 'medgrpo.registry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
