"""The public verification files under ``api/`` (see ``docs/published-files.md``).

Every verifier (the browser page, ``szzz verify --site``, batch verification
by platforms) reads only these static files:

* ``api/trust-list.json`` — the latest root-signed trust list envelope;
* ``api/root-key.json`` — ``{"key_id", "public_key"}`` (informational: a
  verifier trusts its own pinned copy, never this file);
* ``api/certificates/<cert_no>.json`` — one file per certificate: every
  signed revision, every signed event, and a status statement signed by the
  log key at publish time;
* ``api/status.json`` — the status snapshot: one log-signed envelope listing
  every certificate's status and revisions, for offline batch verification.

Output is deterministic: the same registry and ``as_of`` give the same
bytes (sorted keys, fixed separators, a trailing newline, ``as_of`` from
:func:`registry.clock.build_time`; Ed25519 signatures are deterministic).
Writing is atomic per file (temporary name + ``os.replace``) and the
``certificates/`` directory is built aside and swapped in, so a crash never
leaves a half-written snapshot; files in ``api/`` that belong to other
writers (e.g. the change feed ``api/events/``) are left alone.
"""

import datetime
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import canonical, clock, keys, schema, trust
from .exceptions import ConfigError, SchemaError

CERTIFICATE_FILE = "szzz/certificate-file/v1"
DIGEST_HEX = 32  # 16 bytes: what a mark carries


def dumps(value) -> str:
    """The fixed formatting of every published JSON file."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def as_of_text(as_of) -> str:
    if isinstance(as_of, datetime.datetime):
        return clock.iso_z(as_of)
    if isinstance(as_of, str):
        try:
            moment = datetime.datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"as_of {as_of!r} is not an ISO date-time") from None
        if moment.tzinfo is None:
            raise ConfigError(f"as_of {as_of!r} has no time zone (end it with Z)")
        return clock.iso_z(moment)
    raise ConfigError(f"as_of must be a datetime or ISO string, observed {as_of!r}")


@dataclass
class CertificateData:
    """Everything published about one certificate (before the status statement)."""

    cert_no: str
    status: str
    status_date: str
    body: str
    programme: str
    revisions: list = field(default_factory=list)         # envelopes, oldest first
    revision_reasons: list = field(default_factory=list)  # parallel to revisions
    events: list = field(default_factory=list)            # envelopes, oldest first
    summary: dict = field(default_factory=dict)

    @property
    def current(self) -> dict:
        return canonical.envelope_payload(self.revisions[-1], canonical.CERTIFICATE)

    @property
    def last_seq(self) -> int:
        return json.loads(self.events[-1]["payload"])["seq"] if self.events else 0


def _envelope(domain, payload_text, key_id, signature):
    return {"type": domain, "payload": payload_text, "key_id": key_id, "signature": signature}


# ------------------------------------------------------------ reading the db

def _body_names(db):
    return {r[0]: (r[1], r[2]) for r in db.execute("select code, name_zh, name_en from bodies")}


def summary_of(record: dict, body_names=None) -> dict:
    """Display fields, taken from the signed current revision."""
    programme = schema.PROGRAMMES.get(record.get("programme"), ("", ""))
    body_zh, body_en = (body_names or {}).get(record.get("body"), ("", ""))
    product = record.get("product") or {}
    enterprise = record.get("enterprise") or {}
    return {
        "product_name_zh": product.get("name_zh"), "product_name_en": product.get("name_en"),
        "enterprise_name_zh": enterprise.get("name_zh"), "enterprise_name_en": enterprise.get("name_en"),
        "district": enterprise.get("district"),
        "body": record.get("body"), "body_name_zh": body_zh, "body_name_en": body_en,
        "programme": record.get("programme"),
        "programme_name_zh": programme[0], "programme_name_en": programme[1],
        "scope": record.get("scope"), "issued": record.get("issued"),
        "expires": record.get("expires"),
    }


def iter_certificates(db, cert_nos=None):
    """Yield :class:`CertificateData` for every certificate, by ``cert_no``.

    Three ordered scans (certificates, revisions, events) merged in one pass,
    so 100k certificates cost three queries, not 300k.
    """
    where, params = "", []
    if cert_nos is not None:
        cert_nos = list(cert_nos)
        where = f" where cert_no in ({','.join('?' * len(cert_nos))})"
        params = cert_nos
    names = _body_names(db)
    certs = db.execute(
        "select cert_no, status, status_date, body, programme from certificates"
        + where + " order by cert_no", params)
    revs = db.execute(
        "select cert_no, revision, reason, key_id, record, signature from certificate_revisions"
        + where + " order by cert_no, revision", params)
    evs = db.execute(
        "select cert_no, seq, key_id, payload, signature from events"
        + (where + " and" if where else " where") + " cert_no is not null order by cert_no, seq",
        params)
    rev = next(revs, None)
    ev = next(evs, None)
    for cert_no, status, status_date, body, programme in certs:
        data = CertificateData(cert_no, status, status_date, body, programme)
        while rev is not None and rev[0] < cert_no:
            rev = next(revs, None)
        while rev is not None and rev[0] == cert_no:
            data.revisions.append(_envelope(canonical.CERTIFICATE, rev[4], rev[3], rev[5]))
            data.revision_reasons.append(rev[2])
            rev = next(revs, None)
        while ev is not None and ev[0] < cert_no:
            ev = next(evs, None)
        while ev is not None and ev[0] == cert_no:
            data.events.append(_envelope(canonical.EVENT, ev[3], ev[2], ev[4]))
            ev = next(evs, None)
        if not data.revisions:
            raise SchemaError(f"certificate {cert_no}: no signed revision in certificate_revisions")
        data.summary = summary_of(json.loads(data.revisions[-1]["payload"]), names)
        yield data


def certificate_data(db, cert_no):
    """One certificate's :class:`CertificateData`, or None when absent."""
    return next(iter_certificates(db, [cert_no]), None)


