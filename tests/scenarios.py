"""Generated registries for differential tests: key life cycles against certificate histories.

:func:`build` makes a real registry through ``registry.operations`` (keys
generated at run time, every record signed as an operator's would be), with
a timeline from a seed, in date order:

* three bodies: CQC's first key is retired after a rollover; TUVSUD's first
  key has a ``valid_to`` and a successor endorsed before it ends; SGS's first
  key is reported compromised after its successor is endorsed, and only some
  of its live certificates are re-signed (rekeyed) afterwards;
* certificates issued before and after each of those dates, with every
  status (suspended, reinstated, revoked, withdrawn, expired — by event —
  and valid past its expiry date without an expiry event), renewals and
  scope changes;
* :func:`forged_marks` signs marks with the registry's own keys that the
  rules must refuse: a retired key after its retirement, a compromised key
  (even dated before the compromise), a key past its ``valid_to``, a key of
  another body, the log key, and one-byte mutations of genuine marks.
"""

from __future__ import annotations

import datetime
import random

from stdnum.cn import uscc as stdnum_uscc

from registry.core import keys, payload
from registry.store.operations import Registry

PASSPHRASE = b"scenario-test-passphrase"
INIT = "2021-01-01"
FINAL = "2025-06-01"          # the registry's and the verifiers' today
BODIES = (("CQC", "中国质量认证中心", "China Quality Certification Centre"),
          ("TUVSUD", "南德认证检测（中国）有限公司", "TUV SUD China"),
          ("SGS", "通标标准技术服务有限公司", "SGS-CSTC"))
GENERAL = "DB3205/T 1001-2021"
EVALUATION = {"innovation": 88, "quality": 91, "service": 85, "reputation": 90, "recognition": 86}
# Key milestones (date, action): the same in every scenario; certificate
# activity around them comes from the seed.
CQC_ROLLOVER, CQC_RETIRED = "2023-03-01", "2023-03-15"
TUV_K1_END, TUV_K2_FROM = "2024-06-30", "2024-01-01"
SGS_K2_FROM, SGS_COMPROMISED = "2024-09-01", "2024-09-02"


def make_uscc(n: int) -> str:
    head = f"91320594MA{n:07d}"
    return head + stdnum_uscc.calc_check_digit(head)


def _days(start: str, end: str):
    day = datetime.date.fromisoformat(start)
    last = datetime.date.fromisoformat(end)
    while day <= last:
        yield day.isoformat()
        day += datetime.timedelta(days=1)


