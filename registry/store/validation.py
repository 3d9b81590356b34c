"""Field and record validation: what operators really get wrong, caught early.

Every record that enters the registry (by ``szzz``, by an import, by the demo)
passes through one ``validate_<kind>(row)`` function here first. Each takes a
dict and returns the *normalised* row:

* every string is Unicode NFC (rule: text is normalised before storing or
  signing, so the same name typed on two keyboards signs the same bytes) and
  stripped (``str.strip`` also removes U+3000 ideographic spaces);
* empty optional fields become ``None``;
* aliases become the canonical value (``苏州高新区`` -> ``虎丘区``, ``苏州制造``
  -> ``SZZZ``, ``3562`` -> ``C3562``, ``cqc`` -> ``CQC``);

or raises :class:`~registry.core.exceptions.ValidationError` naming the record and
the field, with what was observed and what was expected. ``validate_record``
returns *all* the errors of one row instead (the importer reports every bad
cell at once).

What needs the database is separate: :func:`check_references` (unknown
district, industry, tier, body, standard, product, enterprise) and
:func:`check_duplicates` (identifying numbers already taken). Status changes
are checked by :mod:`registry.core.lifecycle`, not here.
"""

import datetime
import json
import re
import unicodedata
from urllib.parse import urlsplit

from stdnum import ean as _ean
from stdnum import exceptions as _stdnum_errors
from stdnum.cn import uscc as _uscc

from registry.core import clock, industries, reference
from registry.core.exceptions import DuplicateError, InvalidValueError, ValidationError

# --------------------------------------------------------------------------- #
# Reference values owned by validation (schema.py owns districts, tiers,
# programmes and the five dimensions).
# --------------------------------------------------------------------------- #
BODY_STATUSES = ("active", "suspended", "withdrawn")
STANDARD_STATUSES = ("current", "superseded", "withdrawn")

# Length limits (characters, after NFC): generous for real names, small
# enough that a pasted document or a runaway cell is caught.
NAME_MAX = 200
TITLE_MAX = 300
SHORT_MAX = 100
ADDRESS_MAX = 300
SCOPE_MAX = 2000
DESCRIPTION_MAX = 4000
URL_MAX = 300
MAX_MODELS = 50
# A certificate valid for more than this many years is a typo (2207 for 2027).
MAX_VALIDITY_YEARS = 10
#: The largest integer SQLite stores (signed 64 bits): ids above it are refused
#: as values, never passed to a query that would raise OverflowError.
MAX_INTEGER = 2**63 - 1

BODY_CODE_RE = re.compile(r"[A-Z0-9]{2,8}")
# National, industry, local and group standard codes: "GB/T 4754-2017",
# "DB3205/T 1001-2021", "T/SZS 001-2021", "JB/T 1234.1-2010".
STANDARD_CODE_RE = re.compile(r"[A-Z][A-Z0-9]*(?:/[A-Z][A-Z0-9]*){0,2} \d+(?:\.\d+)*-\d{4}")
CERT_NO_RE = re.compile(r"([A-Z]{4,5})-(\d{4})-([A-Z0-9]{2,8})-(\d{5})")
ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
PHONE_RE = re.compile(r"\+?[0-9][0-9 ()\-]{5,24}(?:\s*(?:转|ext\.?|x)\s*\d{1,6})?")
IMAGE_RE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9._\-/]*\.(?:jpg|jpeg|png|webp|svg)")
# Separators people use between list items in one spreadsheet cell.
LIST_SPLIT_RE = re.compile(r"[;；、,，\n]")

_TRUE = {"true", "yes", "y", "1", "是", "√"}
_FALSE = {"false", "no", "n", "0", "否", "×"}
_QUOTES = "\"'“”‘’「」"

_DISTRICT_BY_EN = {en.split(" (")[0].lower(): zh for zh, en in reference.DISTRICTS.items()}
_TIER_BY_EN = {en.lower(): zh for zh, en in reference.TIERS.items()}
_PROGRAMME_BY_NAME = {}
for _code, (_zh, _en) in reference.PROGRAMMES.items():
    _PROGRAMME_BY_NAME[_zh] = _code
    _PROGRAMME_BY_NAME[_en.lower()] = _code


