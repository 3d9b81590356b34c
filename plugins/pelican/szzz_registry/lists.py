"""The list pages and the lists index (docs/site.md, "Lists").

A full build writes every page of every list from the records in memory. An
incremental one writes only the pages a :class:`~szzz_registry.dirty.ListChange`
changes. Pages are cut where :mod:`szzz_registry.paging` says, so a
certificate that joins, leaves or changes its row in a list changes:

* the pages of its *run*: from the last page start at or before it that is a
  natural start (:func:`paging.starts_page`) of the list both before and
  after the change, to the next such start after it — their certificates,
  names or neighbours;
* the first page of the next run (it links back to the run's last page);
* the first page of the list when the list grew or shrank (it shows the size).

So the generator reads a window of the list around each change, not the
list: from two common natural starts before the certificate to two after it
(the first page before the run names the run's "previous" page; the second
start after it names the next run's "next" page). A list with few
certificates among many (a rare status) is read whole instead: it is small,
and a window of it would scan most of the registry.
"""

import os

from registry.core import industries, lifecycle, reference
from szzz_registry import paging, queries, reuse, urls

LIST_KINDS = {
    "status": ("按状态", "By status"),
    "district": ("按地区", "By district"),
    "industry": ("按行业", "By industry"),
    "body": ("按认证机构", "By certification body"),
    "programme": ("按认证项目", "By programme"),
}
# A window is found by walking the certificates by number and keeping the
# list's: about WINDOW_COST × per_page of them for each change, so it reads
# WINDOW_COST × per_page × (certificates / list size) rows; reading the list
# whole reads its size. The cheaper is taken: long lists by windows, short
# (or sparse) ones whole, never more than √(WINDOW_COST × per_page × certificates)
# rows (32,000 at 1M certificates).
WINDOW_COST = 8
# Certificates read at a time while looking for a window's page starts (× per_page).
WINDOW_BATCH = 4


