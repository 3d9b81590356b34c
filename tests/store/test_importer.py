"""CSV/XLSX import on real registry files (registry/importer.py).

Each failure test asserts the exact ``file:row:column`` location and that
nothing was written (every table counted before and after). Files are made in
tmp_path the way bodies send them: UTF-8, UTF-8 with BOM, GBK, XLSX.
"""

import csv

import openpyxl
import pytest
from builders import GENERAL, GROUP, TODAY, make_uscc
from stdnum import ean as stdnum_ean

from registry.core.exceptions import ImportFileError, ValidationErrors
from registry.store import importer
from registry.store.integrity import verify_registry

DISTRICTS = ["姑苏区", "苏州高新区", "吴中区", "相城区", "吴江区", "苏州工业园区", "常熟市", "张家港市", "昆山市",
             "太仓市"]
EN_HEADER = ["uscc", "name_zh", "name_en", "district", "industry", "tier", "website",
             "contact_name", "phone"]
ZH_HEADER = ["序号", "*统一社会信用代码", "企业名称", "英文名称", "所在地区", "行业代码（GB/T 4754）", "培育层级",
             "网站", "联系人", "联系电话"]


def gtin(n):
    stem = f"690{n:09d}"
    return stem + stdnum_ean.calc_check_digit(stem)


def enterprise_rows(n, start=1000):
    tiers = ["龙头骨干", "独角兽", "专精特新“小巨人”企业", "标准化试点示范", ""]
    return [[make_uscc(start + i), f"苏州测试{i}号精密制造有限公司", f"Suzhou Test {i} Co., Ltd.",
             DISTRICTS[i % 10], f"C{34 + i % 6}{i % 10}1", tiers[i % 5],
             f"https://www{i}.example.cn" if i % 3 else "", f"张{i}", f"0512-6868{i % 10000:04d}"]
            for i in range(n)]


