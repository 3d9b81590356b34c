"""The registry's history as published things are made of it: certificates with
their signed revisions and events, statuses replayed from those events, and the
events as log entries.

Every published status is the replay of a certificate's signed events
(:func:`replay`, :func:`replayed_statuses`); the ``certificates.status``
column caches it, and :func:`check_status_cache` stops anything from being
published while the cache disagrees. Readers only: nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from registry.core import canonical, lifecycle, records
from registry.core.exceptions import SchemaError, StatusCacheError
from registry.log.checkpoint import entry_bytes


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
        data = CertificateData(cert_no, None, None, body, programme)  # type: ignore[arg-type]  # replayed below
        while rev is not None and rev[0] < cert_no:
            rev = next(revs, None)
        while rev is not None and rev[0] == cert_no:
            data.revisions.append(canonical.envelope(canonical.CERTIFICATE, rev[4], rev[3], rev[5]))
            data.revision_reasons.append(rev[2])
            rev = next(revs, None)
        while ev is not None and ev[0] < cert_no:
            ev = next(evs, None)
        while ev is not None and ev[0] == cert_no:
            data.events.append(canonical.envelope(canonical.EVENT, ev[3], ev[2], ev[4]))
            ev = next(evs, None)
        if not data.revisions:
            raise SchemaError(f"certificate {cert_no}: no signed revision in certificate_revisions")
        data.status, data.status_date = replay(cert_no, data.events)
        data.summary = records.summary_of(json.loads(data.revisions[-1]["payload"]), names)
        yield data


def replayed_statuses(db, cert_nos=None) -> dict:
    """``{cert_no: (status, status_date, last_seq)}`` of every certificate, replayed
    from its events' types and dates in one ordered scan.

    It reads the ``type`` and ``date`` columns, not the signed payloads
    (JSON-decoding 300,000 payloads was most of the time at 100,000
    certificates): :func:`registry.store.integrity.verify_registry` checks
    that every event's columns equal its signed payload, and a build waits
    for that check before it signs or publishes anything, so what is published
    is the replay of the signed events all the same. ``cert_nos``: only those.
    """
    out: dict[str, tuple[str, str, int]] = {}
    events: list[tuple[str, str]] = []
    current, last = None, 0
    where = "cert_no is not null" if cert_nos is None else "cert_no in (select value from json_each(?))"
    for cert_no, seq, etype, date in db.execute(
            f"select cert_no, seq, type, date from events where {where} order by cert_no, seq",
            [] if cert_nos is None else [json.dumps(list(cert_nos))]):
        if cert_no != current:
            if current is not None:
                out[current] = (*lifecycle.replay(events, cert_no=current), last)
            current, events = cert_no, []
        events.append((etype, date))
        last = seq
    if current is not None:
        out[current] = (*lifecycle.replay(events, cert_no=current), last)
    return out


def check_status_cache(db, statuses) -> None:
    """Stop unless every cached ``certificates.status``, ``status_date`` and
    ``last_seq`` equals the replay of the certificate's signed events: a status
    changed without a signed event must never be published or signed.
    StatusCacheError naming the first certificate that differs."""
    cached = {cert_no: (status, status_date, last_seq) for cert_no, status, status_date, last_seq in db.execute(
        "select cert_no, status, status_date, last_seq from certificates")}
    if cached == statuses:  # one comparison in C: ~0.3 s less at 100k than a loop over the rows
        return
    for cert_no in sorted(cached.keys() | statuses.keys()):
        replayed, row = statuses.get(cert_no), cached.get(cert_no)
        if replayed is None and row is not None:
            raise StatusCacheError(f"certificate {cert_no}: no signed events, but the registry lists it "
                                   f"as {row[0]}; nothing was signed")
        if row is None:
            raise StatusCacheError(f"certificate {cert_no}: has signed events but no row in certificates; "
                                   "nothing was signed")
        if row != replayed:
            status, status_date, last_seq = row
            raise StatusCacheError(
                f"certificate {cert_no}: the registry's cached status is {status} since {status_date} "
                f"(last event {last_seq}), its signed events give {replayed[0]} since {replayed[1]} "
                f"(last event {replayed[2]}); a status changed without a signed event, nothing was signed")


def certificate_data(db, cert_no):
    """One certificate's :class:`CertificateData`, or None when absent."""
    return next(iter_certificates(db, [cert_no]), None)


def latest_event_date(db):
    row = db.execute("select date from events order by seq desc limit 1").fetchone()
    return row[0] if row else None


def last_seq(db) -> int:
    row = db.execute("select max(seq) from events").fetchone()
    return row[0] or 0


def _entry(seq, key_id, payload, signature) -> bytes:
    """Event row ``seq`` as a log entry; its payload must say the same seq."""
    try:
        inner = json.loads(payload)["seq"]
    except (ValueError, KeyError, TypeError):
        inner = None
    if inner != seq:
        raise SchemaError(f"events row seq {seq}: payload says seq {inner!r}, expected {seq}")
    return entry_bytes(key_id, payload, signature)


def iter_entries(db, since: int = 0):
    """Every event of ``db`` after seq ``since`` as a log entry, in ``seq``
    order (entry i = seq i+1).

    Rule (docs/design.md): ``seq`` is contiguous from 1, so leaf index and
    seq never drift apart; a gap or a payload whose seq differs is refused.
    """
    expected = since + 1
    for seq, key_id, payload, signature in db.execute(
            "select seq, key_id, payload, signature from events where seq > ? order by seq", [since]):
        if seq != expected:
            raise SchemaError(f"events: observed seq {seq} after {expected - 1}, expected {expected} "
                              "(seq must be contiguous from 1)")
        yield _entry(seq, key_id, payload, signature)
        expected += 1


def event_span(db) -> tuple[int, int, int]:
    """``(count, min seq, max seq)`` of the events (zeros when there are none):
    with ``seq`` an integer key, ``count == max`` and ``min == 1`` hold exactly
    when the seqs are contiguous from 1, checked without reading the events."""
    count, low, high = db.execute("select count(*), min(seq), max(seq) from events").fetchone()
    return count, low or 0, high or 0


def entries_of(db, certificates, *, first_seq: int, up_to: int) -> list[tuple[int, bytes]]:
    """``(seq, entry)`` of every event of ``certificates`` and of every event
    from seq ``first_seq`` on, all up to seq ``up_to``, in seq order."""
    return [(seq, _entry(seq, key_id, payload, signature)) for seq, key_id, payload, signature in db.execute(
        "select seq, key_id, payload, signature from events where seq between ? and ? union "
        "select seq, key_id, payload, signature from events "
        "where cert_no in (select value from json_each(?)) and seq <= ? order by seq",
        [first_seq, up_to, json.dumps(sorted(certificates)), up_to])]


def read_entries(db) -> list[bytes]:
    """:func:`iter_entries` as a list."""
    return list(iter_entries(db))




# ---------------------------------------------------------------- writing
