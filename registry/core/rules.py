"""The scheme's rules, written once: who may sign what on which date, and
which verdict the evidence gives.

Every judge of a signature calls this module: the single verifier
(``szzz verify``), both batch paths, ``szzz audit``, ``szzz check`` (the
registry's own integrity check), the log's checkpoint verifiers, and the
writers that sign (the snapshot writer and the log) — so a writer refuses
exactly what a verifier would refuse, and no two verifiers can disagree
about a key. The browser receives the tables below as generated constants
(``registry/publish/webverifier.py`` generates ``constants.js``; ``site/verify/rules.js``
ports :func:`key_problem` over them); its logic is checked
against these by the conformance vectors and the differential tests.

Key usability (docs/verification.md, rule 3; docs/design.md, keys and roles)
----------------------------------------------------------------------------
A key, as the trust list describes it (``role``, ``body``, ``valid_from``,
``valid_to``, ``status``, ``status_date``), may sign for a *use* when:

1. its role is the use's role (a body key signs marks, revisions and
   certificate events; the log key status statements, snapshots and
   checkpoints; the timestamp key cosignatures; the root key trust lists,
   key events and notices);
2. for a body key, its body is the certificate's body;
3. it is endorsed (listed in a root-signed trust list);
4. for a dated use, the date lies in its signing window: from
   ``valid_from`` to ``valid_to`` (inclusive, when set), and for a retired
   key up to its ``status_date``;
5. a compromised key: two named variants, because the evidence differs —

   * ``PRESENTED`` (marks, status statements and snapshots, checkpoints,
     cosignatures): the signature is shown to someone *now*, and its date is
     the signer's own claim, which a thief of the key sets at will. Refused
     whatever the date.
   * ``RECORDED`` (certificate revisions and events in the registry's
     history): the record sits in the append-only history, ordered and fixed
     by the log's checkpoints, before the compromise was declared; its later
     compromise does not unmake it (the certificates it signed are re-signed
     by ``rekey``, and their old marks are refused as ``PRESENTED``).
     Accepted up to ``status_date``, like a retired key.

Verdicts (docs/verification.md, rules 5-7)
------------------------------------------
:func:`later_revisions` (a mark printed before later revisions),
:func:`status_verdict` (the replayed status and expiry) and
:func:`status_age` / :func:`stale_unless_logged` (freshness) decide the
verdict from verified evidence; :class:`Stop` carries a decided verdict.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from registry.core import clock, lifecycle

VERDICTS = (
    "valid", "suspended", "revoked", "withdrawn", "expired", "unknown_issuer",
    "key_not_valid", "bad_signature", "malformed", "not_found", "status_unknown",
)
STATUS_VERDICTS = frozenset(lifecycle.STATUSES)
CHECKS = ("payload", "trust_list", "key", "signature", "record", "status", "fresh")
DEFAULT_MAX_AGE_DAYS = 7
# A status statement or snapshot may be dated up to a day ahead of the
# verifier's today: build times are the end of the registry's last day (CST).
FUTURE_TOLERANCE_DAYS = 1

# Status statements are signed per bucket of certificates, not per
# certificate (docs/published-files.md, "api/status/<bucket>.json"): every
# build re-signs them all (their as_of and log_size change with every event),
# so their number must not grow with the registry, while a certificate's own
# file changes only with its own events. 3 hex digits: 4,096 buckets, ~25
# certificates each at 100,000 and ~250 at 1,000,000.
STATUS_BUCKET_HEX = 3


def status_bucket(cert_no: str) -> str:
    """The status bucket of ``cert_no``: the first :data:`STATUS_BUCKET_HEX` hex
    digits of SHA-256 of its UTF-8 bytes (names ``api/status/<bucket>.json``)."""
    return hashlib.sha256(cert_no.encode("utf-8")).hexdigest()[:STATUS_BUCKET_HEX]


# Revisions that leave earlier marks in force: products already on shelves
# keep their marks (rule 5). A later ``rekeyed`` revision replaces them.
REVISION_KEEPS_MARK = frozenset({"renewed", "scope_changed"})

# What each verdict means, for people (zh first); a reason adds specifics.
MEANING: dict[str, tuple[str, str]] = {
    "valid": ("标志真实，证书有效", "genuine mark, certificate valid"),
    "suspended": ("标志真实，但证书已暂停", "genuine mark, but the certificate is suspended"),
    "revoked": ("标志真实，但证书已撤销", "genuine mark, but the certificate is revoked"),
    "withdrawn": ("标志真实，但证书已注销", "genuine mark, but the certificate is withdrawn"),
    "expired": ("标志真实，但证书已过期", "genuine mark, but the certificate has expired"),
    "unknown_issuer": ("签发者不在信任列表中", "issuer not in the scheme's trust list"),
    "key_not_valid": ("签名密钥不可用于此标志", "the signing key is not valid for this mark"),
    "bad_signature": ("签名无效：可能是伪造标志", "signature invalid: possibly a counterfeit mark"),
    "malformed": ("无法识别的标志内容", "not a readable mark"),
    "not_found": ("未找到对应的认证记录", "no matching certificate record"),
    "status_unknown": ("签名真实，但无法确认当前状态", "signature genuine, current status unknown"),
}


class Stop(Exception):
    """A decided verdict: the first failing check (``check``) and why, in English and Chinese."""

    def __init__(self, verdict: str, reason: str, reason_zh: str, check: str | None = None) -> None:
        super().__init__(reason)
        self.verdict, self.reason, self.reason_zh, self.check = verdict, reason, reason_zh, check


# ------------------------------------------------------------------- keys

PRESENTED = "presented"
RECORDED = "recorded"
ROLES = ("root", "body", "log", "timestamp")
KEY_STATUSES = ("active", "retired", "compromised")
FAR_FUTURE = "9999-12-31"


@dataclass(frozen=True)
class Use:
    """What a signature is for: the role that may make it, whether its date is
    judged against the key's window, and which compromise variant applies."""

    name: str
    role: str
    dated: bool
    compromise: str
    why: str


