"""One line on why a YAML document did not parse, shared by every reader of YAML files (recipes, policies)."""

from __future__ import annotations


def describe_yaml_error(err: BaseException) -> str:
    """The parser's problem and line, never the text around it (a ``RecursionError`` means deep nesting)."""
    if isinstance(err, RecursionError):
        return "nested too deeply to read"
    mark = getattr(err, "problem_mark", None)
    problem = " ".join(str(getattr(err, "problem", None) or type(err).__name__).split())
    return f"{problem} at line {mark.line + 1}" if mark is not None else problem