# --------------------------------------------------------------------------- #
# Field checks. Each takes the raw value and returns the normalised value (or
# None when empty), raising InvalidValueError with "observed X, expected Y".
# --------------------------------------------------------------------------- #
def _show(value, limit=40):
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def normalise_text(value):
    """NFC-normalise and strip a string; None and "" give None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidValueError(f"observed a {type(value).__name__}, expected text")
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def text(value, *, max_len=NAME_MAX, multiline=False):
    """Free text: NFC, stripped, at most ``max_len`` characters, no controls.

    Control and format characters (Unicode Cc/Cf/Cs/Co: NUL, BEL, zero-width
    and bidi overrides that make a name display as something else) are
    refused; ``multiline`` fields may contain line feeds.
    """
    out = normalise_text(value)
    if out is None:
        return None
    if multiline:
        out = out.replace("\r\n", "\n").replace("\r", "\n")
    for i, ch in enumerate(out):
        if multiline and ch == "\n":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            raise InvalidValueError(
                f"control or invisible character U+{ord(ch):04X} at position {i + 1}; "
                "expected printable text"
            )
    if len(out) > max_len:
        raise InvalidValueError(f"observed {len(out)} characters, expected at most {max_len}")
    return out


def uscc(value):
    """统一社会信用代码 (GB 32100-2015), check character verified by python-stdnum.

    Any valid USCC is accepted, not only Suzhou's (positions 3–8 = 3205xx):
    the code is fixed for an entity's life, so an enterprise that moved its
    registration to Suzhou keeps a code from elsewhere.
    """
    raw = normalise_text(value)
    if raw is None:
        return None
    try:
        return _uscc.validate(raw)
    except _stdnum_errors.InvalidLength:
        compact = _uscc.compact(raw)
        raise InvalidValueError(f"USCC {_show(raw)} has {len(compact)} characters, expected 18") from None
    except _stdnum_errors.InvalidChecksum:
        compact = _uscc.compact(raw)
        expected = _uscc.calc_check_digit(compact[:17])
        raise InvalidValueError(
            f"USCC {compact} has check character {compact[-1]}, expected {expected} "
            "(mistyped or copied wrongly?)"
        ) from None
    except _stdnum_errors.ValidationError:
        raise InvalidValueError(
            f"USCC {_show(raw)} is malformed: expected 8 digits then 10 digits or "
            "capital letters other than I, O, S, V, Z"
        ) from None


def gtin(value):
    """GTIN-8/12/13/14 with its check digit verified by python-stdnum."""
    raw = normalise_text(value)
    if raw is None:
        return None
    compact = _ean.compact(raw)
    if not compact.isdigit():
        raise InvalidValueError(f"GTIN {_show(raw)} contains non-digits, expected 8, 12, 13 or 14 digits")
    if len(compact) not in (8, 12, 13, 14):
        raise InvalidValueError(f"GTIN {compact} has {len(compact)} digits, expected 8, 12, 13 or 14")
    if set(compact) == {"0"}:
        raise InvalidValueError("GTIN is all zeros, expected a real GTIN")
    try:
        return _ean.validate(compact)
    except _stdnum_errors.InvalidChecksum:
        expected = _ean.calc_check_digit(compact[:-1])
        raise InvalidValueError(f"GTIN {compact} has check digit {compact[-1]}, expected {expected}") from None


def gtin_key(value):
    """A GTIN as 14 digits, to compare GTIN-8/12/13/14 forms of one number."""
    return value.zfill(14) if value else None


def body_code(value):
    out = normalise_text(value)
    if out is None:
        return None
    out = out.upper()
    if not BODY_CODE_RE.fullmatch(out):
        raise InvalidValueError(f"body code {_show(out)} is malformed, expected 2–8 capital letters or digits")
    return out


def standard_code(value):
    out = text(value, max_len=64)
    if out is None:
        return None
    out = re.sub(r"\s+", " ", out)
    if not STANDARD_CODE_RE.fullmatch(out):
        raise InvalidValueError(
            f"standard code {_show(out)} is malformed, expected e.g. 'T/SZS 001-2021', "
            "'DB3205/T 1001-2021' or 'GB/T 4754-2017' (half-width characters)"
        )
    return out


def iso_date(value):
    """A calendar date as YYYY-MM-DD (a date object is accepted too)."""
    if isinstance(value, datetime.datetime):
        raise InvalidValueError(f"observed a date-time {value.isoformat()}, expected a YYYY-MM-DD date")
    if isinstance(value, datetime.date):
        return value.isoformat()
    out = normalise_text(value)
    if out is None:
        return None
    if not ISO_DATE_RE.fullmatch(out):
        raise InvalidValueError(f"date {_show(out)} is not in the form YYYY-MM-DD")
    try:
        datetime.date.fromisoformat(out)
    except ValueError:
        raise InvalidValueError(f"date {out} does not exist in the calendar") from None
    return out


def url(value):
    out = text(value, max_len=URL_MAX)
    if out is None:
        return None
    parts = urlsplit(out)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in out:
        raise InvalidValueError(f"website {_show(out)} is not an http(s) URL, expected e.g. https://www.example.cn")
    return out


def email(value):
    out = text(value, max_len=SHORT_MAX)
    if out is not None and not EMAIL_RE.fullmatch(out):
        raise InvalidValueError(f"e-mail {_show(out)} is malformed, expected name@example.cn")
    return out


def phone(value):
    out = text(value, max_len=40)
    if out is not None and not PHONE_RE.fullmatch(out):
        raise InvalidValueError(f"phone {_show(out)} is malformed, expected digits such as 0512-68688888")
    return out


def image_path(value):
    out = text(value, max_len=NAME_MAX)
    if out is None:
        return None
    if not IMAGE_RE.fullmatch(out) or ".." in out.split("/") or "//" in out:
        raise InvalidValueError(
            f"image path {_show(out)} is not a relative path to a .jpg/.png/.webp/.svg "
            "file of letters, digits, '.', '_', '-' and '/'"
        )
    return out


def choice(value, allowed, what):
    out = normalise_text(value)
    if out is None:
        return None
    if out not in allowed:
        raise InvalidValueError(f"{what} {_show(out)} is unknown, expected one of " + ", ".join(allowed))
    return out


def district(value):
    """One of Suzhou's ten county-level areas (aliases and English names accepted)."""
    out = normalise_text(value)
    if out is None:
        return None
    out = reference.DISTRICT_ALIASES.get(out, out)
    out = _DISTRICT_BY_EN.get(out.lower(), out)
    if out not in reference.DISTRICTS:
        raise InvalidValueError(f"district {_show(out)} is not one of Suzhou's ten areas, expected one of "
                   + ", ".join(reference.DISTRICTS))
    return out