def write_csv(path, header, rows, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_xlsx(path, header, rows):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


TABLES = ("enterprises", "enterprise_contacts", "products", "certificates",
          "certificate_standards", "certificate_revisions", "events", "counters")


def counts(reg):
    return {t: reg.db.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}


def dump(reg, table, order):
    cur = reg.db.execute(f"select * from {table} order by {order}")
    return [tuple(r) for r in cur.fetchall()]


def import_errors(reg, kind, path):
    before = counts(reg)
    with pytest.raises(ValidationErrors) as info:
        importer.import_file(reg, kind, path)
    assert counts(reg) == before, "a failed import must write nothing"
    return [str(e) for e in info.value.errors]


@pytest.fixture(scope="module")
def template(make_registry):
    """A registry with bodies CQC/TUVSUD (keys endorsed), two standards and
    four products (ids 1–4), a GTIN on the first and a body without a key;
    each test gets a copy."""
    built = make_registry(products=4)
    with built.open() as reg, reg.batch():
        reg.db.execute("update products set gtin = ? where id = ?", [gtin(1), built.products[0]])
        reg.add_body({"code": "NOKEY", "name_zh": "无密钥机构", "name_en": "No key body",
                      "approval_no": "CNCA-R-2099-001", "joined": "2021-01-01"})
    return built


@pytest.fixture
def reg(template, tmp_path):
    with template.copy_to(tmp_path / "registry").open() as r:
        yield r


def fresh(template, tmp_path, name):
    """A second registry copy in the same test (to compare two imports)."""
    return template.copy_to(tmp_path / name).open()


# --------------------------------------------------------------------------- #
# Encodings and formats
# --------------------------------------------------------------------------- #
def test_utf8_csv_imports_every_row_normalised(reg, tmp_path):
    rows = enterprise_rows(12)
    rows[0][0] = " " + rows[0][0].lower() + " "  # as pasted
    rows[1][3] = "苏州高新区"
    path = write_csv(tmp_path / "ents.csv", EN_HEADER, rows)
    result = importer.import_file(reg, "enterprises", path)
    assert (result.kind, result.encoding, result.rows) == ("enterprises", "utf-8", 12)
    assert result.keys[0] == make_uscc(1000)
    row = reg.db.execute("select district, tier from enterprises where uscc = ?",
                         [make_uscc(1001)]).fetchone()
    assert row == ("虎丘区", "独角兽")
    assert reg.db.execute("select phone from enterprise_contacts where uscc = ?",
                          [make_uscc(1000)]).fetchone() == ("0512-68680000",)


def test_bom_csv_with_chinese_headers(reg, tmp_path):
    rows = [[i + 1, *r] for i, r in enumerate(enterprise_rows(5))]
    path = write_csv(tmp_path / "企业名单.csv", ZH_HEADER, rows, encoding="utf-8-sig")
    result = importer.import_file(reg, "enterprises", path)
    assert (result.encoding, result.rows) == ("utf-8-sig", 5)
    assert reg.db.execute("select tier from enterprises where uscc = ?",
                          [make_uscc(1002)]).fetchone() == ("专精特新小巨人",)


def test_gbk_csv_imports_the_same_as_utf8(template, tmp_path):
    rows = enterprise_rows(30)
    utf8 = write_csv(tmp_path / "utf8.csv", EN_HEADER, rows)
    gbk = write_csv(tmp_path / "gbk.csv", EN_HEADER, rows, encoding="gbk")
    assert gbk.read_bytes() != utf8.read_bytes()
    a, b = fresh(template, tmp_path, "a"), fresh(template, tmp_path, "b")
    assert importer.import_file(a, "enterprises", utf8).encoding == "utf-8"
    assert importer.import_file(b, "enterprises", gbk).encoding == "gb18030"
    for table, order in (("enterprises", "uscc"), ("enterprise_contacts", "uscc")):
        assert dump(a, table, order) == dump(b, table, order)
    assert len(dump(b, "enterprises", "uscc")) == 30 + 4


def test_xlsx_imports_the_same_rows(template, tmp_path):
    rows = enterprise_rows(30)
    csv_path = write_csv(tmp_path / "ents.csv", EN_HEADER, rows)
    xlsx_path = write_xlsx(tmp_path / "ents.xlsx", EN_HEADER, rows)
    a, b = fresh(template, tmp_path, "a"), fresh(template, tmp_path, "b")
    importer.import_file(a, "enterprises", csv_path)
    assert importer.import_file(b, "enterprises", xlsx_path).encoding == "xlsx"
    assert dump(a, "enterprises", "uscc") == dump(b, "enterprises", "uscc")
    assert dump(a, "enterprise_contacts", "uscc") == dump(b, "enterprise_contacts", "uscc")


def test_acceptance_1000_rows_one_bad_uscc_then_gbk_imports_the_same(template, tmp_path):
    rows = enterprise_rows(1000)
    good = rows[636][0]
    rows[636][0] = good[:17] + ("0" if good[-1] != "0" else "1")  # Excel row 638
    reg = fresh(template, tmp_path, "a")
    bad = write_csv(tmp_path / "ents.csv", EN_HEADER, rows)
    assert import_errors(reg, "enterprises", bad) == [
        (f"ents.csv:638:uscc: USCC {rows[636][0]} has check character {rows[636][0][-1]}, "
        f"expected {good[-1]} (mistyped or copied wrongly?)")]
    rows[636][0] = good
    assert importer.import_file(reg, "enterprises", write_csv(tmp_path / "ok.csv", EN_HEADER, rows)).rows == 1000
    other = fresh(template, tmp_path, "b")
    result = importer.import_file(other, "enterprises",
                                  write_csv(tmp_path / "gbk.csv", EN_HEADER, rows, encoding="gbk"))
    assert (result.encoding, result.rows) == ("gb18030", 1000)
    assert dump(reg, "enterprises", "uscc") == dump(other, "enterprises", "uscc")
    assert dump(reg, "enterprise_contacts", "uscc") == dump(other, "enterprise_contacts", "uscc")


def test_undecodable_bytes_are_named(reg, tmp_path):
    path = tmp_path / "ents.csv"
    before = counts(reg)
    path.write_bytes(",".join(EN_HEADER).encode("utf-16"))  # Excel "Unicode text"
    with pytest.raises(ImportFileError) as info:
        importer.import_file(reg, "enterprises", path)
    assert str(info.value).startswith("ents.csv: file is UTF-16 (Excel 'Unicode text')")
    header = ",".join(EN_HEADER).encode() + b"\n"
    path.write_bytes(header + b"9132\xff,x\n")  # 0xFF is in no accepted encoding
    with pytest.raises(ImportFileError) as info:
        importer.import_file(reg, "enterprises", path)
    assert str(info.value) == (f"ents.csv:2: byte 0xFF at offset {len(header) + 4} cannot be "
                               "decoded; expected UTF-8, UTF-8 with BOM or GBK/GB18030")
    assert counts(reg) == before


# --------------------------------------------------------------------------- #
# Header problems
# --------------------------------------------------------------------------- #
def test_missing_required_column(reg, tmp_path):
    header = [h for h in EN_HEADER if h != "district"]
    rows = [r[:3] + r[4:] for r in enterprise_rows(3)]
    before = counts(reg)
    with pytest.raises(ImportFileError) as info:
        importer.import_file(reg, "enterprises", write_csv(tmp_path / "ents.csv", header, rows))
    assert str(info.value).startswith("ents.csv:1: missing required column(s) district (所在地区); "
                                      "expected columns: uscc/统一社会信用代码*")
    assert counts(reg) == before


def test_unknown_column_is_refused(reg, tmp_path):
    header = [*EN_HEADER[:-1], "webiste"]
    before = counts(reg)
    with pytest.raises(ImportFileError) as info:
        importer.import_file(reg, "enterprises", write_csv(tmp_path / "ents.csv", header, enterprise_rows(2)))
    assert str(info.value).startswith("ents.csv:1: unknown column(s) 'webiste'")
    assert counts(reg) == before


# --------------------------------------------------------------------------- #
# Row problems
# --------------------------------------------------------------------------- #
def test_unknown_district(reg, tmp_path):
    rows = enterprise_rows(4)
    rows[2][3] = "上海市"
    errors = import_errors(reg, "enterprises", write_csv(tmp_path / "ents.csv", EN_HEADER, rows))
    assert len(errors) == 1
    assert errors[0].startswith("ents.csv:4:district: district '上海市' is not one of Suzhou's ten areas")


def test_duplicate_uscc_within_file_and_against_registry(reg, tmp_path):
    rows = enterprise_rows(5)
    rows[4][0] = rows[1][0]
    rows[3][0] = make_uscc(1)  # built into the template registry
    errors = import_errors(reg, "enterprises", write_csv(tmp_path / "ents.csv", EN_HEADER, rows))
    assert errors == [
        f"ents.csv:5:uscc: USCC {make_uscc(1)} is already registered",
        f"ents.csv:6:uscc: duplicate uscc {rows[1][0]}: also in row 3",
    ]


def test_every_bad_row_is_reported_with_its_excel_row(reg, tmp_path):
    rows = [[i + 1, *r] for i, r in enumerate(enterprise_rows(6))]
    rows[0][5] = "F5123"             # row 2: not manufacturing
    rows[3][9] = "call me"           # row 5: phone
    rows[5][7] = "www.example.cn"    # row 7: website
    path = write_csv(tmp_path / "名单.csv", ZH_HEADER, rows, encoding="gbk")
    errors = import_errors(reg, "enterprises", path)
    assert [e.split(": ")[0] for e in errors] == [
        "名单.csv:2:行业代码（GB/T 4754）", "名单.csv:5:联系电话", "名单.csv:7:网站"]


def test_bad_gtin_product_row(reg, tmp_path):
    good = gtin(77)
    bad = good[:-1] + str((int(good[-1]) + 3) % 10)
    rows = [[make_uscc(1), "精密主轴", "SZ-1；SZ-2", gtin(76)], [make_uscc(2), "导轨", "", bad]]
    path = write_csv(tmp_path / "products.csv", ["统一社会信用代码", "产品名称", "型号", "商品条码"], rows)
    errors = import_errors(reg, "products", path)
    assert errors == [f"products.csv:3:商品条码: GTIN {bad} has check digit {bad[-1]}, expected {good[-1]}"]
    rows[1][3] = good
    path = write_csv(tmp_path / "products.csv", ["统一社会信用代码", "产品名称", "型号", "商品条码"], rows)
    result = importer.import_file(reg, "products", path)
    assert result.keys == [5, 6]
    assert reg.db.execute("select models, gtin from products where id = 5").fetchone() == (
        '["SZ-1", "SZ-2"]', gtin(76))


def test_scientific_notation_gtin_is_reported(reg, tmp_path):
    path = write_csv(tmp_path / "products.csv", ["enterprise", "name_zh", "gtin"],
                     [[make_uscc(1), "精密主轴", "6.90123E+12"]])
    assert import_errors(reg, "products", path) == [
        ("products.csv:2:gtin: observed '6.90123E+12': Excel turned this gtin into a number in "
        "scientific notation and its digits are lost; expected the digits as text (format the "
        "column as 文本/Text and type them again)")]


def test_xlsx_numbers_dates_and_lost_zeros(reg, tmp_path):
    upc = "0" + gtin(5)[1:]  # a GTIN-13 starting with 0 ...
    upc = upc[:-1] + stdnum_ean.calc_check_digit(upc[:-1])
    header = ["enterprise", "name_zh", "gtin"]
    path = write_xlsx(tmp_path / "p.xlsx", header,
                      [[make_uscc(1), "主轴", int(upc)],            # ... typed as a number
                       [9.13205061234567e17, "导轨", None]])        # a USCC Excel rounded
    errors = import_errors(reg, "products", path)
    assert errors == [("p.xlsx:3:enterprise: observed the number 9.13205061234567e+17: Excel stored "
                      "this enterprise as a number and its digits were rounded away; expected the "
                      "digits as text (format the column as 文本/Text and type them again)")]
    path = write_xlsx(tmp_path / "p2.xlsx", header, [[make_uscc(1), "主轴", int(upc)]])
    importer.import_file(reg, "products", path)
    # 12 digits left after Excel dropped the zero: a valid GTIN-12 of the same number.
    stored = reg.db.execute("select gtin from products where name_zh = '主轴'").fetchone()[0]
    assert stored.zfill(14) == upc.zfill(14)


# --------------------------------------------------------------------------- #
# Certificates (signed like `issue`)
# --------------------------------------------------------------------------- #
CERT_HEADER = ["产品编号", "商品条码", "统一社会信用代码", "产品名称", "认证机构", "认证依据", "认证范围",
               "发证日期", "有效期至", "自主创新", "品质高端", "服务优质", "信誉过硬", "市场公认"]


def cert_rows():
    standards = f"{GENERAL}；{GROUP}"
    return [
        ["1", "", "", "", "CQC", standards, "数控机床的设计和制造", "2024/3/1", "2027/2/28", 88, 91, 85, 90, 86],
        ["", gtin(1), "", "", "TUVSUD", standards, "数控机床", "2024-04-01", "2027-03-31", 80, 81, 82, 83, 84],
        ["", "", make_uscc(3), "数控机床2", "CQC", GROUP, "数控机床", "2025年1月2日", "2028-01-01", 70, 71, 72, 73, 74],
    ]


def test_certificates_import_signs_like_issue(reg, tmp_path):
    path = write_csv(tmp_path / "certs.csv", CERT_HEADER, cert_rows(), encoding="gbk")
    result = importer.import_file(reg, "certificates", path)
    assert result.keys == ["SZZZ-2024-CQC-00001", "SZZZ-2024-TUVSUD-00001", "SZZZ-2025-CQC-00001"]
    rows = reg.db.execute("select cert_no, product, issued, expires, status from certificates "
                          "order by cert_no").fetchall()
    assert rows == [("SZZZ-2024-CQC-00001", 1, "2024-03-01", "2027-02-28", "valid"),
                    ("SZZZ-2024-TUVSUD-00001", 1, "2024-04-01", "2027-03-31", "valid"),
                    ("SZZZ-2025-CQC-00001", 3, "2025-01-02", "2028-01-01", "valid")]
    assert verify_registry(reg.db) == []
    # The same file again: every row is a live certificate already.
    errors = import_errors(reg, "certificates", path)
    assert len(errors) == 3 and errors[0].startswith(
        "certs.csv:2:产品编号: product 1 already holds certificate SZZZ-2024-CQC-00001 (valid) from CQC")


def test_wrong_date(reg, tmp_path):
    rows = cert_rows()
    rows[1][8] = "2024-03-31"   # expiry before issue
    rows[2][7] = "2025-06-02"   # the day after TODAY
    errors = import_errors(reg, "certificates", write_csv(tmp_path / "certs.csv", CERT_HEADER, rows))
    assert errors == [
        ("certs.csv:3:有效期至: expiry date 2024-03-31 is not after the issue date 2024-04-01, "
        "expected a later date"),
        (f"certs.csv:4:发证日期: issue date is in the future: observed 2025-06-02, expected on or "
        f"before today ({TODAY}, Suzhou time)")]


def test_unknown_body_and_standard(reg, tmp_path):
    rows = cert_rows()
    rows[0][4] = "SGS"
    rows[2][5] = "T/SZS 404-2021"
    errors = import_errors(reg, "certificates", write_csv(tmp_path / "certs.csv", CERT_HEADER, rows))
    assert errors == [
        "certs.csv:2:认证机构: certification body SGS is not in the registry, expected a registered body code",
        ("certs.csv:4:认证依据: standard T/SZS 404-2021 is not in the registry, expected a registered "
        "standard code")]


def test_unknown_product(reg, tmp_path):
    rows = cert_rows()
    rows[0][0] = "99"
    rows[1][1] = gtin(99)
    rows[2][3] = "不存在的产品"
    errors = import_errors(reg, "certificates", write_csv(tmp_path / "certs.csv", CERT_HEADER, rows))
    assert [e.split(": ", 1)[0] for e in errors] == [
        "certs.csv:2:产品编号", "certs.csv:3:商品条码", "certs.csv:4:产品名称"]
    assert errors[0].endswith("product 99 is not in the registry, expected a registered product id")


def test_body_without_signing_key_writes_nothing(reg, tmp_path):
    rows = cert_rows()
    rows[2][4] = "NOKEY"
    errors = import_errors(reg, "certificates", write_csv(tmp_path / "certs.csv", CERT_HEADER, rows))
    assert len(errors) == 1 and errors[0].startswith(
        "certs.csv:4:认证机构: body NOKEY has no active key endorsed in the trust list")


def test_progress_bar_on_stderr(reg, tmp_path, capsys):
    path = write_csv(tmp_path / "ents.csv", EN_HEADER, enterprise_rows(3))
    importer.import_file(reg, "enterprises", path, progress=True)
    captured = capsys.readouterr()
    assert "checking ents.csv" in captured.err and "writing ents.csv" in captured.err
    assert captured.out == ""


def test_xlsx_certificates_with_date_and_number_cells(reg, tmp_path):
    import datetime
    rows = cert_rows()[:1]
    rows[0][0] = 1                                   # product id as a number cell
    rows[0][7] = datetime.datetime(2024, 3, 1)       # Excel date cells
    rows[0][8] = datetime.datetime(2027, 2, 28)
    path = write_xlsx(tmp_path / "certs.xlsx", CERT_HEADER, rows)
    assert importer.import_file(reg, "certificates", path).keys == ["SZZZ-2024-CQC-00001"]
    assert reg.db.execute("select issued, expires from certificates").fetchall() == [
        ("2024-03-01", "2027-02-28")]
    rows[0][0] = 2
    rows[0][7] = datetime.datetime(2024, 3, 1, 9, 30)  # a time of day is not a date
    before = counts(reg)
    path = write_xlsx(tmp_path / "certs2.xlsx", CERT_HEADER, rows)
    with pytest.raises(ValidationErrors) as info:
        importer.import_file(reg, "certificates", path)
    assert [str(e) for e in info.value.errors] == [
        "certs2.xlsx:2:发证日期: observed date-time 2024-03-01 09:30:00, expected a date"]
    assert counts(reg) == before


def test_docs_example_imports_as_documented(reg, tmp_path):
    """The example in docs/import.md is real: its CSV, saved as GBK the way
    Excel does, imports to the values the doc says; its first error line is
    what the importer prints for that USCC with a wrong check character."""
    import re
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "import.md").read_text(encoding="utf-8")
    example = re.search(r"```csv\n(.*?)```", doc, re.S).group(1)
    stored = re.search(r"is stored as `uscc=(\S+), district=(\S+), industry=(\S+),\s*tier=(\S+)`", doc)
    uscc = stored.group(1)
    bad_uscc = re.search(r"企业名单.csv:5:统一社会信用代码: USCC (\S+)", doc).group(1)
    documented = next(row for row in doc.splitlines() if row.strip().startswith("企业名单.csv:5:")).strip()
    # Put the bad USCC on Excel row 5 of a copy of the example.
    header, line = example.strip().split("\n")
    filler = [line.replace(uscc, make_uscc(2000 + i)).replace("1,", f"{i},", 1) for i in (2, 3)]
    bad = "\n".join([header, line.replace(uscc, make_uscc(1999)), *filler, line.replace(uscc, bad_uscc)]) + "\n"
    (tmp_path / "企业名单.csv").write_bytes(bad.encode("gbk"))
    errors = import_errors(reg, "enterprises", tmp_path / "企业名单.csv")
    assert errors == [documented]
    path = tmp_path / "example.csv"
    path.write_bytes(example.encode("gbk"))
    assert importer.import_file(reg, "enterprises", path).encoding == "gb18030"
    row = reg.db.execute("select uscc, district, industry, tier from enterprises where uscc = ?",
                         [uscc]).fetchone()
    assert row == stored.groups()


def test_product_ids_sqlite_cannot_hold_are_bad_cells(reg, tmp_path):
    """Issue 10: a 30-digit product id went to SQLite and came back as an OverflowError
    traceback; '²' passed isdigit() and broke int(). Each is a bad cell like any other."""
    rows = cert_rows()
    rows[0][0] = "1" * 30
    rows[1][0], rows[1][1] = "²", ""
    rows[2][0], rows[2][2], rows[2][3] = "9" * 5000, "", ""
    errors = import_errors(reg, "certificates", write_csv(tmp_path / "certs.csv", CERT_HEADER, rows))
    assert errors == [
        ("certs.csv:2:产品编号: observed a number over 9223372036854775807, expected a positive "
         "integer no larger"),
        "certs.csv:3:产品编号: observed '²', expected a positive integer",
        f"certs.csv:4:产品编号: observed '{'9' * 40}…', expected a positive integer"]
