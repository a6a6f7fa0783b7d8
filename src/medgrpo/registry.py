"""MLflow model registry operations: register, aliases, tags, download, promote, rollback.

One registry module for the whole platform (DESIGN §8). The registered model is
``settings.model_name`` (``medgrpo-qwen2.5``); aliases, not stages, carry the lifecycle:

- ``challenger``: the newest trained version, awaiting its gate;
- ``champion``: the version in service;
- ``previous_champion``: the rollback target (one step).

A training run logs its final (or best) weights as an MLflow 3 *logged model* ``model`` in the
transformers flavor (:mod:`medgrpo.train.logged_models`) and registers it
(``create_model_version(source="models:/<model_id>", model_id=..., run_id=...)``), so
``mlflow.pyfunc.load_model("models:/<name>@champion")`` and ``mlflow models serve`` work on a
version; :func:`download_model` still hands evaluation and training a plain Hugging Face folder.
Versions registered earlier from a folder of plain run artifacts (``source=<run artifacts>/model``)
keep downloading as before.

Every public function validates its inputs before talking to the server and raises
``ValueError`` naming the bad value; registry-state problems raise :class:`RegistryError`.
MLflow is imported inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medgrpo.faults import fault_point
from medgrpo.settings import get_settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
PREVIOUS_CHAMPION = "previous_champion"
LIFECYCLE_ALIASES = (CHALLENGER, CHAMPION, PREVIOUS_CHAMPION)

# MLflow accepts [A-Za-z0-9_-] aliases up to 255 characters but reserves ``latest`` and ``v<N>``.
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_RESERVED_ALIAS_RE = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LOGGED_MODEL_ID_RE = re.compile(r"^m-[A-Za-z0-9]{1,64}$")
_MODELS_URI_RE = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/@]+))/?$")


class RegistryError(RuntimeError):
    """The registry is not in the state an operation needs (missing version, alias, artifacts)."""


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version, detached from MLflow's entity classes."""

    name: str
    version: str
    run_id: str | None
    source: str
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def model_uri(self) -> str:
        """``models:/<name>/<version>``: downloads exactly this version."""
        return f"models:/{self.name}/{self.version}"

    @classmethod
    def from_mlflow(cls, mv: Any) -> ModelVersion:
        """Build from ``mlflow.entities.model_registry.ModelVersion``."""
        return cls(
            name=str(mv.name),
            version=str(mv.version),
            run_id=mv.run_id or None,
            source=str(mv.source or ""),
            aliases=tuple(sorted(mv.aliases or ())),
            tags={str(k): str(v) for k, v in (mv.tags or {}).items()},
        )


# --------------------------------------------------------------------------- validation


def validate_alias(alias: str) -> str:
    """Return ``alias`` if MLflow would accept it; raise ValueError naming it otherwise."""
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise ValueError(f"invalid alias {alias!r}: expected 1-255 characters from letters, digits, '_' and '-'")
    if _RESERVED_ALIAS_RE.match(alias):
        raise ValueError(f"invalid alias {alias!r}: 'latest' and 'v<number>' are reserved by MLflow")
    return alias


def validate_version(version: str | int) -> str:
    """Return ``version`` as a canonical string of a positive integer; raise ValueError otherwise."""
    text = str(version).strip() if isinstance(version, str | int) and not isinstance(version, bool) else ""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"invalid model version {version!r}: expected a positive integer such as 3")
    return str(int(text))


def resolve_model_name(model_name: str | None = None) -> str:
    """``model_name`` or the configured default, validated."""
    name = model_name if model_name is not None else get_settings().model_name
    if not isinstance(name, str) or not _MODEL_NAME_RE.match(name):
        raise ValueError(f"invalid registered model name {name!r}: expected letters, digits, '.', '_', '-' or '/'")
    return name


def _validate_tags(tags: dict[str, str]) -> dict[str, str]:
    if not isinstance(tags, dict):
        raise ValueError(f"tags must be a dict of str to str, found {type(tags).__name__}")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 250:
            raise ValueError(f"invalid tag key {key!r}: expected a non-empty string of at most 250 characters")
        if value is None:
            raise ValueError(f"tag {key!r} has value None: expected a string")
        out[key] = str(value)
    return out


