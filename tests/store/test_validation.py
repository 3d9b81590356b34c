"""One named test per validation rule (registry/validation.py).

Each test feeds what an operator really gets wrong and asserts the message
names the record, the field, what was observed and what was expected.
Database checks run on a real registry file made by ``schema.connect``.
"""

import datetime

import pytest
from stdnum import ean as stdnum_ean
from stdnum.cn import uscc as stdnum_uscc

from registry.core import industries
from registry.core.exceptions import DuplicateError, InvalidValueError, ValidationError
from registry.store import schema, validation

TODAY = "2025-06-30"


def make_uscc(seed=1, region="320505"):
    """A valid USCC (check character computed by python-stdnum)."""
    body = f"91{region}MA{seed:07d}"[:17]
    body = body.replace("I", "1").replace("O", "0")
    return body + stdnum_uscc.calc_check_digit(body)


def make_gtin(stem="690123456789"):
    return stem + stdnum_ean.calc_check_digit(stem)


def enterprise(**changes):
    row = {"uscc": make_uscc(), "name_zh": "苏州精工科技有限公司", "name_en": "Suzhou Precision Co., Ltd.",
           "district": "吴中区", "industry": "C3562", "tier": "专精特新小巨人",
           "website": "https://www.example.cn"}
    row.update(changes)
    return row


def certificate(**changes):
    row = {"product": 1, "body": "CQC", "standards": ["DB3205/T 1001-2021", "T/SZS 001-2021"],
           "scope": "数控机床的设计和生产", "issued": "2024-03-01", "expires": "2027-02-28",
           "evaluation": {"innovation": 88, "quality": 91, "service": 85, "reputation": 90,
                          "recognition": 86}}
    row.update(changes)
    return row


def fails(func, row, *args):
    with pytest.raises(ValidationError) as info:
        func(row, *args)
    return info.value


# --------------------------------------------------------------------------- #
# Normalisation
# --------------------------------------------------------------------------- #
def test_valid_enterprise_is_normalised():
    out = validation.validate_enterprise(enterprise(
        uscc=" " + make_uscc().lower() + " ", name_zh="\u3000苏州精工科技有限公司 ",
        district="苏州高新区", industry="3562", tier="专精特新“小巨人”企业", website=""))
    assert out == {"uscc": make_uscc(), "name_zh": "苏州精工科技有限公司",
                   "name_en": "Suzhou Precision Co., Ltd.", "district": "虎丘区",
                   "industry": "C3562", "tier": "专精特新小巨人", "website": None}


def test_text_is_nfc_normalised_before_storing():
    # Decomposed é and a CJK compatibility ideograph (U+F9B5) as some input
    # methods produce them: NFC gives the composed é and the unified 例 (U+4F8B).
    out = validation.validate_enterprise(enterprise(name_zh="苏州\uF9B5子公司", name_en="Cafe\u0301 Ltd"))
    assert out["name_zh"] == "苏州\u4F8B子公司"
    assert out["name_en"] == "Caf\u00e9 Ltd"


def test_district_aliases_and_english_names():
    assert validation.validate_enterprise(enterprise(district="园区"))["district"] == "苏州工业园区"
    assert validation.validate_enterprise(enterprise(district="Kunshan"))["district"] == "昆山市"


# --------------------------------------------------------------------------- #
# Identifiers
# --------------------------------------------------------------------------- #
def test_uscc_check_character():
    good = make_uscc()
    wrong = "0" if good[-1] != "0" else "1"
    e = fails(validation.validate_enterprise, enterprise(uscc=good[:17] + wrong))
    assert e.field == "uscc" and e.record == f"enterprise {good[:17] + wrong}"
    assert str(e) == (f"enterprise {good[:17] + wrong}, field uscc: USCC {good[:17] + wrong} has "
                      f"check character {wrong}, expected {good[-1]} (mistyped or copied wrongly?)")


def test_uscc_length_and_format():
    e = fails(validation.validate_enterprise, enterprise(uscc="9132050512345"))
    assert e.message == "USCC '9132050512345' has 13 characters, expected 18"
    e = fails(validation.validate_enterprise, enterprise(uscc="91320505MA1XXXXXOX"))  # letter O
    assert e.field == "uscc" and "is malformed" in e.message and "I, O, S, V, Z" in e.message


def test_uscc_registered_outside_suzhou_is_accepted():
    # The code is fixed for an entity's life; a company that moved to Suzhou keeps it.
    code = make_uscc(region="110108")
    assert validation.validate_enterprise(enterprise(uscc=code))["uscc"] == code


