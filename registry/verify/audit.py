"""``szzz audit``: recompute everything a published site claims, from its files and the root key.

An auditor (a journalist, a platform, the bureau) needs nothing but the
static files and the scheme's root public key. In order:

1. the root key: pinned (``--root-key``) or, with a loud note that this
   trusts the host, ``api/root-key.json``;
2. the trust list (``api/trust-list.json``) signed by that root;
3. the checkpoint (``log/checkpoint``): signed by a trust-listed log key
   under the origin (``--origin`` or ``api/log.json``), cosigned by a
   trust-listed timestamp key, not older than the maximum age;
4. the log: every entry bundle, the Merkle tree recomputed against the
   checkpoint's root, and every hash tile compared with the recomputed hashes;
5. consistency with ``--previous`` (an older checkpoint the auditor kept):
   no rollback, no fork;
6. every entry: a canonical event envelope with seq = index + 1, signed by a
   key the trust list allows for it (root for key events and notices, the
   certificate's body for certificate events), chained per certificate, and
   replaying through the lifecycle;
7. what the site says about each certificate — ``api/certificates/<no>.json``
   (revisions, events, status, log-signed status statement), ``api/status.json``,
   the change feed ``api/events/``, the HTML page ``certificates/<no>/``
   (``data-status`` and JSON-LD ``certificationStatus``) — against that replay.

Every discrepancy is a :class:`Finding` naming the file and the entry; the
report is ``ok`` only when there is none. Formats: ``docs/transparency-log.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from registry.core import canonical, keys, lifecycle, rules
from registry.core.canonical import JSON, JSONObject
from registry.core.exceptions import RegistryError, SourceMissingError, SourceUnavailableError
from registry.log import checkpoint, merkle, tiles
from registry.log.checkpoint import CheckedCheckpoint
from registry.verify.sources import DirSource, HttpSource, pinned_root

JSONLD_ACTIVE = "https://schema.org/CertificationActive"
_DATA_STATUS = re.compile(r'data-status="([a-z_]+)"')
_JSONLD_STATUS = re.compile(r'"certificationStatus":"([^"]+)"')


@dataclass
class Finding:
    file: str
    message: str
    entry: str | None = None

    def __str__(self) -> str:
        where = f"{self.file} [{self.entry}]" if self.entry else self.file
        return f"{where}: {self.message}"


class AuditedCheckpoint(TypedDict, total=False):
    """The checkpoint an audit verified (:attr:`AuditReport.checkpoint`; empty until then)."""

    origin: str
    size: int
    root: str            # hex
    timestamp: int | None
    text: str
    age_seconds: int     # once judged fresh


@dataclass
class AuditReport:
    site: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: dict[str, bool | None] = field(default_factory=dict)   # name -> True/False/None (not run)
    counts: dict[str, int] = field(default_factory=dict)
    checkpoint: AuditedCheckpoint = field(default_factory=AuditedCheckpoint)
    statuses: dict[str, str | None] = field(default_factory=dict)  # cert_no -> status replayed from the log's events
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings

    def fail(self, check: str, file: str, message: str, entry: str | None = None) -> None:
        self.findings.append(Finding(file, message, entry))
        self.checks[check] = False

    def passed(self, check: str) -> None:
        self.checks.setdefault(check, True)

    def to_dict(self) -> dict[str, JSON]:
        return {"site": self.site, "ok": self.ok, "checks": self.checks, "counts": self.counts,
                "checkpoint": self.checkpoint, "notes": self.notes, "seconds": self.seconds,
                "statuses": self.statuses,
                "findings": [{"file": f.file, "entry": f.entry, "message": f.message}
                             for f in self.findings]}

    def text(self) -> str:
        lines = [f"audit of {self.site}: " + ("OK — every check passed / 审计通过" if self.ok
                                              else f"FAILED — {len(self.findings)} discrepancy(ies) / 审计未通过")]
        lines += [f"  note: {n}" for n in self.notes]
        for name, state in self.checks.items():
            mark = {True: "ok", False: "FAIL", None: "not run"}[state]
            lines.append(f"  [{mark:>7}] {name}")
        if self.counts:
            lines.append("  counts: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        lines += [f"  ✗ {f}" for f in self.findings]
        lines.append(f"  ({self.seconds:.2f} s)")
        return "\n".join(lines)


class _Site:
    """Published files from a directory or an http(s) base URL, as bytes."""

    def __init__(self, spec: str | os.PathLike[str]) -> None:
        text = str(spec)
        self.http = HttpSource(text) if text.startswith(("http://", "https://")) else None
        self.root = None if self.http else Path(text)
        if self.root is not None and not self.root.is_dir():
            raise RegistryError(f"{self.root}: not a directory")
        self.source: DirSource = self.http or DirSource(text)

    def data(self, rel: str) -> bytes:
        return self.source.read_bytes(rel)

    def json(self, rel: str) -> JSON:
        return json.loads(self.data(rel).decode("utf-8"))

    def exists(self, rel: str) -> bool:
        if self.root is not None:  # a directory (else http)
            return (self.root / rel).exists()
        try:
            self.data(rel)
            return True
        except (SourceMissingError, SourceUnavailableError):
            return False


def _tile_level_hashes(leaves: list[bytes]) -> list[list[bytes]]:
    """Hashes stored at each tile level: level 0 = leaves, level L+1 = roots of 256-groups."""
    levels = [leaves]
    while len(levels[-1]) >= tiles.TILE_WIDTH:
        prev = levels[-1]
        nxt = []
        for s in range(0, len(prev) - tiles.TILE_WIDTH + 1, tiles.TILE_WIDTH):
            layer = prev[s: s + tiles.TILE_WIDTH]
            while len(layer) > 1:
                layer = [merkle.node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
            nxt.append(layer[0])
        levels.append(nxt)
    return levels


def _fingerprint(value: JSON) -> bytes:
    """SHA-256 of ``value`` as sorted, compact JSON: two JSON values have equal
    fingerprints when they are the same value (an envelope in a file against
    its entry in the log), without keeping either."""
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True,
                                     separators=(",", ":")).encode("utf-8", "surrogatepass")).digest()


class _Replay(TypedDict):
    """A certificate's events in the log, replayed (:meth:`_Auditor.events`)."""

    status: str | None
    events: list[tuple[int, bytes]]   # (seq, fingerprint) of its log entries, oldest first
    last_seq: int | None         # the latest event's seq and the record digest it cites
    last_record: JSON
    last_digest: str | None


