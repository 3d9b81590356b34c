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

import bisect
import dataclasses
import datetime
import itertools
import json
import os
import re
from pathlib import Path

from registry.core import canonical, clock, fs, keys, parallel, rules
from registry.core.exceptions import ConfigError, PreviousBuildError, SignatureError
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
                         for no, (status, _date, last_seq) in statuses.items()},
    }
    return canonical.sign_payload(canonical.STATUS, canonical.encode_status(record), log_signer)


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


def trust_list_key(tl: dict, key_id) -> dict | None:
    """The entry of key ``key_id`` in trust list ``tl`` (its decoded payload), or None."""
    return next((e for e in tl.get("keys", []) if e.get("key_id") == key_id), None)


def check_log_signer(trust_envelope, log_signer, as_of: str):
    """Refuse to sign what no verifier would accept: the log key must be one the
    trust list lets sign a status dated ``as_of`` (:func:`registry.core.rules.key_problem`)."""
    tl = json.loads(trust_envelope["payload"])
    entry = trust_list_key(tl, log_signer.key_id)
    if entry is None:
        raise ConfigError(f"log key {log_signer.key_id} is not in trust list version {tl.get('version')}")
    problem = rules.key_problem(entry, "status", date=rules.cst_date(as_of).isoformat())
    if problem:
        raise ConfigError(f"log key {log_signer.key_id} may not sign the status as of {as_of}: {problem[0]}")


def write_files(out_dir, trust_envelope, certificates, log_signer, *, as_of, last_seq,
                extra_files=None, statuses=None, previous_api=None, spare_certificates=None,
                status_written=False) -> dict:
    """Write ``<out_dir>/api/...`` from already-built structures.

    ``certificates`` is an iterable of :class:`~registry.store.history.CertificateData`
    sorted by ``cert_no``: every certificate, or with ``previous_api`` (the
    ``api/`` directory of the build this one updates) the changed ones only;
    every other certificate's file is then the previous build's, hard-linked
    (never written: it is being served), and its status snapshot entry the
    previous snapshot's text (:func:`read_previous_snapshot`,
    :func:`snapshot_payload`). With ``spare_certificates`` too (the
    ``api/certificates/`` directory of an earlier build that nobody serves,
    :meth:`~registry.publish.output.Output.claim_spare`), that directory is
    moved in whole (one rename) instead of linking file by file, and
    ``certificates`` must hold every certificate changed since *its* build
    (a superset of those changed since ``previous_api``'s): their files are
    written anew, as new inodes (:func:`fs.write_new`: the spare's files may
    be hard links shared with the served build), and nothing else is
    touched; the snapshot's other entries are still ``previous_api``'s.
    ``statuses`` (``{cert_no: (status, status_date,
    last_seq)}`` of every certificate; default: from ``certificates``) makes
    the status buckets, all re-signed: their ``as_of`` and ``log_size`` are
    this build's. ``status_written``: the status files are written already
    (:func:`write_status_files`, which the build runs in a worker alongside
    other steps): the buckets, and with ``previous_api`` the snapshot too.
    Used by :func:`write_snapshot` and by the conformance-vector
    generator (which builds its records from fixed seeds). Returns counts.
    """
    as_of = as_of_text(as_of)
    check_log_signer(trust_envelope, log_signer, as_of)
    tl = json.loads(trust_envelope["payload"])
    api = Path(out_dir) / "api"
    # The worker writes a full build's buckets, an incremental build's snapshot too.
    snapshot_written = status_written and previous_api is not None
    previous = None
    if previous_api is not None and not snapshot_written:
        previous = read_previous_snapshot(Path(previous_api) / "status.json", tl)
    elif spare_certificates is not None and previous_api is None:
        raise ConfigError("spare_certificates without previous_api: the unchanged certificates' "
                          "status snapshot entries come from the previous build's api/status.json")
    entries, own = {}, {}
    with fs.staged_dir(api / "certificates") as staging:
        if spare_certificates is not None:
            # The spare's tree replaces the empty staging directory (a
            # directory may be renamed over an empty one): its files are
            # current but for the certificates changed since its build,
            # every one of which is in ``certificates``, written below.
            os.replace(spare_certificates, staging)
        for cert in certificates:
            text = dumps(certificate_file(cert))
            if spare_certificates is not None:
                fs.write_new(staging / f"{cert.cert_no}.json", text)
            else:
                (staging / f"{cert.cert_no}.json").write_text(text, encoding="utf-8", newline="\n")
            if not snapshot_written:  # else the worker has the entries
                entries[cert.cert_no] = snapshot_entry(cert)
            own[cert.cert_no] = (cert.status, cert.status_date, cert.last_seq)
        statuses = own if statuses is None else statuses
        if previous_api is not None:
            # Every certificate is in the previous snapshot or changed: the
            # worker that wrote the snapshot checked that (snapshot_written).
            unchanged = [no for no in (statuses if previous is None else previous.cert_nos) if no not in own]
            if spare_certificates is None:  # else their files are there already, the spare's
                _reuse_previous(Path(previous_api), staging, unchanged)
        if not snapshot_written:
            snapshot = signed_snapshot(snapshot_head(as_of, last_seq, tl), entries, previous, statuses, log_signer)
        if not status_written:
            write_status_buckets(api, statuses, log_signer, as_of, last_seq)
    fs.write_atomic(api / "trust-list.json", dumps(trust_envelope))
    fs.write_atomic(api / "root-key.json", dumps(root_key_file(trust_envelope)))
    for name, text in (extra_files or {}).items():
        fs.write_atomic(api / name, text)
    if not snapshot_written:
        # Written last: a reader that sees the new status.json sees the rest too.
        fs.write_atomic(api / "status.json", dumps(snapshot))
    return {"certificates": len(statuses), "as_of": as_of, "last_seq": last_seq,
            "trust_list_version": tl["version"], "api": str(api)}