def build(db_path, keys_dir, seed: int, *, certificates: int = 24) -> dict:
    """The scenario registry of ``seed``; returns what the tests need to know."""
    rng = random.Random(f"szzz-scenario:{seed}")
    reg = Registry.init(db_path, keys_dir, PASSPHRASE, date=INIT)
    reg.today_override = FINAL
    key_ids = {}
    try:
        for code, zh, en in BODIES:
            reg.add_body({"code": code, "name_zh": zh, "name_en": en,
                          "approval_no": f"CNCA-R-2002-{code}", "joined": INIT})
        key_ids["cqc1"] = reg.generate_key("body", body="CQC")
        reg.endorse_key(key_ids["cqc1"], date=INIT)
        key_ids["tuv1"] = reg.generate_key("body", body="TUVSUD", valid_to=TUV_K1_END)
        reg.endorse_key(key_ids["tuv1"], date=INIT)
        key_ids["sgs1"] = reg.generate_key("body", body="SGS")
        reg.endorse_key(key_ids["sgs1"], date=INIT)
        reg.add_standard({"code": GENERAL, "title_zh": "“苏州制造”品牌认证通用要求", "kind": "local"})
        products = []
        for i in range(certificates):
            uscc = make_uscc(seed * 1000 + i)
            reg.add_enterprise({"uscc": uscc, "name_zh": f"苏州场景测试企业{i}有限公司",
                                "district": "吴中区", "industry": "C3562"})
            products.append(reg.add_product({"enterprise": uscc, "name_zh": f"场景产品{i}",
                                             "models": [f"SC-{i}"]}))
        milestones = {
            CQC_ROLLOVER: lambda day: _rollover(reg, key_ids, "cqc2", "CQC", day),
            CQC_RETIRED: lambda day: reg.retire_key(key_ids["cqc1"], date=day, reason="rollover"),
            "2024-01-10": lambda day: _rollover(reg, key_ids, "tuv2", "TUVSUD", day, TUV_K2_FROM),
            SGS_K2_FROM: lambda day: _rollover(reg, key_ids, "sgs2", "SGS", day),
            SGS_COMPROMISED: lambda day: key_ids.setdefault(
                "sgs1-live", reg.compromise_key(key_ids["sgs1"], date=day, reason="key leaked")),
        }
        issued, plans = [], {}
        issue_days = sorted(rng.sample(list(_days("2021-02-01", "2025-05-20")), certificates))
        for day in _days("2021-02-01", "2025-05-31"):
            if day in milestones:
                milestones[day](day)
            if issue_days and issue_days[0] == day:
                issue_days.pop(0)
                body = rng.choice([b[0] for b in BODIES])
                expires = (datetime.date.fromisoformat(day) + datetime.timedelta(
                    days=rng.choice([400, 800, 1095]))).isoformat()
                no = reg.issue(product=products[len(issued)], body=body, standards=[GENERAL],
                               scope="场景测试产品的设计和制造", issued=day, expires=expires,
                               evaluation=EVALUATION)
                issued.append(no)
                plans[no] = _plan(rng, day)
            for no in issued:
                for act in [a for a in plans[no] if a[0] == day]:
                    _act(reg, no, act[1], day)
            if day > SGS_COMPROMISED:
                # Some of the compromised key's certificates are re-signed, some not.
                for no in list(key_ids.get("sgs1-live", [])):
                    if rng.random() < 0.02:
                        key_ids["sgs1-live"].remove(no)
                        if _status(reg, no) not in ("revoked", "withdrawn"):
                            reg.rekey(no, date=day)
            if day.endswith("-01"):
                reg.expire_due(day)
        # A last event near FINAL keeps published statuses fresh on FINAL.
        live = [no for no in issued if _status(reg, no) == "valid"]
        reg.record_surveillance(live[0], True, date="2025-05-31")
    finally:
        reg.close()
    return {"db": db_path, "keys": keys_dir, "key_ids": key_ids, "cert_nos": issued}


def _rollover(reg, key_ids, name, body, day, valid_from=None):
    key_ids[name] = reg.generate_key("body", body=body, valid_from=valid_from or day)
    reg.endorse_key(key_ids[name], date=day)


def _plan(rng, day):
    """Later acts of one certificate: (date, act), dates after ``day``."""
    start = datetime.date.fromisoformat(day)
    out = []
    for _ in range(rng.randrange(0, 4)):
        when = start + datetime.timedelta(days=rng.randrange(10, 1200))
        out.append((when.isoformat(), rng.choice(
            ["suspend", "reinstate", "revoke", "withdraw", "renew", "scope", "surveil", "fail"])))
    return sorted(out)


def _status(reg, no):
    return reg.db.execute("select status from certificates where cert_no = ?", [no]).fetchone()[0]


def _act(reg, no, act, day):
    """One act if the lifecycle allows it now (a plan made at issue cannot know)."""
    status = _status(reg, no)
    try:
        if act == "suspend" and status == "valid":
            reg.suspend(no, "监督抽查不合格", date=day)
        elif act == "reinstate" and status == "suspended":
            reg.reinstate(no, "整改完成", date=day)
        elif act == "revoke" and status in ("valid", "suspended"):
            reg.revoke(no, "伪造检测报告", date=day, notice="市场监管局通报")
        elif act == "withdraw" and status in ("valid", "suspended", "expired"):
            reg.withdraw(no, "企业申请注销", date=day)
        elif act == "renew" and status in ("valid", "expired"):
            new = (datetime.date.fromisoformat(day) + datetime.timedelta(days=1095)).isoformat()
            reg.renew(no, new, date=day)
        elif act == "scope" and status in ("valid", "suspended"):
            reg.change_scope(no, f"场景测试产品的设计、制造和服务（{day}）", "增加服务", date=day)
        elif act == "surveil" and status == "valid":
            reg.record_surveillance(no, True, date=day)
        elif act == "fail" and status in ("valid", "suspended"):
            reg.record_surveillance(no, False, date=day)
    except Exception as e:
        if "no active key" not in str(e):
            raise


