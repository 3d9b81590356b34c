"""Fuzz: an import (registry/store/importer.py, docs/import.md) writes the whole
file or nothing, and says why in the documented form.

Each example is a file as a certification body might send it -- CSV in
UTF-8, UTF-8 with a BOM, GBK or GB18030 (UTF-16 too, which is refused),
comma or tab separated, or an XLSX workbook, or bytes that are neither --
with English or Chinese headers (required columns sometimes missing, an
unknown or repeated one), rows built from valid records with hostile cells
(hostile.HOSTILE_TEXT, Excel's numbers and dates, formulas), rows too short
or too long, blank rows and a quote never closed. The import into a real
registry either returns a result counting every data row, or raises
ImportFileError (one line, naming the file) or ValidationErrors (every error
one line ``file:row:column: message``, a data row of the file and a column
of its header), and then the registry file is byte for byte what it was.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import math
import re
import sqlite3

import openpyxl
import pytest
from builders import GENERAL, GROUP, TODAY, make_uscc
from hostile import fuzz_settings, hostile_text
from hypothesis import event, given
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from stdnum import ean as stdnum_ean

from registry.core.exceptions import ImportFileError, ValidationErrors
from registry.store import importer


@pytest.fixture(scope="module")
def original(make_registry):
    """Bodies CQC and TUVSUD with endorsed keys, both standards, products 1-3."""
    return make_registry(products=3)


def gtin(n):
    stem = f"690{n:09d}"
    return stem + stdnum_ean.calc_check_digit(stem)


def good_record(kind, i):
    """Field values of a record that imports (row ``i`` of a file)."""
    if kind == "enterprises":
        return {"uscc": make_uscc(900 + i), "name_zh": f"苏州模糊测试{i}有限公司", "name_en": f"Fuzz {i} Co.",
                "district": "吴中区", "industry": "C3421", "tier": "龙头骨干", "website": "https://fuzz.example.cn",
                "contact_name": "张三", "phone": "0512-68680000", "email": "a@example.cn", "address": "苏州"}
    if kind == "products":
        return {"enterprise": make_uscc(1 + i % 3), "name_zh": f"模糊测试产品{i}", "name_en": "Fuzz product",
                "models": "FZ-1；FZ-2", "gtin": gtin(500 + i), "category": "机床", "description": "说明\n第二行"}
    return {"product": str(1 + i % 3), "body": ("CQC", "TUVSUD")[i % 2], "programme": "SZZZ",
            "standards": f"{GENERAL}；{GROUP}", "scope": "数控机床的设计和制造", "issued": "2024/3/1",
            "expires": "2027-02-28", "innovation": 88, "quality": 91, "service": 85, "reputation": 90,
            "recognition": 86, "mark_authorised": "true"}


# Excel's own values in an XLSX cell: numbers (a rounded USCC, a long id),
# dates and date-times, booleans, a formula (read back without a value).
XLSX_VALUES = (0, -1, 2**53 + 1, 6.90123e12, 9.13205061234567e17, 1e308, float("nan"), True, False,
               datetime.date(2024, 3, 1), datetime.datetime(2024, 3, 1, 12, 30), datetime.date(2099, 1, 1),
               "=1+1", '=HYPERLINK("http://evil.example","x")', None)


@st.composite
def tables(draw, kind):
    """A header and rows of cells for ``kind``, and which rows hold data."""
    columns = importer.COLUMNS[kind]
    chosen = [c for c in columns if c.required or draw(st.booleans())]
    if draw(st.integers(0, 9)) == 0 and chosen:
        chosen.remove(draw(st.sampled_from(chosen)))          # a column missing (maybe a required one)
    names = []
    for column in chosen:
        name = draw(st.sampled_from(column.names))
        name = draw(st.sampled_from((name, "*" + name, name + "（必填）", " " + name.upper() + " ")))
        names.append((column.field, name))
    extra = draw(st.sampled_from((None, None, None, "序号", "备注", "unknown column", "dup")))
    if extra == "dup" and names:
        names.append(draw(st.sampled_from(names)))
    elif extra:
        names.insert(0, (None, extra))
    header = [name for _, name in names]
    rows = []
    for i in range(draw(st.integers(0, 6))):
        record = good_record(kind, i)
        row = [i if field is None else record.get(field) for field, _ in names]
        for _ in range(draw(st.sampled_from((0, 0, 1, 2, 3)))):
            if not row:
                break
            j = draw(st.integers(0, len(row) - 1))
            row[j] = draw(st.one_of(hostile_text(), st.sampled_from(XLSX_VALUES)))
        shape = draw(st.sampled_from(("as is",) * 6 + ("short", "long", "blank")))
        if shape == "short":
            row = row[:draw(st.integers(0, len(row)))]
        elif shape == "long":
            row = [*row, draw(hostile_text())]
        elif shape == "blank":
            row = [""] * len(row)
        rows.append(row)
    return header, rows


def csv_bytes(draw, header, rows):
    def text(value):
        return "" if value is None else str(value)

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=draw(st.sampled_from((",", ",", "\t"))), lineterminator=draw(
        st.sampled_from(("\r\n", "\n"))))
    writer.writerow(header)
    writer.writerows([[text(v) for v in row] for row in rows])
    body = buffer.getvalue()
    if draw(st.integers(0, 9)) == 0:
        body += '"a quote never closed,' + draw(hostile_text())       # not well-formed CSV
    encoding = draw(st.sampled_from(("utf-8", "utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16")))
    try:
        return body.encode(encoding)
    except UnicodeEncodeError:
        return body.encode("utf-8", "surrogatepass")                   # what a broken export writes


def xlsx_cell(value):
    """What openpyxl can write: no XML-illegal characters nor lone surrogates."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value).encode("utf-8", "ignore").decode("utf-8")
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


