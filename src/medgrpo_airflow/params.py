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
    """The launch backend: one of the backends registered in :mod:`medgrpo.launch`.

    Its default (what cron and Asset-triggered runs use) is ``MEDGRPO_DEFAULT_BACKEND``.
    """
    from medgrpo.launch import BACKENDS, default_backend

    return Param(
        default_backend(),
        type="string",
        enum=list(BACKENDS),
        title="Backend",
        description="Where the training container runs: " + ", ".join(BACKENDS) + ".",
    )


def gate_params() -> dict[str, Param]:
    """The gate form: the policy to apply and one optional override per field of :class:`GatePolicy`.

    Every field is derived from :func:`medgrpo.evaluate.policy.policy_fields` (name, type, bounds,
    help), so the form offers exactly what the policy file and ``medgrpo gate`` accept. Empty fields
    keep the policy's value; an empty policy means ``MEDGRPO_GATE_POLICY``, else ``production``.
    A yes/no field is a plain checkbox set to the production value (a form cannot leave a checkbox
    "empty", and an unticked-by-default safety check would be switched off by every submission).
    """
    from medgrpo.evaluate.policy import PACKAGED_POLICIES, POLICY_ENV, policy_fields

    params: dict[str, Param] = {
        "gate_policy": optional(
            "string",
            title="Gate policy",
            description=f"{' or '.join(PACKAGED_POLICIES)} (packaged) or a policy YAML file; "
            f"empty = ${POLICY_ENV}, else production.",
        )
    }
    for spec in policy_fields():
        if spec.kind == "boolean":
            params[spec.name] = Param(
                bool(spec.default),
                type="boolean",
                title=spec.name.replace("_", " ").capitalize(),
                description=f"{spec.help} (production: {spec.default}).",
            )
            continue
        params[spec.name] = optional(
            spec.kind,
            title=spec.name.replace("_", " ").capitalize(),
            description=f"{spec.help} Empty = the policy's value (production: {spec.default}).",
            **spec.schema,
        )
    return params
