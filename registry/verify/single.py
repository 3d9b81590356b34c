"""The Python verifier of certification marks (rules: ``docs/verification.md``).

:func:`verification_result` returns a :class:`Verdict` and never raises on
bad input (arbitrary text, huge fragments, non-ASCII, hostile published
files); :func:`verify` raises :class:`VerificationError` unless the verdict
is ``valid``. The browser verifier (``site/verify/``) implements the same
rules; ``docs/vectors/mark-conformance.json`` holds the vectors both pass.
Which key may sign what, and which verdict evidence gives, is decided by
:mod:`registry.core.rules` alone.

Checks, in order; the first failure decides (docs/verification.md §1-7):
payload parses -> trust list signed by the pinned root -> key usable for this
mark -> mark signature -> published record matches -> status (events replayed,
status statement signed by the log key, fresh) -> transparency log.

Sources of published files (:mod:`registry.verify.sources`): a site directory,
an http(s) URL, an in-memory mapping (conformance vectors), or the registry db
itself (``--db`` mode, :mod:`registry.publish.dbsource`: the same structures
built from the tables; status comes from the events and is fresh by
definition, so no log key is involved).

What a result shows of the certificate (``details["summary"]``) comes from
the signed current revision, never from a file's unsigned ``summary``.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeAlias, TypedDict, Unpack

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.core import canonical, clock, keys, lifecycle, payload, records, rules
from registry.core.canonical import JSON, JSONObject
from registry.core.exceptions import (
    PayloadError,
    RegistryError,
    SignatureError,
    SourceError,
    SourceMissingError,
    SourceUnavailableError,
    VerificationError,
)
from registry.core.payload import MarkPayload
from registry.core.rules import CHECKS, DEFAULT_MAX_AGE_DAYS, MEANING, Stop
from registry.log import checkpoint
from registry.verify.sources import Source, SourceSpec, open_source, pinned_root

Checks: TypeAlias = dict[str, bool | None]
"""Each of :data:`rules.CHECKS`: True passed, False failed, None not reached."""


@dataclass
class Verdict:
    verdict: str
    cert_no: str | None = None
    reason: str = ""
    reason_zh: str = ""
    checks: Checks = field(default_factory=lambda: dict.fromkeys(CHECKS))
    key_id: str | None = None
    body: str | None = None
    status_as_of: str | None = None
    details: dict[str, JSON] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.verdict == "valid"

    def to_dict(self) -> dict[str, JSON]:
        return {
            "verdict": self.verdict, "cert_no": self.cert_no, "reason": self.reason,
            "reason_zh": self.reason_zh, "checks": dict(self.checks), "key_id": self.key_id,
            "body": self.body, "status_as_of": self.status_as_of, "details": self.details,
        }


# ----------------------------------------------------------------- helpers

class Trust(TypedDict):
    """A trust list checked against the pinned root (:func:`load_trust_list`)."""

    record: JSONObject              # the signed trust-list record
    keys: dict[str, JSONObject]     # key_id -> its entry
    root_raw: bytes
    root_key_id: str


def load_trust_list(source: Source, root_raw: bytes | None) -> Trust:
    """Read and check the trust list; return ``{"record", "keys": {key_id: entry},
    "root_raw", "root_key_id"}``.

    Raises :class:`Stop` (unknown_issuer) when it is missing or not signed by
    the pinned root (rule 2).
    """
    no_list = ("unknown_issuer", "trust list missing or not signed by the scheme root",
               "信任列表缺失或未经认证方案根密钥签名", "trust_list")
    if root_raw is None:
        raise Stop(no_list[0], no_list[1] + " (no pinned root key given)",
                   no_list[2] + "（未配置根公钥）", "trust_list")
    try:
        envelope = json.loads(source.read("api/trust-list.json"))
        record = keys.verify_envelope(envelope, canonical.TRUST_LIST, root_raw)
        if record.get("root_key_id") != keys.key_id_of(root_raw):
            raise SignatureError("root_key_id differs from the pinned root")
        entries: dict[str, JSONObject] = {}
        for entry in record["keys"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("key_id"), str):
                raise SignatureError("a trust list entry has no key_id")
            entries[entry["key_id"]] = entry
    except (ValueError, KeyError, TypeError, AttributeError, RegistryError) as e:
        raise Stop(no_list[0], f"{no_list[1]} ({e})", no_list[2], "trust_list") from None
    return {"record": record, "keys": entries, "root_raw": root_raw,
            "root_key_id": keys.key_id_of(root_raw)}


def body_names(trust: Trust) -> dict[str, tuple[str, str]]:
    """``{body: (name_zh, name_en)}`` from the (root-signed) trust list."""
    out: dict[str, tuple[str, str]] = {}
    for entry in trust["keys"].values():
        if entry.get("role") == "body" and isinstance(entry.get("body"), str):
            out.setdefault(entry["body"], (entry.get("body_name_zh") or "", entry.get("body_name_en") or ""))
    return out


_PUBLIC_KEYS: dict[str, Ed25519PublicKey] = {}


def public_key(public_b64: str) -> Ed25519PublicKey:
    """Cached ``Ed25519PublicKey`` objects (one per key, not per mark)."""
    obj = _PUBLIC_KEYS.get(public_b64)
    if obj is None:
        obj = keys.public_from_b64(public_b64)
        _PUBLIC_KEYS[public_b64] = obj
    return obj


def mark_signature_ok(entry: JSONObject, mark: MarkPayload) -> bool:
    try:
        return mark.verify_signature(canonical.unb64url(entry["public_key"]))
    except (KeyError, TypeError, RegistryError):
        return False


def check_key_and_signature(trust: Trust, mark: MarkPayload, checks: Checks) -> None:
    """Rules 2-4 for one mark against a verified trust list; raise ``Stop``.

    The key must be listed (else ``unknown_issuer``), usable for this mark
    (:func:`rules.key_problem`, use ``mark``; else ``key_not_valid``) and its
    signature must verify (else ``bad_signature``). Marks ``checks["key"]``
    and ``checks["signature"]`` as they pass. Shared by single and batch mode.
    """
    entry = trust["keys"].get(mark.key_id)
    if entry is None:
        raise Stop("unknown_issuer", f"key {mark.key_id} is not in the scheme's trust list",
                   f"密钥 {mark.key_id} 不在信任列表中", "key")
    problem = rules.key_problem(entry, "mark", date=mark.signed_on, body=rules.body_of_cert_no(mark.cert_no))
    if problem:
        raise Stop("key_not_valid", f"mark: {problem[0]}", f"标志：{problem[1]}", "key")
    checks["key"] = True
    if not mark_signature_ok(entry, mark):
        raise Stop("bad_signature", f"the mark's signature does not verify with key {mark.key_id}",
                   "标志签名验证失败，可能是伪造标志", "signature")
    checks["signature"] = True


def parse_input(scanned: object) -> MarkPayload:
    """Rule 1 (and the input rule, :func:`payload.payload_text`): the payload, or Stop(malformed)."""
    try:
        return payload.parse_text(payload.payload_text(scanned))
    except PayloadError as e:
        raise Stop("malformed", f"not a mark payload: {e}", "不是有效的标志内容", "payload") from None


# -------------------------------------------------------------- the checks

def _check_record(source: Source, mark: MarkPayload, trust: Trust, result: Verdict) -> JSONObject:
    """Rule 5: the published certificate file has a genuine revision matching the mark."""
    try:
        text = source.read(f"api/certificates/{mark.cert_no}.json")
    except SourceMissingError:
        raise Stop("not_found", f"certificate {mark.cert_no} is not published",
                   f"未找到证书 {mark.cert_no} 的公开记录", "record") from None
    except SourceUnavailableError as e:
        raise Stop("status_unknown", f"signature genuine, status could not be fetched ({e})",
                   "签名真实，但无法获取证书状态", "record") from None
    try:
        doc: JSONObject = json.loads(text)
        revisions = doc["revisions"]
        if not isinstance(revisions, list) or not revisions:
            raise ValueError("revisions must be a non-empty list")
    except (ValueError, KeyError, TypeError) as e:
        raise Stop("status_unknown", f"signature genuine, status could not be fetched (certificate file "
                   f"unreadable: {e})", "签名真实，但证书文件无法读取", "record") from None
    entry = trust["keys"][mark.key_id]
    match = None
    for i, env in enumerate(revisions):
        try:
            if canonical.envelope_digest(env)[:32] != mark.record_digest:
                continue
            rec = keys.verify_envelope(env, canonical.CERTIFICATE, canonical.unb64url(entry["public_key"]))
        except (RegistryError, KeyError, TypeError, AttributeError):
            continue
        if (rec.get("cert_no"), rec.get("expires"), rec.get("signed_on"), rec.get("key_id")) == (
                mark.cert_no, mark.expires, mark.signed_on, mark.key_id):
            match = i
            break
    if match is None:
        raise Stop("not_found", "no published revision of this certificate matches this mark",
                   "该证书没有与此标志相符的公开版本", "record")
    # Rule 5: why each later revision was made comes from the signed events
    # (the file's revision_reasons array is unsigned; never trusted).
    later = revision_reasons(doc, mark.cert_no, trust, range(match + 1, len(revisions)))
    result.details.update(rules.later_revisions(
        [(reason, _signed_on(revisions[j])) for j, reason in enumerate(later, match + 1)]))
    result.details["matched_revision"] = match + 1
    result.details["revisions"] = len(revisions)
    return doc


def revision_reasons(doc: JSONObject, cert_no: str, trust: Trust, indexes: Iterable[int]) -> list[str]:
    """The reason (revising event type) of each revision in ``indexes`` (0-based),
    taken from the certificate's verified events: a revising event
    (``lifecycle.REVISING_EVENTS``) cites the ``record_digest`` of the revision
    it created. A revision no verified event created -> status_unknown. (So
    every revision after the matched one, the current one included, is bound
    to a signed event by its digest.)"""
    indexes = list(indexes)
    if not indexes:
        return []
    replayed = replay_events(doc, cert_no, trust)
    made: dict[str, str] = {}
    for rec in replayed["records"]:
        if rec.get("type") in lifecycle.REVISING_EVENTS and isinstance(rec.get("record_digest"), str):
            made.setdefault(rec["record_digest"], rec["type"])
    out = []
    for j in indexes:
        try:
            digest: str | None = canonical.envelope_digest(doc["revisions"][j])
        except (KeyError, TypeError, AttributeError):
            digest = None
        if digest not in made:
            raise Stop("status_unknown",
                       f"published file inconsistent: no signed event created revision {j + 1}",
                       f"公开文件不一致：没有已签名的事件对应第 {j + 1} 版证书", "record")
        out.append(made[digest])
    return out


def _signed_on(envelope: JSON) -> str:
    try:
        signed_on: str = json.loads(envelope["payload"])["signed_on"]
        return signed_on
    except (ValueError, KeyError, TypeError):
        return "?"


def _status_unknown(reason: str, reason_zh: str = "签名真实，但证书状态无法确认", check: str = "status") -> Stop:
    return Stop("status_unknown", reason, reason_zh, check)


class Replayed(TypedDict):
    """A certificate's verified events replayed (:func:`replay_events`)."""

    status: str
    status_date: str | None
    last_seq: int
    records: list[JSON]         # the events' verified payloads, oldest first