USES = {use.name: use for use in (
    Use("mark", "body", True, PRESENTED,
        "a mark is judged when it is scanned; its signed_on is the signer's claim"),
    Use("revision", "body", True, RECORDED,
        "a certificate revision is part of the registry's recorded history"),
    Use("event", "body", True, RECORDED,
        "a certificate event is part of the registry's recorded, logged history"),
    Use("root_event", "root", False, PRESENTED,
        "key events and notices are the scheme root's acts"),
    Use("status", "log", True, PRESENTED,
        "a status statement or snapshot is presented to verifiers; as_of is the signer's claim"),
    Use("checkpoint", "log", False, PRESENTED,
        "a checkpoint carries no trusted time; any signature by a compromised log key is suspect"),
    Use("cosignature", "timestamp", False, PRESENTED,
        "a cosignature's time is the timestamp key's own claim"),
)}


class KeyEntry(TypedDict):
    """A key as the trust list describes it (``docs/design.md``, keys and roles);
    listed entries may carry more (``endorsed``, a body's names)."""

    key_id: str
    public_key: str
    role: str
    body: str | None
    valid_from: str | None
    valid_to: str | None
    status: str
    status_date: str | None


def root_entry(key_id: str, public_key: str) -> KeyEntry:
    """The scheme root as a key entry (the trust list names it apart from its keys)."""
    return {"key_id": key_id, "public_key": public_key, "role": "root", "body": None,
            "valid_from": None, "valid_to": None, "status": "active", "status_date": None}


def signing_window(entry: Mapping[str, object], use: str) -> tuple[str, str] | None:
    """``(first, last)`` ISO dates (inclusive) on which ``entry`` may sign for
    ``use``, or None when it may sign on no date at all (rules 4 and 5)."""
    variant = USES[use]
    status = entry.get("status")
    if status not in KEY_STATUSES:
        return None
    first = entry.get("valid_from")
    if not isinstance(first, str) or not first:
        return None
    last = entry.get("valid_to") or FAR_FUTURE
    if not isinstance(last, str):
        return None
    if status == "compromised" and variant.compromise == PRESENTED:
        return None
    if status in ("retired", "compromised"):
        ended = entry.get("status_date")
        if not isinstance(ended, str) or not ended:
            return None  # an ended key with no end date: strict, never
        last = min(last, ended)
    return (first, last) if first <= last else None


