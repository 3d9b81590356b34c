"""How a list of certificates is cut into pages, so that one change changes one page.

A list (docs/site.md, "Lists") holds its certificates by number. Pages of a
fixed size would move every row after a certificate that joins or leaves the
list onto another page: revoking one certificate would redraw every page of
the list of valid certificates (870 at 100,000 certificates). Here a page
starts at a certificate chosen by its number alone — one whose CRC-32 is
divisible by ``per_page`` (about one in ``per_page``) — or, within a run of
more than ``3 × per_page`` certificates without one, every ``3 × per_page``
certificates counted from the run's start. So a certificate joining or leaving
a list changes its own page (and, when it starts or ends a page, the pages
next to it, which link to it), never the rest; pages hold ``per_page``
certificates on average and at most ``3 × per_page``.

A page is named by its first certificate: ``lists/<kind>/<key>/`` is the first
page, ``lists/<kind>/<key>/page/<number>/`` the one starting at certificate
``<number>`` (``urls.listing``).
"""

import zlib
from dataclasses import dataclass

MAX_PAGES_OF_RUN = 3  # × per_page: the longest page


# A neighbour outside a window of the list (Lists.windows): not known there.
UNKNOWN = object()


@dataclass(frozen=True)
class Page:
    """One page of a list: ``start``, ``end`` index the list; ``first`` names it
    (None for the list's first page); ``prev`` and ``next`` name its neighbours
    (None: the first page; ``False``: there is none; :data:`UNKNOWN`: outside
    the window of the list that was cut)."""

    first: str | None
    start: int
    end: int
    prev: object = False
    next: object = False


def starts_page(cert_no: str, per_page: int) -> bool:
    return zlib.crc32(cert_no.encode("utf-8")) % per_page == 0


def pages(cert_nos, per_page: int, *, at_start=True, at_end=True) -> list:
    """The pages of a list of certificate numbers (ascending); one, empty, for an
    empty list. A window of a list (not ``at_start``) must begin at a page start
    that :func:`starts_page` chose; its first page's ``prev`` is :data:`UNKNOWN`,
    and so is its last page's ``next`` when the list goes on (not ``at_end``)."""
    starts = [0]
    longest = MAX_PAGES_OF_RUN * per_page
    for i, cert_no in enumerate(cert_nos):
        if i and (starts_page(cert_no, per_page) or i - starts[-1] == longest):
            starts.append(i)
    ends = [*starts[1:], len(cert_nos)]
    names = [None if at_start else cert_nos[0]] + [cert_nos[i] for i in starts[1:]]
    return [Page(first=names[n], start=starts[n], end=ends[n],
                 prev=names[n - 1] if n else (False if at_start else UNKNOWN),
                 next=names[n + 1] if n + 1 < len(starts) else (False if at_end else UNKNOWN))
            for n in range(len(starts))]


def signature(page: Page, cert_nos) -> tuple:
    """What a page shows besides its rows' contents: its name, neighbours and certificates."""
    return page.first, page.prev, page.next, tuple(cert_nos[page.start:page.end])