class _Auditor:
    # Set by trust(), checkpoint() and log(), which run first.
    root_raw: bytes
    root_id: str
    root_entry: rules.KeyEntry
    trust_record: JSONObject
    keys: dict[JSON, JSONObject]    # key_id (as the trust list gives it) -> entry
    names: checkpoint.LogNames
    reader: tiles.TileHashReader
    leaves: list[bytes]             # the log's leaf hashes, as log() read them

    def __init__(self, site: _Site, report: AuditReport, *, root_key: bytes | str | os.PathLike[str] | None,
                 previous: str | os.PathLike[str] | None, origin: str | None, max_age_days: int,
                 now: int) -> None:
        self.site, self.r = site, report
        self.root_key, self.previous, self.origin = root_key, previous, origin
        self.max_age_days, self.now = max_age_days, now
        # Per log entry only a fingerprint (index = seq - 1, None for a bad
        # entry), never the envelope: the audit streams the log, and at 100k
        # certificates holding every envelope and record took 1.74 GB (issue 13).
        self.fingerprints: list[bytes | None] = []
        self.replay: dict[str, _Replay] = {}         # cert_no -> its events replayed

    # ------------------------------------------------------------ trust
    def trust(self) -> bool:
        r = self.r
        if self.root_key is not None:
            root_raw = pinned_root(self.root_key)
        else:
            doc = self.site.json("api/root-key.json")
            root_raw = pinned_root(doc["public_key"])
            r.notes.append("root key read from the site itself (api/root-key.json): this trusts the "
                           "host; pin the scheme's root key with --root-key / "
                           "根公钥取自被审计网站，请用 --root-key 固定")
        try:
            env = self.site.json("api/trust-list.json")
            record = keys.verify_envelope(env, canonical.TRUST_LIST, root_raw)
            # A root-signed list is still read as untrusted input: a malformed
            # one is a failed check, never an exception out of audit().
            entries = record.get("keys") if isinstance(record, dict) else None
            if not isinstance(entries, list) or not all(
                    isinstance(e, dict) and isinstance(e.get("key_id"), str) for e in entries):
                raise RegistryError("observed a record without a list of key entries, "
                                    "expected {\"keys\": [{\"key_id\": …}, …]}")
            if record.get("root_key_id") != keys.key_id_of(root_raw):
                raise RegistryError(f"root_key_id {record.get('root_key_id')}, expected {keys.key_id_of(root_raw)}")
        except (RegistryError, SourceMissingError, SourceUnavailableError, ValueError, KeyError, TypeError) as e:
            r.fail("trust list signed by the root key", "api/trust-list.json", str(e))
            return False
        r.passed("trust list signed by the root key")
        self.root_raw = root_raw
        self.root_id = keys.key_id_of(root_raw)
        self.root_entry = rules.root_entry(self.root_id, canonical.b64url(root_raw))
        self.trust_record = record
        self.keys = {e["key_id"]: e for e in entries}
        return True

    # ------------------------------------------------------- checkpoint
    def checkpoint(self) -> CheckedCheckpoint | None:
        r = self.r
        info: JSON
        try:
            info = self.site.json(checkpoint.LOG_JSON)
        except (SourceMissingError, SourceUnavailableError, ValueError) as e:
            info = {}
            if self.origin is None:
                r.fail("checkpoint signed by the log key", checkpoint.LOG_JSON,
                       f"unreadable and no --origin given ({e})")
                return None
        origin = self.origin or info.get("origin")
        if self.origin is not None and info.get("origin") not in (None, self.origin):
            r.fail("checkpoint signed by the log key", checkpoint.LOG_JSON,
                   f"origin {info.get('origin')!r} differs from the pinned {self.origin!r}")
        if self.origin is None:
            r.notes.append(f"log origin {origin!r} read from {checkpoint.LOG_JSON}; pin it with --origin")
        try:
            names = checkpoint.names_for(origin=origin, timestamp_name=info.get("timestamp_key_name"))
        except RegistryError as e:
            r.fail("checkpoint signed by the log key", checkpoint.LOG_JSON, str(e))
            return None
        self.names = names
        rel = f"{checkpoint.LOG_DIR}/{checkpoint.CHECKPOINT}"
        try:
            checked = checkpoint.open_checkpoint(self.site.data(rel), self.trust_record, names)
        except (RegistryError, SourceMissingError, SourceUnavailableError, UnicodeDecodeError) as e:
            r.fail("checkpoint signed by the log key", rel, str(e))
            return None
        r.passed("checkpoint signed by the log key")
        r.checkpoint = {"origin": names.origin, "size": checked.size, "root": checked.root.hex(),
                        "timestamp": checked.timestamp, "text": checked.text}
        # The host's max age can only make the audit stricter, never laxer.
        max_age = min(self.max_age_days, int(info.get("max_age_days") or self.max_age_days))
        try:
            age = checkpoint.check_fresh(checked, now=self.now, max_age_days=max_age)
            r.checkpoint["age_seconds"] = age
            r.passed("checkpoint fresh (timestamped cosignature)")
        except RegistryError as e:
            r.fail("checkpoint fresh (timestamped cosignature)", rel, str(e))
        return checked

    # -------------------------------------------------------------- log
    def bundles(self, size: int) -> Iterator[tuple[tiles.Tile, list[bytes]]]:
        """Each level-0 tile of a tree of ``size`` entries with its entry bundle,
        decoded, one at a time: each pass reads them again, and no pass holds
        them all (an error names its bundle: :meth:`log` reads them first)."""
        for t in tiles.tiles_for_size(size):
            if not t.level:
                yield t, self.bundle(t)

    def bundle(self, t: tiles.Tile) -> list[bytes]:
        """The entries of level-0 tile ``t``'s bundle, read from the site (never cached)."""
        return tiles.decode_bundle(self.site.data(f"{checkpoint.LOG_DIR}/{t.entries_path}"), t.width)

    def log(self, checked: CheckedCheckpoint) -> bool:
        r = self.r
        size = checked.size
        reader = tiles.TileHashReader(size, lambda rel: self.site.data(f"{checkpoint.LOG_DIR}/{rel}"))
        leaves: list[bytes] = []
        for t in tiles.tiles_for_size(size):
            if t.level:
                continue
            try:
                bundle = self.bundle(t)
            except (RegistryError, SourceMissingError, SourceUnavailableError) as e:
                r.fail("Merkle tree matches the checkpoint", f"{checkpoint.LOG_DIR}/{t.entries_path}", str(e))
                return False
            leaves.extend(merkle.leaf_hash(e) for e in bundle)
        levels = _tile_level_hashes(leaves)
        tiles_ok = True
        for t in tiles.tiles_for_size(size):
            rel = f"{checkpoint.LOG_DIR}/{t.path}"
            expected = b"".join(levels[t.level][t.index * tiles.TILE_WIDTH: t.index * tiles.TILE_WIDTH + t.width])
            try:
                got = self.site.data(rel)
            except (SourceMissingError, SourceUnavailableError) as e:
                r.fail("every hash tile matches the entries", rel, str(e))
                tiles_ok = False
                continue
            if got != expected:
                where = next((i for i in range(0, len(expected), 32) if got[i:i + 32] != expected[i:i + 32]), 0)
                r.fail("every hash tile matches the entries", rel,
                       f"observed {len(got)} bytes differing from the hashes of the entry bundles "
                       f"(first at hash {where // 32}), expected {len(expected)} bytes recomputed")
                tiles_ok = False
        if tiles_ok:
            r.passed("every hash tile matches the entries")
        root = merkle.root_hash(leaves)
        if root != checked.root:
            r.fail("Merkle tree matches the checkpoint", f"{checkpoint.LOG_DIR}/{checkpoint.CHECKPOINT}",
                   f"entry bundles hash to root {root.hex()}, the checkpoint signs {checked.root.hex()}")
        else:
            r.passed("Merkle tree matches the checkpoint")
        r.counts["log entries"] = size
        self.reader = reader
        self.leaves = leaves
        return True

    def previous_checkpoint(self, checked: CheckedCheckpoint) -> None:
        r = self.r
        name = "consistent with --previous (no rollback, no fork)"
        if self.previous is None:
            r.checks[name] = None
            return
        path = str(self.previous)
        try:
            old = checkpoint.open_checkpoint(Path(path).read_text(encoding="utf-8"), self.trust_record, self.names)
        except (RegistryError, OSError, UnicodeDecodeError) as e:
            r.fail(name, path, f"previous checkpoint does not verify: {e}")
            return
        if old.size > checked.size:
            r.fail(name, f"{checkpoint.LOG_DIR}/{checkpoint.CHECKPOINT}",
                   f"rolled back: tree size {checked.size}, but {path} already has {old.size}")
            return
        if old.size == 0:
            r.passed(name)
            return
        try:
            proof = self.reader.consistency_proof(old.size, checked.size)
            merkle.verify_consistency(old.size, checked.size, proof, old.root, checked.root)
        except (RegistryError, SourceMissingError, SourceUnavailableError) as e:
            r.fail(name, f"{checkpoint.LOG_DIR}/{checkpoint.CHECKPOINT}",
                   f"not an extension of {path} (size {old.size}, root {old.root.hex()}): {e}")
            return
        r.passed(name)

    # ----------------------------------------------------------- events
    def _key_for(self, rec: JSON, env: JSONObject) -> bytes:
        """The public key that may sign this event: the rules' (:func:`rules.key_problem`,
        use ``event`` for a certificate's body, ``root_event`` for the root)."""
        kid = env["key_id"]
        use = rules.event_use(rec)
        entry = self.root_entry if kid == self.root_id else self.keys.get(kid)
        if entry is None:
            raise RegistryError(f"signed by key {kid}, which is not in the trust list")
        body = rules.body_of_cert_no(rec.get("cert_no"))
        problem = rules.key_problem(entry, use, date=rec.get("date"), body=body)
        if problem:
            raise RegistryError(f"{rec.get('type')}: {problem[0]}")
        if use == "event" and rec.get("actor") != body:
            raise RegistryError(f"actor {rec.get('actor')!r}, expected the certificate's body {body!r}")
        return canonical.unb64url(entry["public_key"])

    def _log_key(self, env: JSON, what: str) -> JSONObject:
        """The trust-list entry of the key that signed a status statement or snapshot."""
        entry = self.keys.get(env.get("key_id")) if isinstance(env, dict) else None
        if entry is None:
            raise RegistryError(f"{what} signed by {env.get('key_id') if isinstance(env, dict) else None!r}, "
                                "not a trust-listed key")
        return entry

    def _check_log_key(self, entry: JSONObject, record: JSON, what: str) -> None:
        """The rules must let ``entry`` sign a status dated as ``record`` says."""
        try:
            day = rules.cst_date(record.get("as_of")).isoformat()
        except ValueError as e:
            raise RegistryError(f"{what}: as_of unreadable ({e})") from None
        problem = rules.key_problem(entry, "status", date=day)
        if problem:
            raise RegistryError(f"{what}: {problem[0]}")

    def events(self, size: int) -> None:
        r = self.r
        bad = 0
        for t, bundle in self.bundles(size):
            where = f"{checkpoint.LOG_DIR}/{t.entries_path}"
            for i, entry in enumerate(bundle, t.index * tiles.TILE_WIDTH):
                label = f"entry {i}, seq {i + 1}"
                # Read again, so it must be the entry :meth:`log` hashed into the
                # checked tree: a server could answer the second read otherwise.
                if merkle.leaf_hash(entry) != self.leaves[i]:
                    raise RegistryError(f"{where}: entry {i} changed between two reads of its bundle")
                try:
                    env = checkpoint.decode_entry(entry, i)
                    rec = canonical.envelope_payload(env, canonical.EVENT)
                    keys.verify_envelope(env, canonical.EVENT, self._key_for(rec, env))
                except (RegistryError, KeyError, TypeError, AttributeError) as e:
                    r.fail("every event signed by an allowed key", where, str(e), label)
                    bad += 1
                    self.fingerprints.append(None)
                    continue
                fingerprint = _fingerprint(env)
                self.fingerprints.append(fingerprint)
                if rules.event_use(rec) == "root_event":
                    continue
                cert = self.replay.setdefault(rec.get("cert_no"), {
                    "status": None, "events": [], "last_seq": None, "last_record": None, "last_digest": None})
                try:
                    if rec.get("prev") != cert["last_digest"]:
                        raise RegistryError(f"prev {rec.get('prev')!r} breaks the chain of {rec.get('cert_no')}, "
                                            f"expected {cert['last_digest']}")
                    cert["status"] = lifecycle.next_status(cert["status"], rec.get("type"),
                                                           cert_no=rec.get("cert_no"))
                    if rec.get("status") != cert["status"]:
                        raise RegistryError(f"event says status {rec.get('status')!r}, "
                                            f"replay gives {cert['status']!r}")
                except RegistryError as e:
                    r.fail("every certificate's events chain and replay", where, str(e), label)
                    cert["status"] = "broken"
                cert["events"].append((i + 1, fingerprint))
                cert["last_seq"], cert["last_record"] = i + 1, rec.get("record_digest")
                cert["last_digest"] = canonical.envelope_digest(env)
        if not bad:
            r.passed("every event signed by an allowed key")
        r.passed("every certificate's events chain and replay")
        r.counts["certificates in the log"] = len(self.replay)

    # ----------------------------------------------------- certificates
    def _revisions(self, rel: str, cert_no: str, doc: JSON) -> str | None:
        revisions = doc.get("revisions")
        if not isinstance(revisions, list) or not revisions:
            raise RegistryError("no signed revisions")
        prev = None
        body = rules.body_of_cert_no(cert_no)
        for n, env in enumerate(revisions, 1):
            entry = self.keys.get(env.get("key_id")) if isinstance(env, dict) else None
            if entry is None:
                raise RegistryError(f"revision {n}: signed by a key that is not in the trust list")
            rec = keys.verify_envelope(env, canonical.CERTIFICATE, canonical.unb64url(entry["public_key"]))
            problem = rules.key_problem(entry, "revision", date=rec.get("signed_on"), body=body)
            if problem:
                raise RegistryError(f"revision {n}: {problem[0]}")
            if rec.get("cert_no") != cert_no or rec.get("revision") != n or rec.get("previous") != prev:
                raise RegistryError(f"revision {n}: cert_no/revision/previous are {rec.get('cert_no')}/"
                                    f"{rec.get('revision')}/{rec.get('previous')}, expected {cert_no}/{n}/{prev}")
            prev = canonical.envelope_digest(env)
        return prev

    def certificates(self, size: int) -> None:
        r = self.r
        check = "certificate files agree with the log"
        statuses: dict[str, str | None] = {}
        for cert_no, info in sorted(self.replay.items()):
            rel = f"api/certificates/{cert_no}.json"
            status = info["status"]
            statuses[cert_no] = status
            try:
                doc = self.site.json(rel)
            except (SourceMissingError, SourceUnavailableError, ValueError) as e:
                r.fail(check, rel, f"unreadable: {e}")
                continue
            logged = info["events"]
            published = doc.get("events") if isinstance(doc.get("events"), list) else []
            for n in range(max(len(logged), len(published))):
                a = logged[n] if n < len(logged) else None
                b = published[n] if n < len(published) else None
                if (a and a[1]) != (None if b is None else _fingerprint(b)):
                    seq = a[0] if a else None
                    r.fail(check, rel, "event differs from the log: " + (
                        f"log has seq {seq}, file has " + ("nothing" if b is None else "a different envelope")
                        if a else "file has an event the log does not"), f"events[{n}]")
                    break
            try:
                digest = self._revisions(rel, cert_no, doc)
                if digest != info["last_record"]:
                    raise RegistryError(f"current revision digest {digest}, the latest event cites "
                                        f"{info['last_record']}")
            except (RegistryError, KeyError, TypeError, AttributeError) as e:
                r.fail(check, rel, str(e), "revisions")
            if doc.get("status") != status:
                r.fail(check, rel, f"status {doc.get('status')!r}, but its events replay to {status!r} "
                       f"(latest event seq {info['last_seq']})", "status")
        if self.site.root is not None and (self.site.root / "api" / "certificates").is_dir():
            for path in sorted((self.site.root / "api" / "certificates").glob("*.json")):
                if path.stem not in self.replay:
                    r.fail(check, f"api/certificates/{path.name}", "certificate has no event in the log")
        r.passed(check)
        r.counts["certificate files"] = len(self.replay)
        r.statuses = statuses
        self.status_statements(size)
        self.status_json(statuses, size)
        self.pages(statuses)

    def status_statements(self, size: int) -> None:
        """Every status bucket (``api/status/<bucket>.json``) is signed by a log
        key, was signed at this log's size, and names exactly its bucket's
        certificates with the status and last event the log replays to."""
        r = self.r
        check = "status statements api/status/ agree with the log"
        buckets: dict[str, dict[str, tuple[str | None, int | None]]] = {}
        for cert_no, info in self.replay.items():
            buckets.setdefault(rules.status_bucket(cert_no), {})[cert_no] = (info["status"], info["last_seq"])
        for bucket, want in sorted(buckets.items()):
            rel = f"api/status/{bucket}.json"
            try:
                env = self.site.json(rel)
                entry = self._log_key(env, "status statement")
                stmt = keys.verify_envelope(env, canonical.STATUS, canonical.unb64url(entry["public_key"]))
                self._check_log_key(entry, stmt, "status statement")
            except (SourceMissingError, SourceUnavailableError, ValueError, RegistryError, AttributeError,
                    TypeError, KeyError) as e:
                r.fail(check, rel, str(e))
                continue
            if stmt.get("bucket") != bucket or stmt.get("log_size") != size:
                r.fail(check, rel, f"bucket {stmt.get('bucket')!r} signed at log size {stmt.get('log_size')!r}, "
                       f"expected bucket {bucket!r} at the checkpoint's {size}")
            listed = stmt.get("certificates") if isinstance(stmt.get("certificates"), dict) else {}
            for cert_no in sorted(set(want) | set(listed)):
                said = listed.get(cert_no)
                got = (said.get("status"), said.get("last_seq")) if isinstance(said, dict) else None
                if got != want.get(cert_no):
                    r.fail(check, rel, f"says {got}, the log gives {want.get(cert_no)}", cert_no)
        r.passed(check)
        r.counts["status statements"] = len(buckets)

    def status_json(self, statuses: dict[str, str | None], size: int) -> None:
        r = self.r
        check = "api/status.json agrees with the log"
        rel = "api/status.json"
        try:
            env = self.site.json(rel)
            entry = self._log_key(env, "status snapshot")
            snap = keys.verify_envelope(env, canonical.STATUS_SNAPSHOT, canonical.unb64url(entry["public_key"]))
            self._check_log_key(entry, snap, "status snapshot")
        except (SourceMissingError, SourceUnavailableError, ValueError, RegistryError, AttributeError, TypeError,
                KeyError) as e:
            r.fail(check, rel, str(e))
            return
        if snap.get("last_seq") != size:
            r.fail(check, rel, f"last_seq {snap.get('last_seq')}, the checkpoint's tree has {size} entries")
        listed: dict[JSON, JSON] = {}
        for item in snap.get("certificates", []):
            listed[item.get("cert_no")] = item.get("status")
        for cert_no, status in statuses.items():
            if cert_no not in listed:
                r.fail(check, rel, "certificate missing", cert_no)
            elif listed[cert_no] != status:
                r.fail(check, rel, f"status {listed[cert_no]!r}, its events replay to {status!r}", cert_no)
        for cert_no in sorted(set(listed) - set(statuses)):
            r.fail(check, rel, "certificate has no event in the log", cert_no)
        r.passed(check)

    def change_feed(self, size: int) -> None:
        r = self.r
        check = "change feed api/events/ agrees with the log"
        try:
            index = self.site.json("api/events/index.json")
        except SourceMissingError:
            r.checks[check] = None
            return
        except (SourceUnavailableError, ValueError) as e:
            r.fail(check, "api/events/index.json", str(e))
            return
        seen = 0
        for page in index.get("pages", []):
            rel = f"api/events/{page.get('href')}"
            try:
                doc = self.site.json(rel)
            except (SourceMissingError, SourceUnavailableError, ValueError) as e:
                r.fail(check, rel, str(e))
                continue
            for n, env in enumerate(doc.get("events", [])):
                try:
                    seq = json.loads(env["payload"])["seq"]
                except (ValueError, KeyError, TypeError):
                    r.fail(check, rel, "unreadable event", f"events[{n}]")
                    continue
                if seq != seen + 1:
                    # The feed promises every event, in order, without gaps.
                    r.fail(check, rel, f"event seq {seq}, expected seq {seen + 1} (an event is missing "
                           "or out of order)", f"events[{n}]")
                elif not 1 <= seq <= size or _fingerprint(env) != self.fingerprints[seq - 1]:
                    r.fail(check, rel, f"event seq {seq} differs from log entry {seq - 1}", f"events[{n}]")
                seen = seq
        if seen != size or index.get("last_seq") != size:
            r.fail(check, "api/events/index.json",
                   f"feed holds {seen} events up to seq {index.get('last_seq')}, the log {size}")
        r.passed(check)

    def pages(self, statuses: dict[str, str | None]) -> None:
        r = self.r
        check = "certificate pages show the replayed status"
        if self.site.root is not None and not (self.site.root / "certificates").is_dir():
            r.checks[check] = None
            r.notes.append("no HTML certificate pages (certificates/<no>/index.html) to check")
            return
        missing: list[tuple[str, SourceMissingError]] = []
        for cert_no, status in statuses.items():
            rel = f"certificates/{cert_no}/index.html"
            try:
                html = self.site.data(rel).decode("utf-8")
            except SourceMissingError as e:
                missing.append((rel, e))
                continue
            except (SourceUnavailableError, UnicodeDecodeError) as e:
                r.fail(check, rel, f"unreadable: {e}")
                continue
            shown = set(_DATA_STATUS.findall(html))
            if shown and shown != {status}:
                r.fail(check, rel, f"data-status {sorted(shown)}, its events replay to {status!r}")
            ld = set(_JSONLD_STATUS.findall(html))
            want = JSONLD_ACTIVE if status == "valid" else "https://schema.org/CertificationInactive"
            if ld and ld != {want}:
                r.fail(check, rel, f"JSON-LD certificationStatus {sorted(ld)}, expected {want} ({status})")
            if not shown and not ld:
                r.fail(check, rel, "no machine-readable status (data-status or JSON-LD certificationStatus)")
        if missing and len(missing) == len(statuses):
            # Over HTTP a site without pages looks like this (a directory can say so up front).
            r.checks.setdefault(check, None)
            r.notes.append("no HTML certificate pages (certificates/<no>/index.html) to check")
            return
        for rel, error in missing:
            r.fail(check, rel, f"unreadable: {error}")
        r.passed(check)