def key_problem(entry: object, use: str, *, date: object = None, body: str | None = None) -> tuple[str, str] | None:
    """Why ``entry`` may not sign for ``use`` (on ``date``, for ``body``), as
    ``(reason, reason_zh)``; None when it may. ``entry`` is a trust-list entry
    (with ``endorsed`` False for a registry key not yet listed)."""
    variant = USES[use]
    if not isinstance(entry, dict):
        return ("key is not in the trust list", "密钥不在信任列表中")
    key_id = entry.get("key_id")
    role = entry.get("role")
    if role != variant.role:
        return (f"key {key_id} is a {role} key, expected a {variant.role} key",
                f"密钥 {key_id} 的用途是 {role}，应为 {variant.role} 密钥")
    if variant.role == "body" and entry.get("body") != body:
        return (f"key {key_id} belongs to body {entry.get('body')}, expected a key of {body}",
                f"认证机构 {entry.get('body')} 的密钥签署了 {body} 的记录")
    if entry.get("endorsed") is False:
        return (f"key {key_id} is not endorsed in any trust list", f"密钥 {key_id} 未经信任列表授权")
    status = entry.get("status")
    if status not in KEY_STATUSES:
        return (f"key {key_id} has status {status!r}, expected one of {', '.join(KEY_STATUSES)}",
                f"密钥 {key_id} 的状态 {status!r} 无法识别")
    if status == "compromised" and variant.compromise == PRESENTED:
        return ((f"key {key_id} was reported compromised on {entry.get('status_date')}: no {use} "
                "signed by it is trusted; its certificates were re-signed with a new key"),
                f"密钥 {key_id} 已于 {entry.get('status_date')} 报告泄露，其签名不可信；相关证书已用新密钥重新签名")
    if not variant.dated:
        return None
    if not isinstance(date, str):
        return (f"{use} has no date to judge key {key_id} by", "无法确认签名日期")
    first, last = entry.get("valid_from"), entry.get("valid_to")
    if not isinstance(first, str) or date < first:
        return (f"signed on {date}, before key {key_id} was valid (from {first})",
                f"签署日期 {date} 早于密钥 {key_id} 的生效日期 {first}")
    if last and date > last:
        return (f"signed on {date}, after key {key_id}'s validity ended ({last})",
                f"签署日期 {date} 晚于密钥 {key_id} 的有效期截止日 {last}")
    if status in ("retired", "compromised"):
        ended = entry.get("status_date")
        if not isinstance(ended, str) or not ended or date > ended:
            return (f"signed on {date}, after key {key_id} was {status} on {ended}",
                    f"签署日期 {date} 晚于密钥 {key_id} 的{'停用' if status == 'retired' else '泄露'}日期 {ended}")
    return None


def event_use(record: Mapping[str, object]) -> str:
    """The use of an event's signature: a certificate event is the body's, the rest the root's."""
    return "event" if record.get("type") in lifecycle.CERTIFICATE_EVENTS else "root_event"


def body_of_cert_no(cert_no: object) -> str | None:
    """The body code inside ``<programme>-<year>-<BODY>-<serial>``, or None: the
    body whose key must have signed the certificate's records."""
    if not isinstance(cert_no, str):
        return None
    parts = cert_no.split("-")
    return parts[2] if len(parts) == 4 else None


# ---------------------------------------------------------------- verdicts