def genuine_marks(db) -> list:
    """``(cert_no, revision, payload text)`` of every signed revision's mark, superseded ones included."""
    return db.execute("select cert_no, revision, mark_payload from certificate_revisions "
                      "where mark_payload is not null order by cert_no, revision").fetchall()


def forged_marks(db, keys_dir, key_ids, rng) -> list:
    """Marks signed with the registry's own keys that no verifier may accept."""
    def signer(name):
        return keys.load(keys_dir, key_ids[name], PASSPHRASE)

    row = db.execute("select cert_no, digest, expires from certificates where body = 'CQC' "
                     "order by cert_no limit 1").fetchone()
    sgs = db.execute("select cert_no, digest, expires from certificates where body = 'SGS' "
                     "order by cert_no limit 1").fetchone()
    tuv = db.execute("select cert_no, digest, expires from certificates where body = 'TUVSUD' "
                     "order by cert_no limit 1").fetchone()
    log_key = db.execute("select key_id from keys where owner_type = 'log'").fetchone()[0]
    out = []

    def sign(s, cert, signed_on):
        if cert is None:
            return
        out.append(payload.sign(s, signed_on=signed_on, expires=cert[2], record_digest=cert[1],
                                cert_no=cert[0]).to_text())

    sign(signer("cqc1"), row, "2023-06-01")                 # retired 2023-03-15
    sign(signer("sgs1"), sgs, "2024-03-01")                 # compromised later: refused whatever the date
    sign(signer("tuv1"), tuv, "2024-08-01")                 # after valid_to 2024-06-30
    sign(signer("cqc2"), tuv, "2024-08-01")                 # another body's key
    sign(keys.load(keys_dir, log_key, PASSPHRASE), row, "2024-08-01")   # the log key
    for _cert_no, _rev, text in rng.sample(genuine_marks(db), 6):       # one byte changed
        data = bytearray(payload.digits_to_bytes(text))
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
        out.append(payload.bytes_to_digits(bytes(data)))
    return out


# Perturbations of a scanned mark URL (the browser/Python input class of the
# "one truth" issue): what phones, chat apps and copy-paste do to a URL.
PERTURBATIONS = (
    ("as printed", lambda u, g: u + g),
    ("trailing space", lambda u, g: u + g + " "),
    ("trailing CRLF", lambda u, g: u + g + "\r\n"),
    ("leading spaces", lambda u, g: "  " + u + g),
    ("tab inside", lambda u, g: u + g[:40] + "\t" + g[40:]),
    ("newline inside", lambda u, g: u + g[:40] + "\n" + g[40:]),
    ("space inside", lambda u, g: u + g[:40] + " " + g[40:]),
    ("percent-encoded first digit", lambda u, g: u + "%3" + g[0] + g[1:]),
    ("percent-encoded last digit", lambda u, g: u + g[:-1] + "%3" + g[-1]),
    ("trailing %20", lambda u, g: u + g + "%20"),
    ("U+00A0 after", lambda u, g: u + g + "\u00a0"),
    ("U+3000 before", lambda u, g: u + "\u3000" + g),
    ("U+FEFF before", lambda u, g: u + "\ufeff" + g),
    ("U+2028 after", lambda u, g: u + g + "\u2028"),
    ("U+200B inside", lambda u, g: u + g[:40] + "\u200b" + g[40:]),
    ("full-width digit", lambda u, g: u + g[:5] + chr(0xFF10 + int(g[5])) + g[6:]),
    ("double hash", lambda u, g: u + "#" + g),
    ("vertical tab inside", lambda u, g: u + g[:40] + "\x0b" + g[40:]),
    ("query before fragment", lambda u, g: u.replace("/v/#", "/v/?x=1#") + g),
    ("uppercase scheme", lambda u, g: u.replace("http", "HTTP", 1) + g),
)
