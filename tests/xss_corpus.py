"""The XSS corpus: attacker-controlled text in every free-text field of a registry.

Used by every surface that shows registry text — static pages, feeds and
JSON-LD (tests/publish/test_pelican_site.py), Datasette pages, the verify page, SVG
marks. Each payload sets ``window.__xss`` if it ever runs, so a browser test
asserts ``window.__xss === undefined`` after loading a page; HTML tests parse
the output and assert that no element or attribute from a payload exists.

``xss_registry(tmp_path)`` builds a small real registry through
``registry.operations.Registry`` (so everything passes the same validation
and signing as production data). Validation refuses control and format
characters (bidi overrides, zero-width, NUL: ``validation.text``), so those
payloads are in :data:`REFUSED_STRINGS` for tests of validation, not in the
registry.
"""

from pathlib import Path

from builders import EVALUATION, GENERAL, GROUP, INIT_DATE, TODAY
from builders import make_uscc as _uscc

XSS_STRINGS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '"><svg onload=window.__xss=1>',
    "'><svg/onload=window.__xss=1>",
    "</script><script>window.__xss=1</script>",
    "</title><script>window.__xss=1</script>",
    "]]></title><script>window.__xss=1</script>",
    "javascript:window.__xss=1",
    "<a href=javascript:window.__xss=1>点我</a>",
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    "<style>@import 'http://127.0.0.2/x.css'</style>",
    "{{7*7}} ${7*7} {% raw %}",
    "&lt;script&gt;window.__xss=1&lt;/script&gt;",
    "--><script>window.__xss=1</script><!--",
    "<!ENTITY x SYSTEM 'file:///etc/passwd'>&x;",
    "line\u2028separator\u2029paragraph",
    "苏州<b>加粗</b>&amp;\"引号'",
]

# Refused by validation (control/format characters): for validation tests.
REFUSED_STRINGS = [
    "\u202egnp.exe",              # RTL override
    "zero\u200bwidth",            # zero-width space
    "nul\x00byte",
]

PASSPHRASE = b"xss-corpus-passphrase"
# A website that validation accepts (http(s), no spaces) but tries to break
# out of an href attribute.
XSS_WEBSITE = 'https://x.example/"><script>window.__xss=1</script>'


def _s(i):
    return XSS_STRINGS[i % len(XSS_STRINGS)]


def xss_registry(tmp_path):
    """Build ``tmp_path/xss.db`` (+ keys in ``tmp_path/xss-keys``) with the corpus
    in every free-text field; return ``(db_path, keys_dir)``.

    Contents: one body (code ``XSS``, its names from the corpus), two
    standards, ``len(XSS_STRINGS)`` enterprises and products (each with a
    different payload in names, models, description, category), one
    certificate per product with the payload as scope; certificates are then
    suspended, reinstated, revoked or withdrawn with payload reasons and
    notices, and notices of every kind carry payload titles and texts.
    """
    from registry.store.operations import Registry

    tmp_path = Path(tmp_path)
    db_path, keys_dir = tmp_path / "xss.db", tmp_path / "xss-keys"
    reg = Registry.init(db_path, keys_dir, PASSPHRASE, date=INIT_DATE)
    try:
        reg.today_override = TODAY
        reg.add_body({"code": "XSS", "name_zh": _s(0) + "认证中心", "name_en": _s(1),
                      "approval_no": _s(2)[:60], "website": XSS_WEBSITE, "joined": INIT_DATE})
        reg.endorse_key(reg.generate_key("body", body="XSS"), date=INIT_DATE)
        reg.add_standard({"code": GENERAL, "title_zh": _s(3), "title_en": _s(4),
                          "kind": "local", "issuer": _s(5)})
        reg.add_standard({"code": GROUP, "title_zh": _s(6), "kind": "group"})
        cert_nos = []
        for i in range(len(XSS_STRINGS)):
            uscc = _uscc(900 + i)
            reg.add_enterprise({"uscc": uscc, "name_zh": _s(i) + f"企业{i}",
                                "name_en": _s(i + 1), "district": "吴中区",
                                "industry": "C3562", "website": XSS_WEBSITE})
            pid = reg.add_product({"enterprise": uscc, "name_zh": _s(i + 2) + f"产品{i}",
                                   "name_en": _s(i + 3), "models": [_s(i + 4)[:100], f"M-{i}"],
                                   "category": _s(i + 5)[:100], "description": _s(i + 6)})
            cert_nos.append(reg.issue(
                product=pid, body="XSS", standards=[GENERAL, GROUP], scope=_s(i + 7),
                issued="2022-03-01", expires="2026-02-28", evaluation=EVALUATION))
        for i, cert_no in enumerate(cert_nos):
            action = i % 4
            if action == 0:
                reg.suspend(cert_no, _s(i), date="2023-05-01", notice=_s(i + 1))
            elif action == 1:
                reg.suspend(cert_no, _s(i), date="2023-05-01")
                reg.reinstate(cert_no, _s(i + 2), date="2023-06-01", notice=_s(i + 3))
            elif action == 2:
                reg.revoke(cert_no, _s(i), date="2024-01-10", notice=_s(i + 4))
            else:
                reg.withdraw(cert_no, _s(i), date="2024-02-01")
        kinds = ("notice", "counterfeit_alert", "supervision")
        for i in range(len(XSS_STRINGS)):
            reg.publish_notice(kinds[i % 3], _s(i), _s(i + 1), title_en=_s(i + 2),
                               text_en=_s(i + 3), cert_no=cert_nos[i], date="2024-03-01")
    finally:
        reg.close()
    return db_path, keys_dir