def snapshot_head(as_of: str, last_seq: int, tl: dict) -> dict:
    """The status snapshot's fields but its ``certificates``."""
    return {"as_of": as_of, "last_seq": last_seq, "log_size": last_seq, "trust_list_version": tl["version"]}


def signed_snapshot(head: dict, entries: dict, previous, statuses: dict, log_signer) -> dict:
    """The status snapshot envelope: :func:`snapshot_payload` signed by the log key,
    once its certificates are checked to be exactly those of ``statuses``
    (the status buckets'): the two files never disagree on which exist."""
    every = set(entries)
    if previous is not None:
        every.update(previous.cert_nos)
    if statuses.keys() != every:
        raise ConfigError(f"status of {len(statuses)} certificates, files of {len(every)}: "
                          "the published files would disagree")
    return canonical.sign_payload(canonical.STATUS_SNAPSHOT, snapshot_payload(head, entries, previous), log_signer)


def _reuse_previous(previous_api: Path, staging: Path, unchanged: list) -> None:
    """Hard-link the previous build's file of every certificate of ``unchanged`` into ``staging``."""
    fs.link_files(previous_api / "certificates", staging, ((f"{no}.json",) * 2 for no in unchanged))


# ------------------------------------------- the status snapshot, spliced

# The status snapshot's payload is canonical JSON (docs/canonical-encoding.md):
# keys sorted, no whitespace, and a raw `"` only ever delimits a string (one
# inside a string is written `\"`). So these are structure wherever they
# occur: `{"body":` starts an object whose first key is `body` — an entry of
# `certificates` (keys body, cert_no, expires, revisions, status, status_date;
# no other object of the snapshot has a `body` or a `status_date`), and
# `],"last_seq":` ends the list, before the last three fields.
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_OPTIONAL = r'(?:null|' + _STRING + r')'
_SNAPSHOT_HEAD = re.compile(r'\{"as_of":' + _STRING + r',"certificates":\[')
_SNAPSHOT_TAIL = re.compile(r'\],"last_seq":\d+,"log_size":\d+,"trust_list_version":\d+\}')
_LIST_END = '],"last_seq":'
_FIRST_ENTRY = re.compile(r'(\{"body":' + _OPTIONAL + r',"cert_no":(' + _STRING + r'),)')
# The end of one entry (its last key) and the start of the next (its first two).
_NEXT_ENTRY = re.compile(r'"status_date":' + _OPTIONAL + r'\},(\{"body":' + _OPTIONAL
                         + r',"cert_no":(' + _STRING + r'),)')