def latest_event_date(db):
    row = db.execute("select date from events order by seq desc limit 1").fetchone()
    return row[0] if row else None


def last_seq(db) -> int:
    row = db.execute("select max(seq) from events").fetchone()
    return row[0] or 0


# ---------------------------------------------------------- building files

def status_statement(cert: CertificateData, log_signer, as_of: str, log_size: int) -> dict:
    """The log-signed status of one certificate at publish time.

    ``log_size`` is the number of events in the registry (= its max seq = the
    transparency log's tree size for this build): a verifier holding a fresh
    cosigned checkpoint of exactly that size knows no event has happened
    since, so the statement is still current however old ``as_of`` is
    (docs/verification.md, freshness).
    """
    current = cert.revisions[-1]
    record = {
        "cert_no": cert.cert_no, "status": cert.status, "status_date": cert.status_date,
        "revision": len(cert.revisions), "record_digest": canonical.envelope_digest(current),
        "last_seq": cert.last_seq, "as_of": as_of, "log_size": log_size,
    }
    return canonical.make_envelope(canonical.STATUS, record, log_signer)


def certificate_file(cert: CertificateData, status_envelope) -> dict:
    """The ``api/certificates/<cert_no>.json`` object (``status_envelope`` may be None
    for the verifier's ``--db`` mode, which needs no log key)."""
    return {
        "format": CERTIFICATE_FILE, "cert_no": cert.cert_no, "status": cert.status,
        "status_date": cert.status_date, "revisions": cert.revisions,
        "revision_reasons": cert.revision_reasons, "events": cert.events,
        "status_statement": status_envelope, "summary": cert.summary,
    }


def snapshot_entry(cert: CertificateData) -> dict:
    """One certificate in ``api/status.json``: status plus what a mark must match."""
    revisions = []
    for i, (env, reason) in enumerate(zip(cert.revisions, cert.revision_reasons), 1):
        rec = json.loads(env["payload"])
        revisions.append({
            "revision": rec.get("revision", i), "digest": canonical.envelope_digest(env)[:DIGEST_HEX],
            "reason": reason, "key_id": env["key_id"], "signed_on": rec["signed_on"],
            "expires": rec["expires"],
        })
    return {
        "cert_no": cert.cert_no, "status": cert.status, "status_date": cert.status_date,
        "body": cert.body, "expires": revisions[-1]["expires"], "revisions": revisions,
    }


