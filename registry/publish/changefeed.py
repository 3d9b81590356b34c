"""The change feed ``api/events/``: every signed event, paged, for incremental sync.

Layout (documented with examples in ``docs/change-feed.md``)::

    api/events/index.json   {"format": "szzz/change-feed/v1", "as_of", "last_seq",
                             "page_size": 1000,
                             "pages": [{"page", "first_seq", "last_seq", "complete", "href"}]}
    api/events/<n>.json     {"format": "szzz/change-feed-page/v1", "page": n,
                             "first_seq", "last_seq", "complete", "prev", "next",
                             "events": [<event envelopes, ascending seq>]}

Page ``n`` holds the events with ``n*1000 < seq <= (n+1)*1000``, so a platform
that has seen every event up to ``s`` fetches page ``s // 1000`` and follows
``next``; it never needs the index except to learn ``last_seq``. A full page
(``complete: true``) never changes again: its bytes are identical in every
later build (no build time inside), so it can be cached forever. Only the
last page and the index change as events are added.

Events are the registry's signed envelopes (domain ``szzz/event/v1``),
copied byte for byte: a platform checks each signature against the trust
list and never has to trust this feed's transport.
"""

import json
import os
from pathlib import Path

from registry.core import canonical, fs
from registry.core.exceptions import BuildError
from registry.publish import api

PAGE_SIZE = 1000
INDEX_FORMAT = "szzz/change-feed/v1"
PAGE_FORMAT = "szzz/change-feed-page/v1"


def page_of(seq: int) -> int:
    """The page holding event ``seq`` (seq counts from 1)."""
    return (seq - 1) // PAGE_SIZE


def page_name(n: int) -> str:
    return f"{n}.json"


def _pages(db, first_page=0):
    """Yield (page number, [envelopes]) in order from page ``first_page``; check seq is
    contiguous from the page's first."""
    events: list[dict[str, str]] = []
    current, expected = None, first_page * PAGE_SIZE + 1
    for seq, key_id, payload, signature in db.execute(
            "select seq, key_id, payload, signature from events where seq >= ? order by seq",
            [expected]):
        if seq != expected:
            # Rule (docs/design.md): seq is global and contiguous from 1. A gap
            # would make "fetch page s // 1000" silently skip events.
            raise BuildError(f"events: observed seq {seq} after {expected - 1}, expected {expected} "
                             "(event sequence numbers must be contiguous from 1)")
        expected += 1
        n = page_of(seq)
        if n != current:
            if events:
                yield current, events
            current, events = n, []
        events.append(canonical.envelope(canonical.EVENT, payload, key_id, signature))
    if events:
        yield current, events


def _seq(envelope) -> int:
    return canonical.decode(envelope["payload"].encode("utf-8"))["seq"]


def _reusable_pages(previous_dir, last_seq) -> int:
    """How many complete pages, from page 0, the previous build's ``api/events/`` holds
    that this build may link instead of writing (a complete page never changes)."""
    try:
        index = json.loads((Path(previous_dir) / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    n = 0
    for page in index.get("pages", ()):
        if page.get("page") != n or not page.get("complete") or (n + 1) * PAGE_SIZE > last_seq:
            break
        n += 1
    return n


def first_written_seq(previous_dir, last_seq) -> int:
    """The first event whose page :func:`write_change_feed` writes (rather than
    links) when the previous build's feed is ``previous_dir`` and the registry's
    last event ``last_seq``: what an incremental build publishes anew from
    older events, which the log step compares with the signed log."""
    return _reusable_pages(previous_dir, last_seq) * PAGE_SIZE + 1


def write_change_feed(db, out_dir, *, as_of, previous_dir=None) -> dict:
    """Write ``<out_dir>/api/events/`` for registry ``db``; return the index.

    The directory is written aside and swapped in (:func:`registry.core.fs.staged_dir`),
    so a reader never sees a mixture of two builds. ``as_of`` (a datetime or ISO
    string) is the build time, from :func:`registry.core.clock.build_time`; it
    goes into the index only.
    """
    pages, last_seq = [], 0
    reused = 0
    if previous_dir is not None:
        # An incremental build (docs/publishing.md): the previous build's
        # complete pages are hard-linked, never rewritten in place.
        count = db.execute("select max(seq) from events").fetchone()[0] or 0
        reused = _reusable_pages(previous_dir, count)
    with fs.staged_dir(Path(out_dir) / "api" / "events") as staging:
        for n in range(reused):
            os.link(Path(previous_dir) / page_name(n), staging / page_name(n))
            pages.append({"page": n, "first_seq": n * PAGE_SIZE + 1, "last_seq": (n + 1) * PAGE_SIZE,
                          "complete": True, "href": page_name(n)})
            last_seq = (n + 1) * PAGE_SIZE
        all_pages = list(_pages(db, reused))
        # The last page is always incomplete and always exists (possibly empty),
        # so "fetch page s // 1000" never meets a missing file.
        if not all_pages or len(all_pages[-1][1]) == PAGE_SIZE:
            all_pages.append(((all_pages[-1][0] + 1) if all_pages else reused, []))
        for n, events in all_pages:
            first = _seq(events[0]) if events else None
            last = _seq(events[-1]) if events else None
            complete = len(events) == PAGE_SIZE
            page = {
                "format": PAGE_FORMAT, "page": n, "first_seq": first, "last_seq": last,
                "complete": complete,
                "prev": page_name(n - 1) if n > 0 else None,
                # A complete page names its successor, which always exists.
                "next": page_name(n + 1) if complete else None,
                "events": events,
            }
            (staging / page_name(n)).write_text(api.dumps(page), encoding="utf-8", newline="\n")
            pages.append({"page": n, "first_seq": first, "last_seq": last, "complete": complete,
                          "href": page_name(n)})
            last_seq = last if last is not None else last_seq
        index = {"format": INDEX_FORMAT, "as_of": api.as_of_text(as_of), "last_seq": last_seq,
                 "page_size": PAGE_SIZE, "pages": pages}
        (staging / "index.json").write_text(api.dumps(index), encoding="utf-8", newline="\n")
    return index
