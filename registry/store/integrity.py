"""Whole-registry integrity check: what publishing runs before it publishes.

:func:`verify_registry` re-checks, from the database alone, everything a
verifier will later rely on, and returns a list of problems (empty = sound).
It never raises on a bad registry: each problem is one line naming the
record, what was observed and what was expected.

Checks (the rules of ``docs/design.md``):

* every trust list is signed by the root key, versions contiguous from 1;
* ``events.seq`` is contiguous from 1; each event's signature verifies with
  the key it names; its payload agrees with the table's columns; certificate
  events are signed by a key of the certificate's body, key events and
  notices by the root key; no key signed outside its validity or after it
  was retired or compromised;
* per certificate: the ``prev`` chain links each event to the previous one;
  replaying the event types through the lifecycle gives the cached
  ``certificates.status`` (and each event's own ``status``); ``last_seq`` is
  the last event;
* every revision's signature verifies, ``previous`` links revisions, the
  current record equals the latest revision, and each mark payload verifies
  and cites its revision's digest.
"""

import json

from registry.core import canonical, keys, lifecycle, parallel, payload, rules
from registry.core.exceptions import (
    CanonicalEncodingError,
    LifecycleError,
    PayloadError,
    SchemaError,
    SignatureError,
)
from registry.store import schema, trust

_BAD = (SignatureError, CanonicalEncodingError, PayloadError, ValueError, KeyError, TypeError)

# Signature checks and canonical decoding are ~90 % of the time (10k
# certificates: ~50,000 Ed25519 verifications); they are independent, so they
# run first, on every core, and the checks that follow in order (chains,
# replay, cross-references) use their results. Each task is decoded once.
PARALLEL_MIN = 2000


def _run_task(task):
    """("env", envelope, domain, raw) → (record, None) | (None, error);
    ("mark", text, raw) → (payload, signature ok) | (None, error)."""
    try:
        if task[0] == "env":
            return keys.verify_envelope(task[1], task[2], task[3]), None
        mp = payload.parse_text(task[1])
        return mp, bool(task[2] and mp.verify_signature(task[2]))
    except _BAD as e:
        return None, e if task[0] == "env" else f"mark payload: {e}"


def _run_range(bounds):
    """A worker's share: the tasks the parent shared, by index range (only indexes are sent)."""
    return [_run_task(t) for t in parallel.shared()[bounds[0]:bounds[1]]]


