"""Import enterprises, products and certificates from CSV and XLSX files.

Files come as certification bodies actually send them (``docs/import.md``):

* CSV in UTF-8, UTF-8 with a BOM (Excel's "CSV UTF-8"), or GBK/GB18030
  (Excel's plain "CSV" on a Chinese Windows), comma- or tab-separated; or the
  first sheet of an XLSX workbook;
* a header row with English column names or their documented Chinese names
  (``统一社会信用代码``, ``企业名称`` …); a leading ``*`` and a bracketed note
  (``统一社会信用代码（18位）``) are ignored, so are ``序号`` and ``备注`` columns;
* cells as Excel leaves them: padded with spaces, dates as date cells or as
  ``2024/3/1``, identifiers turned into numbers (a GTIN's leading zeros are
  restored; a USCC or GTIN whose digits Excel rounded away, such as
  ``6.90123E+12``, is reported, never guessed).

All or nothing (rule: one bad row writes nothing): every row is validated
first and *every* problem is reported as ``file:row:column: message`` —
rows numbered as Excel shows them (header = row 1), columns named as in the
file — in one :class:`~registry.core.exceptions.ValidationErrors`. Only when the
whole file is clean are the rows written, through the same
:class:`~registry.store.operations.Registry` methods that ``szzz`` uses, inside one
transaction (``Registry.batch()``).
"""

import csv
import dataclasses
import datetime
import io
import re
import sys
import unicodedata
from pathlib import Path

from tqdm import tqdm

from registry.core.exceptions import (
    ImportFileError,
    InvalidValueError,
    RegistryError,
    ValidationError,
    ValidationErrors,
)
from registry.store import validation

KINDS = ("enterprises", "products", "certificates")


@dataclasses.dataclass(frozen=True)
class Column:
    """One import column: its field, its accepted header names, whether required."""

    field: str
    names: tuple  # English name first, then Chinese names
    required: bool = False


def _cols(*specs):
    return tuple(Column(field, names, required) for field, names, required in specs)


COLUMNS = {
    "enterprises": _cols(
        ("uscc", ("uscc", "统一社会信用代码", "信用代码"), True),
        ("name_zh", ("name_zh", "企业名称", "名称"), True),
        ("name_en", ("name_en", "英文名称", "企业英文名称"), False),
        ("district", ("district", "所在地区", "区县", "地区", "辖区"), True),
        ("industry", ("industry", "行业代码", "国民经济行业代码", "所属行业"), True),
        ("tier", ("tier", "培育层级", "企业类型"), False),
        ("website", ("website", "网站", "网址", "企业网站"), False),
        ("contact_name", ("contact_name", "联系人"), False),
        ("phone", ("phone", "联系电话", "电话"), False),
        ("email", ("email", "电子邮箱", "邮箱"), False),
        ("address", ("address", "地址", "联系地址"), False),
    ),
    "products": _cols(
        ("enterprise", ("enterprise", "uscc", "统一社会信用代码", "企业信用代码"), True),
        ("name_zh", ("name_zh", "产品名称"), True),
        ("name_en", ("name_en", "产品英文名称", "英文名称"), False),
        ("models", ("models", "型号", "规格型号"), False),
        ("gtin", ("gtin", "商品条码", "条码"), False),
        ("category", ("category", "产品类别", "类别"), False),
        ("description", ("description", "产品描述", "描述"), False),
        ("image", ("image", "图片", "产品图片"), False),
    ),
    "certificates": _cols(
        # An existing certificate's number (e.g. a traditional 苏州丝绸
        # certification merging into the registry); empty = allocate one.
        ("cert_no", ("cert_no", "证书编号"), False),
        # The product is named by one of: its registry id, its GTIN, or the
        # enterprise's USCC plus the product's Chinese name.
        ("product", ("product", "产品编号", "产品ID"), False),
        ("gtin", ("gtin", "商品条码", "条码"), False),
        ("uscc", ("uscc", "统一社会信用代码"), False),
        ("product_name", ("product_name", "产品名称"), False),
        ("body", ("body", "认证机构", "认证机构代码"), True),
        ("programme", ("programme", "认证项目", "认证类别"), False),
        ("standards", ("standards", "认证依据", "标准", "认证标准"), True),
        ("scope", ("scope", "认证范围"), True),
        ("issued", ("issued", "发证日期", "颁发日期"), False),
        ("expires", ("expires", "有效期至", "到期日期", "证书到期日"), True),
        ("innovation", ("innovation", "自主创新"), True),
        ("quality", ("quality", "品质高端"), True),
        ("service", ("service", "服务优质"), True),
        ("reputation", ("reputation", "信誉过硬"), True),
        ("recognition", ("recognition", "市场公认"), True),
        ("mark_authorised", ("mark_authorised", "授权使用标志", "标志授权"), False),
    ),
}

