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

from . import canonical, clock, keys, lifecycle, records, rules, schema, trust
from .exceptions import ConfigError, SchemaError, StatusCacheError

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


def replay(cert_no, events) -> tuple:
    """``(status, status_date)`` of a certificate from its signed event envelopes
    (the published status is always this replay, never the cached column)."""
    try:
        records = [json.loads(env["payload"]) for env in events]
        return lifecycle.replay(((r["type"], r["date"]) for r in records), cert_no=cert_no)
    except (ValueError, KeyError, TypeError) as e:
        raise SchemaError(f"certificate {cert_no}: an event payload is unreadable ({e})") from None


def iter_certificates(db, cert_nos=None):
    """Yield :class:`CertificateData` for every certificate, by ``cert_no``; the
    status and its date are the replay of the certificate's signed events.

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
        "select cert_no, body, programme from certificates" + where + " order by cert_no", params)
    revs = db.execute(
        "select cert_no, revision, reason, key_id, record, signature from certificate_revisions"
        + where + " order by cert_no, revision", params)
    evs = db.execute(
        "select cert_no, seq, key_id, payload, signature from events"
        + (where + " and" if where else " where") + " cert_no is not null order by cert_no, seq",
        params)
    rev = next(revs, None)
    ev = next(evs, None)
    for cert_no, body, programme in certs:
        data = CertificateData(cert_no, None, None, body, programme)
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
        data.status, data.status_date = replay(cert_no, data.events)
        data.summary = records.summary_of(json.loads(data.revisions[-1]["payload"]), names)
        yield data


def replayed_statuses(db) -> dict:
    """``{cert_no: (status, status_date, last_seq)}`` of every certificate, replayed
    from the signed event payloads in one ordered scan."""
    out, current, events, last = {}, None, [], 0

    def close():
        if current is not None:
            out[current] = (*lifecycle.replay(events, cert_no=current), last)

    for cert_no, seq, text in db.execute(
            "select cert_no, seq, payload from events where cert_no is not null order by cert_no, seq"):
        if cert_no != current:
            close()
            current, events = cert_no, []
        try:
            record = json.loads(text)
            events.append((record["type"], record["date"]))
        except (ValueError, KeyError, TypeError) as e:
            raise SchemaError(f"event {seq}: payload unreadable ({e})") from None
        last = seq
    close()
    return out


def check_status_cache(db, statuses) -> None:
    """Stop unless every cached ``certificates.status``, ``status_date`` and
    ``last_seq`` equals the replay of the certificate's signed events: a status
    changed without a signed event must never be published or signed.
    StatusCacheError naming the first certificate that differs."""
    for cert_no, status, status_date, last_seq in db.execute(
            "select cert_no, status, status_date, last_seq from certificates order by cert_no"):
        replayed = statuses.get(cert_no)
        if replayed is None:
            raise StatusCacheError(f"certificate {cert_no}: no signed events, but the registry lists it "
                                   f"as {status}; nothing was signed")
        if (status, status_date, last_seq) != replayed:
            raise StatusCacheError(
                f"certificate {cert_no}: the registry's cached status is {status} since {status_date} "
                f"(last event {last_seq}), its signed events give {replayed[0]} since {replayed[1]} "
                f"(last event {replayed[2]}); a status changed without a signed event, nothing was signed")
    extra = set(statuses) - {r[0] for r in db.execute("select cert_no from certificates")}
    if extra:
        raise StatusCacheError(f"certificate {min(extra)}: has signed events but no row in certificates; "
                               "nothing was signed")


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


def check_log_signer(trust_envelope, log_signer, as_of: str):
    """Refuse to sign what no verifier would accept: the log key must be one the
    trust list lets sign a status dated ``as_of`` (:func:`registry.rules.key_problem`)."""
    tl = json.loads(trust_envelope["payload"])
    entry = next((e for e in tl.get("keys", []) if e.get("key_id") == log_signer.key_id), None)
    if entry is None:
        raise ConfigError(f"log key {log_signer.key_id} is not in trust list version {tl.get('version')}")
    problem = rules.key_problem(entry, "status", date=rules.cst_date(as_of).isoformat())
    if problem:
        raise ConfigError(f"log key {log_signer.key_id} may not sign the status as of {as_of}: {problem[0]}")


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
    check_log_signer(trust_envelope, log_signer, as_of)
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


def load_log_signer(db, keys_dir, passphrase, *, as_of=None) -> keys.Signer:
    """The log key that signs a status dated ``as_of`` (default: today in
    Suzhou), from ``keys_dir`` (:func:`registry.trust.signing_key_id`)."""
    day = rules.cst_date(as_of_text(as_of)).isoformat() if as_of is not None else clock.today().isoformat()
    return keys.load(keys_dir, trust.signing_key_id(db, "status", date=day), passphrase)