def industry(value):
    """A GB/T 4754-2017 manufacturing code (section C, divisions 13–43)."""
    out = normalise_text(value)
    if out is None:
        return None
    out = out.upper().replace(" ", "")
    if out.isdigit():  # "3562" as typed (or as Excel made a number of it)
        out = industries.MANUFACTURING_SECTION + out
    m = industries.CODE_RE.fullmatch(out)
    if not m:
        raise InvalidValueError(f"industry code {_show(out)} is malformed, expected a GB/T 4754-2017 "
                   "code: section letter and 2–4 digits, e.g. C3562")
    section, digits = m.groups()
    name, low, high = industries.SECTIONS[section]
    division = int(digits[:2])
    if not low <= division <= high:
        raise InvalidValueError(f"industry code {out}: division {digits[:2]} is not in section {section} "
                   f"({name}, divisions {low:02d}–{high:02d})")
    if section != industries.MANUFACTURING_SECTION:
        raise InvalidValueError(f"industry code {out} is in section {section} ({name}), expected a "
                   "manufacturing code (section C, divisions 13–43): the scheme certifies "
                   "manufactured products")
    return out


def tier(value):
    """A cultivation tier of ``reference.TIERS`` (quotes and a trailing 企业 ignored)."""
    out = normalise_text(value)
    if out is None:
        return None
    key = "".join(ch for ch in out if ch not in _QUOTES)
    key = key.removesuffix("企业")
    key = _TIER_BY_EN.get(key.lower(), key)
    if key not in reference.TIERS:
        raise InvalidValueError(f"cultivation tier {_show(out)} is unknown, "
                                f"expected one of {', '.join(reference.TIERS)}")
    return key