@pytest.mark.parametrize("stem", ["9638507", "03600029145", "690123456789", "0690123456789"])
def test_gtin_8_12_13_14_accepted(stem):
    code = make_gtin(stem)
    out = validation.validate_product({"enterprise": make_uscc(), "name_zh": "机床", "gtin": code})
    assert out["gtin"] == code


def test_gtin_check_digit():
    good = make_gtin()
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    e = fails(validation.validate_product, {"enterprise": make_uscc(), "name_zh": "机床", "gtin": bad})
    assert e.field == "gtin"
    assert e.message == f"GTIN {bad} has check digit {bad[-1]}, expected {good[-1]}"


def test_gtin_length_and_zeros():
    e = fails(validation.validate_product, {"enterprise": make_uscc(), "name_zh": "机床", "gtin": "12345678901"})
    assert e.message == "GTIN 12345678901 has 11 digits, expected 8, 12, 13 or 14"
    e = fails(validation.validate_product, {"enterprise": make_uscc(), "name_zh": "机床", "gtin": "00000000"})
    assert e.message == "GTIN is all zeros, expected a real GTIN"


def test_body_code():
    row = {"code": "cqc", "name_zh": "中国质量认证中心", "name_en": "CQC", "approval_no": "CNCA-R-2002-001",
           "joined": "2021-01-01"}
    assert validation.validate_body(row)["code"] == "CQC"
    assert validation.validate_body(row)["status"] == "active"
    e = fails(validation.validate_body, dict(row, code="TÜV-SÜD"))
    assert e.field == "code" and "expected 2–8 capital letters or digits" in e.message
    e = fails(validation.validate_body, dict(row, code="ABCDEFGHI"))
    assert e.field == "code"


def test_standard_code():
    row = {"code": "T/SZS  001-2021", "title_zh": "数控机床", "kind": "group"}
    assert validation.validate_standard(row)["code"] == "T/SZS 001-2021"
    e = fails(validation.validate_standard, dict(row, code="T／SZS 001-2021"))  # full-width slash
    assert e.field == "code" and "half-width" in e.message
    e = fails(validation.validate_standard, dict(row, kind="company"))
    assert e.field == "kind" and "expected one of general, group" in e.message


def test_certificate_number_must_match_programme_year_body():
    e = fails(validation.validate_certificate, certificate(cert_no="SZZZ-2023-CQC-00001"), TODAY)
    assert e.field == "cert_no" and e.message.endswith("expected SZZZ-2024-CQC-NNNNN")
    ok = validation.validate_certificate(certificate(cert_no="SZZZ-2024-CQC-00001"), TODAY)
    assert ok["cert_no"] == "SZZZ-2024-CQC-00001"


# --------------------------------------------------------------------------- #
# Dates
# --------------------------------------------------------------------------- #
def test_dates_iso_only():
    e = fails(validation.validate_certificate, certificate(issued="2024/03/01"), TODAY)
    assert (e.field, e.message) == ("issued", "date '2024/03/01' is not in the form YYYY-MM-DD")
    e = fails(validation.validate_certificate, certificate(expires="2027-02-29"), TODAY)
    assert (e.field, e.message) == ("expires", "date 2027-02-29 does not exist in the calendar")


def test_expiry_strictly_after_issue():
    with pytest.raises(ValidationError) as info:
        validation.check_dates("2024-03-01", "2024-03-01", TODAY, record="certificate X")
    assert str(info.value) == ("certificate X, field expires: expiry date 2024-03-01 is not after "
                               "the issue date 2024-03-01, expected a later date")


def test_no_issue_date_in_the_future():
    e = fails(validation.validate_certificate, certificate(issued="2025-07-01", expires="2028-06-30"), TODAY)
    assert e.field == "issued"
    assert e.message == ("issue date is in the future: observed 2025-07-01, expected on or before "
                         "today (2025-06-30, Suzhou time)")


def test_validity_longer_than_ten_years_is_a_typo():
    e = fails(validation.validate_certificate, certificate(expires="2207-02-28"), TODAY)
    assert e.field == "expires" and "more than 10 years" in e.message


def test_issue_date_defaults_to_today():
    out = validation.validate_certificate(certificate(issued=None), datetime.date(2025, 6, 30))
    assert out["issued"] == TODAY


# --------------------------------------------------------------------------- #
# Reference values
# --------------------------------------------------------------------------- #
def test_unknown_district():
    e = fails(validation.validate_enterprise, enterprise(district="上海市"))
    assert e.field == "district"
    assert e.message.startswith("district '上海市' is not one of Suzhou's ten areas, expected one of 姑苏区")


