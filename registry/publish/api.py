"""The public verification files under ``api/`` (see ``docs/published-files.md``).

Every verifier (the browser page, ``szzz verify --site``, batch verification
by platforms) reads only these static files:

* ``api/trust-list.json`` — the latest root-signed trust list envelope;
* ``api/root-key.json`` — ``{"key_id", "public_key"}`` (informational: a
  verifier trusts its own pinned copy, never this file);
* ``api/certificates/<cert_no>.json`` — one file per certificate: every
  signed revision and every signed event; it changes only with the
  certificate's own events;
* ``api/status/<bucket>.json`` — the status statements: one per bucket of
  certificates (:func:`registry.core.rules.status_bucket`), signed by the log
  key at publish time, naming each certificate's status and last event;
* ``api/status.json`` — the status snapshot: one log-signed envelope listing
  every certificate's status and revisions, for offline batch verification.

Output is deterministic: the same registry and ``as_of`` give the same
bytes (sorted keys, fixed separators, a trailing newline, ``as_of`` from
:func:`registry.core.clock.build_time`; Ed25519 signatures are deterministic).
Writing is atomic per file (:func:`registry.core.fs.write_atomic`) and the
``certificates/`` and ``status/`` directories are built aside and swapped in
(:func:`registry.core.fs.staged_dir`), so a crash never leaves a
half-written snapshot; files in ``api/`` that belong to other writers (e.g.
the change feed ``api/events/``) are left alone.
"""

import datetime
import json
from pathlib import Path

from registry.core import canonical, clock, fs, keys, rules
from registry.core.exceptions import ConfigError
from registry.store import history, trust
from registry.store.history import CertificateData

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


# ---------------------------------------------------------- building files

def status_statement(bucket: str, statuses, log_signer, as_of: str, log_size: int) -> dict:
    """The log-signed status of the certificates of one status bucket at publish time.

    ``statuses`` maps each ``cert_no`` of ``bucket`` (:func:`rules.status_bucket`)
    to ``(status, status_date, last_seq)``. ``log_size`` is the number of
    events in the registry (= its max seq = the transparency log's tree size
    for this build): a verifier holding a fresh cosigned checkpoint of exactly
    that size knows no event has happened since, so the statement is still
    current however old ``as_of`` is (docs/verification.md, freshness).
    """
    record = {
        "bucket": bucket, "as_of": as_of, "log_size": log_size,
        "certificates": {no: {"status": status, "last_seq": last_seq}
                         for no, (status, _date, last_seq) in sorted(statuses.items())},
    }
    return canonical.make_envelope(canonical.STATUS, record, log_signer)


def status_buckets(statuses) -> dict:
    """``{bucket: {cert_no: (status, status_date, last_seq)}}`` of every certificate."""
    buckets: dict[str, dict] = {}
    for cert_no, status in statuses.items():
        buckets.setdefault(rules.status_bucket(cert_no), {})[cert_no] = status
    return buckets


def certificate_file(cert: CertificateData) -> dict:
    """The ``api/certificates/<cert_no>.json`` object: it changes only with the
    certificate's own events (its status statement is its bucket's file)."""
    return {
        "format": CERTIFICATE_FILE, "cert_no": cert.cert_no, "status": cert.status,
        "status_date": cert.status_date, "revisions": cert.revisions,
        "revision_reasons": cert.revision_reasons, "events": cert.events, "summary": cert.summary,
    }