def programme(value):
    """A programme code of ``reference.PROGRAMMES`` (its Chinese or English name too)."""
    out = normalise_text(value)
    if out is None:
        return None
    code = out.upper() if out.upper() in reference.PROGRAMMES else _PROGRAMME_BY_NAME.get(
        out if not out.isascii() else out.lower())
    if code is None:
        raise InvalidValueError(f"programme {_show(out)} is unknown, expected one of "
                   + ", ".join(f"{c} ({zh})" for c, (zh, _) in reference.PROGRAMMES.items()))
    return code


def boolean(value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    out = normalise_text(value)
    if out is None:
        return None
    if out.lower() in _TRUE:
        return True
    if out.lower() in _FALSE:
        return False
    raise InvalidValueError(f"observed {_show(out)}, expected true/false (是/否)")


def positive_int(value):
    if value is None or isinstance(value, bool):
        if value is None:
            return None
        raise InvalidValueError(f"observed {value!r}, expected a positive integer")
    if isinstance(value, int):
        out = value
    else:
        raw = normalise_text(value)
        if raw is None:
            return None
        try:
            # isdigit() admits '²', which int() refuses, and int() refuses over 4,300 digits.
            if not raw.isdigit():
                raise ValueError(raw)
            out = int(raw)
        except ValueError:
            raise InvalidValueError(f"observed {_show(raw)}, expected a positive integer") from None
    if out <= 0:
        raise InvalidValueError(f"observed {out}, expected a positive integer")
    if out > MAX_INTEGER:  # (no str(out): a number can be too long to print)
        raise InvalidValueError(f"observed a number over {MAX_INTEGER}, expected a positive "
                                "integer no larger")
    return out


def text_list(value, item_check, what, *, max_items=MAX_MODELS):
    """A list given as a list, or as one cell separated by ; ； 、 , ， or newlines."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        items = LIST_SPLIT_RE.split(value)
    else:
        raise InvalidValueError(f"observed a {type(value).__name__}, expected a list of {what}s")
    out = []
    for item in items:
        norm = item_check(item)
        if norm is None:
            continue
        if norm in out:
            raise InvalidValueError(f"{what} {_show(norm)} is listed twice")
        out.append(norm)
    if len(out) > max_items:
        raise InvalidValueError(f"observed {len(out)} {what}s, expected at most {max_items}")
    return out


def evaluation(value):
    """The recorded outcome of the five evaluation dimensions: integers 0–100.

    Exactly the keys of ``reference.EVALUATION_DIMENSIONS`` (自主创新, 品质高端,
    服务优质, 信誉过硬, 市场公认) — a missing or extra dimension is an error,
    so a certificate always records the scheme's whole evaluation.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            raise InvalidValueError("evaluation is not a JSON object") from None
    if not isinstance(value, dict):
        raise InvalidValueError(f"observed a {type(value).__name__}, expected an object with the five "
                   "dimensions " + ", ".join(reference.EVALUATION_DIMENSIONS))
    expected = set(reference.EVALUATION_DIMENSIONS)
    missing = [k for k in reference.EVALUATION_DIMENSIONS if k not in value]
    extra = sorted(str(k) for k in value if k not in expected)
    if missing:
        names = ", ".join(f"{k} ({reference.EVALUATION_DIMENSIONS[k][0]})" for k in missing)
        raise InvalidValueError(f"evaluation lacks dimension(s) {names}; expected exactly "
                   + ", ".join(reference.EVALUATION_DIMENSIONS), field=f"evaluation.{missing[0]}")
    if extra:
        raise InvalidValueError(f"evaluation has unknown dimension(s) {', '.join(extra)}; expected exactly "
                   + ", ".join(reference.EVALUATION_DIMENSIONS))
    out = {}
    for key in reference.EVALUATION_DIMENSIONS:
        score = value[key]
        if isinstance(score, str) and score.strip().isdigit():
            score = int(score.strip())
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
            raise InvalidValueError(f"{key} ({reference.EVALUATION_DIMENSIONS[key][0]}) score is {score!r}, "
                       "expected an integer from 0 to 100", field=f"evaluation.{key}")
        out[key] = score
    return out


def cert_no(value):
    out = normalise_text(value)
    if out is None:
        return None
    if not CERT_NO_RE.fullmatch(out) or out.split("-")[0] not in reference.PROGRAMMES:
        raise InvalidValueError(f"certificate number {_show(out)} is malformed, expected "
                   "<programme>-<year>-<body>-<5-digit serial>, e.g. SZZZ-2024-CQC-00012")
    return out


# --------------------------------------------------------------------------- #
# Records
# --------------------------------------------------------------------------- #
def _t(max_len=NAME_MAX, multiline=False):
    return lambda v: text(v, max_len=max_len, multiline=multiline)


# kind -> {field: (check, required, default)}
FIELDS: dict[str, dict[str, tuple]] = {
    "body": {
        "code": (body_code, True, None),
        "name_zh": (_t(), True, None),
        "name_en": (_t(), True, None),
        "approval_no": (_t(64), True, None),
        "website": (url, False, None),
        "joined": (iso_date, True, None),
        "status": (lambda v: choice(v, BODY_STATUSES, "body status"), False, "active"),
    },
    "standard": {
        "code": (standard_code, True, None),
        "title_zh": (_t(TITLE_MAX), True, None),
        "title_en": (_t(TITLE_MAX), False, None),
        "kind": (lambda v: choice(v, reference.STANDARD_KINDS, "standard kind"), True, None),
        "issuer": (_t(), False, None),
        "published": (iso_date, False, None),
        "effective": (iso_date, False, None),
        "status": (lambda v: choice(v, STANDARD_STATUSES, "standard status"), False, "current"),
    },
    "enterprise": {
        "uscc": (uscc, True, None),
        "name_zh": (_t(), True, None),
        "name_en": (_t(TITLE_MAX), False, None),
        "district": (district, True, None),
        "industry": (industry, True, None),
        "tier": (tier, False, None),
        "website": (url, False, None),
    },
    "contact": {
        "uscc": (uscc, True, None),
        "contact_name": (_t(SHORT_MAX), False, None),
        "phone": (phone, False, None),
        "email": (email, False, None),
        "address": (_t(ADDRESS_MAX), False, None),
    },
    "product": {
        "id": (positive_int, False, None),
        "enterprise": (uscc, True, None),
        "name_zh": (_t(), True, None),
        "name_en": (_t(TITLE_MAX), False, None),
        "models": (lambda v: text_list(v, _t(SHORT_MAX), "model"), False, None),
        "gtin": (gtin, False, None),
        "category": (_t(SHORT_MAX), False, None),
        "description": (_t(DESCRIPTION_MAX, multiline=True), False, None),
        "image": (image_path, False, None),
    },
    "certificate": {
        "cert_no": (cert_no, False, None),
        "product": (positive_int, True, None),
        "body": (body_code, True, None),
        "programme": (programme, False, reference.DEFAULT_PROGRAMME),
        "standards": (lambda v: text_list(v, standard_code, "standard", max_items=30), True, None),
        "scope": (_t(SCOPE_MAX, multiline=True), True, None),
        "issued": (iso_date, False, None),
        "expires": (iso_date, True, None),
        "evaluation": (evaluation, True, None),
        "mark_authorised": (boolean, False, True),
    },
}

KINDS = tuple(FIELDS)
_KIND_ALIASES = {k + "s": k for k in KINDS} | {"contacts": "contact", "bodies": "body"}

# The field that names a record in messages.
_NAMING_FIELD = {"body": "code", "standard": "code", "enterprise": "uscc",
                 "contact": "uscc", "product": "name_zh", "certificate": "cert_no"}


def kind_of(kind):
    """Canonical kind name: ``enterprises`` -> ``enterprise``."""
    k = _KIND_ALIASES.get(kind, kind)
    if k not in FIELDS:
        raise ValidationError(f"unknown record kind {kind!r}, expected one of {', '.join(KINDS)}")
    return k


def record_name(kind, row):
    """How messages name a record: ``enterprise 91320505…``, ``body CQC``."""
    kind = kind_of(kind)
    key = row.get(_NAMING_FIELD[kind]) if isinstance(row, dict) else None
    if kind == "contact":
        return f"contact of enterprise {key}" if key else "contact"
    if kind == "certificate" and not key:
        product = row.get("product") if isinstance(row, dict) else None
        return f"certificate for product {product}" if product else "certificate"
    if kind == "product" and row.get("enterprise"):
        return f"product {key or '?'} of enterprise {row.get('enterprise')}"
    if isinstance(key, str):
        key = unicodedata.normalize("NFC", key).strip()
    return f"{kind} {key}" if key else kind


def validate_record(kind, row, today=None):
    """Validate one record; return ``(normalised_row, errors)``, never raising.

    ``errors`` lists a :class:`ValidationError` per bad field (with ``record``
    and ``field`` set), so that an import reports every bad cell in one go.
    """
    kind = kind_of(kind)
    fields = FIELDS[kind]
    name = record_name(kind, row) if isinstance(row, dict) else kind
    if not isinstance(row, dict):
        return None, [ValidationError(f"observed a {type(row).__name__}, expected a dict",
                                      record=name)]
    errors, out = [], {}
    for key in row:
        if key not in fields:
            errors.append(ValidationError(
                f"unknown field {key!r}, expected one of {', '.join(fields)}",
                record=name, field=str(key)))
    for field, (check, required, default) in fields.items():
        try:
            value = check(row.get(field))
        except InvalidValueError as bad:
            errors.append(ValidationError(bad.message, record=name, field=bad.field or field))
            continue
        if value in (None, []) and required:
            errors.append(ValidationError(f"{field} is empty, expected a value",
                                          record=name, field=field))
            continue
        out[field] = default if value is None else value
    # Optional identifiers the registry allocates itself are left out when
    # absent, so a row can be inserted as it is.
    for optional in ("id", "cert_no"):
        if optional in fields and out.get(optional) is None:
            out.pop(optional, None)
    if kind == "standard" and out.get("published") and out.get("effective") and out["effective"] < out["published"]:
        errors.append(ValidationError(
            f"effective date {out['effective']} is before the publication date "
            f"{out['published']}, expected on or after it", record=name, field="effective"))
    if kind == "body" and out.get("joined"):
        try:
            not_after_today(out["joined"], today, label="joined date", record=name, field="joined")
        except ValidationError as e:
            errors.append(e)
    if kind == "certificate" and "expires" in out and "issued" in out:
        issued = out["issued"] or _today(today).isoformat()
        try:
            out["issued"], out["expires"] = check_dates(issued, out["expires"], today, record=name)
        except ValidationError as e:
            errors.append(e)
        else:
            _check_cert_no(out, name, errors)
    return out, errors


def _check_cert_no(out, name, errors):
    """A given certificate number must agree with its programme, year and body."""
    number = out.get("cert_no")
    if not number:
        return
    prog, year, body = CERT_NO_RE.fullmatch(number).groups()[:3]  # type: ignore[union-attr]  # cert_no() matched it
    expected = f"{out['programme']}-{out['issued'][:4]}-{out['body']}"
    if f"{prog}-{year}-{body}" != expected:
        errors.append(ValidationError(
            f"certificate number {number} does not match programme, issue year and body; "
            f"expected {expected}-NNNNN", record=name, field="cert_no"))


def _validate(kind, row, today=None):
    out, errors = validate_record(kind, row, today)
    if errors:
        raise errors[0]
    return out


def validate_body(row, today=None):
    """A certification body (alliance member): code, names, approval number, joined date
    (not after ``today``, default today in Suzhou)."""
    return _validate("body", row, today)


def validate_standard(row):
    """A standard: code (e.g. ``T/SZS 001-2021``), titles, kind, dates, status."""
    return _validate("standard", row)


def validate_enterprise(row):
    """An enterprise: USCC, names, district, GB/T 4754 industry, tier, website."""
    return _validate("enterprise", row)


def validate_contact(row):
    """An enterprise's contact details (operator-only data)."""
    return _validate("contact", row)


def validate_product(row):
    """A product: enterprise USCC, names, models (a list), GTIN, category, image."""
    return _validate("product", row)


def validate_certificate(row, today=None):
    """A certificate to issue: product id, body, programme, standards, scope,
    dates (``issued`` defaults to today in Suzhou), the five-dimension
    evaluation and whether the mark is authorised."""
    return _validate("certificate", row, today)


# --------------------------------------------------------------------------- #
# Dates
# --------------------------------------------------------------------------- #
def _today(today):
    if today is None:
        return clock.today()
    if isinstance(today, str):
        return datetime.date.fromisoformat(today)
    return today


def not_after_today(day, today=None, *, label, record=None, field):
    """``day`` (YYYY-MM-DD), refused when it is after today in Suzhou.

    Rule: a date that records something that happened — a body joined the
    alliance, a certificate was issued, an application was received, an act
    was done — cannot be in the future (docs/cli.md: ``--date``); a future
    date would also put the record ahead of every verifier's clock.
    """
    limit = _today(today).isoformat()
    if day is not None and day > limit:
        raise ValidationError(
            f"{label} is in the future: observed {day}, expected on or before today "
            f"({limit}, Suzhou time)", record=record, field=field)
    return day


def check_dates(issued, expires, today=None, record=None):
    """Check an issue/expiry pair; return both as YYYY-MM-DD strings.

    Rules: ISO dates only; no issue date after today (in Suzhou, see
    :mod:`registry.core.clock`); expiry strictly after issue and at most
    ``MAX_VALIDITY_YEARS`` later.
    """
    values = {}
    for field, value in (("issued", issued), ("expires", expires)):
        try:
            values[field] = iso_date(value)
        except InvalidValueError as bad:
            raise ValidationError(bad.message, record=record, field=field) from None
        if values[field] is None:
            raise ValidationError(f"{field} is empty, expected a YYYY-MM-DD date",
                                  record=record, field=field)
    not_after_today(values["issued"], today, label="issue date", record=record, field="issued")
    if values["expires"] <= values["issued"]:
        raise ValidationError(
            f"expiry date {values['expires']} is not after the issue date "
            f"{values['issued']}, expected a later date", record=record, field="expires")
    start = datetime.date.fromisoformat(values["issued"])
    try:
        limit = start.replace(year=start.year + MAX_VALIDITY_YEARS)
    except ValueError:  # 29 February
        limit = start.replace(year=start.year + MAX_VALIDITY_YEARS, day=28)
    if values["expires"] > limit.isoformat():
        raise ValidationError(
            f"expiry date {values['expires']} is more than {MAX_VALIDITY_YEARS} years after "
            f"the issue date {values['issued']}, expected on or before {limit.isoformat()}",
            record=record, field="expires")
    return values["issued"], values["expires"]


# --------------------------------------------------------------------------- #
# Against the database
# --------------------------------------------------------------------------- #
def _exists(db, sql, params):
    return db.execute(sql, params).fetchone() is not None


def reference_errors(db, kind, row):
    """Every unknown reference of a normalised ``row``, as ValidationErrors."""
    kind = kind_of(kind)
    name = record_name(kind, row)
    errors = []

    def bad(field, message):
        errors.append(ValidationError(message, record=name, field=field))

    if kind == "enterprise":
        for field, check in (("district", district), ("industry", industry), ("tier", tier)):
            try:
                check(row.get(field))
            except InvalidValueError as b:
                bad(field, b.message)
    elif kind in ("contact", "product"):
        field = "uscc" if kind == "contact" else "enterprise"
        value = row.get(field)
        if value and not _exists(db, "select 1 from enterprises where uscc = ?", [value]):
            bad(field, f"enterprise {value} is not in the registry, expected a registered USCC")
    elif kind == "certificate":
        product = row.get("product")
        if product is not None and not _exists(db, "select 1 from products where id = ?", [product]):
            bad("product", f"product {product} is not in the registry, expected a registered product id")
        code = row.get("body")
        if code:
            found = db.execute("select status from bodies where code = ?", [code]).fetchone()
            if found is None:
                bad("body", f"certification body {code} is not in the registry, "
                            "expected a registered body code")
            elif found[0] != "active":
                bad("body", f"certification body {code} is {found[0]}, expected an active body")
        for std in row.get("standards") or ():
            found = db.execute("select status from standards where code = ?", [std]).fetchone()
            if found is None:
                bad("standards", f"standard {std} is not in the registry, expected a registered standard code")
            elif found[0] == "withdrawn":
                bad("standards", f"standard {std} is withdrawn, expected a current standard")
        try:
            programme(row.get("programme"))
        except InvalidValueError as b:
            bad("programme", b.message)
    return errors


def check_references(db, kind, row):
    """Raise ValidationError for the first unknown district, industry, tier,
    enterprise, product, body or standard that ``row`` refers to."""
    errors = reference_errors(db, kind, row)
    if errors:
        raise errors[0]


def duplicate_keys(kind, row):
    """The identifying numbers of a normalised row: ``[(field, key), ...]``.

    Two rows with an equal key are duplicates (within an import, and against
    the database): USCC, body code, standard code, GTIN (compared as GTIN-14
    so that 6901234567892 and 06901234567892 collide), certificate number, and
    for a new certificate the (product, body, programme) it certifies.
    """
    kind = kind_of(kind)
    if kind in ("body", "standard"):
        return [("code", row.get("code"))] if row.get("code") else []
    if kind == "enterprise":
        return [("uscc", row.get("uscc"))] if row.get("uscc") else []
    if kind == "product":
        return [("gtin", gtin_key(row["gtin"]))] if row.get("gtin") else []
    if kind == "certificate":
        keys = [("cert_no", row["cert_no"])] if row.get("cert_no") else []
        if row.get("product") is not None and row.get("body"):
            keys.append(("product", (row["product"], row["body"], row.get("programme"))))
        return keys
    return []


def duplicate_errors(db, kind, row):
    """DuplicateErrors for identifying numbers of ``row`` already in ``db``."""
    kind = kind_of(kind)
    name = record_name(kind, row)
    errors = []
    for field, key in duplicate_keys(kind, row):
        if kind == "body" and _exists(db, "select 1 from bodies where code = ?", [key]):
            errors.append(DuplicateError(f"body code {key} is already registered",
                                         record=name, field=field))
        elif kind == "standard" and _exists(db, "select 1 from standards where code = ?", [key]):
            errors.append(DuplicateError(f"standard {key} is already registered",
                                         record=name, field=field))
        elif kind == "enterprise" and _exists(db, "select 1 from enterprises where uscc = ?", [key]):
            errors.append(DuplicateError(f"USCC {key} is already registered",
                                         record=name, field=field))
        elif kind == "product":
            found = db.execute(
                "select id, name_zh from products where ltrim(gtin, '0') = ?",
                [key.lstrip("0")]).fetchone()
            if found:
                errors.append(DuplicateError(
                    f"GTIN {row['gtin']} is already registered for product {found[0]} "
                    f"({found[1]})", record=name, field=field))
        elif kind == "certificate" and field == "cert_no":
            if _exists(db, "select 1 from certificates where cert_no = ?", [key]):
                errors.append(DuplicateError(f"certificate number {key} is already registered",
                                             record=name, field=field))
        elif kind == "certificate":
            product, body, prog = key
            found = db.execute(
                "select cert_no, status from certificates where product = ? and body = ? "
                "and programme = ? and status in ('valid', 'suspended')",
                [product, body, prog]).fetchone()
            if found:
                errors.append(DuplicateError(
                    f"product {product} already holds certificate {found[0]} ({found[1]}) "
                    f"from {body} for {prog}; expected no live certificate (renew or change "
                    "the scope of the existing one instead)", record=name, field=field))
    return errors


def check_duplicates(db, kind, row):
    """Raise DuplicateError if an identifying number of ``row`` is taken."""
    errors = duplicate_errors(db, kind, row)
    if errors:
        raise errors[0]
