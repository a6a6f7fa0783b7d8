"""``medgrpo registry list``: the versions of a registered model as small rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from medgrpo import registry

#: Version tag written by :mod:`medgrpo.registry_admin.retention` when it removed the artifacts.
REMOVED_TAG = "retention_artifacts_removed_at"


@dataclass(frozen=True)
class VersionRow:
    """One registered version as ``medgrpo registry list`` shows it."""

    version: str
    aliases: tuple[str, ...]
    verdict: str  # gate_verdict tag, "-" when not gated
    dataset: str  # "<name> <sha256[:12]>" from the version tags
    created: datetime
    gated_run_id: str
    artifacts: str  # "stored" | "removed <when>"
    source_kind: str  # "logged model" | "run folder"
    run_id: str
    model_id: str
    tags: dict[str, str]

    def age(self, now: datetime | None = None) -> str:
        """Age as ``3d 4h`` / ``5h 2m`` / ``42s``."""
        seconds = int(((now or datetime.now(UTC)) - self.created).total_seconds())
        days, rest = divmod(max(seconds, 0), 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        if days:
            return f"{days}d {hours}h"
        if hours:
            return f"{hours}h {minutes}m"
        return f"{minutes}m {secs}s" if minutes else f"{secs}s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "aliases": list(self.aliases),
            "gate_verdict": self.verdict,
            "dataset": self.dataset,
            "created": self.created.isoformat(timespec="seconds"),
            "age": self.age(),
            "artifacts": self.artifacts,
            "source": self.source_kind,
            "run_id": self.run_id,
            "model_id": self.model_id,
        }


def _row(mv: Any, aliases: dict[str, list[str]]) -> VersionRow:
    tags = {str(k): str(v) for k, v in (mv.tags or {}).items()}
    sha = tags.get("dataset_sha256", "")
    dataset = " ".join(x for x in (tags.get("dataset_name", ""), sha[:12]) if x) or "-"
    source = str(mv.source or "")
    return VersionRow(
        version=str(mv.version),
        aliases=tuple(sorted(aliases.get(str(mv.version), []))),
        verdict=tags.get("gate_verdict", "-"),
        dataset=dataset,
        created=datetime.fromtimestamp(int(mv.creation_timestamp) / 1000, UTC),
        gated_run_id=tags.get("gate_run_id", ""),
        artifacts=f"removed {tags[REMOVED_TAG]}" if tags.get(REMOVED_TAG) else "stored",
        source_kind="logged model" if source.startswith("models:/") else "run folder",
        run_id=str(mv.run_id or ""),
        model_id=str(getattr(mv, "model_id", None) or ""),
        tags=tags,
    )


def list_versions(model_name: str | None = None) -> list[VersionRow]:
    """Every version of ``model_name`` (newest first); empty when the model does not exist."""
    from mlflow.exceptions import MlflowException

    name = registry.resolve_model_name(model_name)
    c = registry.client()
    try:
        rm = c.get_registered_model(name)
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(err, "error_code", "")):
            return []
        raise
    by_version: dict[str, list[str]] = {}
    for alias, version in (rm.aliases or {}).items():
        by_version.setdefault(str(version), []).append(str(alias))
    rows = [_row(mv, by_version) for mv in c.search_model_versions(f"name = '{name}'")]
    return sorted(rows, key=lambda r: int(r.version), reverse=True)


def format_table(rows: list[VersionRow], now: datetime | None = None) -> str:
    """A fixed-width table of ``rows`` for the terminal."""
    header = ("VERSION", "ALIASES", "GATE", "DATASET", "AGE", "ARTIFACTS", "SOURCE")
    body = [
        (r.version, ",".join(r.aliases) or "-", r.verdict, r.dataset, r.age(now), r.artifacts, r.source_kind)
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    return "\n".join(
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    )