@pytest.mark.parametrize(("code", "message"), [
    ("F5123", "industry code F5123 is in section F (批发和零售业), expected a manufacturing code"),
    ("C12", "industry code C12: division 12 is not in section C (制造业, divisions 13–43)"),
    ("C3", "industry code 'C3' is malformed"),
    ("X3562", "industry code 'X3562' is malformed"),
])
def test_industry_gbt4754_manufacturing(code, message):
    e = fails(validation.validate_enterprise, enterprise(industry=code))
    assert e.field == "industry" and e.message.startswith(message)


def test_industry_division_table_is_section_c():
    assert list(industries.MANUFACTURING_DIVISIONS) == [str(d) for d in range(13, 44)]
    assert industries.division_name("C3562") == ("专用设备制造业", "Manufacture of special-purpose machinery")


def test_cultivation_tier():
    e = fails(validation.validate_enterprise, enterprise(tier="高新技术企业"))
    assert e.field == "tier" and e.message.startswith("cultivation tier '高新技术企业' is unknown")
    assert validation.validate_enterprise(enterprise(tier="Unicorn enterprise"))["tier"] == "独角兽"


def test_programme():
    assert validation.validate_certificate(certificate(programme="苏绣"), TODAY)["programme"] == "SUXIU"
    assert validation.validate_certificate(certificate(), TODAY)["programme"] == "SZZZ"
    e = fails(validation.validate_certificate, certificate(programme="ISO9001"), TODAY)
    assert e.field == "programme" and "expected one of SZZZ (苏州制造)" in e.message


def test_evaluation_five_dimensions():
    row = certificate()
    del row["evaluation"]["service"]
    e = fails(validation.validate_certificate, row, TODAY)
    assert e.field == "evaluation.service" and "lacks dimension(s) service (服务优质)" in e.message
    row = certificate()
    row["evaluation"]["price"] = 50
    e = fails(validation.validate_certificate, row, TODAY)
    assert e.field == "evaluation" and "unknown dimension(s) price" in e.message


@pytest.mark.parametrize("score", [101, -1, 88.5, True, "high"])
def test_evaluation_scores_are_integers_0_to_100(score):
    row = certificate()
    row["evaluation"]["quality"] = score
    e = fails(validation.validate_certificate, row, TODAY)
    assert e.field == "evaluation.quality"
    assert e.message == f"quality (品质高端) score is {score!r}, expected an integer from 0 to 100"


def test_website_must_be_http_url():
    for bad in ("www.example.cn", "ftp://example.cn", "javascript:alert(1)", "https://"):
        e = fails(validation.validate_enterprise, enterprise(website=bad))
        assert e.field == "website" and "is not an http(s) URL" in e.message


def test_text_length_limit_and_control_characters():
    e = fails(validation.validate_enterprise, enterprise(name_zh="苏" * 201))
    assert (e.field, e.message) == ("name_zh", "observed 201 characters, expected at most 200")
    e = fails(validation.validate_enterprise, enterprise(name_zh="苏州\u202e司公限有"))  # bidi override
    assert e.message == "control or invisible character U+202E at position 3; expected printable text"
    e = fails(validation.validate_enterprise, enterprise(name_zh="苏州\x07"))
    assert "U+0007" in e.message
    # Multi-line fields keep line feeds (scope texts have several lines).
    assert validation.validate_certificate(certificate(scope="一\r\n二"), TODAY)["scope"] == "一\n二"


def test_required_and_unknown_fields():
    row = enterprise(name_zh="  ")
    row["fax"] = "0512"
    _out, errors = validation.validate_record("enterprise", row)
    assert [(e.field, e.message) for e in errors] == [
        ("fax", ("unknown field 'fax', expected one of uscc, name_zh, name_en, district, "
                "industry, tier, website")),
        ("name_zh", "name_zh is empty, expected a value")]


def test_contact_phone_and_email():
    ok = validation.validate_contact({"uscc": make_uscc(), "phone": "0512-68688888转123",
                                      "email": "li@example.cn"})
    assert ok["phone"] == "0512-68688888转123"
    e = fails(validation.validate_contact, {"uscc": make_uscc(), "email": "li.example.cn"})
    assert e.field == "email"
    e = fails(validation.validate_contact, {"uscc": make_uscc(), "phone": "call me"})
    assert e.field == "phone"


