"""Certificate operations on a real SQLite registry: numbers, signatures,
lifecycle rules, key rollover and the integrity check publish relies on."""

import json

import pytest
from builders import GENERAL, issue, make_uscc

from registry.core import canonical, keys, payload
from registry.core.exceptions import (
    LifecycleError,
    NoSigningKeyError,
    NotFoundError,
    ValidationError,
)
from registry.store import queries
from registry.store.integrity import verify_registry


@pytest.fixture
def reg(make_registry):
    """Bodies CQC and TUVSUD, both standards, four products and no certificate yet."""
    built = make_registry(products=4)
    with built.open() as r:
        r.products = built.products
        yield r


def test_issue_signs_record_event_and_mark(reg):
    no = issue(reg, reg.products[0])
    assert no == "SZZZ-2022-CQC-00001"
    cert = queries.certificate(reg.db, no)
    assert cert["status"] == "valid" and cert["revision"] == 1
    body_key = next(k for k in queries.list_keys(reg.db) if k["key_id"] == cert["key_id"])
    public = canonical.unb64url(body_key["public_key"])
    record = keys.verify_envelope(cert["envelope"], canonical.CERTIFICATE, public)
    assert record["cert_no"] == no and record["standards"] == [GENERAL, "T/SZS 001-2021"]
    event = cert["history"][0]
    assert event["type"] == "issued" and event["date"] == "2022-03-01"
    ev = keys.verify_envelope(event["envelope"], canonical.EVENT, public)
    assert ev["record_digest"] == cert["digest"] and ev["prev"] is None
    mark = payload.parse_text(cert["mark_payload"])
    assert mark.verify_signature(public) and mark.cert_no == no
    assert mark.record_digest == cert["digest"][:32]
    assert verify_registry(reg.db) == []


def test_numbers_count_per_programme_year_body(reg):
    a = issue(reg, reg.products[0])
    b = issue(reg, reg.products[1])
    c = issue(reg, reg.products[2], body="TUVSUD", issued="2023-01-05", expires="2026-01-04")
    d = issue(reg, reg.products[3], programme="SZSC")
    assert [a, b, c, d] == ["SZZZ-2022-CQC-00001", "SZZZ-2022-CQC-00002",
                            "SZZZ-2023-TUVSUD-00001", "SZSC-2022-CQC-00001"]


def test_full_history_replays_to_cached_status(reg):
    no = issue(reg, reg.products[0])
    reg.record_surveillance(no, True, date="2023-03-01")
    reg.record_surveillance(no, False, date="2023-09-01", reason="抽样检验不合格")
    reg.reinstate(no, "整改完成", date="2023-10-01")
    reg.change_scope(no, "数控机床及附件的设计和制造", "扩项", date="2024-01-10")
    assert reg.expire_due() == [no]
    reg.renew(no, "2028-02-28", date="2025-04-01")
    reg.revoke(no, "冒用认证标志", date="2025-05-01", notice="撤销公告")
    cert = queries.certificate(reg.db, no)
    assert [h["type"] for h in cert["history"]] == [
        "issued", "surveillance_passed", "surveillance_failed", "reinstated",
        "scope_changed", "expired", "renewed", "revoked"]
    assert cert["history"][5]["date"] == "2025-03-01"  # the day after 2025-02-28
    assert cert["status"] == "revoked" and cert["revision"] == 3
    assert cert["expires"] == "2028-02-28" and cert["scope"] == "数控机床及附件的设计和制造"
    assert [r["reason"] for r in cert["revisions"]] == ["issued", "scope_changed", "renewed"]
    assert verify_registry(reg.db) == []


def test_reinstating_a_revoked_certificate_fails_clearly(reg):
    no = issue(reg, reg.products[0])
    reg.revoke(no, "冒用认证标志", date="2023-01-01")
    with pytest.raises(LifecycleError, match=rf"certificate {no} is revoked: cannot apply "
                                              r"reinstated \(revoked is final\)"):
        reg.reinstate(no, "申诉")
    assert [h["type"] for h in queries.history(reg.db, no)] == ["issued", "revoked"]


