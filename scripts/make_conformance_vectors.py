#!/usr/bin/env python3
"""Generate docs/vectors/mark-conformance.json: one vector file for both verifiers.

A small fixed registry — keys from documented seeds (``keys.signer_from_seed``),
fixed dates — is built directly with the real ``canonical``, ``payload`` and
``snapshot`` code (not through ``Registry``: its keys are random), published
with ``api.write_files``, and its published files are put INSIDE the
vector file, so the Python verifier (tests/verify/test_conformance.py) and the
browser verifier (tests/site/) verify the same bytes and must give the
same verdicts. Running this script twice gives identical bytes; a test
regenerates the file and compares.

Usage: python scripts/make_conformance_vectors.py [--out docs/vectors/mark-conformance.json]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import base64
import datetime

from registry.core import canonical, clock, keys, payload, records, rules
from registry.core.exceptions import PayloadError
from registry.log import checkpoint, merkle, note, tiles
from registry.publish import api
from registry.store import history, trust

TODAY = "2025-06-15"
AS_OF = "2025-06-10T15:59:59Z"
STALE_AS_OF = "2025-05-01T15:59:59Z"
FUTURE_AS_OF = "2025-06-20T15:59:59Z"
# The log site's checkpoint is cosigned one day before TODAY (noon in Suzhou):
# fresh. Verifiers judge log freshness at noon CST of TODAY.
COSIGNED = datetime.datetime(2025, 6, 14, 12, 0, tzinfo=clock.CST)
MAX_AGE_DAYS = 7
SITE_URL = "https://szzz.example.cn"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'

SEEDS = {
    "root": b"szzz conformance root",
    "log": b"szzz conformance log",
    "timestamp": b"szzz conformance timestamp",  # only in the log site's trust list
    "cqc1": b"szzz conformance CQC key 1",        # retired 2024-06-30
    "cqc2": b"szzz conformance CQC key 2",        # active from 2024-06-01
    "tuv1": b"szzz conformance TUVSUD key 1",     # valid from 2023-01-01
    "tuv0": b"szzz conformance TUVSUD key 0",     # valid_to 2024-12-31
    "sgs1": b"szzz conformance SGS key 1",        # compromised 2025-01-10
    "sgs2": b"szzz conformance SGS key 2",        # active from 2025-01-10
    "stranger": b"szzz conformance unknown key",  # never in the trust list
}
K = {name: keys.signer_from_seed(seed) for name, seed in SEEDS.items()}

BODIES = {
    "CQC": ("中国质量认证中心", "China Quality Certification Centre"),
    "TUVSUD": ("南德认证检测（中国）有限公司", "TÜV SÜD Certification and Testing (China)"),
    "SGS": ("通标标准技术服务有限公司", "SGS-CSTC Standards Technical Services"),
}


def key_entry(name, role, body, valid_from, valid_to=None, status="active", status_date=None):
    signer = K[name]
    zh, en = BODIES.get(body, ("", "")) if body else ("苏州制造认证联盟", "Made in Suzhou certification alliance")
    return {
        "key_id": signer.key_id, "public_key": signer.public_b64, "role": role, "body": body,
        "body_name_zh": zh, "body_name_en": en, "valid_from": valid_from, "valid_to": valid_to,
        "status": status, "status_date": status_date or valid_from,
    }


def trust_list(with_timestamp=False):
    """The vectors' trust list; the log site's adds a timestamp key (version 4)."""
    record = {
        "scheme": "苏州制造", "version": 4 if with_timestamp else 3, "issued": "2025-01-10",
        "root_key_id": K["root"].key_id, "root_public_key": K["root"].public_b64,
        "keys": [
            key_entry("log", "log", None, "2021-01-01"),
            key_entry("cqc1", "body", "CQC", "2021-01-01", status="retired", status_date="2024-06-30"),
            key_entry("cqc2", "body", "CQC", "2024-06-01"),
            key_entry("tuv0", "body", "TUVSUD", "2021-01-01", valid_to="2024-12-31"),
            key_entry("tuv1", "body", "TUVSUD", "2023-01-01"),
            key_entry("sgs1", "body", "SGS", "2021-01-01", status="compromised", status_date="2025-01-10"),
            key_entry("sgs2", "body", "SGS", "2025-01-10"),
        ],
    }
    if with_timestamp:
        record["keys"].append(key_entry("timestamp", "timestamp", None, "2021-01-01"))
    # Log and timestamp keys carry their note verifier key (docs/published-files.md).
    names = checkpoint.names_for(SITE_URL)
    for entry in record["keys"]:
        vkey = trust.vkey(names, entry)
        if vkey is not None:
            entry["vkey"] = vkey
    record["keys"].sort(key=lambda e: e["key_id"])
    return canonical.make_envelope(canonical.TRUST_LIST, record, K["root"])


class MiniRegistry:
    """Certificates with signed revisions, events and mark payloads (fixed seeds)."""

    def __init__(self):
        self.seq = 0
        self.certs = {}
        self.marks = {}   # (cert_no, revision) -> payload text

    def _event(self, cert, etype, date, signer, status, reason=""):
        self.seq += 1
        prev = canonical.envelope_digest(cert.events[-1]) if cert.events else None
        current = cert.revisions[-1]
        record = {
            "seq": self.seq, "type": etype, "date": date, "actor": cert.body,
            "cert_no": cert.cert_no, "status": status,
            "revision": len(cert.revisions), "record_digest": canonical.envelope_digest(current),
            "prev": prev, "reason": reason, "notice": None, "subject": None, "details": {},
        }
        cert.events.append(canonical.make_envelope(canonical.EVENT, record, signer))
        if status != cert.status:  # status_date: when the status last changed (lifecycle.replay)
            cert.status, cert.status_date = status, date

    def _revision(self, cert, reason, signer, signed_on, expires, scope, issued, product_en):
        previous = canonical.envelope_digest(cert.revisions[-1]) if cert.revisions else None
        record = {
            "cert_no": cert.cert_no, "revision": len(cert.revisions) + 1, "previous": previous,
            "programme": cert.programme, "body": cert.body, "key_id": signer.key_id,
            "enterprise": {"uscc": "91320500MA1XXXXX0X", "name_zh": "苏州示例精密机械有限公司",
                           "name_en": "Suzhou Example Precision Machinery Co., Ltd.", "district": "吴中区"},
            "product": {"id": len(self.certs) + 1, "name_zh": "高精度数控机床",
                        "name_en": product_en, "models": ["SZ-100"], "gtin": None},
            "standards": ["DB3205/T 1001-2021"], "scope": scope,
            "issued": issued, "signed_on": signed_on, "expires": expires, "mark_authorised": True,
            "evaluation": {"innovation": 88, "quality": 91, "service": 85, "reputation": 90, "recognition": 86},
        }
        env = canonical.make_envelope(canonical.CERTIFICATE, record, signer)
        cert.revisions.append(env)
        cert.revision_reasons.append(reason)
        mark = payload.sign(signer, signed_on=signed_on, expires=expires,
                            record_digest=canonical.envelope_digest(env), cert_no=cert.cert_no)
        self.marks[(cert.cert_no, len(cert.revisions))] = mark.to_text()
        cert.summary = records.summary_of(record, BODIES)
        self._event(cert, reason, signed_on, signer, "valid" if reason in ("issued", "renewed") else cert.status)

    def issue(self, cert_no, signer, date, expires, product_en="High-precision CNC machine tool"):
        programme, _year, body, _serial = cert_no.split("-")
        cert = history.CertificateData(cert_no, None, None, body, programme)
        self.certs[cert_no] = cert
        self._revision(cert, "issued", signer, date, expires, "数控机床的设计和制造", date, product_en)
        return cert

    def revise(self, cert_no, reason, signer, date, expires=None, scope=None):
        cert = self.certs[cert_no]
        last = json.loads(cert.revisions[-1]["payload"])
        self._revision(cert, reason, signer, date, expires or last["expires"], scope or last["scope"],
                       last["issued"], last["product"]["name_en"])

    def event(self, cert_no, etype, signer, date, status, reason="监督检查"):
        self._event(self.certs[cert_no], etype, date, signer, status, reason)


def build():
    reg = MiniRegistry()
    reg.issue("SZZZ-2024-CQC-00001", K["cqc1"], "2024-03-01", "2027-02-28",
              product_en="CNC machine " + XSS)                       # valid, retired key, before retirement
    reg.issue("SZZZ-2024-CQC-00002", K["cqc1"], "2024-03-05", "2027-03-04")
    reg.revise("SZZZ-2024-CQC-00002", "rekeyed", K["cqc2"], "2024-07-01")   # superseded by a rekey
    reg.issue("SZZZ-2021-CQC-00003", K["cqc1"], "2021-05-01", "2024-04-30")
    reg.revise("SZZZ-2021-CQC-00003", "renewed", K["cqc1"], "2024-04-15", expires="2027-04-14")
    reg.issue("SZZZ-2024-CQC-00004", K["cqc2"], "2024-08-01", "2027-07-31")
    reg.event("SZZZ-2024-CQC-00004", "revoked", K["cqc2"], "2025-03-01", "revoked", "产品质量抽查不合格")
    reg.issue("SZZZ-2024-CQC-00005", K["cqc2"], "2024-08-02", "2027-08-01")
    reg.event("SZZZ-2024-CQC-00005", "suspended", K["cqc2"], "2025-04-01", "suspended")
    reg.issue("SZZZ-2024-CQC-00006", K["cqc2"], "2024-08-03", "2027-08-02")
    reg.event("SZZZ-2024-CQC-00006", "withdrawn", K["cqc2"], "2025-02-01", "withdrawn", "企业申请注销")
    reg.issue("SZZZ-2022-CQC-00007", K["cqc1"], "2022-01-10", "2025-01-09")
    reg.event("SZZZ-2022-CQC-00007", "expired", K["cqc2"], "2025-01-10", "expired", "到期")
    reg.issue("SZZZ-2022-CQC-00008", K["cqc1"], "2022-06-02", "2025-06-01")   # valid status, date passed
    reg.issue("SZZZ-2024-CQC-00009", K["cqc2"], "2024-09-01", "2027-08-31")   # stale status statement
    reg.issue("SZZZ-2024-CQC-00010", K["cqc2"], "2024-09-02", "2027-09-01")   # unreadable file
    reg.issue("SZZZ-2024-CQC-00011", K["cqc2"], "2024-09-03", "2027-09-02")   # tampered event
    reg.event("SZZZ-2024-CQC-00011", "surveillance_passed", K["cqc2"], "2025-03-03", "valid")
    reg.issue("SZZZ-2024-CQC-00012", K["cqc2"], "2024-09-04", "2027-09-03")   # future status statement
    reg.issue("SZSC-2024-CQC-00013", K["cqc2"], "2024-10-01", "2027-09-30")   # another programme
    reg.issue("SZZZ-2024-TUVSUD-00001", K["tuv1"], "2024-05-01", "2027-04-30")
    reg.issue("SZZZ-2024-SGS-00001", K["sgs1"], "2024-02-01", "2027-01-31")
    reg.revise("SZZZ-2024-SGS-00001", "rekeyed", K["sgs2"], "2025-01-11")     # after the compromise
    reg.issue("SZZZ-2024-CQC-00014", K["cqc1"], "2024-03-06", "2027-03-05")
    reg.revise("SZZZ-2024-CQC-00014", "rekeyed", K["cqc2"], "2024-07-02")   # file's reasons tampered
    reg.issue("SZZZ-2024-CQC-00015", K["cqc2"], "2024-09-05", "2027-09-04")
    reg.event("SZZZ-2024-CQC-00015", "surveillance_passed", K["tuv1"], "2025-03-04", "valid")  # wrong body
    reg.issue("SZZZ-2024-CQC-00016", K["cqc2"], "2024-09-06", "2027-09-05")   # statement rolled back
    reg.event("SZZZ-2024-CQC-00016", "revoked", K["cqc2"], "2025-03-05", "revoked", "产品质量抽查不合格")
    reg.issue("SZZZ-2024-CQC-00017", K["cqc2"], "2024-09-07", "2027-09-06")   # not in its bucket's statement
    certs = [reg.certs[no] for no in sorted(reg.certs)]
    return reg, certs


def log_size(certs):
    return max(json.loads(c.events[-1]["payload"])["seq"] for c in certs)


def published_files(trust, certs):
    with tempfile.TemporaryDirectory() as tmp:
        api.write_files(tmp, trust, certs, K["log"], as_of=AS_OF, last_seq=log_size(certs))
        files = {}
        for path in sorted(Path(tmp, "api").rglob("*.json")):
            files[str(path.relative_to(tmp))] = path.read_text(encoding="utf-8")
    return files


def restate(files, certs, cert, as_of, size, change=None):
    """Re-sign the status statement of ``cert``'s bucket with another as_of / log size,
    after ``change(members)`` if given (every certificate of the vectors has a
    bucket of its own: checked)."""
    bucket = rules.status_bucket(cert.cert_no)
    members = {c.cert_no: (c.status, c.status_date, c.last_seq) for c in certs
               if rules.status_bucket(c.cert_no) == bucket}
    assert list(members) == [cert.cert_no], f"bucket {bucket} is shared: {sorted(members)}"
    if change is not None:
        change(members)
    files[f"api/status/{bucket}.json"] = api.dumps(api.status_statement(bucket, members, K["log"], as_of, size))


def with_byte(text, index, value):
    data = bytearray(payload.digits_to_bytes(text))
    data[index] = value
    return payload.bytes_to_digits(bytes(data))


def forged(signer, cert_no, signed_on, expires, digest="ab" * 32):
    return payload.sign(signer, signed_on=signed_on, expires=expires, record_digest=digest,
                        cert_no=cert_no).to_text()


def vectors(reg, certs, files):
    m = reg.marks
    good = m[("SZZZ-2024-CQC-00001", 1)]
    n = len("SZZZ-2024-CQC-00001")
    raw = payload.digits_to_bytes(good)
    v = []

    def add(name, text, verdict, note):
        v.append({"name": name, "input": text, "expected_verdict": verdict, "note": note})

    add("valid-retired-key-before-retirement", good, "valid",
        "signed 2024-03-01 by CQC key 1, retired 2024-06-30: old signatures stay valid; "
        "the product name holds HTML that must render as text")
    add("valid-current-key", m[("SZZZ-2024-TUVSUD-00001", 1)],
        "valid", "TUVSUD key, valid from 2023-01-01")
    add("valid-other-programme", m[("SZSC-2024-CQC-00013", 1)], "valid", "苏州丝绸 programme certificate")
    add("valid-printed-before-renewal", m[("SZZZ-2021-CQC-00003", 1)], "valid",
        "revision 1 mark; revision 2 is a renewal: marks on shelves stay valid")
    add("valid-renewed-revision", m[("SZZZ-2021-CQC-00003", 2)], "valid", "the renewal's own mark")
    add("valid-after-rekey", m[("SZZZ-2024-CQC-00002", 2)], "valid", "the new mark after a rekey")
    add("valid-after-compromise-rekey", m[("SZZZ-2024-SGS-00001", 2)], "valid",
        "SGS certificate re-signed with key 2 after key 1 was compromised")
    # Single-field corruptions, made on the bytes and re-encoded (digits stay well-formed).
    add("corrupt-version", with_byte(good, 0, 2), "malformed", "byte 0 = 2: unknown payload version")
    add("corrupt-key-id", with_byte(good, 1, raw[1] ^ 0x01), "unknown_issuer", "key id byte 1 flipped")
    add("corrupt-signed-on", with_byte(good, 10, raw[10] ^ 0x01), "bad_signature",
        "signed_on moved by one day, still inside the key's validity")
    add("corrupt-expires", with_byte(good, 12, raw[12] ^ 0x01), "bad_signature", "expires changed")
    add("corrupt-digest", with_byte(good, 20, raw[20] ^ 0x80), "bad_signature", "record digest byte flipped")
    add("corrupt-length", with_byte(good, 29, n - 1), "malformed", "cert_no length byte off by one")
    add("corrupt-cert-no", with_byte(good, 30 + n - 1, ord("2")), "bad_signature",
        "last serial digit of the certificate number changed (…00001 -> …00002)")
    add("corrupt-cert-no-charset", with_byte(good, 30, ord("a")), "malformed", "lowercase letter in cert_no")
    add("corrupt-signature", with_byte(good, 30 + n + 10, raw[30 + n + 10] ^ 0x01), "bad_signature",
        "signature byte flipped")
    last = good[-1]
    add("flipped-last-digit", good[:-1] + ("1" if last == "0" else "0"), "bad_signature"
        if _decodes(good[:-1] + ("1" if last == "0" else "0")) else "malformed",
        "last digit changed (last signature group)")
    over = good[:17] + "99999999999999999" + good[34:]
    add("group-out-of-range", over, "malformed", "a 17-digit group above 2^56-1")
    add("truncated-one-digit", good[:-1], "malformed", "one digit short: invalid group length")
    add("truncated-one-group", good[:-17], "malformed", "7 bytes short: length does not match n")
    add("extra-digit", good + "0", "malformed", "one digit too many")
    add("extra-group", good + "0" * 17, "malformed", "7 zero bytes appended")
    add("non-digit", good[:40] + "A" + good[41:], "malformed", "a letter among the digits")
    add("empty", "", "malformed", "empty fragment")
    add("huge", "1" * 10240, "malformed", "10 kB fragment")
    add("non-ascii", "苏州制造" + good[4:], "malformed", "CJK characters")
    add("fullwidth-digits", "１２３４５", "malformed", "full-width digits are not ASCII digits")
    add("html", "<script>window.__xss=1</script>", "malformed", "HTML in the fragment")
    add("html-img", '"><img src=x onerror="window.__xss=1">', "malformed", "HTML attribute injection")
    # Keys.
    add("unknown-key", forged(K["stranger"], "SZZZ-2024-CQC-00001", "2024-03-01", "2027-02-28"),
        "unknown_issuer", "well-formed, signed by a key that is not in the trust list")
    add("retired-key-after-retirement", forged(K["cqc1"], "SZZZ-2024-CQC-00001", "2024-08-01", "2027-02-28"),
        "key_not_valid", "CQC key 1 retired 2024-06-30, mark signed 2024-08-01")
    add("key-before-valid-from", forged(K["tuv1"], "SZZZ-2024-TUVSUD-00001", "2022-12-01", "2027-04-30"),
        "key_not_valid", "TUVSUD key 1 valid from 2023-01-01, mark signed 2022-12-01")
    add("key-after-valid-to", forged(K["tuv0"], "SZZZ-2024-TUVSUD-00001", "2025-02-01", "2027-04-30"),
        "key_not_valid", "TUVSUD key 0 valid to 2024-12-31, mark signed 2025-02-01")
    add("other-body-key", forged(K["tuv1"], "SZZZ-2024-CQC-00001", "2024-03-01", "2027-02-28"),
        "key_not_valid", "a TUVSUD key signed a CQC certificate number")
    add("log-key-signs-mark", forged(K["log"], "SZZZ-2024-CQC-00001", "2024-03-01", "2027-02-28"),
        "key_not_valid", "the log key is not a body key")
    add("compromised-key", m[("SZZZ-2024-SGS-00001", 1)], "key_not_valid",
        "genuine mark by SGS key 1, later reported compromised: untrusted whatever its date")
    add("superseded-by-rekey", m[("SZZZ-2024-CQC-00002", 1)], "key_not_valid",
        "revision 1 mark; revision 2 re-signed the certificate with a new key")
    # Records and status.
    add("revoked", m[("SZZZ-2024-CQC-00004", 1)], "revoked", "revoked 2025-03-01")
    add("suspended", m[("SZZZ-2024-CQC-00005", 1)], "suspended", "suspended 2025-04-01")
    add("withdrawn", m[("SZZZ-2024-CQC-00006", 1)], "withdrawn", "withdrawn 2025-02-01")
    add("expired-event", m[("SZZZ-2022-CQC-00007", 1)], "expired", "an expired event on 2025-01-10")
    add("expired-by-date", m[("SZZZ-2022-CQC-00008", 1)], "expired",
        "status valid but the current revision expired 2025-06-01, before today")
    add("missing-certificate", forged(K["cqc2"], "SZZZ-2024-CQC-00099", "2024-09-01", "2027-08-31"),
        "not_found", "genuine signature, no certificate file")
    add("no-matching-revision", forged(K["cqc2"], "SZZZ-2024-CQC-00004", "2024-08-01", "2027-07-31"),
        "not_found", "genuine signature, but the record digest matches no published revision")
    add("stale-status", m[("SZZZ-2024-CQC-00009", 1)], "status_unknown",
        f"status statement as of {STALE_AS_OF[:10]}, more than {MAX_AGE_DAYS} days before {TODAY}")
    add("future-status", m[("SZZZ-2024-CQC-00012", 1)], "status_unknown",
        f"status statement as of {FUTURE_AS_OF[:10]}, more than 1 day after {TODAY}")
    add("unreadable-certificate-file", m[("SZZZ-2024-CQC-00010", 1)], "status_unknown",
        "the certificate file is not JSON")
    add("tampered-event", m[("SZZZ-2024-CQC-00011", 1)], "status_unknown",
        "an event's signature was altered in the published file")
    add("revision-reasons-tampered", m[("SZZZ-2024-CQC-00014", 1)], "key_not_valid",
        "revision 2 is a rekey; the file's unsigned revision_reasons says 'renewed': "
        "verifiers take the reason from the signed rekeyed event")
    add("status-statement-rolled-back", m[("SZZZ-2024-CQC-00016", 1)], "status_unknown",
        "revoked by a signed event, but the bucket's statement is a genuine one saying valid at the "
        "issue event: statement and events must agree (rule 6)")
    add("status-statement-without-certificate", m[("SZZZ-2024-CQC-00017", 1)], "status_unknown",
        "the certificate's bucket statement is genuine but does not name it")
    add("event-signed-by-another-body", m[("SZZZ-2024-CQC-00015", 1)], "status_unknown",
        "a genuine mark whose certificate has an event signed by a TUVSUD key: only the "
        "certificate's own body may sign its events (rules.py, use 'event')")
    # The input rule (payload.payload_text): the same scanned URL, the same verdict in
    # Python and in a browser, whose URL parser strips C0 controls and spaces at both
    # ends and removes tab, LF and CR before the page reads its fragment; nothing is
    # percent-decoded, and anything but ASCII digits after the first '#' is malformed.
    g = m[("SZZZ-2024-TUVSUD-00001", 1)]
    url = SITE_URL + "/v/#"
    for name, text, verdict, why in (
        ("input-url", url + g, "valid", "the mark's URL as printed"),
        ("input-url-trailing-spaces", url + g + "  ", "valid", "spaces at the end of the URL are stripped"),
        ("input-url-trailing-crlf", url + g + "\r\n", "valid", "CR LF at the end of the URL are stripped"),
        ("input-url-leading-space", "  " + url + g, "valid", "spaces before the URL are stripped"),
        ("input-url-newline-inside", url + g[:30] + "\n" + g[30:], "valid", "a line break inside is removed"),
        ("input-url-tab-inside", url + g[:30] + "\t" + g[30:], "valid", "a tab inside is removed"),
        ("input-url-inner-space", url + g[:30] + " " + g[30:], "malformed", "a space inside is not a digit"),
        ("input-url-percent-digit", url + "%3" + g[0] + g[1:], "malformed",
         "a percent-encoded digit is not decoded"),
        ("input-url-percent-20", url + g + "%20", "malformed", "a trailing %20 is not decoded"),
        ("input-url-nbsp", url + g + "\u00a0", "malformed", "U+00A0 is not white space to strip"),
        ("input-url-ideographic-space", url + "\u3000" + g, "malformed", "U+3000 is not stripped"),
        ("input-url-bom", url + "\ufeff" + g, "malformed", "U+FEFF is not stripped"),
        ("input-url-line-separator", url + g + "\u2028", "malformed", "U+2028 is not stripped"),
        ("input-url-vertical-tab", url + g[:10] + "\x0b" + g[10:], "malformed",
         "only tab, LF and CR are removed inside"),
        ("input-url-double-hash", url + "#" + g, "malformed", "the text after the FIRST '#' is the payload"),
        ("input-url-empty-fragment", url, "malformed", "nothing after '#'"),
    ):
        add(name, text, verdict, why)
    return v


def log_site(reg, certs):
    """A second site: the same registry with a transparency log (timestamp key in
    the trust list, tiles, a checkpoint cosigned at COSIGNED), for the freshness
    rule: a stale statement stays current only with a fresh checkpoint of the
    statement's log_size (docs/verification.md §6)."""
    trust = trust_list(with_timestamp=True)
    files = published_files(trust, certs)
    size = log_size(certs)
    restate(files, certs, reg.certs["SZZZ-2024-CQC-00009"], STALE_AS_OF, size)
    restate(files, certs, reg.certs["SZZZ-2024-CQC-00012"], STALE_AS_OF, size - 1)
    events = sorted((e for c in certs for e in c.events), key=lambda e: json.loads(e["payload"])["seq"])
    entries = [checkpoint.entry_bytes(e["key_id"], e["payload"], e["signature"]) for e in events]
    names = checkpoint.names_for(SITE_URL)
    binary = {}
    with tempfile.TemporaryDirectory() as tmp:
        got_size, root = tiles.append_entries(tmp, 0, entries)
        assert got_size == size
        assert root == merkle.root_hash([merkle.leaf_hash(e) for e in entries])
        for path in sorted(Path(tmp).rglob("*")):
            rel = path.relative_to(tmp).as_posix()
            if path.is_file() and not rel.startswith("tile/entries/"):  # verifiers read hash tiles only
                binary[f"log/{rel}"] = base64.b64encode(path.read_bytes()).decode()
    files["log/checkpoint"] = note.sign_note(
        note.Checkpoint(names.origin, size, root).body(),
        [checkpoint.note_signer(K["log"], names.origin, note.KEY_TYPE_ED25519),
         checkpoint.note_signer(K["timestamp"], names.timestamp_name, note.KEY_TYPE_COSIGNATURE)],
        timestamp=checkpoint.epoch(COSIGNED))
    files[f"{checkpoint.LOG_DIR}/{checkpoint.VKEY}"] = "".join(
        k + "\n" for k in checkpoint.log_vkeys(json.loads(trust["payload"]), names))
    files[checkpoint.LOG_JSON] = json.dumps(names.to_json(MAX_AGE_DAYS), sort_keys=True, separators=(",", ":")) + "\n"
    m = reg.marks
    vectors = [
        {"name": "log-fresh-statement", "input": m[("SZZZ-2024-CQC-00001", 1)], "expected_verdict": "valid",
         "note": "fresh statement, fresh checkpoint including the certificate's latest event"},
        {"name": "quiet-registry-stale-statement-fresh-checkpoint-of-equal-size",
         "input": m[("SZZZ-2024-CQC-00009", 1)], "expected_verdict": "valid",
         "note": f"statement as of {STALE_AS_OF[:10]} signed at log size {size}; checkpoint of size {size} "
                 f"cosigned {clock.iso_z(COSIGNED)}: no event since, so the status is current"},
        {"name": "stale-statement-fresh-checkpoint-of-larger-size",
         "input": m[("SZZZ-2024-CQC-00012", 1)], "expected_verdict": "status_unknown",
         "note": f"statement as of {STALE_AS_OF[:10]} signed at log size {size - 1}; the fresh checkpoint "
                 f"has {size} entries: events happened since, the host must serve newer statements"},
        {"name": "log-site-superseded-by-rekey", "input": m[("SZZZ-2024-CQC-00002", 1)],
         "expected_verdict": "key_not_valid", "note": "as superseded-by-rekey, with the log"},
    ]
    return {"description": "The same registry published with a transparency log; the trust list has a "
                           "timestamp key, so a verifier must find and check the log (absent -> status_unknown). "
                           "binary_files: base64 of the hash tiles.",
            "origin": names.origin, "log_size": size, "cosigned": clock.iso_z(COSIGNED),
            "files": files, "binary_files": binary, "vectors": vectors}


