"""Small steps of the image build that a shell line would do badly (standard library only).

``deps PYPROJECT EXTRA...``  prints the project's dependencies plus those of the named extras, one
                             per line (a requirements file), so they install before the code is copied.
``files DIST OUT``           copies every file the installed distribution DIST owns to OUT, keeping
                             absolute paths (``OUT/opt/venv/lib/...``): the final stage takes only them.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from importlib import metadata
from pathlib import Path


def project_requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """``[project].dependencies`` followed by each named extra's list; unknown extras are an error."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    lines = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"{pyproject}: no optional-dependencies extra {extra!r} (have {sorted(optional)})")
        lines += optional[extra]
    return lines


def copy_distribution_files(dist: str, out: Path) -> int:
    """Copy the files of installed ``dist`` under ``out`` at their absolute paths; returns how many."""
    count = 0
    for entry in metadata.files(dist) or []:
        path = Path(str(entry.locate())).resolve()
        if not path.is_file():
            continue
        target = out / path.relative_to(path.anchor)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        count += 1
    if not count:
        raise SystemExit(f"distribution {dist!r} has no installed files")
    return count


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "deps":
        print("\n".join(project_requirements(Path(argv[1]), argv[2:])))
        return 0
    if len(argv) == 3 and argv[0] == "files":
        count = copy_distribution_files(argv[1], Path(argv[2]))
        print(f"copied {count} files of {argv[1]} to {argv[2]}", file=sys.stderr)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