def replay_events(doc: JSONObject, cert_no: str, trust: Trust) -> Replayed:
    """Rule 6: verify every event (signed by a key the rules let sign the
    certificate's events on its date), check the chain, and replay it.
    Returns ``{"status", "status_date", "last_seq", "records"}``."""
    events = doc.get("events")
    if not isinstance(events, list) or not events:
        raise _status_unknown("no signed events in the certificate file")
    body = rules.body_of_cert_no(cert_no)
    prev_digest: str | None = None
    prev_seq = 0
    records: list[JSON] = []
    for n, env in enumerate(events, 1):
        try:
            entry = trust["keys"].get(env.get("key_id"))
            if entry is None:
                raise SignatureError(f"signed by key {env.get('key_id')!r}, not in the trust list")
            rec = keys.verify_envelope(env, canonical.EVENT, canonical.unb64url(entry["public_key"]))
        except (RegistryError, AttributeError, TypeError, KeyError) as e:
            raise _status_unknown(f"event {n}: {e}") from None
        if rec.get("cert_no") != cert_no:
            raise _status_unknown(f"event {n}: is about {rec.get('cert_no')!r}, expected {cert_no}")
        problem = rules.key_problem(entry, "event", date=rec.get("date"), body=body)
        if problem:
            raise _status_unknown(f"event {n}: {problem[0]}", f"第 {n} 条事件：{problem[1]}")
        seq = rec.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= prev_seq:
            raise _status_unknown(f"event {n}: seq {seq!r} does not increase (previous {prev_seq})")
        if rec.get("prev") != prev_digest:
            raise _status_unknown(f"event {n}: prev {rec.get('prev')!r} breaks the chain, expected {prev_digest}")
        prev_digest, prev_seq = canonical.envelope_digest(env), seq
        records.append(rec)
    try:
        status, since = lifecycle.replay(((r.get("type"), r.get("date")) for r in records), cert_no=cert_no)
    except RegistryError as e:
        raise _status_unknown(f"event history does not replay: {e}") from None
    return {"status": status, "status_date": since, "last_seq": prev_seq, "records": records}


