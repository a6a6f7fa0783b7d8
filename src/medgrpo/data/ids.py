"""Published record ids, patient pseudonyms and the protected map of source ids (DESIGN §4, §8a).

* A published id is ``<source>-<16 hex>``: the start of HMAC-SHA256, keyed with the deployment
  secret ``MEDGRPO_ID_SECRET``, of the source name and the *raw* normalised content hash
  (:func:`medgrpo.data.schema.content_hash`). Raw, so ids (and with them de-duplication and the
  train/eval split) stay the same when de-identification improves; keyed, so nobody without the
  secret can confirm a guessed record text against a published id.
* A patient id (``meta.patient_id``) becomes ``pt-<16 hex>``, a keyed pseudonym of the value: the
  same patient gets the same pseudonym in every record and every run (per-patient surrogates of
  the de-identification engine key on it), and the value itself is never published.
* Source ids (a canonical record's own ``id``, ``meta.patient_id``, MedMCQA's ``id``, PubMedQA's
  PMID) are never published: they go, with the published id they became, into a *source-id map*
  that is marked PHI (:class:`IdMapWriter`) and kept outside the dataset directory.

Where the key comes from, in order (the manifest records which kind made the ids):

1. ``MEDGRPO_ID_SECRET`` (a *deployment* key): what a deployment sets, the same on every machine.
2. ``MEDGRPO_ALLOW_DEV_ID_KEY=true``: a fixed, public *development* key, for demos and tests on
   synthetic data; a warning says so on every run.
3. Otherwise an *installation* key: a random secret generated on first use and kept in a private
   file (0600; ``MEDGRPO_ID_KEY_FILE``, default ``~/.config/medgrpo/id_key``), so a single machine
   ingests out of the box with protected, stable ids. A deployment where several machines ingest
   (a remote Airflow executor) must set ``MEDGRPO_ID_SECRET``: its first task refuses otherwise
   (:mod:`medgrpo.executors`), since each machine would have its own key and ids would differ.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ID_SECRET_ENV = "MEDGRPO_ID_SECRET"
ALLOW_DEV_KEY_ENV = "MEDGRPO_ALLOW_DEV_ID_KEY"
ID_MAP_ROOT_ENV = "MEDGRPO_ID_MAP_ROOT"
ID_KEY_FILE_ENV = "MEDGRPO_ID_KEY_FILE"
#: The development key: public (it is in this file), so ids made with it protect nothing.
DEV_ID_KEY = "medgrpo-development-id-key (public: for demos and tests only)"
MIN_SECRET_CHARS = 16
ID_HEX_CHARS = 16
PSEUDONYM_PREFIX = "pt-"
METHOD = "hmac-sha256(id key, 'record' | source | sha256 of the normalised raw content)[:16]"


class IdKeyError(ValueError):
    """The id key is missing or unusable; the message says which setting to fix (never its value)."""


@dataclass(frozen=True)
class IdKey:
    """The HMAC key for ids and pseudonyms, and whether it is the public development key."""

    secret: bytes
    development: bool
    installation: bool = False

    @property
    def kind(self) -> str:
        """``deployment``, ``installation`` or ``development`` (recorded in the manifest)."""
        if self.development:
            return "development"
        return "installation" if self.installation else "deployment"

    @property
    def fingerprint(self) -> str:
        """12 hex of HMAC(key, constant): tells two keys apart without revealing either."""
        return hmac.new(self.secret, b"medgrpo id key fingerprint", hashlib.sha256).hexdigest()[:12]

    def _mac(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def record_id(self, source: str, content_sha256: str) -> str:
        """The published id of a record of ``source`` whose raw normalised content hashes to ``content_sha256``."""
        return f"{source}-{self._mac('record', source, content_sha256)[:ID_HEX_CHARS]}"

    def pseudonym(self, kind: str, value: Any, prefix: str = PSEUDONYM_PREFIX) -> str:
        """A keyed pseudonym of a source identifier (``kind`` separates namespaces, e.g. ``patient``)."""
        return f"{prefix}{self._mac(kind, canonical_value(value))[:ID_HEX_CHARS]}"


def canonical_value(value: Any) -> str:
    """One string per identifier value: strings stripped, numbers as written, other JSON sorted."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


_warned = False