_LAST_ENTRY_END = re.compile(r'"status_date":' + _OPTIONAL + r'\}')
_ENTRY_BODY = re.compile(r'\{"body":')


@dataclasses.dataclass(frozen=True)
class PreviousSnapshot:
    """The entries of a previous build's ``api/status.json``, as text: entry
    ``i`` (of certificate ``cert_nos[i]``, in ``cert_no`` order) is
    ``payload[starts[i]:end_of(i)]``, its canonical encoding."""

    path: Path
    payload: str
    cert_nos: list
    starts: list
    end: int  # where the last entry ends: the `]` of the list

    def end_of(self, i: int) -> int:
        return self.starts[i + 1] - 1 if i + 1 < len(self.starts) else self.end


def read_previous_snapshot(path: Path, tl: dict) -> PreviousSnapshot:
    """The entries of status snapshot ``path``, which an incremental build
    carries forward as text (:func:`snapshot_payload`).

    Carried forward means never decoded: so the file must be exactly what a
    build signed — a ``szzz/status-snapshot/v1`` envelope whose signature by a
    key of trust list ``tl`` (its decoded payload) verifies, so its payload
    is a full encode's, canonical, unaltered — and have the layout of one
    (entries contiguous, ``cert_no`` strictly ascending). Anything else raises
    :class:`PreviousBuildError` naming the file: a damaged previous build is
    never carried forward, and nothing else of it is either (its certificate
    files are as suspect); a full build writes every file from the registry.
    """
    def refused(problem: str) -> PreviousBuildError:
        return PreviousBuildError(
            f"{path}: {problem}; an incremental build carries the previous build's status snapshot "
            "forward, so nothing was published: a full build (publish.py build --full) writes every "
            "file from the registry")

    try:
        envelope = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise refused(f"cannot be read as JSON ({e})") from e
    if not isinstance(envelope, dict) or envelope.get("type") != canonical.STATUS_SNAPSHOT \
            or not isinstance(envelope.get("payload"), str):
        observed = envelope.get("type") if isinstance(envelope, dict) else type(envelope).__name__
        raise refused(f"observed {observed!r}, expected a {canonical.STATUS_SNAPSHOT} envelope with a text payload")
    key = trust_list_key(tl, envelope.get("key_id"))
    if key is None:
        raise refused(f"signed by key {envelope.get('key_id')!r}, expected a key of trust list "
                      f"version {tl.get('version')}")
    try:
        keys.verify_signature(envelope, canonical.STATUS_SNAPSHOT, canonical.unb64url(key["public_key"]))
    except SignatureError as e:
        raise refused(str(e)) from e
    payload = envelope["payload"]
    head = _SNAPSHOT_HEAD.match(payload)
    end = payload.rfind(_LIST_END)
    if head is None or end < head.end() or _SNAPSHOT_TAIL.fullmatch(payload, end) is None:
        raise refused(f"observed a payload beginning {payload[:40]!r} and ending {payload[-80:]!r}, expected "
                      '{"as_of":…,"certificates":[…],"last_seq":…,"log_size":…,"trust_list_version":…}')
    # Entries one after the other: the first at the list's start, each next
    # one right after the previous one's last key (every `{"body":` and every
    # `"status_date":` of the list is in such a joint), the last one ending the list.
    first = _FIRST_ENTRY.match(payload, head.end(), end)
    matches = [] if first is None else [first, *_NEXT_ENTRY.finditer(payload, first.end(), end)]
    last = payload.rfind('"status_date":', head.end(), end)
    if end > head.end() and (first is None or last < 0 or _LAST_ENTRY_END.fullmatch(payload, last, end) is None
                             or payload.count('{"body":', head.end(), end) != len(matches)
                             or payload.count('"status_date":', head.end(), end) != len(matches)):
        # Where: the first entry start outside a joint, else the last entry's end.
        known = {match.start(1) for match in matches}
        at = next((m.start() - 3 for m in _ENTRY_BODY.finditer(payload, head.end(), end) if m.start() not in known),
                  max(last, head.end()))
        raise refused(f"observed {payload[at:at + 60]!r} in the list of certificates at character {at}, "
                      'expected entries {"body":…,"cert_no":…,…,"status_date":…} joined by commas')
    starts = [match.start(1) for match in matches]
    cert_nos = [json.loads(text) if "\\" in text else text[1:-1] for text in (m.group(2) for m in matches)]
    disorder = next(((a, b) for a, b in itertools.pairwise(cert_nos) if a >= b), None)
    if disorder is not None:
        a, b = disorder
        raise refused(f"observed certificate {b} after {a}, expected cert_no in ascending order")
    return PreviousSnapshot(path, payload, cert_nos, starts, end)