def _run_all(tasks, workers=None):
    """Results of :func:`_run_task` in order, on ``workers`` processes (default: every core)."""
    workers = workers or parallel.cpu_count()
    if workers == 1 or len(tasks) < PARALLEL_MIN:
        return [_run_task(t) for t in tasks]
    step = -(-len(tasks) // (workers * 4))
    with parallel.pool(workers, shared=tasks) as pool:
        parts = pool.map(_run_range, [(i, i + step) for i in range(0, len(tasks), step)])
    return [r for part in parts for r in part]


def _key_table(db):
    """Every key as a rules entry (:func:`trust.key_entries`) plus its raw public key."""
    out = trust.key_entries(db)
    for entry in out.values():
        try:
            entry["raw"] = canonical.unb64url(entry["public_key"])
        except SignatureError:
            entry["raw"] = None
    return out


def _key_problem(key_id, entry, use, *, date=None, body=None):
    """Why ``key_id`` may not sign for ``use`` (:func:`rules.key_problem`), one line, or None."""
    if entry is None or entry["raw"] is None:
        return f"key {key_id} is not in the keys table"
    problem = rules.key_problem(entry, use, date=date, body=body)
    return problem[0] if problem else None


def _check_revisions(db, key_table, problems, workers=None, scope=None):
    """Verify every revision (of the certificates of ``scope``, a JSON array, if
    given); return {(cert_no, revision): (digest, record)}."""
    revisions = {}
    previous: dict[str, str] = {}
    rows = db.execute(
        "select cert_no, revision, key_id, record, signature, digest, mark_payload, date "
        "from certificate_revisions"
        + (" where cert_no in (select value from json_each(?))" if scope is not None else "")
        + " order by cert_no, revision", [scope] if scope is not None else []).fetchall()
    tasks: list[tuple] = []
    for _cert_no, _rev, key_id, text, sig, _digest, mark, _date in rows:
        key = key_table.get(key_id)
        raw = key["raw"] if key else b""
        env = canonical.envelope(canonical.CERTIFICATE, text, key_id, sig)
        tasks.append(("env", env, canonical.CERTIFICATE, raw))
        if mark is not None:
            tasks.append(("mark", mark, key["raw"] if key else None))
    results = iter(_run_all(tasks, workers))
    for cert_no, rev, key_id, text, _sig, digest, mark, _date in rows:
        where = f"certificate {cert_no} revision {rev}"
        key = key_table.get(key_id)
        record, error = next(results)
        mark_result = next(results) if mark is not None else None
        if record is None:
            problems.append(f"{where}: {error}")
            continue
        body = rules.body_of_cert_no(cert_no)
        why = _key_problem(key_id, key, "revision", date=record.get("signed_on"), body=body)
        if why:
            problems.append(f"{where}: {why}")
        if record.get("body") != body:
            problems.append(f"{where}: payload names body {record.get('body')!r}, the certificate "
                            f"number {body!r}")
        actual = canonical.sha256_hex(text.encode("utf-8"))
        if digest != actual:
            problems.append(f"{where}: stored digest {digest}, expected {actual}")
        if record.get("cert_no") != cert_no or record.get("revision") != rev:
            problems.append(f"{where}: payload names {record.get('cert_no')} revision "
                            f"{record.get('revision')}")
        expected_prev = previous.get(cert_no) if rev > 1 else None
        if record.get("previous") != expected_prev:
            problems.append(f"{where}: previous is {record.get('previous')}, expected "
                            f"{expected_prev}")
        previous[cert_no] = actual
        if record.get("mark_authorised") and mark is None:
            problems.append(f"{where}: mark authorised but no mark payload")
        if mark_result is not None:
            mp, ok = mark_result
            if mp is None:
                problems.append(f"{where}: {ok}")
            else:
                if not ok:
                    problems.append(f"{where}: mark payload signature does not verify")
                expected = (key_id, record.get("signed_on"), record.get("expires"),
                            actual[:32], cert_no)
                observed = (mp.key_id, mp.signed_on, mp.expires, mp.record_digest, mp.cert_no)
                if observed != expected:
                    problems.append(f"{where}: mark payload says {observed}, expected {expected}")
        revisions[(cert_no, rev)] = (actual, text)
    return revisions


def verify_registry(db, *, workers=None, check_file=True, since=None) -> list:
    """Every integrity problem of the registry ``db``, one line each.

    ``workers``: processes for the signature checks (default: every core;
    1 in a process that may not fork, e.g. a pool worker). ``check_file``:
    first the file itself (:func:`schema.check_intact`); a damaged file is
    the one problem reported, since what its damaged pages hold cannot be
    judged (a build that checked its copy already passes False).

    ``since`` (an incremental build: ``(seq, certificates)``, the last event
    the previous build published and the certificates of the events after
    it, :func:`registry.store.history` / ``incremental.changed_certificates``)
    checks what changed since a registry that passed this check: the trust
    lists, every event after ``seq`` (contiguous from ``seq + 1``, each of a
    certificate of ``certificates`` or a root event), and each of those
    certificates whole — its revisions, all its events and its cached
    status. The rest is the previous build's, checked by it; a full build
    (and ``szzz check``) checks everything again (docs/publishing.md).
    """
    if check_file:
        try:
            schema.check_intact(db, consequence="nothing else was checked")
        except SchemaError as e:
            return [str(e)]
    problems = list(trust.verify_all(db))
    key_table = _key_table(db)
    try:
        root_id = trust.root_key_id(db)
    except SchemaError as e:
        return [*problems, str(e)]
    since_seq, scope = (0, None) if since is None else (since[0], json.dumps(sorted(since[1])))
    in_scope = "cert_no in (select value from json_each(?))"
    revisions = _check_revisions(db, key_table, problems, workers, scope)
    certs = {}
    for r in db.execute("select cert_no, body, status, last_seq, revision, digest, record, "
                        "status_date from certificates" + (f" where {in_scope}" if scope else ""),
                        [scope] if scope else []):
        certs[r[0]] = {"body": r[1], "status": r[2], "last_seq": r[3], "revision": r[4],
                       "digest": r[5], "record": r[6], "status_date": r[7]}
    state: dict[str, tuple] = {}  # cert_no -> [status, prev digest, last seq]
    expected_seq = since_seq + 1
    selected = "seq, type, cert_no, subject, date, actor, key_id, payload, signature"
    # Incremental: a UNION of two index searches (`seq > ? OR cert_no IN …`
    # scanned every event: 0.09 s at 100k).
    events = db.execute(
        f"select {selected} from events"
        + (f" where seq > ? union select {selected} from events where {in_scope}" if scope else "")
        + " order by seq", [since_seq, scope] if scope else []).fetchall()
    results = _run_all([
        ("env", canonical.envelope(canonical.EVENT, text, key_id, sig),
         canonical.EVENT, key_table[key_id]["raw"] if key_id in key_table else b"")
        for _seq, _t, _c, _s, _d, _a, key_id, text, sig in events], workers)
    for (seq, etype, cert_no, subject, date, actor, key_id, text, _sig), (record, error) in zip(
            events, results, strict=True):
        where = f"event {seq}"
        if seq > since_seq:
            if seq != expected_seq:
                problems.append(f"{where}: expected seq {expected_seq} (sequence not contiguous)")
            expected_seq = seq + 1
        key = key_table.get(key_id)
        if record is None:
            problems.append(f"{where}: {error}")
            continue
        columns = {"seq": seq, "type": etype, "cert_no": cert_no, "subject": subject,
                   "date": date, "actor": actor}
        for name, value in columns.items():
            if record.get(name) != value:
                problems.append(f"{where}: payload {name} is {record.get(name)!r}, "
                                f"column says {value!r}")
        if rules.event_use(record) == "root_event":
            why = _key_problem(key_id, key, "root_event") or (
                None if key_id == root_id else f"key {key_id} is not the registry's root key {root_id}")
            if why:
                problems.append(f"{where}: {etype} {why}")
            continue
        cert = certs.get(cert_no)
        if cert is None:
            problems.append(f"{where}: certificate {cert_no} is not in the registry"
                            + ("" if scope is None else " (or not among the changed certificates)"))
            continue
        why = _key_problem(key_id, key, "event", date=record.get("date"),
                           body=rules.body_of_cert_no(cert_no))
        if why:
            problems.append(f"{where}: {why}")
        before, prev, _, since = state.get(cert_no, (None, None, None, None))
        if record.get("prev") != prev:
            problems.append(f"{where}: prev is {record.get('prev')}, expected {prev}")
        status = before
        try:
            status = lifecycle.next_status(before, etype, cert_no=cert_no)
        except LifecycleError as e:
            problems.append(f"{where}: {e}")
        if status != before:
            since = record.get("date")
        if record.get("status") != status:
            problems.append(f"{where}: event says status {record.get('status')}, "
                            f"replay gives {status}")
        rev = revisions.get((cert_no, record.get("revision")))
        if rev is None or rev[0] != record.get("record_digest"):
            problems.append(f"{where}: record_digest does not match revision "
                            f"{record.get('revision')} of {cert_no}")
        state[cert_no] = (status, canonical.sha256_hex(text.encode("utf-8")), seq, since)
    for cert_no, cert in certs.items():
        where = f"certificate {cert_no}"
        if cert_no not in state:
            problems.append(f"{where}: has no events (expected an issued event)")
            continue
        status, _, last, since = state[cert_no]
        if (status, since) != (cert["status"], cert["status_date"]):
            problems.append(f"{where}: cached status {cert['status']} since {cert['status_date']}, "
                            f"its signed events give {status} since {since}")
        if last != cert["last_seq"]:
            problems.append(f"{where}: last_seq {cert['last_seq']}, events end at {last}")
        rev = revisions.get((cert_no, cert["revision"]))
        if rev is None or rev[1] != cert["record"] or rev[0] != cert["digest"]:
            problems.append(f"{where}: current record is not revision {cert['revision']}")
        elif (cert_no, cert["revision"] + 1) in revisions:
            problems.append(f"{where}: a later revision than {cert['revision']} exists")
    return problems