def _decodes(text):
    try:
        payload.parse_text(text)
        return True
    except PayloadError:
        return False


def generate() -> str:
    reg, certs = build()
    trust = trust_list()
    files = published_files(trust, certs)
    restate(files, certs, reg.certs["SZZZ-2024-CQC-00009"], STALE_AS_OF, log_size(certs))
    restate(files, certs, reg.certs["SZZZ-2024-CQC-00012"], FUTURE_AS_OF, log_size(certs))
    # A genuine statement from before the revocation, served with the revoked file.
    revoked = reg.certs["SZZZ-2024-CQC-00016"]
    issued_seq = json.loads(revoked.events[0]["payload"])["seq"]
    restate(files, certs, revoked, AS_OF, log_size(certs),
            lambda m: m.update({revoked.cert_no: ("valid", "2024-09-06", issued_seq)}))
    restate(files, certs, reg.certs["SZZZ-2024-CQC-00017"], AS_OF, log_size(certs), lambda m: m.clear())
    # The unsigned revision_reasons array says 'renewed' for a rekeyed revision.
    name = "api/certificates/SZZZ-2024-CQC-00014.json"
    doc = json.loads(files[name])
    doc["revision_reasons"] = ["issued", "renewed"]
    files[name] = api.dumps(doc)
    files["api/certificates/SZZZ-2024-CQC-00010.json"] = '{"format": "szzz/certificate-file/v1", "cert_no": '
    name = "api/certificates/SZZZ-2024-CQC-00011.json"
    doc = json.loads(files[name])
    sig = doc["events"][1]["signature"]
    doc["events"][1]["signature"] = ("B" if sig[0] != "B" else "C") + sig[1:]
    files[name] = api.dumps(doc)
    out = {
        "format": "szzz/mark-conformance/v1",
        "description": "Conformance vectors for the mark verifiers (docs/verification.md); "
                       "generated by scripts/make_conformance_vectors.py",
        "seeds": {name: seed.decode() for name, seed in SEEDS.items()},
        "key_ids": {name: signer.key_id for name, signer in K.items()},
        "root_public_key": K["root"].public_b64, "today": TODAY, "max_age_days": MAX_AGE_DAYS,
        "site_url": SITE_URL, "files": files, "vectors": vectors(reg, certs, files),
        "log_site": log_site(reg, certs),
    }
    return json.dumps(out, ensure_ascii=False, sort_keys=True, indent=1) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs/vectors/mark-conformance.json"))
    args = parser.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(generate(), encoding="utf-8")
    print(args.out)


if __name__ == "__main__":
    main()