def audit(site: str | os.PathLike[str], *, root_key: bytes | str | os.PathLike[str] | None = None,
          previous: str | os.PathLike[str] | None = None, origin: str | None = None,
          max_age_days: int = checkpoint.DEFAULT_MAX_AGE_DAYS, now: float | None = None) -> AuditReport:
    """Audit the site at ``site`` (directory or http(s) URL); never raises on bad files.

    ``root_key``: the pinned root (base64url, raw bytes or a root-key.json
    path); ``previous``: path of a checkpoint saved earlier; ``now``: Unix
    time for freshness (default: the wall clock — an audit is about now).
    """
    started = time.perf_counter()
    report = AuditReport(str(site))
    now = int(time.time()) if now is None else int(now)
    try:
        a = _Auditor(_Site(site), report, root_key=root_key, previous=previous, origin=origin,
                     max_age_days=max_age_days, now=now)
        if a.trust():
            checked = a.checkpoint()
            if checked is not None:
                logged = a.log(checked)
                a.previous_checkpoint(checked)
                if logged:
                    a.events(checked.size)
                    a.certificates(checked.size)
                    a.change_feed(checked.size)
    except (RegistryError, SourceMissingError, SourceUnavailableError, OSError, ValueError, KeyError) as e:
        report.fail("audit could run", str(site), f"{type(e).__name__}: {e}")
    report.seconds = round(time.perf_counter() - started, 3)
    return report