def snapshot_payload(head: dict, entries: dict, previous: PreviousSnapshot | None) -> bytes:
    """The canonical payload of the status snapshot: the fields of ``head``
    and ``certificates``, every entry in ``cert_no`` order.

    Without ``previous``, :func:`canonical.encode` of the whole record. With
    it, the same bytes spliced (docs/publishing.md, "The status snapshot of
    an incremental build"): ``head`` encoded, the entries of ``entries`` (the changed
    and new certificates) encoded, and every other entry the previous
    snapshot's text, copied in runs between the changed ones.
    """
    if previous is None:
        return canonical.encode({**head, "certificates": [entries[no] for no in sorted(entries)]})
    # The head's fields, encoded (and checked) as encode does, around an empty list.
    text = canonical.encode({**head, "certificates": []}).decode("utf-8")
    cut = text.index('"certificates":[]') + len('"certificates":[')
    nos, starts, pieces, i = previous.cert_nos, previous.starts, [], 0
    for no in sorted(entries):
        j = bisect.bisect_left(nos, no, i)
        if j > i:
            pieces.append(previous.payload[starts[i]:previous.end_of(j - 1)])
        pieces.append(canonical.encode(entries[no]).decode("utf-8"))
        i = j + 1 if j < len(nos) and nos[j] == no else j
    if i < len(nos):
        pieces.append(previous.payload[starts[i]:previous.end])
    return (text[:cut] + ",".join(pieces) + text[cut:]).encode("utf-8")


def write_status_buckets(api_dir, statuses, log_signer, as_of, log_size, *, spare=None) -> int:
    """Write ``api_dir/status/<bucket>.json``, every bucket's statement signed
    with this build's ``as_of`` and ``log_size`` (docs/verification.md rule 6);
    the number of files. Needs only the statuses, not the registry: the build
    runs it in a worker process while it writes the public database and the
    site (:func:`write_status_files`).

    ``spare``: the ``status/`` directory of a build nobody serves (the spare
    build's, moved aside by the build): it becomes the new directory and its
    files are rewritten in place (:func:`fs.rewrite`; ~0.2 s for 4,096 files
    where creating them costs ~2 s after the previous build's were deleted);
    a file of a bucket that no longer exists is removed."""
    as_of = as_of_text(as_of)
    names = set()
    with fs.staged_dir(Path(api_dir) / "status") as bucket_dir:
        if spare is not None:
            os.replace(spare, bucket_dir)  # a directory may be renamed over an empty one
        for bucket, members in sorted(status_buckets(statuses).items()):
            text = dumps(status_statement(bucket, members, log_signer, as_of, log_size))
            name = f"{bucket}.json"
            if spare is not None:
                fs.rewrite(bucket_dir / name, text)
            else:
                (bucket_dir / name).write_text(text, encoding="utf-8", newline="\n")
            names.add(name)
        if spare is not None:
            for stale in set(os.listdir(bucket_dir)) - names:
                os.unlink(bucket_dir / stale)
    return len(names)


