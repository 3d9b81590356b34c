"""Batch verification of marks for platforms: offline, every core, one verify per mark.

Input: listings (:mod:`registry.verify.listings`: CSV or JSONL, each row with
an ``id`` and one of ``url``, ``payload``, ``cert_no`` or ``image``, a path).
Output: exactly one row per input row, in input order, as strict JSON Lines
``{"row", "id", "verdict", "cert_no", "reason", "reason_zh", "key_id", "body",
"status_as_of", "checks"}`` or as CSV (:data:`CSV_COLUMNS`). ``row`` is the
1-based data row (CSV: header and blank lines not counted; JSONL: line
number); ``id`` is echoed by :func:`listings.echo_id`'s rule.

Against the published snapshot only (``api/trust-list.json`` +
``api/status.json``, read ONCE): the trust list is checked with the pinned
root and the snapshot's signature (log key) and freshness once, then the
snapshot is indexed by certificate number. Each mark then costs exactly one
Ed25519 verification (its own signature): the signed snapshot already vouches
for the records, so the payload's digest, key id, dates and expiry are
compared with the snapshot's revision list instead of re-verifying record
signatures (docs/verification.md, "Batch mode"). A bad row gives
``malformed`` with its row number and the reason; the run never stops on a
row, and no row can stall it (an ``image`` has a time limit,
:func:`image.decode_image`).
"""

from __future__ import annotations

import collections
import csv
import datetime
import gc
import io
import json
import multiprocessing.pool
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, NotRequired, Protocol, TypeAlias, TypedDict, overload

from registry.core import canonical, clock, keys, parallel, payload, rules, spreadsheet, text
from registry.core.canonical import JSON, JSONObject
from registry.core.exceptions import (
    PayloadError,
    RegistryError,
    SourceMissingError,
    SourceUnavailableError,
)
from registry.core.rules import CHECKS, DEFAULT_MAX_AGE_DAYS, Stop
from registry.log import checkpoint
from registry.verify import image
from registry.verify.listings import Id, Listing, listing_of
from registry.verify.single import Checks, Trust, check_key_and_signature, load_trust_list, parse_input, public_key
from registry.verify.sources import Source, SourceSpec, open_source, pinned_root

CHUNK = 2000

_EPOCH = payload.EPOCH.toordinal()
_MARK_PREFIX = canonical.MARK.encode("ascii") + b"\n"


Revision: TypeAlias = tuple[str, str, str, str, str]
"""A snapshot revision: (digest hex, reason, key_id, signed_on, expires)."""
CertEntry: TypeAlias = tuple[str, str | None, str, tuple[Revision, ...]]
"""A snapshot certificate: (status, status_date, expires, revisions oldest first)."""
FastRevision: TypeAlias = tuple[bytes, str, str, int, int]
"""A revision for :func:`fast_row`: (digest16 bytes, reason, key_id, signed_on days, expires days)."""
FastKey: TypeAlias = tuple[str | None, int, int, bytes]
"""A usable body key for :func:`fast_row`: (body, first day, last day, raw public key)."""


class RowResult(TypedDict):
    """One output line of a batch (see the module docstring)."""

    verdict: str
    cert_no: str | None
    reason: str
    reason_zh: str
    key_id: str | None
    body: str | None
    status_as_of: str | None
    checks: Checks
    row: NotRequired[int]
    id: NotRequired[Id]


def _days(date_text: str) -> int:
    return datetime.date.fromisoformat(date_text).toordinal() - _EPOCH


def _mark_window(entry: JSONObject) -> tuple[int, int] | None:
    """The days (payload day numbers, inclusive) on which ``entry`` may sign a
    mark (:func:`rules.signing_window`), or None."""
    window = rules.signing_window(entry, "mark")
    if window is None:
        return None
    return _days(window[0]), min(_days(window[1]), 0xFFFF)