def parse_models_uri(model_uri: str) -> tuple[str, str | None, str | None]:
    """Split ``models:/name/N`` or ``models:/name@alias`` into ``(name, version, alias)``."""
    match = _MODELS_URI_RE.match(model_uri) if isinstance(model_uri, str) else None
    if not match:
        raise ValueError(
            f"invalid model URI {model_uri!r}: expected models:/<name>/<version> or models:/<name>@<alias>"
        )
    version = match.group("version")
    alias = match.group("alias")
    if version is not None:
        validate_version(version)
    if alias is not None:
        validate_alias(alias)
    return match.group("name"), version, alias


# --------------------------------------------------------------------------- helpers


def client() -> MlflowClient:
    """An MLflow client for the configured tracking server (``MLFLOW_TRACKING_URI``)."""
    from mlflow import MlflowClient

    uri = get_settings().tracking_uri or None
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _error_code(err: Exception) -> str:
    return str(getattr(err, "error_code", ""))


def _ensure_registered_model(c: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        c.get_registered_model(name)
        return
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" not in _error_code(err):
            raise
    try:
        c.create_registered_model(name, description="Qwen2.5 medical-reasoning models trained with GRPO by medgrpo.")
        log.info("created registered model", extra={"model_name": name})
    except MlflowException as err:  # a concurrent caller created it first
        if "RESOURCE_ALREADY_EXISTS" not in _error_code(err):
            raise


def _get_version(c: MlflowClient, name: str, version: str) -> ModelVersion:
    from mlflow.exceptions import MlflowException

    try:
        return ModelVersion.from_mlflow(c.get_model_version(name, version))
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in _error_code(err):
            raise RegistryError(f"model {name!r} has no version {version}") from err
        raise


def _aliases(c: MlflowClient, name: str) -> dict[str, str]:
    """All aliases of a registered model (alias -> version); empty when the model does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        rm = c.get_registered_model(name)
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in _error_code(err):
            return {}
        raise
    return {str(k): str(v) for k, v in (rm.aliases or {}).items()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    for var in ("MEDGRPO_ACTOR", "AIRFLOW_CTX_DAG_OWNER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (some containers)
        return "unknown"


# --------------------------------------------------------------------------- public API


def find_version_for_run(
    run_id: str, artifact_path: str = "model", *, model_name: str | None = None
) -> ModelVersion | None:
    """The existing version of ``model_name`` created from ``run_id``/``artifact_path``, if any.

    A version matches when its source is the run's artifact folder ``artifact_path`` (versions
    registered before logged models), or a logged model (``models:/<model_id>``) of the run named
    ``artifact_path``. The oldest match wins.
    """
    name = resolve_model_name(model_name)
    c = client()
    suffix = "/" + artifact_path.strip("/")
    matches = []
    for mv in c.search_model_versions(f"name = '{name}' and run_id = '{run_id}'"):
        source = str(mv.source or "").rstrip("/")
        model_id = getattr(mv, "model_id", None) or (
            source[len("models:/") :] if source.startswith("models:/m-") else ""
        )
        if source.endswith(suffix):
            matches.append(ModelVersion.from_mlflow(mv))
        elif model_id:
            logged = c.get_logged_model(model_id)
            if logged.source_run_id == run_id and logged.name == artifact_path.strip("/"):
                matches.append(ModelVersion.from_mlflow(mv))
    if not matches:
        return None
    return min(matches, key=lambda mv: int(mv.version))


def register_model_version(
    run_id: str,
    artifact_path: str = "model",
    *,
    tags: dict[str, str],
    alias: str = CHALLENGER,
    model_name: str | None = None,
    model_id: str | None = None,
) -> ModelVersion:
    """Register the model a training run logged: its logged model ``model_id``, or a plain folder.

    With ``model_id`` (what training does): the run's READY logged model named ``artifact_path``,
    an MLflow model in the transformers flavor, becomes the version (source ``models:/<model_id>``;
    ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` work on it). Without: the Hugging
    Face folder logged as plain run artifacts under ``artifact_path`` (versions made before logged
    models; download works, pyfunc does not).

    Idempotent per (run, artifact path): a retried call finds the version it created before,
    refreshes its tags and moves ``alias`` to it, instead of creating another version.
    """
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise ValueError(f"invalid run_id {run_id!r}: expected an MLflow run id such as 'a1b2c3...'")
    if not isinstance(artifact_path, str) or not artifact_path.strip("/") or ".." in artifact_path.split("/"):
        raise ValueError(f"invalid artifact_path {artifact_path!r}: expected a relative path such as 'model'")
    if model_id is not None and (not isinstance(model_id, str) or not _LOGGED_MODEL_ID_RE.match(model_id)):
        raise ValueError(f"invalid model_id {model_id!r}: expected an MLflow logged model id such as 'm-1a2b...'")
    artifact_path = artifact_path.strip("/")
    tags = _validate_tags(tags)
    validate_alias(alias)
    name = resolve_model_name(model_name)

    from mlflow.exceptions import MlflowException

    c = client()
    try:
        run = c.get_run(run_id)
    except MlflowException as err:
        raise RegistryError(f"run {run_id!r} not found on the tracking server: {err}") from err
    if model_id is not None:
        try:
            logged = c.get_logged_model(model_id)
        except MlflowException as err:
            raise RegistryError(f"logged model {model_id!r} not found on the tracking server: {err}") from err
        if logged.source_run_id != run_id or logged.name != artifact_path:
            raise RegistryError(
                f"logged model {model_id} is {logged.name!r} of run {logged.source_run_id}, "
                f"expected {artifact_path!r} of run {run_id}"
            )
        if str(getattr(logged.status, "name", logged.status)) != "READY":
            raise RegistryError(f"logged model {model_id} is {logged.status}, expected READY (its upload finished)")
        source = f"models:/{model_id}"
    else:
        listed = {Path(f.path).name for f in c.list_artifacts(run_id, artifact_path)}
        if "config.json" not in listed:
            raise RegistryError(
                f"run {run_id} has no Hugging Face model under artifact path {artifact_path!r}: "
                f"expected config.json there, found {sorted(listed) or 'nothing'}"
            )
        source = f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}"
    _ensure_registered_model(c, name)

    existing = find_version_for_run(run_id, artifact_path, model_name=name)
    if existing is None:
        created = c.create_model_version(name, source=source, run_id=run_id, tags=tags, model_id=model_id)
        version = str(created.version)
        fault_point("registry.version_created")  # fault-injection tests only (medgrpo.faults); a no-op otherwise
        log.info(
            "registered model version",
            extra={"model_name": name, "version": version, "run_id": run_id, "source": source},
        )
    else:
        version = existing.version
        for key, value in tags.items():
            if existing.tags.get(key) != value:
                c.set_model_version_tag(name, version, key, value)
        log.info(
            "found existing model version for run",
            extra={"model_name": name, "version": version, "run_id": run_id},
        )
    c.set_registered_model_alias(name, alias, version)
    return _get_version(c, name, version)


def get_version(version: str | int, model_name: str | None = None) -> ModelVersion:
    """Version ``version`` of ``model_name``; RegistryError when absent."""
    v = validate_version(version)
    return _get_version(client(), resolve_model_name(model_name), v)


def get_version_by_alias(alias: str, model_name: str | None = None) -> ModelVersion | None:
    """The version ``alias`` points at, or None when the alias (or the model) does not exist."""
    validate_alias(alias)
    name = resolve_model_name(model_name)
    c = client()
    version = _aliases(c, name).get(alias)
    return None if version is None else _get_version(c, name, version)


def resolve(version_or_alias: str | int, model_name: str | None = None) -> ModelVersion:
    """A version given by number (``3``), ``v3`` or alias (``challenger``); RegistryError when absent."""
    text = str(version_or_alias).strip()
    if re.fullmatch(r"[vV]?\d+", text):
        return get_version(text.lstrip("vV"), model_name)
    mv = get_version_by_alias(text, model_name)
    if mv is None:
        raise RegistryError(f"model {resolve_model_name(model_name)!r} has no alias {text!r}")
    return mv


def set_version_tags(version: str | int, tags: dict[str, str], model_name: str | None = None) -> None:
    """Set (overwrite) tags on a model version."""
    v = validate_version(version)
    tags = _validate_tags(tags)
    name = resolve_model_name(model_name)
    c = client()
    _get_version(c, name, v)
    for key, value in tags.items():
        c.set_model_version_tag(name, v, key, value)


def download_model(model_uri: str, dest: str | Path) -> Path:
    """Download a registered model (``models:/name/N`` or ``models:/name@alias``) into ``dest``.

    Returns the local folder holding the Hugging Face files (``config.json``, weights, tokenizer
    and chat template) that ``from_pretrained`` loads. For a version in the MLflow transformers
    flavor that is the flavor's model folder, with the tokenizer files of ``components/tokenizer``
    copied next to the weights; for a plain-folder version, the folder itself.
    """
    name, version, alias = parse_models_uri(model_uri)
    if alias is not None:
        mv = get_version_by_alias(alias, name)
        if mv is None:
            raise RegistryError(f"cannot download {model_uri}: model {name!r} has no alias {alias!r}")
    else:
        mv = get_version(str(version), name)
    from medgrpo.registry_admin.retention import REMOVED_TAG

    if mv.tags.get(REMOVED_TAG):
        raise RegistryError(
            f"cannot download {model_uri}: the artifacts of {name} version {mv.version} were removed by the "
            f"retention policy at {mv.tags[REMOVED_TAG]} (its card, tags and lineage remain)"
        )
    import mlflow.artifacts

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    uri = get_settings().tracking_uri or None
    # Where the version's files are, asked of the configured server (a models:/ URI would be resolved
    # against whatever registry URI the process last set globally).
    where = client().get_model_version_download_uri(name, mv.version)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=where, dst_path=str(dest), tracking_uri=uri))
    if (local / "MLmodel").is_file():
        local = _hf_folder_of_mlflow_model(local, model_uri)
    if not (local / "config.json").is_file():
        found = sorted(p.name for p in local.iterdir()) if local.is_dir() else []
        raise RegistryError(
            f"{model_uri} is not a Hugging Face model folder: no config.json in {local} (found {found})"
        )
    log.info("downloaded model", extra={"model_uri": model_uri, "path": str(local)})
    return local


def _hf_folder_of_mlflow_model(root: Path, model_uri: str) -> Path:
    """The transformers flavor's model folder under an MLflow model ``root``, tokenizer files added."""
    import shutil

    import yaml

    flavors = (yaml.safe_load((root / "MLmodel").read_text()) or {}).get("flavors") or {}
    flavor = flavors.get("transformers")
    if not isinstance(flavor, dict):
        raise RegistryError(
            f"{model_uri} is an MLflow model without the transformers flavor (flavors: {sorted(flavors)})"
        )
    folder = root / str(flavor.get("model_binary") or "model")
    for component in flavor.get("components") or []:
        for path in sorted((root / "components" / str(component)).glob("*")):
            if path.is_file() and not (folder / path.name).exists():
                shutil.copy2(path, folder / path.name)
    return folder


# --------------------------------------------------------------------------- promotion lock

#: Experiments named ``<prefix><model>`` are the promotion locks (see :class:`PromotionLock`).
LOCK_PREFIX = "medgrpo/locks/promotion/"
#: How long a lock is valid without its holder: a crashed promoter blocks others at most this long.
LOCK_TTL_S = 120.0
#: How long a promoter waits for a lock held by another before giving up.
LOCK_WAIT_S = 120.0


class LockError(RegistryError):
    """The promotion lock could not be taken in time, or was lost while held."""


class PromotionLock:
    """A lease every promoter of one registered model shares, kept in the MLflow tracking store.

    Promoters may run on different machines and speak only HTTP to a remote MLflow server, so the
    lock is built from the one atomic primitive MLflow's REST API offers: creating an experiment
    whose name is unique (the server's database refuses a second one). The lock is the experiment
    ``medgrpo/locks/promotion/<model>``; its tags say who holds it and until when
    (``expires_at``, now + ``ttl``).

    - *acquire*: create the experiment; if it exists and has not expired, wait and retry; if it
      expired (its holder died), retire it and retry.
    - *retire* (release, or steal an expired lock): rename the experiment **by its id** to a
      unique tombstone name, then delete it. Acting by id, never by name, means a promoter working
      from a stale view cannot remove a newer holder's lock (its rename of the old id fails or
      hits a tombstone), and renaming first frees the name, which MLflow keeps reserved for
      deleted experiments.
    - *verify*: before each alias move the holder re-reads its experiment by id: still named as
      the lock, still its token, not expired; otherwise :class:`LockError` and nothing is moved.
    """

    def __init__(
        self, model_name: str, *, actor: str | None = None, ttl: float = LOCK_TTL_S, wait: float = LOCK_WAIT_S
    ) -> None:
        self.model_name = resolve_model_name(model_name)
        self.name = f"{LOCK_PREFIX}{self.model_name}"
        self.actor = _actor(actor)
        self.ttl = ttl
        self.wait = wait
        self.token = uuid.uuid4().hex
        self.experiment_id: str | None = None
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = client()
        return self._client

    def acquire(self) -> PromotionLock:
        from mlflow.exceptions import MlflowException

        deadline = time.monotonic() + self.wait
        delay = 0.05
        while True:
            expires = time.time() + self.ttl
            try:
                self.experiment_id = str(
                    self.client.create_experiment(
                        self.name,
                        tags={
                            "medgrpo.lock_token": self.token,
                            "medgrpo.lock_actor": self.actor,
                            "medgrpo.lock_expires_at": f"{expires:.3f}",
                            "medgrpo.lock_host": socket.gethostname(),
                        },
                    )
                )
                log.info("promotion lock taken", extra={"lock": self.name, "actor": self.actor})
                return self
            except MlflowException as err:
                if "RESOURCE_ALREADY_EXISTS" not in _error_code(err) and "already exists" not in str(err):
                    raise
            holder = self.client.get_experiment_by_name(self.name)
            if holder is not None:
                held_until = float(holder.tags.get("medgrpo.lock_expires_at", "0") or 0)
                if holder.lifecycle_stage == "deleted" or held_until < time.time():
                    log.warning(
                        "retiring an expired promotion lock",
                        extra={"lock": self.name, "holder": holder.tags.get("medgrpo.lock_actor")},
                    )
                    self._retire(str(holder.experiment_id), holder.tags.get("medgrpo.lock_token"))
                    continue
            if time.monotonic() > deadline:
                who = holder.tags.get("medgrpo.lock_actor", "?") if holder is not None else "?"
                raise LockError(
                    f"could not take the promotion lock of {self.model_name!r} within {self.wait:.0f} s: "
                    f"held by {who} (MLflow experiment {self.name!r})"
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def verify(self) -> None:
        """Raise :class:`LockError` unless this lock is still held (by id, name, token and time)."""
        if self.experiment_id is None:
            raise LockError(f"promotion lock of {self.model_name!r} is not held")
        exp = self.client.get_experiment(self.experiment_id)
        ok = (
            exp.lifecycle_stage == "active"
            and exp.name == self.name
            and exp.tags.get("medgrpo.lock_token") == self.token
            and float(exp.tags.get("medgrpo.lock_expires_at", "0") or 0) > time.time()
        )
        if not ok:
            raise LockError(
                f"lost the promotion lock of {self.model_name!r} (expired after {self.ttl:.0f} s or taken over); "
                "nothing was moved"
            )

    def release(self) -> None:
        if self.experiment_id is None:
            return
        self._retire(self.experiment_id, self.token)
        self.experiment_id = None

    def _retire(self, experiment_id: str, token: str | None) -> None:
        """Rename the lock experiment ``experiment_id`` (holding ``token``) to a tombstone, then delete it.

        Checked first, because MLflow answers a rename of a non-active experiment with HTTP 500,
        which its client retries for minutes: nothing is done when the experiment no longer bears
        the lock's name (already retired) or holds another token.
        """
        from mlflow.exceptions import MlflowException

        try:
            exp = self.client.get_experiment(experiment_id)
            if exp.name != self.name or exp.tags.get("medgrpo.lock_token") != token:
                return
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(experiment_id)
            self.client.rename_experiment(experiment_id, f"{LOCK_PREFIX}released/{experiment_id}")
            self.client.delete_experiment(experiment_id)
        except MlflowException as err:  # retired meanwhile by someone else: nothing left to do
            log.info("promotion lock already retired", extra={"lock": self.name, "error": str(err)[:200]})

    def __enter__(self) -> PromotionLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# --------------------------------------------------------------------------- promote / rollback

#: ``expected_champion`` default: compare with the champion the version's gate compared with.
FROM_GATE = "from-gate"


def promote(
    version: str | int,
    model_name: str | None = None,
    *,
    actor: str | None = None,
    expected_champion: str | None = FROM_GATE,
    force: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """Make ``version`` the champion (compare-and-set, under the shared promotion lock).

    Refuses (:class:`RegistryError`) unless the version's ``gate_verdict`` is ``passed`` and the
    champion is still the one its gate compared with (``expected_champion``: by default the
    version's ``gate_champion_version`` tag, ``none`` = no champion; pass a version to check
    against that instead). ``force`` skips both checks and needs a ``reason``, recorded with the
    version (``promotion_forced``, ``promotion_reason``). The old champion becomes
    ``previous_champion``; ``challenger`` is cleared when it pointed at ``version``. Audit tags
    (``promoted_by``, ``promoted_at``, ``promoted_gate_verdict``) are written before the alias
    moves, so watchers recognise the move as the platform's. Promoting the current champion
    again changes nothing (safe to retry).
    """
    v = validate_version(version)
    name = resolve_model_name(model_name)
    if force and not (reason or "").strip():
        raise ValueError("a forced promotion needs a reason (recorded on the version): give --reason TEXT")
    who = _actor(actor)
    with PromotionLock(name, actor=who) as lock:
        c = lock.client
        mv = _get_version(c, name, v)
        verdict = mv.tags.get("gate_verdict")
        if not force and verdict != "passed":
            why = mv.tags.get("gate_reasons")
            raise RegistryError(
                f"refusing to promote {name} version {v}: gate_verdict is {verdict or 'missing'!r}, expected "
                f"'passed'" + (f" ({why})" if why else "") + "; use --force --reason TEXT to override"
            )
        aliases = _aliases(c, name)
        old = aliases.get(CHAMPION)
        when = _now()
        result: dict[str, Any] = {
            "model_name": name,
            "champion": v,
            "previous_champion": aliases.get(PREVIOUS_CHAMPION),
            "challenger_cleared": False,
            "changed": False,
            "forced": force,
            "promoted_by": who,
            "promoted_at": when,
        }
        if old == v:
            log.info("version is already champion", extra={"model_name": name, "version": v})
            result["promoted_by"] = mv.tags.get("promoted_by", who)
            result["promoted_at"] = mv.tags.get("promoted_at", when)
            return result
        if not force:
            expected = mv.tags.get("gate_champion_version") if expected_champion == FROM_GATE else expected_champion
            expected = None if expected in (None, "", "none") else validate_version(expected)
            if old != expected:
                raise RegistryError(
                    f"refusing to promote {name} version {v}: its gate compared it with "
                    f"{'version ' + expected if expected else 'no champion'}, but the champion is now "
                    f"{'version ' + old if old else 'none'}; gate it again against the current champion"
                )
        audit = {
            "promoted_by": who,
            "promoted_at": when,
            "promoted_gate_verdict": verdict or "none",
            "promoted_from": old or "none",
            "promotion_forced": "true" if force else "false",
        }
        if force:
            audit["promotion_reason"] = str(reason).strip()[:5000]
        lock.verify()
        for key, value in audit.items():  # audit first: the alias events below are then the platform's
            c.set_model_version_tag(name, v, key, value)
        fault_point("promote.locked")  # fault-injection tests only (medgrpo.faults); a no-op otherwise
        if old is not None:
            c.set_model_version_tag(name, old, "demoted_at", when)
            c.set_registered_model_alias(name, PREVIOUS_CHAMPION, old)
            result["previous_champion"] = old
        lock.verify()
        c.set_registered_model_alias(name, CHAMPION, v)
        if aliases.get(CHALLENGER) == v:
            c.delete_registered_model_alias(name, CHALLENGER)
            result["challenger_cleared"] = True
        result["changed"] = True
    log.info(
        "promoted",
        extra={"model_name": name, "version": v, "previous_champion": old, "actor": who, "forced": force},
    )
    return result


def rollback(model_name: str | None = None, *, actor: str | None = None) -> dict[str, Any]:
    """Make ``previous_champion`` the champion again (one step, under the promotion lock).

    RegistryError when there is none. The restored version gets ``restored_at``/``restored_by``
    (written before the alias moves); the rolled-back one ``rolled_back_by``/``rolled_back_at``.
    The ``previous_champion`` alias is removed so a second rollback fails instead of flipping back.
    """
    name = resolve_model_name(model_name)
    who = _actor(actor)
    with PromotionLock(name, actor=who) as lock:
        c = lock.client
        aliases = _aliases(c, name)
        target = aliases.get(PREVIOUS_CHAMPION)
        if target is None:
            raise RegistryError(
                f"cannot roll back {name!r}: no {PREVIOUS_CHAMPION!r} alias (aliases now: {aliases or 'none'})"
            )
        current = aliases.get(CHAMPION)
        when = _now()
        lock.verify()
        c.set_model_version_tag(name, target, "restored_at", when)
        c.set_model_version_tag(name, target, "restored_by", who)
        if current is not None and current != target:
            c.set_model_version_tag(name, current, "rolled_back_by", who)
            c.set_model_version_tag(name, current, "rolled_back_at", when)
        c.set_registered_model_alias(name, CHAMPION, target)
        c.delete_registered_model_alias(name, PREVIOUS_CHAMPION)
    log.info("rolled back", extra={"model_name": name, "champion": target, "rolled_back": current, "actor": who})
    return {
        "model_name": name,
        "champion": target,
        "rolled_back": current,
        "rolled_back_by": who,
        "rolled_back_at": when,
    }