def load_key() -> IdKey:
    """The id key: ``MEDGRPO_ID_SECRET``, else the development key when allowed, else the installation key."""
    global _warned
    secret = os.environ.get(ID_SECRET_ENV, "").strip()
    if secret:
        if len(secret) < MIN_SECRET_CHARS:
            raise IdKeyError(
                f"{ID_SECRET_ENV}: expected a secret of at least {MIN_SECRET_CHARS} characters, "
                f"found {len(secret)} (generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if secret == DEV_ID_KEY and not _warned:
            log.warning("%s holds the PUBLIC development id key: published ids are not protected", ID_SECRET_ENV)
            _warned = True
        return IdKey(secret.encode("utf-8"), development=secret == DEV_ID_KEY)
    from medgrpo.settings import get_settings

    if get_settings().allow_dev_id_key:
        log.warning(
            "%s is not set: using the fixed PUBLIC development id key (%s=true). Published ids and patient "
            "pseudonyms made with it protect nothing; never ingest real data this way",
            ID_SECRET_ENV,
            ALLOW_DEV_KEY_ENV,
        )
        return IdKey(DEV_ID_KEY.encode("utf-8"), development=True)
    path, key, created = _installation_key_file()
    if not _warned:
        log.warning(
            "%s is not set: using this machine's installation id key %s (%s). Ids stay stable on this machine "
            "only; where several machines ingest, set %s",
            ID_SECRET_ENV,
            path,
            "created now" if created else "kept from an earlier run",
            ID_SECRET_ENV,
        )
        _warned = True
    return IdKey(key.encode("utf-8"), development=False, installation=True)


def installation_key_path() -> Path:
    """``MEDGRPO_ID_KEY_FILE``, else ``$XDG_CONFIG_HOME/medgrpo/id_key`` (``~/.config/medgrpo/id_key``)."""
    explicit = os.environ.get(ID_KEY_FILE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(config_home) / "medgrpo" / "id_key"


def _installation_key_file() -> tuple[Path, str, bool]:
    """The installation key file, its key, and whether it was created now (0600, atomically, never
    overwritten) because it was missing."""
    path = installation_key_path()
    created = False
    try:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # fails if another process created it first: keep theirs
                created = True
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        key = path.read_text(encoding="utf-8").strip()
        if len(key) < MIN_SECRET_CHARS:
            raise IdKeyError(f"{ID_KEY_FILE_ENV}: the key file {path} holds fewer than {MIN_SECRET_CHARS} characters")
    except OSError as err:
        raise IdKeyError(
            f"{ID_SECRET_ENV} is not set and the installation id key {path} could not be read or created "
            f"({err.strerror or type(err).__name__}); set {ID_SECRET_ENV}, or {ID_KEY_FILE_ENV} to a writable path"
        ) from None
    return path, key, created


def id_map_root() -> str:
    """Where source-id maps are kept: ``MEDGRPO_ID_MAP_ROOT``, else ``<work root>/id-maps`` (never a dataset).

    The work root (``MEDGRPO_WORK_URI``) defaults to the state dir, so without it this is ``<state dir>/id-maps``.
    """
    from medgrpo import storage
    from medgrpo.settings import get_settings

    settings = get_settings()
    return settings.id_map_root or storage.join(settings.work_uri, "id-maps")


#: First line of every source-id map: what it is and how to handle it.
def map_header(**fields: Any) -> dict[str, Any]:
    """The header object of a source-id map (it classifies the file as PHI)."""
    return {
        "classification": "PHI",
        "contents": "source identifiers and the published ids / pseudonyms they became",
        "handling": "restricted: never publish, copy into a dataset, log or attach to a model; "
        "needed only to trace a published item back to its source",
        **fields,
    }


SOURCE_ID_META_KEYS = {"medmcqa_id": "medmcqa_id", "pmid": "pmid"}
PATIENT_META_KEY = "patient_id"


@dataclass
class ScrubResult:
    """A record with its source ids replaced, and the map entries that say what they were."""

    record: dict[str, Any]
    entries: list[dict[str, Any]]


def scrub_record(
    key: IdKey, record: dict[str, Any], content_sha256: str, ref: str, *, source_id: str | None = None
) -> ScrubResult:
    """Give a validated canonical record its published id and pseudonymise/move its source ids.

    ``id`` becomes :meth:`IdKey.record_id` (``source_id``, the record's own id if it had one, goes
    to the map); ``meta.patient_id`` becomes a pseudonym; MedMCQA ids and PMIDs leave ``meta``. Each
    replaced value becomes a map entry (``kind``, ``source_id``, ``published_id``, ``source``,
    ``source_ref``).
    """
    source = str(record["source"])
    published = key.record_id(source, content_sha256)
    entries: list[dict[str, Any]] = []
    if source_id is not None:
        entries.append(_entry("record_id", source_id, published, source, ref))
    meta = dict(record.get("meta") or {})
    for meta_key, kind in SOURCE_ID_META_KEYS.items():
        if meta_key in meta:
            entries.append(_entry(kind, meta.pop(meta_key), published, source, ref))
    if meta.get(PATIENT_META_KEY) not in (None, ""):
        value = meta[PATIENT_META_KEY]
        meta[PATIENT_META_KEY] = key.pseudonym("patient", value)
        entries.append(_entry("patient_id", value, meta[PATIENT_META_KEY], source, ref))
    return ScrubResult({**record, "id": published, "meta": meta}, entries)


def scrub_raw(key: IdKey, raw: Any, source: str, ref: str) -> ScrubResult:
    """A raw (quarantined) row with the source ids it may carry replaced by pseudonyms.

    Looks at the places source ids live in the formats we read: top-level ``id``, ``__key__``
    (a keyed document's key), ``pubid`` and ``meta.patient_id``; anything else stays for
    de-identification of the quarantine.
    """
    if not isinstance(raw, dict):
        return ScrubResult(raw, [])
    out = dict(raw)
    entries: list[dict[str, Any]] = []
    for name in ("id", "__key__", "pubid"):
        if name in out and out[name] not in (None, ""):
            value = out.pop(name)
            if name == "id":
                out["id"] = key.pseudonym("quarantined record", value, prefix="q-")
                entries.append(_entry("record_id", value, out["id"], source, ref))
            else:
                entries.append(_entry(name.strip("_"), value, None, source, ref))
    meta = out.get("meta")
    if isinstance(meta, dict) and meta.get(PATIENT_META_KEY) not in (None, ""):
        value = meta[PATIENT_META_KEY]
        out["meta"] = {**meta, PATIENT_META_KEY: key.pseudonym("patient", value)}
        entries.append(_entry("patient_id", value, out["meta"][PATIENT_META_KEY], source, ref))
    return ScrubResult(out, entries)


def _entry(kind: str, source_id: Any, published: str | None, source: str, ref: str) -> dict[str, Any]:
    return {"kind": kind, "source_id": source_id, "published_id": published, "source": source, "source_ref": ref}
