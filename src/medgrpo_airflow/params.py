"""Form fields (Airflow ``Param``) shared by the DAGs and derived from the library's definitions.

Airflow's trigger form treats every field whose JSON-schema ``type`` does not admit ``null`` as
required, and an empty string or list as "not filled in": a field that means "empty = use the
default" must therefore be nullable with a ``None`` default, or the form can never be submitted.
Enumerations (source formats, launch backends) come from the library, so the form, the CLI and the
code accept the same values.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param


def optional(kind: str, *, title: str, description: str, **schema: Any) -> Param:
    """A field the user may leave empty (``None``); ``kind`` is a JSON-schema type such as ``string``."""
    return Param(None, type=["null", kind], title=title, description=description, **schema)


def required_string(*, title: str, description: str) -> Param:
    """A string the user must fill in (the form refuses to submit while it is empty)."""
    return Param(None, type="string", minLength=1, title=title, description=description)


def format_param() -> Param:
    """The source format: ``auto`` or one of the formats :mod:`medgrpo.data.formats` can read."""
    from medgrpo.data.formats import FORMATS

    return Param(
        "auto",
        type="string",
        enum=["auto", *FORMATS],
        title="Format",
        description="Source format; auto detects each file's format from its content.",
    )


def backend_param() -> Param:
    """The launch backend: one of the backends registered in :mod:`medgrpo.launch`."""
    from medgrpo.launch import BACKENDS

    return Param(
        "local",
        type="string",
        enum=list(BACKENDS),
        title="Backend",
        description="Where the training container runs: " + ", ".join(BACKENDS) + ".",
    )
