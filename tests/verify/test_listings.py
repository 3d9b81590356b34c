"""Reading batch files (registry.verify.listings): every row gives exactly one
listing, in order, whatever its bytes; only a file that is not a batch is refused.

The CSV framing is checked against Python's own ``csv`` module on random
text (quotes, commas, CR, LF, CRLF, non-ASCII), with the row limit and the
read size made tiny so that every record and buffer boundary is crossed.
"""

import csv
import io
import json
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.core.exceptions import ConfigError
from registry.verify import listings
from registry.verify.listings import Listing, echo_id, read_rows

URL = "https://szzz.example.cn/v/#0052714343"
TOO_LONG = f"row longer than the limit of {listings.MAX_ROW_BYTES:,} bytes"   # 1,048,576


def rows_of(tmp_path, data: bytes, name="batch.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return list(read_rows(path))


def as_tuples(found):
    return [(x.row, x.ident, x.kind, x.value) for x in found]


# ------------------------------------------------------------------- CSV framing = csv's

CSV_PIECES = st.sampled_from(["a", "b", ",", '"', "\n", "\r\n", "\r", "é", " ", "中"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(CSV_PIECES, max_size=40).map("".join), chunk=st.integers(1, 9),
       limit=st.integers(6, 16), header_end=st.sampled_from(["\n", "\r\n"]))
def test_csv_rows_are_the_records_csv_reads(tmp_path, monkeypatch, body, chunk, limit, header_end):
    """Row for row, the listings are what csv.DictReader reads (id, url), with
    a record over the limit malformed in its place, never split into rows."""
    text = "id,url" + header_end + body
    path = tmp_path / "framing.csv"
    path.write_bytes(text.encode("utf-8"))
    expected = [(n, r.get("id"), r.get("url")) for n, r in
                enumerate(csv.DictReader(io.StringIO(text, newline="")), 1)]
    monkeypatch.setattr(listings, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(listings, "MAX_ROW_BYTES", 10**6)
    whole = list(read_rows(path))
    if whole and whole[-1].value == "the file ends inside a quoted field of this row":
        assert whole[-1].kind is None and len(whole) == len(expected)   # csv keeps it; we do not guess
        whole, expected = whole[:-1], expected[:-1]
    assert [x.row for x in whole] == [n for n, _, _ in expected]
    for listing, (_, ident, url) in zip(whole, expected, strict=True):
        assert listing.ident == ident
        if url:
            assert (listing.kind, listing.value) == ("url", url)
        else:
            assert listing.kind is None and listing.value.startswith("row has none of the columns")

    monkeypatch.setattr(listings, "MAX_ROW_BYTES", limit)
    small = list(read_rows(path))
    monkeypatch.setattr(listings, "MAX_ROW_BYTES", 10**6)
    every = list(read_rows(path))
    assert [x.row for x in small] == [x.row for x in every]
    for got, want in zip(small, every, strict=True):
        assert got == want or (got.kind is None and got.value == f"row longer than the limit of {limit:,} bytes")


@pytest.mark.parametrize(("limit", "chunk"), [(None, None), (100, 7)])
def test_an_oversized_quoted_field_cannot_smuggle_rows(tmp_path, monkeypatch, limit, chunk):
    """A seller's field over the limit, quoted, with line breaks inside that look
    like listings of their own: the record is one malformed row, skipped to its
    true end; nothing inside it becomes a row (it could carry another listing's
    id). The lines come well past the limit, where the reader keeps only the
    parser's state, not the text."""
    if limit:
        monkeypatch.setattr(listings, "MAX_ROW_BYTES", limit)
        monkeypatch.setattr(listings, "CHUNK_BYTES", chunk)
    limit, chunk = listings.MAX_ROW_BYTES, listings.CHUNK_BYTES
    smuggled = f'victim,{URL}\n"",victim2,{URL}\n' * 3
    field = "x" * (limit + 3 * chunk) + "\n" + smuggled + 'tail "" quote' + "\n" + smuggled
    lines = ["id,url"] + [f"r{i},{URL}" for i in range(1, 5)] + [f'r5,"{field}"'] \
        + [f"r{i},{URL}" for i in range(6, 11)]
    found = rows_of(tmp_path, ("\r\n".join(lines) + "\r\n").encode())
    assert [x.row for x in found] == list(range(1, 11))
    assert not {"victim", '"",victim2'} & {x.ident for x in found}
    assert found[4] == Listing(5, None, None, f"row longer than the limit of {limit:,} bytes", "行过长")
    assert [x.ident for x in found if x.kind == "url"] == [f"r{i}" for i in range(1, 11) if i != 5]


def test_a_field_over_csvs_limit_in_row_5_of_10(tmp_path):
    """Issue 10: a field over 131,072 characters gave 5 output rows of 10."""
    rows = ["id,url"] + [f"r{i},{URL}" for i in range(1, 11)]
    for quoted in (False, True):
        big = "x" * 200_000
        rows[5] = f'r5,"{big}"' if quoted else f"r5,{big}"
        found = rows_of(tmp_path, ("\n".join(rows) + "\n").encode())
        assert [x.row for x in found] == list(range(1, 11))
        assert found[4].kind is None and "field larger than field limit (131072)" in found[4].value
        assert all(x.kind == "url" for x in found if x.row != 5)


def test_bytes_that_are_not_utf8_make_one_malformed_row(tmp_path):
    """Issue 10: an invalid byte after 10,000 good rows gave 9,981 rows of 10,011."""
    good = "".join(f"r{i},{URL}\n" for i in range(10_000)).encode()
    tail = "".join(f"s{i},{URL}\n" for i in range(10)).encode()
    found = rows_of(tmp_path, b"id,url\n" + good + b"bad,\xff\xfe" + URL.encode() + b"\n" + tail)
    assert len(found) == 10_011 and [x.row for x in found] == list(range(1, 10_012))
    bad = [x for x in found if x.kind is None]
    assert len(bad) == 1 and bad[0].row == 10_001 and bad[0].ident == "bad"
    assert bad[0].value.startswith("not UTF-8: byte 0xFF in column 'url'")
    assert found[-1] == Listing(10_011, "s9", "url", URL)
    # A GBK id: the row is malformed, its id (not UTF-8) not echoed.
    found = rows_of(tmp_path, b"id,url\n" + "甲".encode("gbk") + b"," + URL.encode() + b"\nok," + URL.encode())
    assert found[0].kind is None and found[0].ident is None and "column 'id'" in found[0].value
    assert found[1] == Listing(2, "ok", "url", URL)


def test_csv_rows_are_numbered_without_the_header_and_blank_lines(tmp_path):
    data = f"\ufeffid,url,cert_no\r\n\r\na,{URL},\r\nb,,SZZZ-2024-CQC-00001\r\n,,\r\n\"c,\n\"\"d\"\"\",{URL}"
    assert as_tuples(rows_of(tmp_path, data.encode())) == [
        (1, "a", "url", URL), (2, "b", "cert_no", "SZZZ-2024-CQC-00001"),
        (3, "", None, "row has none of the columns url, payload, cert_no, image"),
        (4, 'c,\n"d"', "url", URL)]


# ------------------------------------------------------------------- JSONL

def with_id(id_json):
    """A JSON line with the id written as ``id_json`` (which json.dumps could not write)."""
    return '{"id": ' + id_json + ', "url": "' + URL + '"}'


def test_jsonl_rows_each_give_one_listing(tmp_path):
    lines = [
        json.dumps({"id": "a", "url": URL}),                  # 1
        with_id('"\\ud800"'),                                 # 2 lone surrogate id
        with_id("NaN"),                                       # 3 not JSON
        with_id("1e999"),                                     # 4 echoed as written
        '"a bare string that must not be echoed"',            # 5
        with_id("123456789012345678901234567890"),            # 6
        "[" * 100_000 + "]" * 100_000,                        # 7 nesting
        with_id('{"a": 1}'),                                  # 8
        "",                                                   # 9 blank: no row
        '{"id": 7, "payload": 12345}',                        # 10 a number where text belongs
        '{"id": 8, "url": "\\udc80"}',                        # 11 lone surrogate input
        '{"id": -9007199254740991, "url": null, "cert_no": "SZZZ-2024-CQC-00001"}',  # 12
        '{"id": 9007199254740992, "image": "/x.png"}\r',      # 13 CRLF
        b"\xff".decode("latin-1"),                             # 14 (replaced below)
        "{not json",                                          # 15
        '{"id": true, "url": "x"}',                           # 16
        '{"id": "x", "url": Infinity}',                       # 17
    ]
    data = "\n".join(lines).encode().replace("ÿ".encode(), b"\xff") + b"\n"
    found = rows_of(tmp_path, data, name="batch.jsonl")
    by_row = {x.row: x for x in found}
    assert sorted(by_row) == [n for n in range(1, 18) if n != 9] and len(found) == 16
    assert by_row[1] == Listing(1, "a", "url", URL)
    assert by_row[2] == Listing(2, None, None, "id is not Unicode text (lone surrogate U+D800 at character 1)",
                                "标识 id 无效")
    assert by_row[3].kind is None and by_row[3].value == "line is not JSON: NaN is not a JSON value (RFC 8259)"
    assert by_row[4] == Listing(4, "1e999", "url", URL)
    assert by_row[5].kind is None and by_row[5].value == "row is text, expected an object"
    assert by_row[6] == Listing(6, "123456789012345678901234567890", "url", URL)
    assert by_row[7].value == "JSON nested deeper than the parser allows"
    assert by_row[8].value == "id is an object, expected text or a number" and by_row[8].ident is None
    assert by_row[10] == Listing(10, 7, None, "column payload is a number, expected text", "payload 列应为文本")
    assert by_row[11].kind is None and by_row[11].ident == 8 and "lone surrogate U+DC80" in by_row[11].value
    assert by_row[12] == Listing(12, -(2**53 - 1), "cert_no", "SZZZ-2024-CQC-00001")
    assert by_row[13] == Listing(13, "9007199254740992", "image", "/x.png")
    assert by_row[14].value.startswith("not UTF-8: byte 0xFF at byte 1 of the line")
    assert by_row[15].value.startswith("line is not JSON: ")
    assert by_row[16].value == "id is true, expected text or a number"
    assert by_row[17].value == "line is not JSON: Infinity is not a JSON value (RFC 8259)"


def test_an_oversized_json_line_is_one_row_and_the_next_line_is_read(tmp_path, monkeypatch):
    for chunk, limit in ((7, 70), (listings.CHUNK_BYTES, listings.MAX_ROW_BYTES)):
        monkeypatch.setattr(listings, "CHUNK_BYTES", chunk)
        monkeypatch.setattr(listings, "MAX_ROW_BYTES", limit)
        lines = [json.dumps({"id": 1, "url": URL}), json.dumps({"id": "big", "url": "x" * limit}),
                 json.dumps({"id": 3, "url": URL})]
        found = rows_of(tmp_path, ("\ufeff" + "\n".join(lines)).encode(), name="batch.ndjson")
        assert as_tuples(found) == [
            (1, 1, "url", URL), (2, None, None, f"row longer than the limit of {limit:,} bytes"), (3, 3, "url", URL)]


@pytest.mark.parametrize(("value", "echoed", "problem"), [
    (None, None, None), ("", "", None), ("L-1", "L-1", None), ("\u202e", "\u202e", None),
    (12, 12, None), (-(2**53 - 1), -(2**53 - 1), None), (2**53, "9007199254740992", None),
    pytest.param(10**5000, None, "id is an integer too long to write out", id="5001-digit-int"),
    (0.5, "0.5", None), (float("nan"), "NaN", None), (float("inf"), "Infinity", None),
    (float("-inf"), "-Infinity", None), (True, None, "id is true, expected text or a number"),
    ([1], None, "id is an array, expected text or a number"),
    ({"a": 1}, None, "id is an object, expected text or a number"),
    ("a\ud800", None, "id is not Unicode text (lone surrogate U+D800 at character 2)"),
])
def test_the_id_echo_rule_for_values_from_python(value, echoed, problem):
    """The documented rule (docs/verification.md): text or a safe integer as it
    is, other numbers as text, the rest a problem; never anything a strict JSON
    writer refuses."""
    assert echo_id(value) == (echoed, problem)
    if problem is None:
        json.dumps(echoed, allow_nan=False).encode("utf-8")


# ------------------------------------------------------------------- files that are not batches

@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty batch file"),
    (b"\n\r\n\r\n", "empty batch file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "header row not UTF-8: byte 0x89 at byte 1"),
    ("编号,url\n甲,x\n".encode("gbk"), "header row not UTF-8: byte 0xB1 at byte 1"),
    (b"name,price\nx,1\n", ("header row names none of the columns url, payload, cert_no, image "
                            "(observed 'name', 'price')")),
    (b'id,"url\nx,y\n', "header row has a quote that is never closed"),
])
def test_a_file_that_is_not_a_batch_is_refused_at_once(tmp_path, data, message):
    path = tmp_path / "batch.csv"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match="^" + str(path).replace(".", r"\.") + ": ") as e:
        read_rows(path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_missing_file_or_a_directory_is_refused(tmp_path):
    for path in (tmp_path / "missing.csv", tmp_path):
        with pytest.raises(ConfigError, match="cannot open batch file"):
            read_rows(path)


def test_a_batch_can_come_through_a_pipe(tmp_path):
    """Read in order and only once, never seeking: a FIFO (or /dev/stdin) works,
    and rows arrive as the writer sends them."""
    fifo = tmp_path / "listings.csv"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "w") as f:
            f.write("id,url\n")
            f.flush()
            for i in range(3):
                f.write(f"r{i},{URL}\n")
                f.flush()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert [x.ident for x in read_rows(fifo)] == ["r0", "r1", "r2"]
    finally:
        writer.join(10)
