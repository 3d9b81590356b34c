"""Reading a batch of listings: whatever bytes a platform's sellers wrote, one listing per row.

A batch file is CSV (a header row, then one record per listing; RFC 4180 as
Python's ``csv`` reads it: quoted fields may hold commas, quotes and line
breaks) or JSON Lines (one object per line). Every row gives exactly one
:class:`Listing`, in order, and nothing in a row can stop the reading
(docs/verification.md, "Batch mode"): bytes that are not UTF-8, a row over
:data:`MAX_ROW_BYTES`, a CSV field over ``csv``'s 131,072 characters, a line
that is not JSON, NaN or Infinity, nesting too deep for the parser, a lone
surrogate, an id or an input of the wrong type -- each makes a *malformed*
listing (``kind`` None) that says why. Only a file that is not a batch at
all (missing, unreadable, empty, a CSV header that is not UTF-8 or names
none of the input columns) raises :class:`ConfigError`.

CSV records are framed in bytes by a regular expression that follows
``csv``'s own state machine (excel dialect, ``strict=False``), so an
oversized record is skipped to its true end -- a record over the limit is
never read in pieces that could pass for listings of their own -- in bounded
memory: past the limit, only a few bytes that stand for the parser's state
are kept (:func:`_carry`). ``tests/verify/test_listings.py`` checks the
framing against ``csv`` itself.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from registry.core.exceptions import ConfigError

INPUT_COLUMNS = ("url", "payload", "cert_no", "image")
"""The columns that hold what is verified; the first one not empty in a row is used."""
MAX_ROW_BYTES = 1 << 20
"""The longest row: a CSV record or a JSON line (without its line break), in bytes."""
MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer id echoed as a JSON number (RFC 7493, I-JSON); larger ones are echoed as text."""
CHUNK_BYTES = 1 << 18

Id = str | int | None


class Listing(NamedTuple):
    """One row of a batch: what to verify (``kind``, ``value``) or, when ``kind``
    is None, why the row is malformed (``value`` in English, ``reason_zh``)."""

    row: int
    ident: Id
    kind: str | None
    value: str
    reason_zh: str = ""


def malformed(row: int, ident: Id, reason: str, reason_zh: str) -> Listing:
    return Listing(row, ident, None, reason, reason_zh)


# ------------------------------------------------------------------- ids and values

class JSONNumber(str):
    """A JSON number exactly as written (the parser keeps numbers as text, so
    ``1e999`` or a 5,000-digit integer is neither infinity nor an error)."""

    __slots__ = ()


_SAFE_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,15})")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value (RFC 8259)")


_JSON = json.JSONDecoder(parse_int=JSONNumber, parse_float=JSONNumber, parse_constant=_reject_constant)


