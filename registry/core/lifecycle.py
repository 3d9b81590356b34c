"""The certificate lifecycle: which event may happen in which status.

A certificate's status is never stored on its own authority: it is what
replaying its signed events through :data:`TRANSITIONS` gives
(:func:`status_from_events`). The ``certificates.status`` column is a cache
of that replay, rewritten in the same transaction as each event.

Rules (from the scheme's supervision-after-certification duties):

* nothing follows ``revoked`` or ``withdrawn``: they are terminal, so nothing
  reinstates a revoked certificate;
* an ``expired`` certificate can only be renewed (or withdrawn by its holder);
* only a ``suspended`` certificate can be reinstated;
* a failed surveillance audit suspends the certificate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from registry.core.exceptions import LifecycleError

_Date = TypeVar("_Date")

VALID, SUSPENDED, REVOKED, WITHDRAWN, EXPIRED = (
    "valid", "suspended", "revoked", "withdrawn", "expired",
)
STATUSES = (VALID, SUSPENDED, REVOKED, WITHDRAWN, EXPIRED)
TERMINAL = frozenset({REVOKED, WITHDRAWN})

# Certificate event types -> {status before: status after}. ``None`` as the
# "before" status means "no event yet": only ``issued`` starts a history.
TRANSITIONS: dict[str, dict[str | None, str]] = {
    "issued": {None: VALID},
    "surveillance_passed": {VALID: VALID},
    "surveillance_failed": {VALID: SUSPENDED, SUSPENDED: SUSPENDED},
    "suspended": {VALID: SUSPENDED},
    "reinstated": {SUSPENDED: VALID},
    "scope_changed": {VALID: VALID, SUSPENDED: SUSPENDED},
    "renewed": {VALID: VALID, EXPIRED: VALID},
    "rekeyed": {VALID: VALID, SUSPENDED: SUSPENDED, EXPIRED: EXPIRED},
    "revoked": {VALID: REVOKED, SUSPENDED: REVOKED},
    "withdrawn": {VALID: WITHDRAWN, SUSPENDED: WITHDRAWN, EXPIRED: WITHDRAWN},
    "expired": {VALID: EXPIRED, SUSPENDED: EXPIRED},
}
CERTIFICATE_EVENTS = tuple(TRANSITIONS)

# Events that create a new signed revision of the certificate record (and so
# a new mark payload).
REVISING_EVENTS = frozenset({"issued", "renewed", "scope_changed", "rekeyed"})

# Registry-level events (not about one certificate).
KEY_EVENTS = ("key_endorsed", "key_retired", "key_compromised")
OTHER_EVENTS = ("notice_published",)
EVENT_TYPES = CERTIFICATE_EVENTS + KEY_EVENTS + OTHER_EVENTS

STATUS_NAMES = {
    VALID: ("有效", "valid"),
    SUSPENDED: ("暂停", "suspended"),
    REVOKED: ("撤销", "revoked"),
    WITHDRAWN: ("注销", "withdrawn"),
    EXPIRED: ("过期", "expired"),
}

EVENT_NAMES = {
    "issued": ("颁发", "issued"),
    "surveillance_passed": ("监督审核通过", "surveillance passed"),
    "surveillance_failed": ("监督审核未通过", "surveillance failed"),
    "suspended": ("暂停", "suspended"),
    "reinstated": ("恢复", "reinstated"),
    "scope_changed": ("范围变更", "scope changed"),
    "renewed": ("换证/再认证", "renewed"),
    "rekeyed": ("重新签名", "re-signed with a new key"),
    "revoked": ("撤销", "revoked"),
    "withdrawn": ("注销", "withdrawn"),
    "expired": ("过期", "expired"),
    "key_endorsed": ("密钥授权", "key endorsed"),
    "key_retired": ("密钥停用", "key retired"),
    "key_compromised": ("密钥泄露", "key compromised"),
    "notice_published": ("发布通报", "notice published"),
}


def next_status(current: str | None, event_type: str, *, cert_no: str | None = None) -> str:
    """Status after ``event_type`` happens in ``current``, or LifecycleError."""
    allowed = TRANSITIONS.get(event_type)
    if allowed is None:
        raise LifecycleError(f"unknown certificate event type {event_type!r}")
    if current not in allowed:
        what = f"certificate {cert_no}" if cert_no else "certificate"
        if current in TERMINAL:
            why = f"{current} is final"
        elif current is None:
            why = "it has not been issued"
        else:
            why = f"{event_type} is allowed only from " + ", ".join(
                sorted(str(s) for s in allowed)
            )
        raise LifecycleError(
            f"{what} is {current or 'not issued'}: cannot apply {event_type} ({why})"
        )
    return allowed[current]


def status_from_events(event_types: Iterable[str], *, cert_no: str | None = None) -> str:
    """Replay a certificate's event types (oldest first) into its status."""
    status: str | None = None
    for event_type in event_types:
        status = next_status(status, event_type, cert_no=cert_no)
    if status is None:
        raise LifecycleError(f"certificate {cert_no or ''} has no issued event".strip())
    return status


def replay(events: Iterable[tuple[str, _Date]], *, cert_no: str | None = None) -> tuple[str, _Date]:
    """``(status, status_date)`` after ``events``, ``(type, date)`` pairs oldest
    first: the status, and the date of the event that last changed it. Every
    published status is this replay of a certificate's signed events; the
    ``certificates.status`` column only caches it."""
    status: str | None = None
    since: _Date  # assigned by the first event (it always moves the status off None), read only after one
    for event_type, date in events:
        after = next_status(status, event_type, cert_no=cert_no)
        if after != status:
            since = date
        status = after
    if status is None:
        raise LifecycleError(f"certificate {cert_no or ''} has no issued event".strip())
    return status, since