def snapshot_entry(cert: CertificateData) -> dict:
    """One certificate in ``api/status.json``: status plus what a mark must match."""
    revisions = []
    for i, (env, reason) in enumerate(zip(cert.revisions, cert.revision_reasons, strict=True), 1):
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
    trust list lets sign a status dated ``as_of`` (:func:`registry.core.rules.key_problem`)."""
    tl = json.loads(trust_envelope["payload"])
    entry = next((e for e in tl.get("keys", []) if e.get("key_id") == log_signer.key_id), None)
    if entry is None:
        raise ConfigError(f"log key {log_signer.key_id} is not in trust list version {tl.get('version')}")
    problem = rules.key_problem(entry, "status", date=rules.cst_date(as_of).isoformat())
    if problem:
        raise ConfigError(f"log key {log_signer.key_id} may not sign the status as of {as_of}: {problem[0]}")


def write_files(out_dir, trust_envelope, certificates, log_signer, *, as_of, last_seq,
                extra_files=None, statuses=None, previous_api=None) -> dict:
    """Write ``<out_dir>/api/...`` from already-built structures.

    ``certificates`` is an iterable of :class:`~registry.store.history.CertificateData`
    sorted by ``cert_no``: every certificate, or with ``previous_api`` (the
    ``api/`` directory of the build this one updates) the changed ones only;
    every other certificate's file is then the previous build's, hard-linked
    (never written: it is being served), and its status snapshot entry the
    previous snapshot's. ``statuses`` (``{cert_no: (status, status_date,
    last_seq)}`` of every certificate; default: from ``certificates``) makes
    the status buckets, all re-signed: their ``as_of`` and ``log_size`` are
    this build's. Used by :func:`write_snapshot` and by the conformance-vector
    generator (which builds its records from fixed seeds). Returns counts.
    """
    as_of = as_of_text(as_of)
    check_log_signer(trust_envelope, log_signer, as_of)
    tl = json.loads(trust_envelope["payload"])
    api = Path(out_dir) / "api"
    entries, own = {}, {}
    with fs.staged_dir(api / "certificates") as staging:
        for cert in certificates:
            (staging / f"{cert.cert_no}.json").write_text(
                dumps(certificate_file(cert)), encoding="utf-8", newline="\n")
            entries[cert.cert_no] = snapshot_entry(cert)
            own[cert.cert_no] = (cert.status, cert.status_date, cert.last_seq)
        if previous_api is not None:
            entries = _reuse_previous(Path(previous_api), staging, entries)
        statuses = own if statuses is None else statuses
        if set(statuses) != set(entries):
            raise ConfigError(f"status of {len(statuses)} certificates, files of {len(entries)}: "
                              "the published files would disagree")
        snapshot = canonical.make_envelope(canonical.STATUS_SNAPSHOT, {
            "as_of": as_of, "last_seq": last_seq, "log_size": last_seq, "trust_list_version": tl["version"],
            "certificates": [entries[no] for no in sorted(entries)],
        }, log_signer)
        with fs.staged_dir(api / "status") as bucket_dir:
            for bucket, members in sorted(status_buckets(statuses).items()):
                (bucket_dir / f"{bucket}.json").write_text(
                    dumps(status_statement(bucket, members, log_signer, as_of, last_seq)),
                    encoding="utf-8", newline="\n")
    fs.write_atomic(api / "trust-list.json", dumps(trust_envelope))
    fs.write_atomic(api / "root-key.json", dumps(root_key_file(trust_envelope)))
    for name, text in (extra_files or {}).items():
        fs.write_atomic(api / name, text)
    # Written last: a reader that sees the new status.json sees the rest too.
    fs.write_atomic(api / "status.json", dumps(snapshot))
    return {"certificates": len(entries), "as_of": as_of, "last_seq": last_seq,
            "trust_list_version": tl["version"], "api": str(api)}


def _reuse_previous(previous_api: Path, staging: Path, entries: dict) -> dict:
    """Hard-link the previous build's file of every certificate not in
    ``entries`` into ``staging`` and return every snapshot entry: the previous
    snapshot's for those, ``entries``' for the rest, in ``cert_no`` order."""
    previous = json.loads(json.loads((previous_api / "status.json").read_text(encoding="utf-8"))["payload"])
    merged = {entry["cert_no"]: entry for entry in previous["certificates"] if entry["cert_no"] not in entries}
    fs.link_files(previous_api / "certificates", staging, ((f"{no}.json",) * 2 for no in merged))
    merged.update(entries)
    return merged


def write_snapshot(db, out_dir, log_signer, *, as_of=None, statuses=None, changed=None, previous_api=None) -> dict:
    """Write the public verification files of registry ``db`` under ``out_dir/api/``.

    ``log_signer`` is the registry's log key (:class:`keys.Signer`); ``as_of``
    defaults to :func:`clock.build_time` of the latest event, so the same
    registry always gives the same bytes. ``statuses`` is
    :func:`history.replayed_statuses` of ``db`` when the caller has it. With
    ``previous_api`` (the previous build's ``api/``) only the certificates in
    ``changed`` are read and written; the output is the same bytes as a full write.
    """
    if as_of is None:
        as_of = clock.build_time(history.latest_event_date(db))
    if statuses is None:
        statuses = history.replayed_statuses(db)
    certificates = history.iter_certificates(db, changed if previous_api is not None else None)
    return write_files(
        out_dir, trust.envelope(db), certificates, log_signer,
        as_of=as_of, last_seq=history.last_seq(db), statuses=statuses, previous_api=previous_api,
    )


def load_log_signer(db, keys_dir, passphrase, *, as_of=None) -> keys.Signer:
    """The log key that signs a status dated ``as_of`` (default: today in
    Suzhou), from ``keys_dir`` (:func:`registry.store.trust.signing_key_id`)."""
    day = rules.cst_date(as_of_text(as_of)).isoformat() if as_of is not None else clock.today().isoformat()
    return keys.load(keys_dir, trust.signing_key_id(db, "status", date=day), passphrase)