def _check_statement(source: Source, cert_no: str, replayed: Replayed, trust: Trust) -> JSONObject:
    """Rule 6: the log-signed statement of the certificate's status bucket
    (``api/status/<bucket>.json``, :func:`rules.status_bucket`) names the
    certificate with the status and last event of the replay."""
    bucket = rules.status_bucket(cert_no)
    name = f"api/status/{bucket}.json"
    try:
        text = source.read(name)
    except SourceError as e:
        raise _status_unknown(f"status statement {name} could not be read: {e}") from None
    try:
        env = json.loads(text)
        if not isinstance(env, dict):
            raise SignatureError("not a signed envelope")
        signer: JSON = env.get("key_id")
        entry = trust["keys"].get(signer) if isinstance(signer, str) else None
        if entry is None:
            raise SignatureError(f"signed by {signer!r}, not in the trust list")
        stmt: JSONObject = keys.verify_envelope(env, canonical.STATUS, canonical.unb64url(entry["public_key"]))
        problem = rules.key_problem(entry, "status", date=rules.cst_date(stmt.get("as_of")).isoformat())
        if problem:
            raise SignatureError(problem[0])
    except (RegistryError, AttributeError, TypeError, KeyError, ValueError) as e:
        raise _status_unknown(f"status statement {name} not genuine: {e}") from None
    listed = stmt.get("certificates")
    said = listed.get(cert_no) if isinstance(listed, dict) else None
    if stmt.get("bucket") != bucket or not isinstance(said, dict):
        raise _status_unknown(f"status statement {name} (bucket {stmt.get('bucket')!r}) does not name {cert_no}")
    want = (replayed["status"], replayed["last_seq"])
    if (said.get("status"), said.get("last_seq")) != want:
        raise _status_unknown(
            f"status statement says {cert_no}/{said.get('status')}/seq {said.get('last_seq')}, "
            f"the signed events give {cert_no}/{want[0]}/seq {want[1]}")
    return stmt