# Columns that spreadsheets carry for people, not for us.
IGNORED_HEADERS = {"序号", "备注", "no", "no.", "#", "note", "notes", "remark", "remarks"}

# Fields holding identifiers that Excel turns into numbers.
_IDENTIFIERS = {"uscc", "enterprise", "gtin"}
_DATES = {"issued", "expires"}
_CONTACT_FIELDS = ("contact_name", "phone", "email", "address")
_SCIENTIFIC_RE = re.compile(r"[+-]?\d+(?:\.\d*)?[eE][+-]?\d+")
_LOOSE_DATE_RE = re.compile(r"(\d{4})\s*[/.年-]\s*(\d{1,2})\s*[/.月-]\s*(\d{1,2})\s*日?")
_MAX_EXACT_FLOAT = 2**53


@dataclasses.dataclass
class ImportResult:
    """What an import wrote: ``keys`` are USCCs, product ids or certificate numbers."""

    kind: str
    path: str
    encoding: str  # "utf-8", "utf-8-sig", "gb18030" or "xlsx"
    rows: int
    keys: list


# --------------------------------------------------------------------------- #
# Reading files
# --------------------------------------------------------------------------- #
def decode_csv_bytes(data, name):
    """Decode CSV bytes; return ``(text, encoding)``.

    A UTF-8 BOM means UTF-8; else strict UTF-8 is tried; else GB18030 (a
    superset of GBK and GB2312, so every GBK file decodes the same). A file in
    none of them is refused naming the first bad byte and its line.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as e:
            raise _decode_error(data, e, name, "UTF-8 (the file starts with a UTF-8 BOM)") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(f"{name}: file is UTF-16 (Excel 'Unicode text'); "
                              "expected CSV in UTF-8 or GBK, or an .xlsx workbook")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as e:
        raise _decode_error(data, e, name, "UTF-8, UTF-8 with BOM or GBK/GB18030") from None


def _decode_error(data, e, name, expected):
    line = data.count(b"\n", 0, e.start) + 1
    return ImportFileError(
        f"{name}:{line}: byte 0x{data[e.start]:02X} at offset {e.start} cannot be decoded; "
        f"expected {expected}")


def read_csv(path):
    """``(records, encoding)``: records are ``(row_number, [cells])``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImportFileError(f"{path.name}: cannot read file ({e.strerror})") from None
    text, encoding = decode_csv_bytes(data, path.name)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as e:
        raise ImportFileError(f"{path.name}: not a well-formed CSV file ({e})") from None
    return list(enumerate(rows, start=1)), encoding


def read_xlsx(path):
    """``(records, "xlsx")`` from the first sheet of an XLSX workbook."""
    import zipfile

    import openpyxl  # only the XLSX path needs it
    from openpyxl.utils.exceptions import InvalidFileException

    path = Path(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as e:
        raise ImportFileError(f"{path.name}: not a readable .xlsx workbook ({e})") from None
    try:
        sheet = book.worksheets[0]
        records = [(n, list(row)) for n, row in
                   enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1)]
    finally:
        book.close()
    return records, "xlsx"


def read_table(path):
    """Records and encoding of a .csv/.tsv/.txt or .xlsx file."""
    suffix = Path(path).suffix.lower()
    if suffix == ".xlsx":
        return read_xlsx(path)
    if suffix in (".csv", ".tsv", ".txt"):
        return read_csv(path)
    raise ImportFileError(f"{Path(path).name}: unsupported file type {suffix or '(none)'}; "
                          "expected .csv or .xlsx (save .xls files as .xlsx)")


def _blank(cells):
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _header_key(cell):
    text = unicodedata.normalize("NFC", str(cell or "")).strip()
    text = text.lstrip("*＊").strip()
    text = re.sub(r"\s*[（(][^）)]*[）)]\s*$", "", text)
    return text.lower().replace(" ", "_")