def test_product_models_list_and_image_path():
    out = validation.validate_product({"enterprise": make_uscc(), "name_zh": "机床",
                                       "models": "SZ-100；SZ-200、SZ-300", "image": "img/p1.png"})
    assert out["models"] == ["SZ-100", "SZ-200", "SZ-300"]
    e = fails(validation.validate_product, {"enterprise": make_uscc(), "name_zh": "机床",
                                            "models": ["A", "A"]})
    assert (e.field, e.message) == ("models", "model 'A' is listed twice")
    e = fails(validation.validate_product, {"enterprise": make_uscc(), "name_zh": "机床",
                                            "image": "../../etc/passwd.png"})
    assert e.field == "image"


# --------------------------------------------------------------------------- #
# Against a real registry database
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def db(tmp_path_factory):
    db = schema.connect(tmp_path_factory.mktemp("v") / "registry.db", create=True)
    with schema.write_transaction(db):
        db["bodies"].insert({"code": "CQC", "name_zh": "中国质量认证中心", "name_en": "CQC",
                             "approval_no": "CNCA-R-2002-001", "joined": "2021-01-01", "status": "active"})
        db["bodies"].insert({"code": "OLD", "name_zh": "旧机构", "name_en": "Old",
                             "approval_no": "X", "joined": "2021-01-01", "status": "suspended"})
        db["standards"].insert({"code": "DB3205/T 1001-2021", "title_zh": "通用要求", "kind": "general",
                                "status": "current"})
        db["standards"].insert({"code": "T/SZS 001-2021", "title_zh": "数控机床", "kind": "group",
                                "status": "current"})
        db["standards"].insert({"code": "T/SZS 009-2019", "title_zh": "旧标准", "kind": "group",
                                "status": "withdrawn"})
        db["enterprises"].insert(validation.validate_enterprise(enterprise()))
        db["products"].insert(validation.validate_product(
            {"enterprise": make_uscc(), "name_zh": "数控机床", "gtin": make_gtin()}))
    return db


def test_unknown_body_standard_product(db):
    row = validation.validate_certificate(certificate(product=99, body="SGS",
                                                      standards=["T/SZS 002-2021"]), TODAY)
    errors = validation.reference_errors(db, "certificate", row)
    assert [(e.field, e.message) for e in errors] == [
        ("product", "product 99 is not in the registry, expected a registered product id"),
        ("body", "certification body SGS is not in the registry, expected a registered body code"),
        ("standards", "standard T/SZS 002-2021 is not in the registry, expected a registered standard code"),
    ]
    with pytest.raises(ValidationError) as info:
        validation.check_references(db, "certificate", row)
    assert info.value.field == "product"


def test_suspended_body_and_withdrawn_standard(db):
    row = validation.validate_certificate(certificate(body="OLD", standards=["T/SZS 009-2019"]), TODAY)
    assert [e.message for e in validation.reference_errors(db, "certificate", row)] == [
        "certification body OLD is suspended, expected an active body",
        "standard T/SZS 009-2019 is withdrawn, expected a current standard"]
    ok = validation.validate_certificate(certificate(), TODAY)
    assert validation.reference_errors(db, "certificate", ok) == []


def test_unknown_enterprise_of_product(db):
    row = validation.validate_product({"enterprise": make_uscc(seed=2), "name_zh": "机床"})
    with pytest.raises(ValidationError) as info:
        validation.check_references(db, "products", row)
    assert info.value.field == "enterprise"
    assert info.value.message == f"enterprise {make_uscc(seed=2)} is not in the registry, expected a registered USCC"


def test_duplicate_numbers_against_the_db(db):
    with pytest.raises(DuplicateError) as info:
        validation.check_duplicates(db, "enterprise", validation.validate_enterprise(enterprise()))
    assert info.value.message == f"USCC {make_uscc()} is already registered"
    # The same GTIN written as GTIN-14 is the same number.
    row = validation.validate_product({"enterprise": make_uscc(), "name_zh": "另一产品",
                                       "gtin": "0" + make_gtin()})
    with pytest.raises(DuplicateError) as info:
        validation.check_duplicates(db, "product", row)
    assert info.value.field == "gtin" and "is already registered for product 1 (数控机床)" in info.value.message
    with pytest.raises(DuplicateError):
        validation.check_duplicates(db, "standard", {"code": "T/SZS 001-2021"})
    with pytest.raises(DuplicateError):
        validation.check_duplicates(db, "body", {"code": "CQC"})
    validation.check_duplicates(db, "enterprise", validation.validate_enterprise(enterprise(uscc=make_uscc(seed=3))))


def test_evaluation_nested_thousands_deep_is_not_an_object():
    """Issue 10: json.loads raised RecursionError (a traceback) on arrays nested 50,000 deep."""
    with pytest.raises(InvalidValueError, match="evaluation is not a JSON object"):
        validation.evaluation("[" * 50_000 + "]" * 50_000)
