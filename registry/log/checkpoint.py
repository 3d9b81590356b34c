"""The transparency log's checkpoints, as every client reads them: names, entries, signatures, freshness.

Every event of the registry (certificate events, key events, notices — all
signed envelopes) is one log entry; entry ``i`` is event ``seq = i + 1`` and
its bytes are the canonical encoding of the event's envelope
(:func:`entry_bytes`)::

    canonical.encode({"type": "szzz/event/v1", "payload": <signed text>,
                      "key_id": <16 hex>, "signature": <base64url>})

A checkpoint (:mod:`registry.log.note`) is signed by the log key (key name =
the *origin*, e.g. ``szzz.example.cn/log``) and cosigned with a time by the
timestamp key (``szzz.example.cn/timestamp``). :func:`open_checkpoint`,
:func:`check_fresh`, :func:`fresh_checkpoint` and :func:`check_certificate`
are what every verifier runs: the log signature by a key the rules let sign
checkpoints, under the pinned origin; a timestamped cosignature by a
timestamp key; its age; and a certificate's latest event included. No
database here: publishing the log is :mod:`registry.publish.log`. Formats:
``docs/transparency-log.md``.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypedDict, overload

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.core import canonical, clock, keys, rules
from registry.core.canonical import JSON, JSONObject
from registry.core.exceptions import ConfigError, FreshnessError, NoteError, ProofError, SourceMissingError, TileError
from registry.log import merkle, note, tiles

LOG_DIR = "log"
CHECKPOINT = "checkpoint"
VKEY = "vkey"  # log/vkey: the log key(s) as note verifier keys, one a line
LOG_JSON = "api/log.json"
LOG_JSON_FORMAT = "szzz/log/v1"
DEFAULT_HOST = "szzz.example.cn"
DEFAULT_MAX_AGE_DAYS = 7          # same default as the verifiers' status freshness
FUTURE_TOLERANCE_SECONDS = 86400  # clock skew; cosignatures before issue 11 carried the day's end (CST)


# ------------------------------------------------------------------ names

class LogInfo(TypedDict):
    """``api/log.json``: where the checkpoint is and which key names sign it."""

    format: str
    origin: str
    log_key_name: str
    timestamp_key_name: str
    checkpoint: str
    max_age_days: int


@dataclass(frozen=True)
class LogNames:
    """The note key names: the log's (= checkpoint origin) and the timestamp key's."""

    origin: str
    timestamp_name: str

    @property
    def log_key_name(self) -> str:
        # tlog-checkpoint: the log's key name SHOULD equal the origin.
        return self.origin

    def to_json(self, max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> LogInfo:
        return {"format": LOG_JSON_FORMAT, "origin": self.origin,
                "log_key_name": self.log_key_name, "timestamp_key_name": self.timestamp_name,
                "checkpoint": f"{LOG_DIR}/{CHECKPOINT}", "max_age_days": max_age_days}


def names_for(site_url: str | None = None, origin: str | None = None,
              timestamp_name: str | None = None) -> LogNames:
    """Key names derived from the site URL (scheme-less URL prefix + ``/log``).

    ``https://szzz.example.cn/`` gives ``szzz.example.cn/log`` and
    ``szzz.example.cn/timestamp``; an explicit ``origin`` wins. Names are
    checked by :class:`registry.log.note.Verifier` (no spaces, no ``+``).
    """
    host = (site_url or "").strip()
    for scheme in ("https://", "http://"):
        if host.startswith(scheme):
            host = host[len(scheme):]
    host = host.strip("/") or DEFAULT_HOST
    origin = origin or f"{host}/log"
    if timestamp_name is None:
        base = origin[: -len("/log")] if origin.endswith("/log") else origin
        timestamp_name = f"{base}/timestamp"
    names = LogNames(origin, timestamp_name)
    for name in (origin, timestamp_name):
        if not name or "+" in name or any(c.isspace() for c in name):
            raise ConfigError(f"log key name {name!r}: must be non-empty, without spaces or '+'")
    return names


# ---------------------------------------------------------------- entries

def entry_bytes(key_id: str, payload: str, signature: str) -> bytes:
    """One log entry: the canonical encoding of an event envelope."""
    return canonical.encode_envelope(canonical.EVENT, payload, key_id, signature)


def decode_entry(entry: bytes, index: int) -> JSONObject:
    """Parse entry ``index``: a canonical event envelope whose payload seq is index+1."""
    env = canonical.decode(entry)
    if not isinstance(env, dict) or set(env) != {"type", "payload", "key_id", "signature"}:
        raise TileError(f"log entry {index}: not an event envelope")
    record = canonical.envelope_payload(env, canonical.EVENT)
    if record.get("seq") != index + 1:
        raise TileError(f"log entry {index}: payload seq {record.get('seq')!r}, expected {index + 1}")
    return env


# ------------------------------------------------------------------- keys

class _PrivateKey:
    """Adapts :class:`registry.core.keys.Signer` to what :class:`registry.log.note.Signer`
    calls (``sign``, ``public_key``), so the key never leaves its Signer."""

    def __init__(self, signer: keys.Signer) -> None:
        self._signer = signer

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message)

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self._signer.public_raw)


def note_signer(signer: keys.Signer, name: str, key_type: int) -> note.Signer:
    return note.Signer(name, _PrivateKey(signer), key_type)


def trust_verifiers(trust_record: JSONObject, names: LogNames) -> list[note.Verifier]:
    """Note verifiers from a (verified) trust list: every key the rules let sign
    a checkpoint (log keys) or cosign one (timestamp keys); a compromised key
    is left out (:data:`registry.core.rules.USES`, variant PRESENTED)."""
    out: list[note.Verifier] = []
    for entry in trust_record.get("keys", []):
        if not isinstance(entry, dict):
            continue
        if rules.key_problem(entry, "checkpoint") is None:
            out.append(note.Verifier(names.origin, note.KEY_TYPE_ED25519,
                                     canonical.unb64url(entry["public_key"])))
        elif rules.key_problem(entry, "cosignature") is None:
            out.append(note.Verifier(names.timestamp_name, note.KEY_TYPE_COSIGNATURE,
                                     canonical.unb64url(entry["public_key"])))
    return out


def log_vkeys(trust_record: JSONObject, names: LogNames) -> list[str]:
    """The note verifier keys (``name+hash+base64``, type 0x01) of every key of
    the trust list that may sign a checkpoint under ``names``: what ``log/vkey``
    publishes, one a line. A trust-list entry that names another vkey for the
    same key is a ConfigError (the list and the build disagree on the origin)."""
    out = []
    for v in trust_verifiers(trust_record, names):
        if v.key_type != note.KEY_TYPE_ED25519:
            continue
        listed = next((e.get("vkey") for e in trust_record.get("keys", [])
                       if isinstance(e, dict) and e.get("role") == "log"
                       and canonical.unb64url(e["public_key"]) == v.public_key), None)
        if listed is not None and listed != v.vkey:
            raise ConfigError(f"trust list: log key vkey {listed!r}, expected {v.vkey!r} "
                              f"(origin {names.origin!r}); the trust list names another log")
        out.append(v.vkey)
    return out


@dataclass(frozen=True)
class CheckedCheckpoint:
    checkpoint: note.Checkpoint
    timestamp: int | None      # newest verified cosignature time (Unix seconds)
    text: str

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root_hash


def open_checkpoint(text: str | bytes, trust_record: JSONObject, names: LogNames) -> CheckedCheckpoint:
    """Verify the log signature (origin, trust-listed log key) of a checkpoint note.

    Raises :class:`NoteError` / ``CheckpointError``; freshness is separate
    (:func:`check_fresh`).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="strict")
    cp, opened = note.open_checkpoint(text, trust_verifiers(trust_record, names), names.origin)
    stamps = [s.timestamp for s in opened.verified
              if s.kind == "cosignature" and s.name == names.timestamp_name and s.timestamp is not None]
    return CheckedCheckpoint(cp, max(stamps) if stamps else None, text)