def _what(value: object) -> str:
    """What a JSON (or Python) value is, for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, JSONNumber | int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _lone_surrogate(text: str) -> str | None:
    found = _SURROGATE.search(text)
    return None if found is None else f"U+{ord(found.group()):04X} at character {found.start() + 1}"


def echo_id(value: object) -> tuple[Id, str | None]:
    """The id to echo for a listing's ``id`` value, and the problem with it (None when fine).

    The rule (docs/verification.md, "Batch mode"): text is echoed as it is; an
    integer within ±(2**53 - 1) as a JSON number; any other number as the text
    it was written as (``1e999``, ``12345678901234567890``, ``0.5``; from
    Python, NaN and infinities as ``NaN``, ``Infinity``, ``-Infinity``);
    null or no id as null. Text that is not Unicode (a lone surrogate),
    true, false, an array or an object is a problem: the row is malformed and
    its id null. The output is always strict, interoperable JSON.
    """
    if value is None:
        return None, None
    if isinstance(value, JSONNumber):
        text = str(value)
        if _SAFE_INTEGER.fullmatch(text) and abs(int(text)) <= MAX_SAFE_INTEGER:
            return int(text), None
        return text, None
    if isinstance(value, str):
        bad = _lone_surrogate(value)
        return (None, f"id is not Unicode text (lone surrogate {bad})") if bad else (value, None)
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) <= MAX_SAFE_INTEGER:
            return value, None
        try:
            return str(value), None
        except ValueError:       # more digits than int->str allows (sys.get_int_max_str_digits)
            return None, "id is an integer too long to write out"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN", None
        if math.isinf(value):
            return ("Infinity" if value > 0 else "-Infinity"), None
        return repr(value), None
    return None, f"id is {_what(value)}, expected text or a number"


def listing_of(row: int, record: object) -> Listing:
    """The listing of one parsed row (a JSON value, or a dict from Python)."""
    if not isinstance(record, dict):
        return malformed(row, None, f"row is {_what(record)}, expected an object", "行不是 JSON 对象")
    ident, problem = echo_id(record.get("id"))
    if problem:
        return malformed(row, None, problem, "标识 id 无效")
    for column in INPUT_COLUMNS:
        value = record.get(column)
        if value is None or value == "":
            continue
        if type(value) is not str:
            return malformed(row, ident, f"column {column} is {_what(value)}, expected text",
                             f"{column} 列应为文本")
        bad = _lone_surrogate(value)
        if bad:
            return malformed(row, ident, f"column {column} is not Unicode text (lone surrogate {bad})",
                             f"{column} 列含无效字符")
        return Listing(row, ident, column, value)
    return _no_input(row, ident)


def _no_input(row: int, ident: Id) -> Listing:
    return malformed(row, ident, "row has none of the columns " + ", ".join(INPUT_COLUMNS),
                     "行中没有 url/payload/cert_no/image 列")


def _not_utf8(error: UnicodeDecodeError, where: str) -> str:
    byte = error.object[error.start]
    return (f"not UTF-8: byte 0x{byte:02X} at byte {error.start + 1} of {where}, expected UTF-8 text "
            "(a file saved as GBK or another encoding must be saved as UTF-8)")


_NOT_UTF8_ZH = "不是 UTF-8 编码（GBK 等编码的文件请另存为 UTF-8）"


def _too_long(row: int) -> Listing:
    return malformed(row, None, f"row longer than the limit of {MAX_ROW_BYTES:,} bytes", "行过长")


# ------------------------------------------------------------------- files

def read_rows(path: str | os.PathLike[str]) -> Iterator[Listing]:
    """The listings of the batch file ``path`` (CSV or JSONL), one per row, in order.

    JSONL when the suffix is ``.jsonl``/``.ndjson`` or the first character
    that is not white space is ``{``; CSV (UTF-8, BOM allowed) otherwise.
    ``row`` is the JSONL line number, or the CSV record's number (the header
    and blank lines not counted). Raises ConfigError at once when the file is
    not a batch file at all; any other problem is one row's (module docstring).
    The file is read in order and only once: it may be a pipe.
    """
    path = Path(path)
    try:
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the generator (or the error below)
    except OSError as e:
        raise ConfigError(f"{path}: cannot open batch file ({e.strerror or e})") from None
    try:
        def read() -> bytes:
            return handle.read(CHUNK_BYTES) or b""

        head = read()
        while head and not head.lstrip(b"\xef\xbb\xbf \t\r\n") and len(head) < MAX_ROW_BYTES:
            more = read()
            if not more:
                break
            head += more
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        if path.suffix.lower() in (".jsonl", ".ndjson") or head.lstrip().startswith(b"{"):
            rows = _jsonl_rows(_lines(read, head))
        else:
            rows = _csv_rows(path, _csv_records(read, head))
    except OSError as e:
        handle.close()
        raise ConfigError(f"{path}: cannot read batch file ({e.strerror or e})") from None
    except BaseException:
        handle.close()
        raise
    return _closing(rows, handle.close, path)


def _closing(rows: Iterator[Listing], close: Callable[[], None], path: Path) -> Iterator[Listing]:
    try:
        yield from rows
    except OSError as e:
        raise ConfigError(f"{path}: cannot read batch file ({e.strerror or e})") from None
    finally:
        close()


# ------------------------------------------------------------------- JSONL

class _Oversized:
    """A row longer than :data:`MAX_ROW_BYTES` (skipped to its end)."""


class _Unterminated:
    """A CSV record whose quoted field the file ends inside."""


_OVERSIZED = _Oversized()
_UNTERMINATED = _Unterminated()
_Record = bytes | _Oversized | _Unterminated


def _lines(read: Callable[[], bytes], buf: bytes) -> Iterator[bytes | _Oversized]:
    """The lines of the stream (without ``\\n``), a line over the limit as _OVERSIZED."""
    pos = 0
    skipping = False
    while True:
        last = buf.rfind(b"\n", pos)
        if last >= 0:
            lines = buf[pos:last].split(b"\n")
            pos = last + 1
            if skipping:
                yield _OVERSIZED
                skipping = False
                del lines[0]
            for line in lines:
                yield line if len(line) <= MAX_ROW_BYTES else _OVERSIZED
            continue
        chunk = read()
        if not chunk:
            if skipping:
                yield _OVERSIZED
            elif pos < len(buf):
                yield buf[pos:] if len(buf) - pos <= MAX_ROW_BYTES else _OVERSIZED
            return
        if skipping or len(buf) - pos > MAX_ROW_BYTES:
            skipping = True
            buf = chunk          # bounded memory: what is skipped is not kept
        else:
            buf = buf[pos:] + chunk
        pos = 0


def _jsonl_rows(lines: Iterator[bytes | _Oversized]) -> Iterator[Listing]:
    for n, line in enumerate(lines, 1):
        if isinstance(line, _Oversized):
            yield _too_long(n)
            continue
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            yield malformed(n, None, _not_utf8(e, "the line"), _NOT_UTF8_ZH)
            continue
        try:
            record = _JSON.decode(text)
        except RecursionError:
            yield malformed(n, None, "JSON nested deeper than the parser allows", "JSON 嵌套过深")
            continue
        except ValueError as e:
            yield malformed(n, None, f"line is not JSON: {e}", "该行不是有效的 JSON")
            continue
        yield listing_of(n, record)


# ------------------------------------------------------------------- CSV

# One field as csv's excel dialect reads it (strict=False): quoted -- a
# doubled quote stands for one, and whatever follows the closing quote up to
# the next comma or line break is kept -- or unquoted, where a quote is an
# ordinary character. Possessive: a field has one reading, so the engine
# never backtracks (linear time on any input).
_FIELD = rb'(?:"(?:[^"]++|"")*+"(?:[^",\r\n][^,\r\n]*+)?|(?:[^",\r\n][^,\r\n]*+)?)'
# The fields of a record up to where it ends (a line break), or to where the
# buffer ends, or to a quote that opens a field not closed in the buffer;
# group 1 is the last field.
_RECORD = re.compile(rb"(?:" + _FIELD + rb",)*+(" + _FIELD + rb")")
_IN_QUOTES = re.compile(rb'(?:[^"]++|"")*+')
_LF, _CR, _QUOTE = 10, 13, 34


def _inside_quotes_end(buf: bytes, start: int) -> int:
    """Where the text inside a quoted field that starts at ``start`` stops: at
    its closing quote, or at the end of ``buf``."""
    inside = _IN_QUOTES.match(buf, start)
    assert inside is not None, "the pattern matches the empty string"
    return inside.end()


def _carry(buf: bytes, pos: int, match: re.Match[bytes]) -> bytes:
    """At most three bytes that leave ``csv``'s parser in the state that the
    incomplete record ``buf[pos:]`` leaves it in, so that the rest of an
    oversized record is framed exactly without keeping it."""
    end = match.end()
    if end < len(buf):                   # buf[end] is the quote of a field still open
        if _inside_quotes_end(buf, end + 1) == len(buf):
            return b',"'                  # inside the quotes
        return b',""'                     # just after a quote, which a quote after it would escape
    start = match.start(1)
    if start == end:
        return b","                       # a field about to start
    if buf[start] == _QUOTE and buf[end - 1] == _QUOTE and _inside_quotes_end(buf, start + 1) == end - 1:
        return b',""'                     # a closed quote, which a quote after it would escape
    return b",x"                          # inside an unquoted field (or a quoted one's tail)


def _csv_records(read: Callable[[], bytes], buf: bytes) -> Iterator[_Record]:
    """The records of the stream (without their line break; b"" for a blank line),
    a record over the limit as _OVERSIZED, a last one inside quotes as _UNTERMINATED."""
    pos = 0
    eof = False
    skipping = False                     # inside an oversized record, buf starts with its _carry
    while True:
        if not skipping:
            # The common case, with no per-record regular expression: whole
            # lines with no quote, and no CR but in CRLF.
            last = buf.rfind(b"\n", pos)
            if last > pos and buf.find(b'"', pos, last) < 0 and \
                    buf.count(b"\r", pos, last) == buf.count(b"\r\n", pos, last + 1):
                for line in buf[pos:last].split(b"\n"):
                    record = line[:-1] if line.endswith(b"\r") else line
                    yield record if len(record) <= MAX_ROW_BYTES else _OVERSIZED
                pos = last + 1
        match = _RECORD.match(buf, pos)
        assert match is not None, "the pattern matches the empty string"
        end = match.end()
        complete = True
        if end < len(buf):
            if buf[end] == _QUOTE:       # a quoted field open at the end of the buffer
                complete = False
                if eof:
                    yield _OVERSIZED if skipping else _UNTERMINATED
                    return
            elif buf[end] == _CR and end + 1 < len(buf) and buf[end + 1] == _LF:
                following = end + 2
            else:                        # LF, or CR alone (a line break for csv too)
                following = end + 1
        elif eof:
            if pos == end and not skipping:
                return
            following = end
        else:
            complete = False
        if complete:
            record = buf[pos:end]
            yield _OVERSIZED if skipping or len(record) > MAX_ROW_BYTES else record
            skipping = False
            pos = following
            continue
        chunk = read()
        eof = not chunk
        if skipping or len(buf) - pos > MAX_ROW_BYTES:
            buf = _carry(buf, pos, match) + chunk
            skipping = True
        else:
            buf = buf[pos:] + chunk
        pos = 0


def _csv_fields(text: str) -> list[str]:
    """The fields of one record's text (no line break outside quotes); csv.Error,
    as ``csv`` raises it, for a field over its limit whether quoted or not."""
    if '"' in text:
        return next(csv.reader((text,)))
    fields = text.split(",")
    limit = csv.field_size_limit()
    if len(text) > limit and max(map(len, fields)) > limit:
        raise csv.Error(f"field larger than field limit ({limit})")
    return fields


def _csv_rows(path: Path, records: Iterator[_Record]) -> Iterator[Listing]:
    header = _csv_header(path, records)
    id_at = _last_index(header, "id")
    columns = [(column, i) for column in INPUT_COLUMNS if (i := _last_index(header, column)) is not None]
    return _csv_listings(records, header, id_at, columns)


def _last_index(header: list[str], name: str) -> int | None:
    """Where ``name`` is in the header (the last one, as csv.DictReader reads it)."""
    found = [i for i, h in enumerate(header) if h == name]
    return found[-1] if found else None


def _csv_header(path: Path, records: Iterator[_Record]) -> list[str]:
    for record in records:
        if record == b"":
            continue
        if isinstance(record, _Oversized):
            raise ConfigError(f"{path}: header row longer than the limit of {MAX_ROW_BYTES:,} bytes: "
                              "expected a CSV or JSONL batch file")
        if isinstance(record, _Unterminated):
            raise ConfigError(f"{path}: header row has a quote that is never closed: "
                              "expected a CSV or JSONL batch file")
        try:
            header = _csv_fields(record.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: header row {_not_utf8(e, 'the file')}") from None
        except csv.Error as e:
            raise ConfigError(f"{path}: header row is not CSV ({e})") from None
        if not any(column in header for column in INPUT_COLUMNS):
            observed = ", ".join(repr(h[:40]) for h in header[:6]) + (", …" if len(header) > 6 else "")
            raise ConfigError(f"{path}: header row names none of the columns {', '.join(INPUT_COLUMNS)} "
                              f"(observed {observed})")
        return header
    raise ConfigError(f"{path}: empty batch file: expected a CSV header row (id and one of "
                      f"{', '.join(INPUT_COLUMNS)}) or JSON lines")


def _csv_listings(records: Iterator[_Record], header: list[str], id_at: int | None,
                  columns: list[tuple[str, int]]) -> Iterator[Listing]:
    row = 0
    for record in records:
        if record == b"":
            continue
        row += 1
        if isinstance(record, _Oversized):
            yield _too_long(row)
            continue
        if isinstance(record, _Unterminated):
            yield malformed(row, None, "the file ends inside a quoted field of this row",
                            "文件在引号内结束")
            continue
        try:
            fields = _csv_fields(record.decode("utf-8"))
        except UnicodeDecodeError as e:
            yield _undecodable(row, record, e, header, id_at)
            continue
        except csv.Error as e:
            yield malformed(row, None, f"row is not CSV ({e})", "该行不是有效的 CSV")
            continue
        ident = fields[id_at] if id_at is not None and id_at < len(fields) else None
        for column, i in columns:
            if i < len(fields) and fields[i]:
                yield Listing(row, ident, column, fields[i])
                break
        else:
            yield _no_input(row, ident)


def _undecodable(row: int, record: bytes, error: UnicodeDecodeError, header: list[str],
                 id_at: int | None) -> Listing:
    """A malformed listing for a CSV record that is not UTF-8, naming the column;
    its id is echoed when the id itself is UTF-8."""
    ident: Id = None
    where = "the row"
    try:
        fields = _csv_fields(record.decode("utf-8", "surrogateescape"))
    except csv.Error:
        fields = []
    bad = next((i for i, f in enumerate(fields) if _SURROGATE.search(f)), None)
    if bad is not None and bad < len(header):
        where = f"column {header[bad][:40]!r}"
    if id_at is not None and id_at < len(fields) and not _SURROGATE.search(fields[id_at]):
        ident = fields[id_at]
    byte = error.object[error.start]
    return malformed(row, ident, f"not UTF-8: byte 0x{byte:02X} in {where}, expected UTF-8 text "
                     "(a file saved as GBK or another encoding must be saved as UTF-8)", _NOT_UTF8_ZH)