def map_header(kind, cells, name, row_number):
    """Return ``{field: (index, header text)}`` for the header row ``cells``.

    Unknown or repeated columns and missing required columns are one
    ImportFileError naming them (rule: a missing column is one clear error,
    not an error on every row).
    """
    by_name = {}
    for column in COLUMNS[kind]:
        for alias in column.names:
            by_name[alias.lower()] = column.field
    mapping: dict[str, tuple[int, str]] = {}
    unknown, problems = [], []
    for index, cell in enumerate(cells):
        key = _header_key(cell)
        if not key or key in IGNORED_HEADERS:
            continue
        field = by_name.get(key)
        if field is None:
            unknown.append(str(cell).strip())
        elif field in mapping:
            problems.append(f"column {field} appears twice ({mapping[field][1]!r} and {str(cell).strip()!r})")
        else:
            mapping[field] = (index, str(cell).strip())
    if unknown:
        problems.append("unknown column(s) " + ", ".join(repr(u) for u in unknown))
    missing = [c for c in COLUMNS[kind] if c.required and c.field not in mapping]
    if missing:
        problems.append("missing required column(s) " + ", ".join(
            f"{c.field} ({c.names[1]})" for c in missing))
    if kind == "certificates" and not ({"product", "gtin"} & set(mapping)
                                       or {"uscc", "product_name"} <= set(mapping)):
        problems.append("missing the product: expected a product (产品编号) or gtin (商品条码) "
                        "column, or both uscc (统一社会信用代码) and product_name (产品名称)")
    if problems:
        expected = "; expected columns: " + ", ".join(
            f"{c.names[0]}/{c.names[1]}" + ("*" if c.required else "") for c in COLUMNS[kind])
        raise ImportFileError(f"{name}:{row_number}: " + "; ".join(problems) + expected)
    return mapping


# --------------------------------------------------------------------------- #
# Cells
# --------------------------------------------------------------------------- #
class _CellError(Exception):
    pass


def cell_value(value, field):
    """Turn one spreadsheet cell into what validation expects (text or None).

    Handles what Excel does to cells: numbers for identifiers (a GTIN's lost
    leading zeros are restored — zeros in front never change a GTIN check
    digit; digits rounded away are an error), date cells, ``2024/3/1`` dates.
    """
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.time() != datetime.time(0):
            raise _CellError(f"observed date-time {value.isoformat(sep=' ')}, expected a date")
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _MAX_EXACT_FLOAT:
            value = int(value)
        elif field in _IDENTIFIERS:
            raise _CellError(
                f"observed the number {value!r}: Excel stored this {field} as a number and "
                "its digits were rounded away; expected the digits as text "
                "(format the column as 文本/Text and type them again)")
        else:
            return repr(value)
    if isinstance(value, int):
        if field in _IDENTIFIERS and abs(value) >= _MAX_EXACT_FLOAT:
            raise _CellError(
                f"observed the number {value}: Excel stores at most 15 significant digits, so "
                f"this {field} may be wrong; expected the digits as text (format the column as 文本/Text)")
        value = str(value)
    if not isinstance(value, str):
        return str(value)
    text = value.strip()
    if not text:
        return None
    if field in _IDENTIFIERS and _SCIENTIFIC_RE.fullmatch(text):
        raise _CellError(
            f"observed {text!r}: Excel turned this {field} into a number in scientific "
            "notation and its digits are lost; expected the digits as text (format the "
            "column as 文本/Text and type them again)")
    if field == "gtin" and text.isdigit() and len(text) in (7, 9, 10, 11):
        # Excel drops leading zeros of a GTIN-8/12 read as a number.
        text = text.zfill(8 if len(text) == 7 else 12)
    if field in _DATES:
        m = _LOOSE_DATE_RE.fullmatch(text)
        if m:
            y, mo, d = (int(g) for g in m.groups())
            text = f"{y:04d}-{mo:02d}-{d:02d}"
    return text


# --------------------------------------------------------------------------- #
# Rows
# --------------------------------------------------------------------------- #
@dataclasses.dataclass
class _Row:
    number: int
    values: dict  # field -> normalised value, ready for the Registry call
    contact: dict | None = None