def check_fresh(checked: CheckedCheckpoint, *, now: int, max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> int:
    """Return the checkpoint's age in seconds, or raise :class:`FreshnessError`.

    A checkpoint carries no time; only the timestamp key's cosignature does
    (tlog-cosignature). No cosignature, older than ``max_age_days`` or more
    than a day in the future: not fresh (verifiers then say status_unknown).
    """
    ts = checked.timestamp
    if ts is None:
        raise FreshnessError("checkpoint has no timestamped cosignature by a trust-listed timestamp key")
    age = int(now) - ts
    when = clock.iso_z(datetime.datetime.fromtimestamp(ts, datetime.UTC))
    if age > int(max_age_days) * 86400:
        raise FreshnessError(f"checkpoint cosigned at {when} is stale: observed age {age // 86400} days "
                             f"{age % 86400 // 3600} h, expected at most {max_age_days} days")
    if -age > FUTURE_TOLERANCE_SECONDS:
        raise FreshnessError(f"checkpoint cosigned at {when} is in the future: observed "
                             f"{-age} s ahead, expected at most {FUTURE_TOLERANCE_SECONDS} s")
    return age


def epoch(moment: datetime.datetime | float) -> int:
    if isinstance(moment, datetime.datetime):
        return int(moment.timestamp())
    return int(moment)


# ------------------------------------------------- verifiers (szzz verify --site)

class ByteSource(Protocol):
    """What the log step reads published files with: any verifier source
    (:class:`registry.verify.sources.Source`) is one."""

    def read_bytes(self, name: str, /) -> bytes: ...


class LogCheck(TypedDict):
    """What :func:`check_certificate` found (a verdict's ``details["log"]``)."""

    origin: str
    tree_size: int
    leaf_index: int
    cosigned: int | None
    age_seconds: int
    checks: dict[str, bool]


@overload
def fresh_checkpoint(source: ByteSource, trust_record: JSONObject, *, origin: str,
                     now: float | None = None, max_age_days: int = DEFAULT_MAX_AGE_DAYS,
                     ) -> tuple[LogNames, CheckedCheckpoint, int]: ...
@overload
def fresh_checkpoint(source: ByteSource, trust_record: JSONObject, *, origin: str | None = None,
                     now: float | None = None, max_age_days: int = DEFAULT_MAX_AGE_DAYS,
                     ) -> tuple[LogNames, CheckedCheckpoint, int] | None: ...
def fresh_checkpoint(source: ByteSource, trust_record: JSONObject, *, origin: str | None = None,
                     now: float | None = None, max_age_days: int = DEFAULT_MAX_AGE_DAYS,
                     ) -> tuple[LogNames, CheckedCheckpoint, int] | None:
    """The site's checkpoint, verified and fresh: ``(names, CheckedCheckpoint, age)``.

    Origin: pinned ``origin``, else ``api/log.json``. Returns ``None`` when the
    site publishes no ``api/log.json`` and no origin is pinned (the caller
    decides whether that is acceptable); raises :class:`RegistryError` when
    the checkpoint is missing, does not verify or is not fresh.
    """
    info: JSON
    try:
        info = json.loads(source.read_bytes(LOG_JSON).decode("utf-8"))
    except SourceMissingError:
        if origin is None:
            return None
        info = {}
    except (ValueError, UnicodeDecodeError) as e:
        raise NoteError(f"{LOG_JSON}: unreadable ({e})") from None
    if not isinstance(info, dict):
        raise NoteError(f"{LOG_JSON}: not a JSON object")
    names = names_for(origin=origin or info.get("origin"), timestamp_name=info.get("timestamp_key_name"))
    checked = open_checkpoint(source.read_bytes(f"{LOG_DIR}/{CHECKPOINT}"), trust_record, names)
    now = int(time.time()) if now is None else int(now)
    age = check_fresh(checked, now=now, max_age_days=max_age_days)
    return names, checked, age


def check_certificate(source: ByteSource, trust_record: JSONObject, event_envelope: Mapping[str, JSON], *,
                      origin: str | None = None, now: float | None = None,
                      max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> LogCheck | None:
    """The log step of ``szzz verify --site``: checkpoint + freshness + inclusion.

    Checks that ``log/checkpoint`` is signed by a trust-listed log key under
    the origin (pinned ``origin``, else ``api/log.json``), is cosigned by a
    trust-listed timestamp key within ``max_age_days``, and includes
    ``event_envelope`` (the certificate's latest event, already verified by
    the caller) at leaf ``seq - 1``, with an inclusion proof built from tiles.
    Returns ``None`` when the site publishes no log and no origin is pinned;
    otherwise the check results, or raises a :class:`RegistryError` (the
    verifier turns it into ``status_unknown``).
    """
    opened = fresh_checkpoint(source, trust_record, origin=origin, now=now, max_age_days=max_age_days)
    if opened is None:
        return None
    names, checked, age = opened
    seq = json.loads(event_envelope["payload"])["seq"]
    if not isinstance(seq, int) or not 1 <= seq <= checked.size:
        raise ProofError(f"event seq {seq!r} is not in the log of size {checked.size}")
    leaf = merkle.leaf_hash(entry_bytes(event_envelope["key_id"], event_envelope["payload"],
                                        event_envelope["signature"]))
    reader = tiles.TileHashReader(checked.size, lambda rel: source.read_bytes(f"{LOG_DIR}/{rel}"))
    merkle.verify_inclusion(seq - 1, checked.size, leaf, reader.inclusion_proof(seq - 1), checked.root)
    return {"origin": names.origin, "tree_size": checked.size, "leaf_index": seq - 1,
            "cosigned": checked.timestamp, "age_seconds": age,
            "checks": {"log-signature": True, "log-fresh": True, "inclusion": True}}