def _check_status(source: Source, doc: JSONObject, cert_no: str, trust: Trust, result: Verdict,
                  today: datetime.date, max_age_days: int, log_origin: str | None = None) -> tuple[str, str, str]:
    replayed = replay_events(doc, cert_no, trust)
    result.details["status_date"] = replayed["status_date"]
    if source.fresh_by_definition:
        result.checks["status"] = True
        result.checks["fresh"] = True
        result.status_as_of = "registry"
    else:
        stmt = _check_statement(source, cert_no, replayed, trust)
        result.checks["status"] = True
        result.status_as_of = stmt.get("as_of")
        age, day = rules.status_age(stmt.get("as_of"), today)
        log = _check_log(source, doc, trust, result, today, max_age_days, log_origin)
        if rules.stale_unless_logged(age, day, max_age_days, stmt.get("log_size"),
                                     None if log is None else log["tree_size"]):
            result.details["refreshed_by_log"] = True
        result.checks["fresh"] = True
    try:
        # Authenticated: it is the matched revision, or a later one whose digest
        # a verified revising event cites (revision_reasons).
        current = canonical.envelope_payload(doc["revisions"][-1], canonical.CERTIFICATE)
        expires = current["expires"]
    except (RegistryError, KeyError, TypeError, IndexError):
        raise _status_unknown("current revision unreadable") from None
    result.details["expires"] = expires
    result.details["summary"] = records.summary_of(current, body_names(trust))
    return rules.status_verdict(replayed["status"], replayed["status_date"], expires, today,
                                note=result.details if result.details.get("note") else None)


def log_required(trust: Trust, log_origin: str | None) -> bool:
    """Whether a missing log must make the status unknown (rule: no silent skip).

    A pinned origin always requires it; so does a trust list with a
    timestamp-role key (a scheme with a timestamp key publishes a log, so a
    site without one has had it removed)."""
    return bool(log_origin) or any(e.get("role") == "timestamp" for e in trust["keys"].values())