class SnapshotIndex:
    """The checked trust list and status snapshot, indexed for per-row lookups."""

    def __init__(self, trust: Trust | None = None, trust_stop: Stop | None = None,
                 certs: dict[str, CertEntry] | None = None, snapshot_stop: Stop | None = None,
                 as_of: str | None = None, today: datetime.date | None = None) -> None:
        self.trust = trust                 # from load_trust_list, or None
        self.trust_stop = trust_stop       # Stop when the trust list failed
        self.certs = certs or {}           # cert_no -> (status, status_date, expires, revisions)
        self.snapshot_stop = snapshot_stop  # Stop when the snapshot failed / is stale
        self.as_of = as_of
        self.today = today
        self.fast_revisions: dict[str, tuple[FastRevision, ...]] = {}   # cert_no -> revisions, oldest first
        self.fast_keys: dict[bytes, FastKey] = {}   # key id bytes -> usable body key
        self.fast = True           # False: every row takes the fully worded path (tests compare the two)
        self.image_timeout = image.DEFAULT_TIMEOUT   # seconds an `image` row may take


OpenedLog: TypeAlias = tuple[checkpoint.LogNames, checkpoint.CheckedCheckpoint, int]
"""What :func:`checkpoint.fresh_checkpoint` returns: names, checkpoint, age in seconds."""


@overload
def _open_log(src: Source, trust: Trust, today: datetime.date, max_age: int | datetime.timedelta,
              origin: str) -> OpenedLog: ...
@overload
def _open_log(src: Source, trust: Trust, today: datetime.date, max_age: int | datetime.timedelta,
              origin: str | None) -> OpenedLog | None: ...
def _open_log(src: Source, trust: Trust, today: datetime.date, max_age: int | datetime.timedelta,
              origin: str | None) -> OpenedLog | None:
    """The site's checkpoint, verified and fresh at noon CST of ``today``
    (:func:`checkpoint.fresh_checkpoint`); origin ``origin`` when pinned."""
    return checkpoint.fresh_checkpoint(src, trust["record"], origin=origin, now=clock.noon(today),
                                       max_age_days=rules.max_age_days(max_age))


def _open_log_quietly(src: Source, trust: Trust, today: datetime.date, max_age: int | datetime.timedelta,
                      origin: str | None = None) -> OpenedLog | None:
    """The site's verified, fresh checkpoint for the freshness rule of a stale
    snapshot (:func:`rules.stale_unless_logged`), or None when there is none
    that verifies."""
    try:
        return _open_log(src, trust, today, max_age, origin)
    except (RegistryError, SourceMissingError, SourceUnavailableError, ValueError, KeyError, TypeError):
        return None


def _check_pinned_log(src: Source, trust: Trust, record: JSONObject, today: datetime.date,
                      max_age: int | datetime.timedelta, origin: str) -> None:
    """Rule 7 with a pinned origin (docs/verification.md, batch mode): the log
    must be published and verify under ``origin``, freshly cosigned, with a
    tree at least as large as the one the snapshot was signed at."""
    try:
        opened = _open_log(src, trust, today, max_age, origin)
    except (RegistryError, SourceMissingError, SourceUnavailableError, ValueError, KeyError, TypeError) as e:
        raise Stop("status_unknown", f"transparency log of the pinned origin {origin} does not verify ({e})",
                    "签名真实，但透明日志未通过验证", "fresh") from None
    size = record.get("log_size")
    if isinstance(size, bool) or not isinstance(size, int) or opened[1].size < size:
        raise Stop("status_unknown", f"transparency log has {opened[1].size} entries, observed fewer than "
                    f"the snapshot's log_size {size!r}, expected at least as many",
                    "签名真实，但透明日志早于状态快照", "fresh")