@dataclasses.dataclass(frozen=True)
class StatusFiles:
    """The log-signed status files of a build and everything they need, none
    of it the registry: so a worker process writes them (:func:`write_status_files`)
    while the build writes the public database and the site.

    ``statuses`` is every certificate's; with ``previous_snapshot`` (the
    previous build's ``api/status.json``, an incremental build) ``entries``
    holds the snapshot entries (:func:`snapshot_entry`) of the certificates
    changed since, and the snapshot is written too, spliced. ``spare_status``:
    the spare build's ``status/`` directory, to reuse (:func:`write_status_buckets`)."""

    api_dir: Path
    statuses: dict
    log_signer: keys.Signer
    as_of: str
    log_size: int
    trust_list: dict  # decoded payload
    previous_snapshot: Path | None = None
    entries: dict = dataclasses.field(default_factory=dict)
    spare_status: Path | None = None


def write_status_files(files: StatusFiles) -> int:
    """Write ``api/status/`` and, with ``files.previous_snapshot``, ``api/status.json``
    (read, spliced, signed: :func:`read_previous_snapshot`, :func:`signed_snapshot`);
    the number of buckets. In a worker of ``parallel.pool(1, shared=files)``
    (:func:`write_shared_status_files`) in a build."""
    written = write_status_buckets(files.api_dir, files.statuses, files.log_signer, files.as_of, files.log_size,
                                   spare=files.spare_status)
    if files.previous_snapshot is not None:
        previous = read_previous_snapshot(files.previous_snapshot, files.trust_list)
        snapshot = signed_snapshot(snapshot_head(files.as_of, files.log_size, files.trust_list), files.entries,
                                   previous, files.statuses, files.log_signer)
        fs.write_atomic(Path(files.api_dir) / "status.json", dumps(snapshot))
    return written


def write_shared_status_files() -> int:
    """:func:`write_status_files` in a worker of ``parallel.pool(1, shared=StatusFiles(…))``:
    the forked worker inherits the statuses and the key object; nothing is
    pickled, the key never leaves memory."""
    return write_status_files(parallel.shared())


def write_snapshot(db, out_dir, log_signer, *, as_of=None, statuses=None, changed=None, previous_api=None,
                   spare_certificates=None, status_written=False) -> dict:
    """Write the public verification files of registry ``db`` under ``out_dir/api/``.

    ``log_signer`` is the registry's log key (:class:`keys.Signer`); ``as_of``
    defaults to :func:`clock.build_time` of the latest event, so the same
    registry always gives the same bytes. ``statuses`` is
    :func:`history.replayed_statuses` of ``db`` when the caller has it. With
    ``previous_api`` (the previous build's ``api/``) only the certificates in
    ``changed`` are read and written: those changed since the previous build,
    or, with ``spare_certificates`` (the spare build's ``api/certificates/``,
    taken: :func:`write_files`), since the spare's. The output is the same
    bytes as a full write.
    """
    if as_of is None:
        as_of = clock.build_time(history.latest_event_date(db))
    if statuses is None:
        statuses = history.replayed_statuses(db)
    certificates = history.iter_certificates(db, changed if previous_api is not None else None)
    return write_files(
        out_dir, trust.envelope(db), certificates, log_signer,
        as_of=as_of, last_seq=history.last_seq(db), statuses=statuses, previous_api=previous_api,
        spare_certificates=spare_certificates, status_written=status_written,
    )


def load_log_signer(db, keys_dir, passphrase, *, as_of=None) -> keys.Signer:
    """The log key that signs a status dated ``as_of`` (default: today in
    Suzhou), from ``keys_dir`` (:func:`registry.store.trust.signing_key_id`)."""
    day = rules.cst_date(as_of_text(as_of)).isoformat() if as_of is not None else clock.today().isoformat()
    return keys.load(keys_dir, trust.signing_key_id(db, "status", date=day), passphrase)