def _check_log(source: Source, doc: JSONObject, trust: Trust, result: Verdict, today: datetime.date,
               max_age_days: int, log_origin: str | None = None) -> checkpoint.LogCheck | None:
    """Transparency log step (registry/log/checkpoint.py, docs/transparency-log.md): the
    checkpoint must be signed by a trust-listed log key under the origin
    (``log_origin`` pinned, else ``api/log.json``), freshly cosigned (judged at
    noon CST of ``today``, like the day-based status rule) and include the
    certificate's latest event; else status_unknown. Returns the check results,
    or None when no log is published and none is required (:func:`log_required`)."""
    try:
        log = checkpoint.check_certificate(source, trust["record"], doc["events"][-1], now=clock.noon(today),
                                     max_age_days=max_age_days, origin=log_origin or None)
        if log is None and log_required(trust, log_origin):
            raise SourceMissingError(f"{checkpoint.LOG_JSON}: not published, but the trust list has a timestamp key "
                                "(a site of this scheme must publish its log)")
    except (RegistryError, KeyError, TypeError, ValueError, IndexError) as e:
        raise _status_unknown(f"transparency log check failed: {e}",
                              "签名真实，但透明日志校验未通过（日志缺失、检查点过期、被回滚或不含此证书的最新事件）",
                              "fresh") from None
    if log is not None:
        result.details["log"] = log
    return log


def verification_result(text_or_url: object, source: SourceSpec, *,
                        root_public_key: bytes | str | os.PathLike[str] | None = None,
                        max_age: int | datetime.timedelta = DEFAULT_MAX_AGE_DAYS,
                        today: datetime.date | str | None = None, log_origin: str | None = None) -> Verdict:
    """Verify a mark URL or payload text against ``source``; never raises on bad input.

    ``source``: a directory, http(s) URL, registry ``.db`` path or a source
    object (:func:`open_source`). ``root_public_key``: the pinned scheme root
    (raw bytes, base64url, or a root-key.json path); for a registry db it
    defaults to the registry's own root. ``today``: a ``date`` (default: the
    date in Suzhou, :func:`clock.today`). ``log_origin``: the pinned
    transparency-log origin (default: env ``SZZZ_LOG_ORIGIN``); when pinned, a
    missing or failing log makes the status unknown.
    """
    result = Verdict("malformed")
    if log_origin is None:
        log_origin = os.environ.get("SZZZ_LOG_ORIGIN") or None
    try:
        today = today or clock.today()
        if isinstance(today, str):
            today = datetime.date.fromisoformat(today)
        max_age_days = rules.max_age_days(max_age)
        mark = parse_input(text_or_url)
        result.checks["payload"] = True
        result.cert_no, result.key_id = mark.cert_no, mark.key_id
        result.body = rules.body_of_cert_no(mark.cert_no)
        src = open_source(source)
        root = root_public_key
        if root is None and hasattr(src, "root_public_key"):
            root = src.root_public_key()  # a registry source pins its own root (--db)
        try:
            root_raw = pinned_root(root) if root is not None else None
        except (RegistryError, OSError, ValueError, KeyError):
            root_raw = None
        trust = load_trust_list(src, root_raw)
        result.checks["trust_list"] = True
        check_key_and_signature(trust, mark, result.checks)
        doc = _check_record(src, mark, trust, result)
        result.checks["record"] = True
        verdict, reason, reason_zh = _check_status(src, doc, mark.cert_no, trust, result, today, max_age_days,
                                                   log_origin)
        result.verdict, result.reason, result.reason_zh = verdict, reason, reason_zh
    except Stop as stop:
        result.verdict, result.reason, result.reason_zh = stop.verdict, stop.reason, stop.reason_zh
        if stop.check:
            result.checks[stop.check] = False
    except Exception as e:  # noqa: BLE001 - never raises on bad input: any failure becomes the verdict
        result.verdict = "status_unknown" if result.checks.get("signature") else "malformed"
        result.reason = f"internal error while verifying: {type(e).__name__}: {e}"
        result.reason_zh = "验证过程出错"
    result.details.setdefault("meaning", MEANING[result.verdict][1])
    result.details.setdefault("meaning_zh", MEANING[result.verdict][0])
    return result


class Options(TypedDict, total=False):
    """The keyword options of :func:`verification_result`, for :func:`verify`."""

    root_public_key: bytes | str | os.PathLike[str] | None
    max_age: int | datetime.timedelta
    today: datetime.date | str | None
    log_origin: str | None


def verify(text_or_url: object, source: SourceSpec, **options: Unpack[Options]) -> Verdict:
    """Like :func:`verification_result`, but raises VerificationError unless valid."""
    result = verification_result(text_or_url, source, **options)
    if result.verdict != "valid":
        raise VerificationError(result.verdict, result.reason)
    return result
