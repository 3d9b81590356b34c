"""Fuzz: a batch of listings, whatever its bytes, gives exactly one output row per
input row, in order, as strict JSON (or CSV), and never raises (issue 10;
docs/verification.md "Batch mode", docs/fuzzing.md).

Files are built from generated rows whose meaning the test knows without
asking the reader: JSON lines (objects with ids of every JSON type, raw
tokens such as ``NaN`` and ``1e999``, bytes that are not UTF-8, nesting
beyond the parser, bare values, lines over the 1 MiB limit) and CSV records
(quoted and unquoted fields with commas, quotes and line breaks, CR, LF or
CRLF, fields over ``csv``'s limit, GBK bytes, an unterminated quote). Each
row's input is a genuine mark, a mutated one (``hostile.mutated_marks``),
a hostile text, a certificate number or an image path (a FIFO, a directory,
a device). For each file: the row numbers are those of the non-blank rows,
in order; a clean row's id is echoed by the documented rule and a genuine
mark among hostile neighbours keeps its verdict; no row is ``valid`` unless
its input is a genuine valid mark. A few files go through the real command
line, ``python -m registry verify --batch``: its documented exit status, one
line on stderr, no traceback.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import builders
from hostile import fuzz_settings, hostile_text, mutated_marks, strict_json_lines
from hypothesis import given
from hypothesis import strategies as st

from registry.core import payload, rules
from registry.core.exceptions import PayloadError
from registry.verify import batch, listings

ROOT = Path(__file__).resolve().parents[2]
MISSING = object()
"""An expected id or verdict the test does not predict (the row's own checks still apply)."""


class Row(NamedTuple):
    """One generated row: its bytes (no line break), and what the output must say of it."""

    data: bytes
    ident: object = MISSING       # the echoed id, when the row is clean
    verdict: object = MISSING     # the exact verdict, when the row is clean and its input genuine
    column: str | None = None     # the input column
    value: object = None          # the input value


def blank(line: bytes) -> bool:
    return not line.strip()


# ------------------------------------------------------------------- inputs

def input_values(world, column):
    """Values for an input column: genuine, mutated, hostile, or a path."""
    genuine = tuple(world["marks"].values())
    if column == "cert_no":
        numbers = tuple(world["certs"].values())
        return st.one_of(st.sampled_from(numbers), st.sampled_from(numbers).map(str.lower), hostile_text(numbers))
    if column == "image":
        files = world["files"]
        paths = (str(world["fifo"]), str(files), "/dev/zero", "/dev/null", str(files / "missing.png"),
                 str(files / "a-text-file.png"), "", "\udcff.png")
        return st.one_of(st.sampled_from(paths), hostile_text())
    urls = tuple(world["urls"].values())
    return st.one_of(st.sampled_from(urls + genuine), mutated_marks(genuine), hostile_text())


def expected_verdict(world, column, value):
    """The verdict a row with this input must get when nothing else is wrong with
    it, or MISSING; and whether ``valid`` is possible at all for it."""
    if not isinstance(value, str) or value == "":
        return MISSING, False
    if column == "cert_no":
        by_no = {no: role for role, no in world["certs"].items()}
        return by_no.get(value, MISSING), value == world["certs"]["valid"]
    if column == "image":
        return MISSING, False
    try:
        digits = payload.payload_text(value)
    except PayloadError:
        return "malformed", False
    if digits in world["verdict"] and value in (*world["urls"].values(), *world["marks"].values()):
        return world["verdict"][digits], digits == world["marks"]["valid"]
    return MISSING, digits == world["marks"]["valid"]


def may_be_valid(world, column, value):
    return expected_verdict(world, column, value)[1]


# ------------------------------------------------------------------- JSONL rows

BAD_ID = object()
"""An id that makes its row malformed (echoed as null)."""


def echoed(ident):
    """What the id echo rule (listings.echo_id) makes of a JSON id, or BAD_ID."""
    if isinstance(ident, bool | list | dict):
        return BAD_ID
    if isinstance(ident, int):
        return ident if abs(ident) <= listings.MAX_SAFE_INTEGER else str(ident)
    if isinstance(ident, float):
        return json.dumps(ident) if math.isfinite(ident) else BAD_ID
    if isinstance(ident, str) and any("\ud800" <= c <= "\udfff" for c in ident):
        return BAD_ID
    return ident


RAW_IDS = [("NaN", BAD_ID), ("-Infinity", BAD_ID), ("1e999", "1e999"), ("-0", 0), ("0.1e-999", "0.1e-999"),
           ("12345678901234567890", "12345678901234567890"), ("9007199254740991", 9007199254740991),
           ("-9007199254740992", "-9007199254740992"), ('"\\ud800"', BAD_ID), ('"\\udfff\\ud800"', BAD_ID),
           ('"\\ud83d\\ude00"', "\U0001F600"), ('"\\u0000\\u001b\\u2028"', "\x00\x1b\u2028"),
           ("[" * 3000 + "]" * 3000, BAD_ID), ("1" * 5000, "1" * 5000), ("true", BAD_ID), ("{}", BAD_ID),
           ("null", None)]
EDGES = (2**53 - 1, 2**53, -(2**53 - 1), -(2**53), 2**63, -(2**63) - 1, 0, -1)
IDS = st.one_of(st.text(max_size=12), st.integers(-(2**70), 2**70), st.sampled_from(EDGES), st.none(), st.booleans(),
                st.floats(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                   st.integers(), max_size=2))
NOT_UTF8 = (b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe4\xb8", "甲乙".encode("gbk"), b"\x80")


@st.composite
def jsonl_rows(draw, world):
    shape = draw(st.sampled_from(("object",) * 6 + ("raw-id", "raw-id", "bytes", "not-utf8", "nested", "bare",
                                                     "blank", "huge")))
    column = draw(st.sampled_from(listings.INPUT_COLUMNS))
    if shape in ("object", "raw-id", "not-utf8"):
        value = draw(st.one_of(input_values(world, column), st.none(), st.integers(), st.lists(st.text(), max_size=2)))
        if shape == "raw-id":
            token, ident = draw(st.sampled_from(RAW_IDS))
        else:
            raw = draw(IDS)
            token, ident = json.dumps(raw), echoed(raw)
        line = '{"id": ' + token + ', "' + column + '": ' + json.dumps(value) + "}"
        if draw(st.booleans()):
            line = line[:-1] + ', "extra": ' + json.dumps(draw(st.recursive(
                st.none() | st.text(max_size=4), lambda inner: st.lists(inner, max_size=3), max_leaves=8))) + "}"
        data = line.encode("utf-8")
        if shape == "not-utf8":
            i = draw(st.integers(0, len(data)))
            return Row(data[:i] + draw(st.sampled_from(NOT_UTF8)) + data[i:], None, "malformed")
        if ident is BAD_ID:
            return Row(data, None, "malformed")
        verdict, _ = expected_verdict(world, column, value)
        if not isinstance(value, str) or value == "" or any("\ud800" <= c <= "\udfff" for c in value):
            verdict = "malformed"
        return Row(data, ident, verdict, column, value)
    if shape == "bytes":
        return Row(draw(st.binary(max_size=200)).replace(b"\n", b""))
    if shape == "nested":
        depth = draw(st.sampled_from((1_001, 5_000, 100_000)))
        opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"))))
        return Row((opener * depth + "1" + closer * depth).encode(), None, "malformed")
    if shape == "bare":
        return Row(draw(st.sampled_from((b'"a bare string"', b"123", b"null", b"true", b"[1]", b'"\\ud800"'))),
                   None, "malformed")
    if shape == "blank":
        return Row(draw(st.sampled_from((b"", b" ", b"\t", b"\r", b" \r"))))
    return Row(b'{"id": 1, "url": "' + b"9" * (listings.MAX_ROW_BYTES + 1) + b'"}', None, "malformed")


# ------------------------------------------------------------------- CSV rows

HEADERS = (["id", "url"], ["id", "payload", "url"], ["note", "id", "cert_no", "url", "image"],
           ["id", "id", "image", "url"], ["url", "id"])
TERMINATORS = (b"\n", b"\r\n", b"\r")
CSV_SPECIAL = (",", '"', "\r", "\n")


def csv_field(text: str, quote: bool) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    if quote or any(c in text for c in CSV_SPECIAL) or text.startswith(" "):
        return b'"' + data.replace(b'"', b'""') + b'"'
    return data


@st.composite
def csv_rows(draw, world, header):
    """A CSV record for ``header`` and what it must give: fields of hostile text,
    the id and input values of a listing, now and then a field over a limit or
    bytes that are not UTF-8."""
    width = draw(st.integers(0, len(header) + 1))
    fields = []
    for i in range(width):
        name = header[i] if i < len(header) else "extra"
        if name in listings.INPUT_COLUMNS and draw(st.booleans()):
            fields.append(draw(input_values(world, name)))
        else:
            fields.append(draw(hostile_text()))
    bad = draw(st.sampled_from((None,) * 8 + ("not-utf8", "csv-limit", "row-limit")))
    cells = [csv_field(f, draw(st.booleans())) for f in fields]
    if bad and not cells:
        cells = [b""]
    if bad == "not-utf8":
        i = draw(st.integers(0, len(cells) - 1))
        cells[i] = cells[i] + draw(st.sampled_from(NOT_UTF8))
    elif bad == "csv-limit":
        cells[draw(st.integers(0, len(cells) - 1))] = b'"' + b"x" * 140_000 + b'"'
    elif bad == "row-limit":
        cells[-1] = b'"' + b"9,\n" * (listings.MAX_ROW_BYTES // 3 + 10) + b'"'
    data = b",".join(cells)
    if blank_csv(data):
        return Row(data)
    if bad in ("csv-limit", "row-limit"):
        return Row(data, None, "malformed")
    if bad or any(any("\ud800" <= c <= "\udfff" for c in f) for f in fields):
        return Row(data, MISSING, "malformed")       # the id is echoed when it is UTF-8 itself
    id_at = max((i for i, h in enumerate(header) if h == "id"), default=None)
    ident = fields[id_at] if id_at is not None and id_at < len(fields) else None
    for column in listings.INPUT_COLUMNS:
        at = max((i for i, h in enumerate(header) if h == column), default=None)
        if at is not None and at < len(fields) and fields[at]:
            return Row(data, ident, expected_verdict(world, column, fields[at])[0], column, fields[at])
    return Row(data, ident, "malformed")


def blank_csv(record: bytes) -> bool:
    return record == b""


@st.composite
def csv_files(draw, world):
    header = draw(st.sampled_from(HEADERS))
    rows = draw(st.lists(csv_rows(world, header), max_size=12))
    parts = [draw(st.sampled_from((b"", b"\xef\xbb\xbf"))) + ",".join(header).encode()]
    for row in rows:
        parts.append(draw(st.sampled_from(TERMINATORS)))
        parts.append(row.data)
    tail = draw(st.sampled_from((b"", b"\n", b"\r\n", "unterminated")))
    if tail == "unterminated":
        parts += [b"\n", b'x,"a quote never closed,\n' + world["urls"]["valid"].encode() + b"\n"]
        rows.append(Row(parts[-1], None, "malformed"))
    else:
        parts.append(tail)
    kept = [r for r in rows if not blank_csv(r.data)]
    return b"".join(parts), kept


@st.composite
def jsonl_files(draw, world):
    rows = draw(st.lists(jsonl_rows(world), max_size=12))
    bom = draw(st.sampled_from((b"", b"\xef\xbb\xbf")))
    data = bom + b"\n".join(r.data for r in rows) + draw(st.sampled_from((b"", b"\n")))
    if rows and not bom and rows[0].data.startswith(b"\xef\xbb\xbf"):
        rows[0] = rows[0]._replace(data=rows[0].data[3:])       # a leading BOM is skipped (docs/verification.md)
    numbered = [(n, r) for n, r in enumerate(rows, 1) if not blank(r.data)]
    return data, numbered


# ------------------------------------------------------------------- the property

def check_rows(world, out, expected):
    """``out`` rows (parsed) against ``expected``: [(row number, Row)]."""
    assert [r["row"] for r in out] == [n for n, _ in expected]
    for got, (_, row) in zip(out, expected, strict=True):
        assert got["verdict"] in rules.VERDICTS, got
        assert isinstance(got["id"], str | int | type(None)) and not isinstance(got["id"], bool), got
        if row.ident is not MISSING:
            assert got["id"] == row.ident, (got, row.data[:200])
        if row.verdict is not MISSING:
            assert got["verdict"] == row.verdict, (got, row.data[:200])
        if got["verdict"] == "valid":
            assert may_be_valid(world, row.column, row.value), (got, row.data[:300])
        assert got["reason"] and got["reason_zh"], got


def verify_file(world, path, output="jsonl"):
    out = io.StringIO()
    counts = batch.verify_batch(listings.read_rows(path), world["site"], root_public_key=world["root"], out=out,
                                workers=1, today=builders.TODAY, output=output, image_timeout=2)
    return out.getvalue(), counts


def csv_output_rows(text):
    table = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    return [dict(zip(batch.CSV_COLUMNS, r, strict=True)) for r in table]


@fuzz_settings(150)
@given(data=st.data(), output=st.sampled_from(("jsonl", "jsonl", "csv")))
def test_every_jsonl_line_gives_one_strict_row_in_order(world, tmp_path_factory, data, output):
    content, expected = data.draw(jsonl_files(world))
    path = tmp_path_factory.mktemp("jsonl") / "listings.jsonl"
    path.write_bytes(content)
    text, counts = verify_file(world, path, output)
    if output == "csv":
        rows = csv_output_rows(text)
        assert [int(r["row"]) for r in rows] == [n for n, _ in expected]
        assert [r["verdict"] for r in rows] == [r["verdict"] for r in strict_json_lines(verify_file(world, path)[0])]
        return
    rows = strict_json_lines(text)
    check_rows(world, rows, expected)
    assert sum(counts.values()) == len(rows)


@fuzz_settings(150)
@given(data=st.data(), output=st.sampled_from(("jsonl", "jsonl", "csv")))
def test_every_csv_record_gives_one_strict_row_in_order(world, tmp_path_factory, data, output):
    content, kept = data.draw(csv_files(world))
    path = tmp_path_factory.mktemp("csv") / "listings.csv"
    path.write_bytes(content)
    text, counts = verify_file(world, path, output)
    expected = list(enumerate(kept, 1))
    if output == "csv":
        rows = csv_output_rows(text)
        assert [int(r["row"]) for r in rows] == [n for n, _ in expected]
        for got, (_, row) in zip(rows, expected, strict=True):
            if row.verdict is not MISSING:
                assert got["verdict"] == row.verdict
        return
    rows = strict_json_lines(text)
    check_rows(world, rows, expected)
    assert sum(counts.values()) == len(rows)


# ------------------------------------------------------------------- through the command line

def szzz_batch(world, path, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), SZZZ_TODAY=builders.TODAY)
    return subprocess.run([sys.executable, "-m", "registry", "verify", "--batch", str(path), "--site",
                           str(world["site"]), "--root-key", world["root"], "--no-progress", *extra],
                          capture_output=True, env=env, timeout=300, stdin=subprocess.DEVNULL, check=False)


@fuzz_settings(4)
@given(data=st.data(), kind=st.sampled_from(("jsonl", "csv")), workers=st.sampled_from(("1", "2")))
def test_the_command_line_answers_every_row_with_its_exit_status(world, tmp_path_factory, data, kind, workers):
    """``szzz verify --batch`` in a real process: exit 0 only when every row is
    valid, else 1; stdout one strict line per row; stderr one summary line."""
    if kind == "csv":
        content, kept = data.draw(csv_files(world))
        expected = list(enumerate(kept, 1))
    else:
        content, expected = data.draw(jsonl_files(world))
    path = tmp_path_factory.mktemp("cli") / f"listings.{kind}"
    path.write_bytes(content)
    done = szzz_batch(world, path, "--workers", workers)
    stderr = done.stderr.decode("utf-8")
    assert b"Traceback" not in done.stdout + done.stderr
    assert stderr.count("\n") == 1 and stderr.startswith("批量核验 batch: "), stderr
    rows = strict_json_lines(done.stdout.decode("utf-8"))
    check_rows(world, rows, expected)
    assert done.returncode == (0 if all(r["verdict"] == "valid" for r in rows) else 1)


@fuzz_settings(3)
@given(content=st.one_of(st.binary(max_size=300), st.sampled_from((
    b"", b"\n\n", b"\x89PNG\r\n\x1a\n\x00\x00", "编号,网址\n甲,x\n".encode("gbk"), b"name,price\n", b'"id,url\n'))))
def test_a_file_that_is_not_a_batch_is_one_line_and_exit_2(world, tmp_path_factory, content):
    """Bytes that are no batch at all: exit 2 and one line ``Error: FILE: …``, or,
    when they happen to read as one, rows as above; never a traceback."""
    path = tmp_path_factory.mktemp("any") / "listings.csv"
    path.write_bytes(content)
    done = szzz_batch(world, path)
    stderr = done.stderr.decode("utf-8")
    assert b"Traceback" not in done.stdout + done.stderr and stderr.count("\n") == 1, stderr
    if done.returncode == 2:
        assert stderr.startswith(f"Error: {path}: ") and done.stdout == b"", stderr
    else:
        rows = strict_json_lines(done.stdout.decode("utf-8"))
        assert done.returncode == (0 if all(r["verdict"] == "valid" for r in rows) else 1)