@st.composite
def import_files(draw, tmp_path_factory):
    kind = draw(st.sampled_from(importer.KINDS))
    header, rows = draw(tables(kind))
    form = draw(st.sampled_from(("csv",) * 5 + ("xlsx", "xlsx", "damaged xlsx", "bytes")))
    base = tmp_path_factory.mktemp("import")
    if form in {"xlsx", "damaged xlsx"}:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append([xlsx_cell(v) for v in header])
        for row in rows:
            sheet.append([xlsx_cell(v) for v in row])
        path = base / f"{kind}.xlsx"
        book.save(path)
        if form == "damaged xlsx":
            data = path.read_bytes()
            path.write_bytes(data[:draw(st.integers(0, len(data) - 1))])
    elif form == "csv":
        path = base / draw(st.sampled_from((f"{kind}.csv", f"{kind}.tsv", f"{kind}.txt", "名单.CSV")))
        path.write_bytes(csv_bytes(draw, header, rows))
    else:
        path = base / draw(st.sampled_from(("x.csv", "x.xlsx", "x.xls", "x")))
        path.write_bytes(draw(st.binary(max_size=300)))
    return kind, path, header


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dump(path):
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def counts(path, table):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        conn.close()


LOCATION = re.compile(r"(?P<name>[^:]+):(?P<row>\d+):(?P<column>[^:]*): (?P<message>.+)")


@fuzz_settings(100)
@given(data=st.data())
def test_an_import_writes_every_row_or_nothing(original, tmp_path_factory, data):
    kind, path, header = data.draw(import_files(tmp_path_factory))
    built = original.copy_to(tmp_path_factory.mktemp("registry"))
    before, before_dump = digest(built.db), dump(built.db)
    table = {"enterprises": "enterprises", "products": "products", "certificates": "certificates"}[kind]
    rows_before = counts(built.db, table)
    result = error = None
    with built.open() as reg:
        try:
            result = importer.import_file(reg, kind, path, today=TODAY)
        except (ImportFileError, ValidationErrors) as e:
            error = e
    event(f"{kind} {path.suffix}: {type(error).__name__ if error else 'imported'}")
    assert not (built.base / "registry.db-wal").exists() and not (built.base / "registry.db-journal").exists()
    if result is not None:
        assert result.rows == len(result.keys) == counts(built.db, table) - rows_before > 0
        return
    assert digest(built.db) == before and dump(built.db) == before_dump, "a failed import wrote"
    if isinstance(error, ImportFileError):
        assert str(error).startswith(path.name + ":") and "\n" not in str(error), str(error)
        return
    names = {str(h).strip() for h in header} | {c.field for c in importer.COLUMNS[kind]} | {"-"}
    assert error.errors
    for e in error.errors:
        found = LOCATION.fullmatch(str(e))
        assert found and "\n" not in str(e), str(e)
        assert found["name"] == path.name and int(found["row"]) >= 2, str(e)
        assert found["column"] in names, (str(e), names)