def cst_date(moment_text: object) -> datetime.date:
    """The calendar date in Suzhou (UTC+8) of an ISO time with an offset
    (ValueError for anything else: a stamp without its offset is ambiguous)."""
    if not isinstance(moment_text, str):
        raise ValueError(f"time {moment_text!r} is not text")
    moment = datetime.datetime.fromisoformat(moment_text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {moment_text!r} has no time zone")
    return moment.astimezone(clock.CST).date()


def max_age_days(max_age: int | datetime.timedelta) -> int:
    if isinstance(max_age, datetime.timedelta):
        return max_age.days
    if isinstance(max_age, bool) or int(max_age) < 0:
        raise ValueError(f"maximum age {max_age!r} is not a number of days >= 0")
    return int(max_age)


def status_age(as_of: object, today: datetime.date) -> tuple[int, datetime.date]:
    """``(age in days, as_of date)`` of a signed status time (rule 6), or Stop:
    unreadable, or more than :data:`FUTURE_TOLERANCE_DAYS` ahead of today."""
    try:
        day = cst_date(as_of)
    except (ValueError, TypeError, AttributeError):
        raise Stop("status_unknown", f"status statement date {as_of!r} unreadable",
                   "状态信息日期无法读取", "fresh") from None
    age = (today - day).days
    if age < -FUTURE_TOLERANCE_DAYS:
        raise Stop("status_unknown", f"status as of {day} is in the future",
                   f"状态信息日期 {day} 晚于当前日期", "fresh")
    return age, day


def stale_unless_logged(age: int, day: datetime.date, max_age: int, log_size: object,
                        checkpoint_size: int | None) -> bool:
    """Rule 6, freshness: a status older than ``max_age`` days is still current
    when a verified, freshly cosigned checkpoint has exactly the tree size the
    status was signed at (no event has happened since). Returns True when the
    log is what kept it current; raises Stop when it is stale."""
    if age <= max_age:
        return False
    if checkpoint_size is not None and not isinstance(log_size, bool) and checkpoint_size == log_size:
        return True
    seen = ("no verified log checkpoint" if checkpoint_size is None else
            f"log checkpoint of size {checkpoint_size}, status signed at size {log_size!r}")
    raise Stop("status_unknown", f"status as of {day} is stale ({age} days old, limit {max_age}; {seen})",
               f"状态信息截至 {day}，已过期（{age} 天），且透明日志此后已有新事件或无法确认", "fresh")


class RevisionNote(TypedDict, total=False):
    """What :func:`later_revisions` adds to a result: why a mark printed before
    later revisions is still in force (both keys, or neither)."""

    note: str
    note_zh: str


def later_revisions(reasons: Sequence[tuple[str, str]]) -> RevisionNote:
    """Rule 5: a mark matches revision m; ``reasons`` are ``(reason, signed_on)``
    of every later revision, oldest first, from signed evidence. A later
    ``rekeyed`` replaces the mark (key_not_valid); renewals and scope changes
    keep it (returns the note to show); anything else is inconsistent."""
    for reason, signed_on in reasons:
        if reason == "rekeyed":
            raise Stop("key_not_valid",
                       f"this mark was replaced: the certificate was re-signed with a new key on {signed_on}",
                       f"此标志已被替换：证书已于 {signed_on} 用新密钥重新签名", "record")
        if reason not in REVISION_KEEPS_MARK:
            raise Stop("status_unknown", f"published file inconsistent: revision reason {reason!r}",
                       "公开文件不一致", "record")
    if not reasons:
        return {}
    renewals = [signed_on for reason, signed_on in reasons if reason == "renewed"]
    if renewals:
        return {"note": f"mark printed before the renewal of {renewals[0]}",
                "note_zh": f"此标志印制于 {renewals[0]} 换证之前，仍然有效"}
    return {"note": f"mark printed before the scope change of {reasons[0][1]}",
            "note_zh": "此标志印制于认证范围变更之前，仍然有效"}


def status_verdict(status: str, status_date: str | None, expires: object, today: datetime.date,
                   note: Mapping[str, object] | None = None) -> tuple[str, str, str]:
    """Rule 7: ``(verdict, reason, reason_zh)`` of a replayed status; a valid
    certificate past its current revision's ``expires`` is ``expired``."""
    if status not in STATUS_VERDICTS:
        raise Stop("status_unknown", f"status {status!r} unknown", "证书状态无法识别", "status")
    if status == "valid" and (not isinstance(expires, str) or expires < today.isoformat()):
        return "expired", f"certificate expired on {expires}", f"证书已于 {expires} 过期"
    if status == "valid":
        en, zh = "signature genuine; the certificate is valid", "签名真实，证书有效"
        if note:
            en, zh = en + f" ({note['note']})", zh + f"（{note['note_zh']}）"
        return "valid", en, zh
    return (status, f"signature genuine; the certificate was {status} on {status_date}",
            f"签名真实；证书已于 {status_date} {lifecycle.STATUS_NAMES[status][0]}")


def browser_constants() -> dict[str, object]:
    """What the browser verifier needs of these rules, as data (``rules.js``)."""
    return {
        "VERDICTS": list(VERDICTS), "CHECKS": list(CHECKS),
        "MEANING": {k: list(v) for k, v in MEANING.items()},
        "DEFAULT_MAX_AGE_DAYS": DEFAULT_MAX_AGE_DAYS,
        "FUTURE_TOLERANCE_DAYS": FUTURE_TOLERANCE_DAYS,
        "STATUS_BUCKET_HEX": STATUS_BUCKET_HEX,
        "REVISION_KEEPS_MARK": sorted(REVISION_KEEPS_MARK),
        "REVISING_EVENTS": sorted(lifecycle.REVISING_EVENTS),
        "CERTIFICATE_EVENTS": list(lifecycle.CERTIFICATE_EVENTS),
        "STATUS_NAMES": {k: list(v) for k, v in lifecycle.STATUS_NAMES.items()},
        "USES": {u.name: {"role": u.role, "dated": u.dated, "compromise": u.compromise}
                 for u in USES.values()},
        "KEY_STATUSES": list(KEY_STATUSES),
        "FAR_FUTURE": FAR_FUTURE,
    }