def test_expired_certificate_can_only_be_renewed(reg):
    no = issue(reg, reg.products[0])
    reg.expire_due()
    for act in (lambda: reg.suspend(no, "x"), lambda: reg.reinstate(no, "x"),
                lambda: reg.revoke(no, "x"), lambda: reg.record_surveillance(no, True),
                lambda: reg.change_scope(no, "新范围", "x")):
        with pytest.raises((LifecycleError, ValidationError)):
            act()
    reg.renew(no, "2028-02-28")
    assert queries.certificate(reg.db, no)["status"] == "valid"


def test_future_and_out_of_order_dates_are_refused(reg):
    no = issue(reg, reg.products[0])
    with pytest.raises(ValidationError, match="in the future"):
        reg.suspend(no, "x", date="2030-01-01")
    reg.suspend(no, "x", date="2024-01-01")
    with pytest.raises(ValidationError, match="before the certificate's previous event"):
        reg.reinstate(no, "y", date="2023-12-31")


def test_failed_operation_writes_nothing(reg):
    no = issue(reg, reg.products[0])
    before = queries.counts(reg.db)
    with pytest.raises(ValidationError, match="reason is empty"):
        reg.revoke(no, "  ")
    with pytest.raises(NotFoundError):
        reg.revoke("SZZZ-2022-CQC-09999", "x")
    with pytest.raises(ValidationError, match="product 999 is not in the registry"):
        issue(reg, 999)
    assert queries.counts(reg.db) == before


def test_key_rollover_retire_compromise_and_rekey(reg):
    no = issue(reg, reg.products[0], issued="2022-03-01", expires="2027-02-28")
    old = queries.certificate(reg.db, no)["key_id"]
    new = reg.generate_key("body", body="CQC", valid_from="2024-01-01")
    with pytest.raises(LifecycleError):
        reg.rekey(no)  # the new key is not endorsed yet: old key is still the current one
    reg.endorse_key(new, date="2024-01-01")
    assert reg.compromise_key(old, date="2024-02-01", reason="密钥泄露") == [no]
    reg.rekey(no, date="2024-02-02")
    cert = queries.certificate(reg.db, no)
    assert cert["key_id"] == new and cert["revision"] == 2
    assert cert["history"][-1]["type"] == "rekeyed"
    trust_list = json.loads(queries.trust_list(reg.db)["payload"])
    statuses = {k["key_id"]: k["status"] for k in trust_list["keys"]}
    assert statuses[old] == "compromised" and statuses[new] == "active"
    reg.retire_key(new, date="2024-03-01", reason="换钥")
    with pytest.raises(NoSigningKeyError, match="body CQC has no active key"):
        reg.suspend(no, "x", date="2024-03-02")
    assert verify_registry(reg.db) == []


def test_verify_registry_catches_tampering(reg):
    no = issue(reg, reg.products[0])
    reg.suspend(no, "监督抽查不合格", date="2023-01-01")
    # A cached status edited behind the registry's back, and a record edited
    # by one Chinese character: both must be reported.
    reg.db.execute("update certificates set status = 'valid' where cert_no = ?", [no])
    problems = verify_registry(reg.db)
    assert any("cached status valid since" in p and "its signed events give suspended" in p for p in problems)
    reg.db.execute("update certificates set status = 'suspended' where cert_no = ?", [no])
    reg.db.execute("drop trigger revisions_no_update")
    reg.db.execute("update certificate_revisions set record = replace(record, '数控', '数空')")
    problems = verify_registry(reg.db)
    assert any("revision 1" in p and "does not verify" in p for p in problems)


def test_notices_and_applications(reg):
    no = issue(reg, reg.products[0])
    nid = reg.publish_notice("counterfeit_alert", "假冒认证标志警示", "市场上发现假冒标志。",
                             title_en="Counterfeit mark alert", cert_no=no)
    assert queries.list_notices(reg.db)[0]["id"] == nid
    app = reg.add_application(make_uscc(99), "新型数控机床")
    with pytest.raises(LifecycleError, match="cannot move to 'approved'"):
        reg.decide_application(app, "approved")
    reg.decide_application(app, "under_evaluation")
    reg.decide_application(app, "approved")
    assert queries.list_applications(reg.db)[0]["status"] == "approved"
    assert verify_registry(reg.db) == []