def load_index(source: SourceSpec, root_public_key: bytes | str | os.PathLike[str] | None, *,
               max_age: int | datetime.timedelta = DEFAULT_MAX_AGE_DAYS, today: datetime.date | str | None = None,
               log_origin: str | None = None) -> SnapshotIndex:
    """Read and check ``api/trust-list.json`` and ``api/status.json`` once;
    with ``log_origin`` pinned, also the log's checkpoint (:func:`_check_pinned_log`).

    The index is some 100 objects per certificate, made at once and kept for
    the run: the cyclic GC's passes over them while they are made cost a
    third of the load, so it is paused meanwhile (it has nothing to free).
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_index(source, root_public_key, max_age=max_age, today=today, log_origin=log_origin)
    finally:
        if gc_was_enabled:
            gc.enable()


def _load_index(source: SourceSpec, root_public_key: bytes | str | os.PathLike[str] | None, *,
                max_age: int | datetime.timedelta, today: datetime.date | str | None,
                log_origin: str | None) -> SnapshotIndex:
    today = today or clock.today()
    if isinstance(today, str):
        today = datetime.date.fromisoformat(today)
    src = open_source(source)
    index = SnapshotIndex(today=today)
    try:
        index.trust = load_trust_list(src, pinned_root(root_public_key) if root_public_key else None)
    except Stop as stop:
        index.trust_stop = stop
        return index
    except (RegistryError, OSError, ValueError, KeyError) as e:
        index.trust_stop = Stop("unknown_issuer", f"trust list missing or not signed by the scheme root ({e})",
                                 "信任列表缺失或未经认证方案根密钥签名", "trust_list")
        return index
    try:
        envelope = json.loads(src.read("api/status.json"))
        entry = index.trust["keys"].get(envelope.get("key_id"))
        if entry is None:
            raise RegistryError(f"status snapshot signed by {envelope.get('key_id')!r}, not in the trust list")
        # The snapshot is large (about 330 bytes per certificate): check the
        # signature over its exact bytes, then parse them with the C JSON parser
        # (the canonical re-encoding check of keys.verify_envelope costs more
        # than the whole batch for 100k certificates; the log key vouches for
        # the bytes either way).
        if envelope.get("type") != canonical.STATUS_SNAPSHOT or not isinstance(envelope.get("payload"), str):
            raise RegistryError("status.json is not a szzz/status-snapshot/v1 envelope")
        body = envelope["payload"].encode("utf-8")
        signature = canonical.unb64url(envelope.get("signature", ""))
        if len(signature) != 64 or not keys.verify(
                canonical.unb64url(entry["public_key"]), signature,
                canonical.signing_input(canonical.STATUS_SNAPSHOT, body)):
            raise RegistryError("status snapshot signature does not verify")
        record = json.loads(body)
        index.as_of = record["as_of"]
        problem = rules.key_problem(entry, "status", date=rules.cst_date(record["as_of"]).isoformat())
        if problem:
            raise RegistryError(f"status snapshot: {problem[0]}")
        age, day = rules.status_age(record["as_of"], today)
        if age > rules.max_age_days(max_age):
            opened = _open_log_quietly(src, index.trust, today, max_age, log_origin)
            rules.stale_unless_logged(age, day, rules.max_age_days(max_age), record.get("log_size"),
                                      None if opened is None else opened[1].size)
        if log_origin:
            _check_pinned_log(src, index.trust, record, today, max_age, log_origin)
        # One pass, each distinct date converted once: this runs before the
        # workers start, the batch's serial part.
        certs: dict[str, CertEntry] = {}
        fast_revisions: dict[str, tuple[FastRevision, ...]] = {}
        days: dict[str, int] = {}
        for c in record["certificates"]:
            revisions = tuple((r["digest"], r["reason"], r["key_id"], r["signed_on"], r["expires"])
                              for r in c["revisions"])
            certs[c["cert_no"]] = (c["status"], c["status_date"], c["expires"], revisions)
            fast = []
            for digest, reason, key_id, signed_on, expires in revisions:
                first = days.get(signed_on)
                if first is None:
                    first = days[signed_on] = _days(signed_on)
                last = days.get(expires)
                if last is None:
                    last = days[expires] = _days(expires)
                fast.append((bytes.fromhex(digest), reason, key_id, first, last))
            fast_revisions[c["cert_no"]] = tuple(fast)
        index.certs = certs
        index.fast_revisions = fast_revisions
        index.fast_keys = {}
        for kid, k in index.trust["keys"].items():
            window = _mark_window(k) if k.get("role") == "body" else None
            if window is None:
                continue
            try:
                # Checked with public_key() so a malformed key falls to the worded path;
                # the fast path then verifies with libsodium on the raw 32 bytes.
                public_key(k["public_key"])
                index.fast_keys[bytes.fromhex(kid)] = (k.get("body"), *window,
                                                       canonical.unb64url(k["public_key"]))
            except (RegistryError, ValueError, KeyError, TypeError):
                continue
    except Stop as stop:
        index.snapshot_stop = stop
    except (SourceMissingError, SourceUnavailableError, RegistryError, ValueError, KeyError, TypeError,
            AttributeError) as e:
        index.snapshot_stop = Stop("status_unknown", f"signature genuine, status snapshot unusable ({e})",
                                    "签名真实，但状态快照不可用", "status")
    return index


def _status_verdict(index: SnapshotIndex, cert_no: str, entry: CertEntry, result: RowResult) -> tuple[str, str, str]:
    status, status_date, expires, _revs = entry
    assert index.today is not None, "load_index gives every index its date"
    result["status_as_of"] = index.as_of
    result["checks"]["status"] = True
    result["checks"]["fresh"] = True
    return rules.status_verdict(status, status_date, expires, index.today)


def fast_row(index: SnapshotIndex, text: str) -> RowResult | None:
    """The common case, with no per-row allocation beyond need: a well-formed mark
    by a usable key, found in the snapshot. Returns the result dict, or None to
    let :func:`verify_row` decide (and word the reason) for anything unusual.
    Same rules as verify_row (the same input rule and payload layout, the key
    windows of :func:`rules.signing_window`); dates compared as day numbers."""
    if index.trust_stop or index.snapshot_stop:
        return None
    try:
        key_id, signed_on, expires, digest, cert_no, signed, signature = payload.unpack(
            payload.digits_to_bytes(payload.payload_text(text)))
    except (PayloadError, ValueError, TypeError):
        return None
    key = index.fast_keys.get(key_id)
    if key is None:
        return None
    body, first, last, pk = key
    if rules.body_of_cert_no(cert_no) != body or not first <= signed_on <= last:
        return None
    # The one Ed25519 check (keys.verify): anything it refuses goes to
    # verify_row, which words the verdict, so the fast path can only agree on `valid`.
    if not keys.verify(pk, signature, _MARK_PREFIX + signed):
        return None
    revisions = index.fast_revisions.get(cert_no)
    if revisions is None:
        return None
    key_hex = key_id.hex()
    wanted = (digest, key_hex, signed_on, expires)
    for i, r in enumerate(revisions):  # noqa: B007 - i (the matched revision) is read after the loop
        if (r[0], r[2], r[3], r[4]) == wanted:
            break
    else:
        return None
    if any(r[1] not in rules.REVISION_KEEPS_MARK for r in revisions[i + 1:]):
        return None
    result: RowResult = {"verdict": "", "cert_no": cert_no, "reason": "", "reason_zh": "", "key_id": key_hex,
                         "body": body, "status_as_of": None, "checks": {
                             "payload": True, "trust_list": True, "key": True, "signature": True, "record": True,
                             "status": None, "fresh": None}}
    try:
        result["verdict"], result["reason"], result["reason_zh"] = _status_verdict(
            index, cert_no, index.certs[cert_no], result)
    except Stop:
        return None
    return result


def verify_row(index: SnapshotIndex, kind: str, value: JSON) -> RowResult:
    """Verify one listing against the index; returns the result dict (never raises)."""
    if index.fast and kind not in {"cert_no", "image"} and isinstance(value, str):
        fast = fast_row(index, value)
        if fast is not None:
            return fast
    result: RowResult = {"verdict": "malformed", "cert_no": None, "reason": "", "reason_zh": "",
                         "key_id": None, "body": None, "status_as_of": None, "checks": dict.fromkeys(CHECKS)}
    try:
        if kind == "cert_no":
            # No mark: the listing names a certificate; its status is all we can say.
            if not isinstance(value, str) or not payload.CERT_NO_RE.fullmatch(value):
                raise Stop("malformed", f"not a certificate number: {str(value)[:40]!r}",
                            "不是有效的证书编号", "payload")
            result["cert_no"], result["body"] = value, rules.body_of_cert_no(value)
            if index.trust_stop:
                raise index.trust_stop
            if index.snapshot_stop:
                raise index.snapshot_stop
            entry = index.certs.get(value)
            if entry is None:
                raise Stop("not_found", f"certificate {value} is not in the status snapshot",
                            f"状态快照中没有证书 {value}", "record")
            result["verdict"], result["reason"], result["reason_zh"] = _status_verdict(index, value, entry, result)
            return result
        if kind == "image":
            if not isinstance(value, str):
                raise Stop("malformed", f"image path is {type(value).__name__}, expected text",
                            "图片路径无效", "payload")
            try:
                value = image.decode_image(value, timeout=index.image_timeout)
            except PayloadError as e:
                raise Stop("malformed", str(e), "无法从图片中读出二维码", "payload") from None
        mark = parse_input(value)
        checks = result["checks"]
        checks["payload"] = True
        result["cert_no"], result["key_id"] = mark.cert_no, mark.key_id
        result["body"] = rules.body_of_cert_no(mark.cert_no)
        if index.trust_stop:
            raise index.trust_stop
        assert index.trust is not None, "load_index sets trust or trust_stop"
        checks["trust_list"] = True
        check_key_and_signature(index.trust, mark, checks)
        if index.snapshot_stop:
            raise index.snapshot_stop
        entry = index.certs.get(mark.cert_no)
        if entry is None:
            raise Stop("not_found", f"certificate {mark.cert_no} is not published",
                        f"未找到证书 {mark.cert_no} 的公开记录", "record")
        revisions = entry[3]
        wanted = (mark.record_digest, mark.key_id, mark.signed_on, mark.expires)
        match = next((i for i, r in enumerate(revisions) if (r[0], r[2], r[3], r[4]) == wanted), None)
        if match is None:
            raise Stop("not_found", "no published revision of this certificate matches this mark",
                        "该证书没有与此标志相符的公开版本", "record")
        rules.later_revisions([(r[1], r[3]) for r in revisions[match + 1:]])
        checks["record"] = True
        result["verdict"], result["reason"], result["reason_zh"] = _status_verdict(index, mark.cert_no, entry, result)
    except Stop as stop:
        result["verdict"], result["reason"], result["reason_zh"] = stop.verdict, stop.reason, stop.reason_zh
        if stop.check:
            result["checks"][stop.check] = False
    except Exception as e:  # noqa: BLE001 - a batch never stops on a row: any failure is that row's verdict
        result["verdict"] = "status_unknown" if result["checks"].get("signature") else "malformed"
        result["reason"] = f"internal error: {type(e).__name__}: {e}"
        result["reason_zh"] = "验证过程出错"
    return result


# ------------------------------------------------------------------- output

OUTPUT_FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("row", "id", "verdict", "cert_no", "reason", "reason_zh", "key_id", "body", "status_as_of",
               *(f"check_{name}" for name in CHECKS))
"""The columns of CSV output; ``check_*`` are ``true``, ``false`` or empty (not reached)."""
_CSV_TEXT = {"id", "reason", "reason_zh"}     # cells that may hold a listing's own text
_CHECK_CELL = {True: "true", False: "false", None: ""}


def _malformed(reason: str, reason_zh: str) -> RowResult:
    return {"verdict": "malformed", "cert_no": None, "reason": reason, "reason_zh": reason_zh, "key_id": None,
            "body": None, "status_as_of": None, "checks": dict.fromkeys(CHECKS)}


def _csv_cells(line: dict[str, object]) -> list[object]:
    cells: list[object] = []
    for column in CSV_COLUMNS[:9]:
        value = line[column]
        if value is None:
            cells.append("")
        elif column in _CSV_TEXT:
            cells.append(spreadsheet.safe_cell(text.unicode_text(str(value))))
        else:
            cells.append(value)
    checks = line["checks"]
    assert isinstance(checks, dict)
    cells.extend(_CHECK_CELL[checks[name]] for name in CHECKS)
    return cells


def _work(chunk: Sequence[Listing], output: str, index: SnapshotIndex | None = None) -> tuple[str, int, dict[str, int]]:
    """Verify a chunk of listings against ``index`` (in a pool worker: the one the
    parent shared); return the output text (``output``: JSONL or CSV rows), the
    number of rows and the verdict counts. Never raises on a row."""
    index = index or parallel.shared()
    assert index is not None, "the index is passed, or shared with the pool"
    lines: list[str] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    counts: dict[str, int] = {}
    dumps = json.dumps
    for listing in chunk:
        try:
            result = (verify_row(index, listing.kind, listing.value) if listing.kind is not None
                      else _malformed(listing.value, listing.reason_zh))
        except Exception as e:  # noqa: BLE001 - verify_row never raises; a batch never stops on a row either way
            result = _malformed(f"internal error: {type(e).__name__}: {e}", "验证过程出错")
        line = {"row": listing.row, "id": listing.ident, **result}
        counts[result["verdict"]] = counts.get(result["verdict"], 0) + 1
        if output == "csv":
            writer.writerow(_csv_cells(line))
        else:
            lines.append(dumps(line, ensure_ascii=False, allow_nan=False))
    if output == "csv":
        return buffer.getvalue(), len(chunk), counts
    lines.append("")
    # One scan of the chunk's text: terminal controls and line separators
    # escaped, any lone surrogate (never valid UTF-8) replaced (core.text).
    return text.json_safe("\n".join(lines)), len(chunk), counts


def _listings(rows: Iterable[object]) -> Iterator[Listing]:
    """Listings from what :func:`verify_batch` was given (see there)."""
    for n, item in enumerate(rows, 1):
        if isinstance(item, Listing):
            yield item
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int):
            yield listing_of(item[0], item[1])
        else:
            yield listing_of(n, item)


def _chunks(listings: Iterator[Listing]) -> Iterator[list[Listing]]:
    chunk: list[Listing] = []
    for listing in listings:
        chunk.append(listing)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Progress(Protocol):
    """The part of a ``tqdm`` bar that :func:`verify_batch` uses."""

    def update(self, n: int) -> object: ...

    def close(self) -> None: ...


def verify_batch(rows: Iterable[object], snapshot_source: SourceSpec, *,
                 root_public_key: bytes | str | os.PathLike[str] | None, out: IO[str] | None = None,
                 workers: int | None = None, max_age: int | datetime.timedelta = DEFAULT_MAX_AGE_DAYS,
                 today: datetime.date | str | None = None, progress: bool = False, total: int | None = None,
                 log_origin: str | None = None, fast: bool = True, output: str = "jsonl",
                 image_timeout: float = image.DEFAULT_TIMEOUT) -> dict[str, int]:
    """Verify listings; write one output row per listing to ``out`` (a text
    stream), in order, and return verdict counts.

    ``rows``: the :class:`Listing` objects of :func:`listings.read_rows`, or
    ``(row_number, record)`` pairs, or plain records (numbered from 1); a
    record is a dict as a JSONL line gives it (:func:`listings.listing_of`).
    ``output``: ``"jsonl"`` (strict JSON, one object a line) or ``"csv"`` (rows
    of :data:`CSV_COLUMNS`, CRLF, text cells by :func:`spreadsheet.safe_cell`;
    no header: :func:`csv_header`). ``workers``: processes (default: every
    core); chunks of :data:`CHUNK` rows go to each worker. ``log_origin``: the
    pinned transparency-log origin (:func:`load_index`). ``fast``: False sends
    every row down the fully worded path (:func:`verify_row` without
    :func:`fast_row`), which must give the same verdicts. ``image_timeout``:
    seconds each ``image`` row may take (:func:`image.decode_image`).
    """
    if output not in OUTPUT_FORMATS:
        raise ValueError(f"output format {output!r}, expected one of {', '.join(OUTPUT_FORMATS)}")
    index = load_index(snapshot_source, root_public_key, max_age=max_age, today=today, log_origin=log_origin)
    index.fast = fast
    index.image_timeout = image_timeout
    out = out or sys.stdout
    counts: dict[str, int] = {}
    bar: _Progress | None = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="row", file=sys.stderr, mininterval=0.5)
    workers = workers or parallel.cpu_count()

    def consume(done: tuple[str, int, dict[str, int]]) -> None:
        chunk_text, n, chunk_counts = done
        out.write(chunk_text)
        if bar:
            bar.update(n)
        for verdict, k in chunk_counts.items():
            counts[verdict] = counts.get(verdict, 0) + k

    try:
        if workers == 1:
            for chunk in _chunks(_listings(rows)):
                consume(_work(chunk, output, index))
        else:
            # The workers inherit the index (parallel.pool freezes it out of
            # their garbage collections, so its pages are neither walked nor
            # copied). The rows are read here, in the calling thread, a few
            # chunks ahead of the workers: never by the pool's own thread,
            # which Ctrl-C or SIGTERM could not stop while it waits on a pipe.
            with parallel.pool(workers, shared=index) as pool:
                pending: collections.deque[multiprocessing.pool.AsyncResult[tuple[str, int, dict[str, int]]]] = \
                    collections.deque()
                for chunk in _chunks(_listings(rows)):
                    pending.append(pool.apply_async(_work, (chunk, output)))
                    if len(pending) > 2 * workers:
                        consume(pending.popleft().get())
                while pending:
                    consume(pending.popleft().get())
    finally:
        if bar:
            bar.close()
    return counts


def csv_header() -> str:
    """The header row of CSV output (after a UTF-8 BOM, so a spreadsheet reads it as UTF-8)."""
    return "\ufeff" + ",".join(CSV_COLUMNS) + "\r\n"
