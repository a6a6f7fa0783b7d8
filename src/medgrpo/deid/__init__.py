"""De-identification (HIPAA Safe Harbor) on Presidio, offline and fail-closed.

Importing this package is cheap: Presidio and spaCy load only in ``load_deidentifier``.

    from medgrpo.deid import load_deidentifier, DeidError
    deid = load_deidentifier(None)                     # packaged default policy
    new = deid.deidentify_records(records, text_fields=["question", "options"])
    deid.audit()                                       # counts only, never values
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from medgrpo.deid.errors import DeidError

if TYPE_CHECKING:
    from medgrpo.deid.engine import Deidentifier

__all__ = ["DeidError", "load_deidentifier"]


def load_deidentifier(policy: str | os.PathLike[str] | None = None) -> Deidentifier:
    """Build a de-identifier for a policy file (``None``: the packaged default); DeidError on any failure."""
    from medgrpo.deid.policy import load_policy

    loaded = load_policy(policy)
    try:
        from medgrpo.deid.engine import Deidentifier

        deid = Deidentifier(loaded)
    except DeidError:
        raise
    except Exception as err:
        raise DeidError(
            f"cannot build the de-identification engine for policy {loaded.source}: {type(err).__name__} "
            "(details withheld: a policy's deny lists may hold identifiers)"
        ) from None
    deid.canary_check()  # a policy that cannot pass its own canary fails at load time
    return deid