def root_key_file(trust_envelope) -> dict:
    tl = json.loads(trust_envelope["payload"])
    return {"key_id": tl["root_key_id"], "public_key": tl["root_public_key"]}


def check_log_signer(trust_envelope, log_signer):
    """The snapshot must be signed by a log key of the trust list, or nobody can check it."""
    tl = json.loads(trust_envelope["payload"])
    for entry in tl.get("keys", []):
        if entry.get("key_id") == log_signer.key_id:
            if entry.get("role") != "log":
                raise ConfigError(
                    f"key {log_signer.key_id} has role {entry.get('role')!r} in the trust list, expected 'log'")
            if entry.get("status") != "active":
                raise ConfigError(f"log key {log_signer.key_id} is {entry.get('status')}, expected active")
            return
    raise ConfigError(f"log key {log_signer.key_id} is not in trust list version {tl.get('version')}")


def _write_atomic(path: Path, text: str):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def write_files(out_dir, trust_envelope, certificates, log_signer, *, as_of, last_seq,
                extra_files=None) -> dict:
    """Write ``<out_dir>/api/...`` from already-built structures.

    ``certificates`` is an iterable of :class:`CertificateData` sorted by
    ``cert_no``. Used by :func:`write_snapshot` and by the conformance-vector
    generator (which builds its records from fixed seeds). Returns counts.
    """
    as_of = as_of_text(as_of)
    check_log_signer(trust_envelope, log_signer)
    tl = json.loads(trust_envelope["payload"])
    api = Path(out_dir) / "api"
    api.mkdir(parents=True, exist_ok=True)
    staging = api / f".certificates.{os.getpid()}.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    entries = []
    try:
        for cert in certificates:
            statement = status_statement(cert, log_signer, as_of, last_seq)
            with open(staging / f"{cert.cert_no}.json", "w", encoding="utf-8", newline="\n") as f:
                f.write(dumps(certificate_file(cert, statement)))
            entries.append(snapshot_entry(cert))
        entries.sort(key=lambda e: e["cert_no"])
        snapshot = canonical.make_envelope(canonical.STATUS_SNAPSHOT, {
            "as_of": as_of, "last_seq": last_seq, "log_size": last_seq, "trust_list_version": tl["version"],
            "certificates": entries,
        }, log_signer)
        old = api / f".certificates.{os.getpid()}.old"
        target = api / "certificates"
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _write_atomic(api / "trust-list.json", dumps(trust_envelope))
    _write_atomic(api / "root-key.json", dumps(root_key_file(trust_envelope)))
    for name, text in (extra_files or {}).items():
        _write_atomic(api / name, text)
    # Written last: a reader that sees the new status.json sees the rest too.
    _write_atomic(api / "status.json", dumps(snapshot))
    return {"certificates": len(entries), "as_of": as_of, "last_seq": last_seq,
            "trust_list_version": tl["version"], "api": str(api)}


def write_snapshot(db, out_dir, log_signer, *, as_of=None) -> dict:
    """Write the public verification files of registry ``db`` under ``out_dir/api/``.

    ``log_signer`` is the registry's log key (:class:`keys.Signer`); ``as_of``
    defaults to :func:`clock.build_time` of the latest event, so the same
    registry always gives the same bytes.
    """
    if as_of is None:
        as_of = clock.build_time(latest_event_date(db))
    return write_files(
        out_dir, trust.envelope(db), iter_certificates(db), log_signer,
        as_of=as_of, last_seq=last_seq(db),
    )


def log_key_id(db) -> str:
    """The active log key's id (from the keys table)."""
    row = db.execute(
        "select key_id from keys where owner_type = 'log' and status = 'active' "
        "order by valid_from desc limit 1").fetchone()
    if row is None:
        raise ConfigError("registry has no active log key")
    return row[0]


def load_log_signer(db, keys_dir, passphrase) -> keys.Signer:
    return keys.load(keys_dir, log_key_id(db), passphrase)