class _Errors:
    """Collects ``file:row:column`` errors for one file."""

    def __init__(self, name, mapping):
        self.name = name
        self.mapping = mapping
        self.items = []
        self.located = set()

    def column(self, field):
        """The column, as headed in the file, that holds ``field``."""
        field = (field or "").split(".")[-1]
        if field in self.mapping:
            return self.mapping[field][1]
        if field == "product":  # the product was named by GTIN or USCC + name
            for other in ("gtin", "uscc", "product_name"):
                if other in self.mapping:
                    return self.mapping[other][1]
        return field or "-"

    def add(self, number, error, field=None):
        if isinstance(error, ValidationError):
            message, field, cls = error.message, field or error.field, type(error)
        else:
            message, cls = str(error), ValidationError
        location = f"{self.name}:{number}:{self.column(field)}"
        if location in self.located:  # one error per cell: the first says why
            return
        self.located.add(location)
        self.items.append((number, cls(message, field=field, location=location)))

    def sorted(self):
        """The errors in row order (stable: a row's errors keep their order)."""
        return [e for _, e in sorted(self.items, key=lambda item: item[0])]


def _raw_row(cells, mapping, number, errors):
    raw = {}
    for field, (index, _) in mapping.items():
        value = cells[index] if index < len(cells) else None
        try:
            raw[field] = cell_value(value, field)
        except _CellError as e:
            errors.add(number, str(e), field)
            raw[field] = None
    width = max(i for i, _ in mapping.values()) + 1
    extra = [c for c in cells[width:] if not _blank([c])]
    return raw, extra


def _resolve_product(db, raw, number, errors):
    """The registry product id a certificate row names, or None (error added)."""
    if raw.get("product"):
        return raw["product"]
    if raw.get("gtin"):
        try:
            gtin = validation.gtin(raw["gtin"])
        except InvalidValueError as bad:
            errors.add(number, bad.message, "gtin")
            return None
        found = db.execute("select id from products where ltrim(gtin, '0') = ?",
                           [gtin.lstrip("0")]).fetchall()
        if not found:
            errors.add(number, f"no product with GTIN {gtin} is in the registry; "
                               "expected the GTIN of a registered product", "gtin")
            return None
        return found[0][0]
    uscc, name = raw.get("uscc"), raw.get("product_name")
    if not uscc or not name:
        errors.add(number, "the product is not named: expected a product id, a GTIN, or "
                           "a USCC and a product name", "product")
        return None
    try:
        uscc = validation.uscc(uscc)
        name = validation.text(name)
    except InvalidValueError as bad:
        errors.add(number, bad.message, "uscc")
        return None
    found = db.execute("select id from products where enterprise = ? and name_zh = ?",
                       [uscc, name]).fetchall()
    if len(found) != 1:
        what = "no product" if not found else f"{len(found)} products"
        errors.add(number, f"{what} named {name!r} for enterprise {uscc} in the registry; "
                           "expected exactly one (use the product id or GTIN instead)",
                   "product_name")
        return None
    return found[0][0]


def _prepare(kind, raw, db, number, errors, today):
    """Validate one row; return the Registry call's arguments or None."""
    record_kind = kind[:-1]
    contact = None
    if kind == "enterprises":
        values = {f: raw.get(f) for f in validation.FIELDS["enterprise"] if f in raw}
        contact_raw = {f: raw[f] for f in _CONTACT_FIELDS if raw.get(f)}
        if contact_raw:
            contact_raw["uscc"] = raw.get("uscc")
            contact, problems = validation.validate_record("contact", contact_raw)
            for e in problems:
                if e.field != "uscc":  # the enterprise's own check reports the USCC
                    errors.add(number, e)
    elif kind == "products":
        values = {f: raw.get(f) for f in validation.FIELDS["product"] if f in raw}
    else:
        product = _resolve_product(db, raw, number, errors)
        values = {
            "cert_no": raw.get("cert_no"), "product": product, "body": raw.get("body"),
            "programme": raw.get("programme"),
            "standards": raw.get("standards"), "scope": raw.get("scope"),
            "issued": raw.get("issued"), "expires": raw.get("expires"),
            "evaluation": {k: raw.get(k) for k in validation.reference.EVALUATION_DIMENSIONS},
            "mark_authorised": raw.get("mark_authorised"),
        }
        if product is None:
            values["product"] = 0  # reported above; keep checking the other cells
    out, problems = validation.validate_record(record_kind, values, today)
    if kind == "certificates" and product is None:
        problems = [e for e in problems if e.field != "product"]
    for e in problems:
        errors.add(number, e)
    if problems or (kind == "certificates" and product is None):
        return None
    problems = validation.reference_errors(db, record_kind, out)
    problems += validation.duplicate_errors(db, record_kind, out)
    for e in problems:
        errors.add(number, e)
    return None if problems else _Row(number, out, contact)