class Lists:
    """The list pages of generator ``gen`` (its render, registry, settings and Dirty)."""

    def __init__(self, gen):
        self.gen = gen
        self.per_page = gen.cfg["per_page"]

    def write(self, index):
        """Every list page a change feeds (every page in a full build), and the lists index."""
        gen = self.gen
        grouped = gen.grouped = _grouped(gen.data.certificates) if gen.dirty.full else None
        entries_by_kind = []
        certificates = sum(index["status"].values())
        for kind, sizes in index.items():
            entries = []
            for key, total in sizes.items():
                label = label_of(kind, key, gen.data)
                entries.append((key, label, total))
                change = gen.dirty.list_change(kind, key)
                if grouped is not None:
                    certs = grouped[kind].get(key, [])
                    self.whole(kind, key, label, [c["cert_no"] for c in certs], certs)
                elif change is None or total == 0:  # an empty list is one page: it may be new
                    self.whole(kind, key, label, queries.list_numbers(gen.conn, kind, key, gen.figures),
                               queries.summaries(gen.conn, *queries.list_condition(kind, key, gen.figures)))
                elif change and WINDOW_COST * self.per_page * certificates < total * total:
                    self.windows(kind, key, label, total, change)
                elif change:
                    self.update(kind, key, label, change)
            if not gen.dirty.full and kind in gen.dirty.all_lists:
                self.drop_lists(kind, sizes)
            entries_by_kind.append((kind, entries))
        gen.render("lists", "lists/", title="证书名录", index=entries_by_kind, data_as_of=True)

    def whole(self, kind, key, label, numbers, rows):
        """Every page of a list (``rows`` in the order of ``numbers``); an earlier
        build's pages of it that no longer exist are removed."""
        pages = paging.pages(numbers, self.per_page)
        if self.gen.incremental is not None:
            self.drop_pages(kind, key, {p.first for p in pages})
        for page in pages:
            self.page(kind, key, label, page, rows[page.start:page.end], len(numbers))

    def update(self, kind, key, label, change):
        """The pages ``change`` changes, from the whole list (a short one)."""
        numbers = queries.list_numbers(self.gen.conn, kind, key, self.gen.figures)
        before = sorted(set(numbers) - change.joined | change.left)
        self.compare(kind, key, label, change, paging.pages(numbers, self.per_page), numbers,
                     paging.pages(before, self.per_page), before, len(numbers))

    def windows(self, kind, key, label, total, change):
        """The pages ``change`` changes, from a window of the list around each change."""
        moved = change.joined | change.left
        first_done = False
        for cert_no in sorted(moved | change.changed):
            window, before, at_start, at_end, span = self.window(kind, key, cert_no, change)
            new = paging.pages(window, self.per_page, at_start=at_start, at_end=at_end)
            old = paging.pages(before, self.per_page, at_start=at_start, at_end=at_end)
            first_done |= None in self.compare(kind, key, label, change, new, window, old, before, total,
                                               span)
        if moved and not first_done:
            # The first page shows the list's size: its rows, and the name of the
            # next page (which starts at the latest 3 × per_page certificates on).
            head = queries.list_window(self.gen.conn, kind, key, self.gen.figures, None, ">",
                                       paging.MAX_PAGES_OF_RUN * self.per_page + 1)
            page = paging.pages(head, self.per_page)[0]
            self.page(kind, key, label, page, queries.summaries_of(self.gen.conn, head[page.start:page.end]),
                      total)

    def window(self, kind, key, cert_no, change):
        """``(window, before, at_start, at_end, span)`` around ``cert_no``: the list's
        certificates from the second common start at or before it (``c0``; the
        list's start when there is none, ``at_start``) to the second after it
        (``c3``; the list's end, ``at_end``), now and before the change. A common
        start begins a page both before and after (a natural start that neither
        joined nor left). ``span`` = (``c1``, ``c2``), the first common starts at
        or before and after it (None: the list's start, end): the pages that may
        have changed are those starting from ``c1`` to ``c2``."""
        gen, step = self.gen, max(1, int(WINDOW_BATCH * self.per_page))
        moved = change.joined | change.left

        def scan(op):
            """(numbers from ``cert_no`` on in direction ``op``, up to the second common
            start; those starts; whether the list ends there)."""
            out, found, last, strict = [], [], cert_no, op.rstrip("=")
            while True:
                # From cert_no itself when op is "<=", then from before the last read.
                batch = queries.list_window(gen.conn, kind, key, gen.figures, last, op if not out else strict,
                                            step)
                for i, no in enumerate(batch):
                    out.append(no)
                    if no not in moved and paging.starts_page(no, self.per_page):
                        found.append(no)
                        if len(found) == 2:
                            # At the list's edge when nothing lies beyond (the first
                            # page is named None, not after its first certificate).
                            beyond = i + 1 < len(batch) or (len(batch) == step and queries.list_window(
                                gen.conn, kind, key, gen.figures, no, strict, 1))
                            return out, found, not beyond
                if len(batch) < step:
                    return out, found, True
                last = batch[-1]

        back, c_back, at_start = scan("<=")
        ahead, c_ahead, at_end = scan(">")
        window = back[::-1] + ahead
        low = None if at_start else window[0]
        high = None if at_end else window[-1]
        before = sorted((set(window) - change.joined) | {
            no for no in change.left if (low is None or no > low) and (high is None or no < high)})
        span = (c_back[0] if c_back else None, c_ahead[0] if c_ahead else None)
        return window, before, at_start, at_end, span

    def compare(self, kind, key, label, change, new_pages, numbers, old_pages, before, total, span=(None, None)):
        """Render the pages of ``new_pages`` (pages of ``numbers``) whose name, neighbours
        or certificates differ from ``old_pages`` (of ``before``), that show a changed
        row, or (the first page) show a size that changed; remove the old pages that
        are gone. Only pages starting from ``span[0]`` to ``span[1]`` are looked at
        (None: the list's start, end). Return the names of the pages rendered."""
        low, high = span

        def within(page, nos):
            # By its first certificate (the list's first page is named None, and
            # may start at a common start itself).
            if page.end == page.start:
                return low is None
            first = nos[page.start]
            return (low is None or first >= low) and (high is None or first <= high)

        new = {p.first: (p, paging.signature(p, numbers)) for p in new_pages if within(p, numbers)}
        old = {p.first: paging.signature(p, before) for p in old_pages if within(p, before)}
        resized = bool(change.joined or change.left)
        done = set()
        for name, (page, signature) in new.items():
            members = numbers[page.start:page.end]
            if old.get(name) != signature or not change.changed.isdisjoint(members) or (
                    name is None and resized):
                self.page(kind, key, label, page, queries.summaries_of(self.gen.conn, members), total)
                done.add(name)
        page_dir = self.page_dir(kind, key)
        for name in set(old) - set(new):
            reuse.remove(os.path.join(page_dir, urls.segment(name)))
        return done

    def page(self, kind, key, label, page, certs, total):
        context = {"total": total} if page.first is None else {}
        self.gen.render("list", urls.listing(kind, key, page.first), kind=kind, key=key, label=label,
                        title=f"{LIST_KINDS[kind][0]}：{label[0]}", certs=certs, page=page, **context)

    def page_dir(self, kind, key):
        return os.path.join(self.gen.output_path, urls.file_path(urls.listing(kind, key)), "page")

    def drop_pages(self, kind, key, names):
        """Remove the earlier build's pages of list (``kind``, ``key``) not among
        ``names`` (first certificates; None, the first page, always stays)."""
        page_dir = self.page_dir(kind, key)
        for name in set(listdir(page_dir)) - names:
            reuse.remove(os.path.join(page_dir, name))

    def drop_lists(self, kind, sizes):
        """Remove the earlier build's lists of ``kind`` that no longer exist."""
        kind_dir = os.path.join(self.gen.output_path, "lists", kind)
        keys = {urls.file_path(urls.listing(kind, key)).split("/")[2] for key in sizes}
        for name in listdir(kind_dir):
            if name not in keys:
                reuse.remove(os.path.join(kind_dir, name))


def _grouped(certificates) -> dict:
    """{kind: {key: certificates}} of every list, each by certificate number."""
    groups = {kind: {} for kind in LIST_KINDS}
    for c in certificates:
        e = c["enterprise_row"]
        for kind, key in (("status", c["status"]), ("district", e["district"]),
                          ("industry", e["division"] or "-"), ("body", c["body"]),
                          ("programme", c["programme"])):
            groups[kind].setdefault(key, []).append(c)
    return groups


def listdir(path) -> list:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def label_of(kind, key, d):
    """(zh, en) label of one list."""
    if kind == "status":
        return lifecycle.STATUS_NAMES[key]
    if kind == "district":
        return (key, reference.DISTRICTS.get(key, ""))
    if kind == "industry":
        names = industries.MANUFACTURING_DIVISIONS.get(key[1:], (key, ""))
        return (f"{key} {names[0]}", names[1])
    if kind == "body":
        b = d.bodies[key]
        return (b["name_zh"], b["name_en"])
    return reference.PROGRAMMES.get(key, (key, ""))