def _check_signers(registry, rows, errors):
    """Each certificate's body must be able to sign on its issue date: load the
    key now (checking the passphrase too) so that a missing key is reported
    at its row before anything is written."""
    loaded: dict[tuple[str, str], RegistryError | None] = {}
    for row in rows:
        key = (row.values["body"], row.values["issued"])
        if key not in loaded:
            try:
                registry.body_signer(*key)
                loaded[key] = None
            except RegistryError as e:
                loaded[key] = e
        if loaded[key] is not None:
            errors.add(row.number, str(loaded[key]), "body")


def _describe_key(field, key):
    if field == "product":
        product, body, prog = key
        return f"a certificate for product {product} from {body} for {prog}"
    return f"{field} {key}"


def import_file(registry, kind, path, *, progress=False, today=None):
    """Import ``path`` (CSV or XLSX) of ``kind`` into ``registry``; all or nothing.

    ``registry`` is an :class:`registry.store.operations.Registry`; for certificates
    it must be opened with keys and a passphrase (each certificate is signed
    by its issuing body's key, exactly as ``Registry.issue`` does).
    Raises :class:`ImportFileError` when the file cannot be read (encoding,
    format, header) and :class:`ValidationErrors` listing every bad cell as
    ``file:row:column: message``; in both cases nothing is written.
    """
    if kind not in KINDS:
        raise ImportFileError(f"unknown import kind {kind!r}, expected one of {', '.join(KINDS)}")
    path = Path(path)
    name = path.name
    records, encoding = read_table(path)
    records = [(n, cells) for n, cells in records if not _blank(cells)]
    if not records:
        raise ImportFileError(f"{name}: the file is empty, expected a header row")
    header_number, header = records[0]
    mapping = map_header(kind, header, name, header_number)
    errors = _Errors(name, mapping)
    db = registry.db
    today = today or registry.today()
    seen: dict[tuple[str, object], int] = {}
    prepared = []
    bar = tqdm(records[1:], desc=f"checking {name}", unit="row", file=sys.stderr,
               disable=not progress)
    for number, cells in bar:
        raw, extra = _raw_row(cells, mapping, number, errors)
        if extra:
            errors.add(number, f"{len(extra)} cell(s) beyond the last column of the header; "
                               "expected no data outside the header's columns", "-")
        row = _prepare(kind, raw, db, number, errors, today)
        if row is None:
            continue
        duplicate = False
        for field, key in validation.duplicate_keys(kind[:-1], row.values):
            if (field, key) in seen:
                errors.add(number, validation.DuplicateError(
                    f"duplicate {_describe_key(field, key)}: also in row {seen[field, key]}",
                    field=field))
                duplicate = True
            else:
                seen[field, key] = number
        if not duplicate:
            prepared.append(row)
    bar.close()
    if kind == "certificates":
        _check_signers(registry, prepared, errors)
    if not prepared and not errors.items:
        raise ImportFileError(f"{name}: no data rows below the header (row {header_number})")
    if errors.items:
        raise ValidationErrors(errors.sorted())
    return ImportResult(kind, str(path), encoding, len(prepared),
                        _write(registry, kind, prepared, errors, progress, name))


def _write(registry, kind, rows, errors, progress, name):
    """Write every prepared row in one transaction; any failure rolls all back."""
    keys = []
    bar = tqdm(rows, desc=f"writing {name}", unit="row", file=sys.stderr, disable=not progress)
    row = None
    try:
        with registry.batch():
            for row in bar:
                v = row.values
                if kind == "enterprises":
                    registry.add_enterprise(v, contact=row.contact)
                    keys.append(v["uscc"])
                elif kind == "products":
                    keys.append(registry.add_product(v))
                else:
                    keys.append(registry.issue(
                        product=v["product"], body=v["body"], standards=v["standards"],
                        scope=v["scope"], issued=v["issued"], expires=v["expires"],
                        evaluation=v["evaluation"], programme=v["programme"],
                        mark_authorised=v["mark_authorised"], cert_no=v.get("cert_no")))
    except ValidationError as e:
        # Validation here and in the Registry disagree: report it at the row.
        errors.add(row.number, e)  # type: ignore[union-attr]  # raised while writing a row, so row is set
        raise ValidationErrors(errors.sorted()) from e
    except RegistryError as e:
        if row is None or type(e).__init__ is not Exception.__init__:
            raise
        # Name the row (e.g. a body without a usable signing key).
        raise type(e)(f"{name}:{row.number}: {e}; nothing was written") from e
    finally:
        bar.close()
    return keys
