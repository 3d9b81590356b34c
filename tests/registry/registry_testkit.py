"""A small real registry for the registry tests, built through ``registry.operations``.

Keys are generated at run time into a temporary directory; dates are pinned
(``Registry.today_override``) so the content is predictable.
"""

from stdnum.cn import uscc as stdnum_uscc

from registry.store.operations import Registry

PASSPHRASE = b"registry-test-passphrase"
INIT_DATE = "2021-01-01"
TODAY = "2025-06-01"
GENERAL = "DB3205/T 1001-2021"
GROUP = "T/SZS 001-2021"
EVALUATION = {"innovation": 88, "quality": 91, "service": 85, "reputation": 90, "recognition": 86}
BODIES = (("CQC", "中国质量认证中心", "China Quality Certification Centre"),
          ("TUVSUD", "南德认证检测（中国）有限公司", "TUV SUD China"))


def make_uscc(n):
    """A valid USCC (check character computed by python-stdnum) for number ``n``."""
    head = f"91320506MA{n:07d}"
    return head + stdnum_uscc.calc_check_digit(head)


def build(db_path, keys_dir, *, products=4, today=TODAY):
    """Registry with bodies CQC and TUVSUD (one endorsed key each), two
    standards and ``products`` products of distinct enterprises; returns
    ``(registry, [product ids])``."""
    reg = Registry.init(db_path, keys_dir, PASSPHRASE, date=INIT_DATE)
    reg.today_override = today
    for code, zh, en in BODIES:
        reg.add_body({"code": code, "name_zh": zh, "name_en": en,
                      "approval_no": f"CNCA-R-2002-{code}", "joined": INIT_DATE})
        reg.endorse_key(reg.generate_key("body", body=code), date=INIT_DATE)
    reg.add_standard({"code": GENERAL, "title_zh": "“苏州制造”品牌认证通用要求", "kind": "local"})
    reg.add_standard({"code": GROUP, "title_zh": "数控机床 技术要求", "kind": "group"})
    ids = []
    for i in range(products):
        uscc = make_uscc(i + 1)
        reg.add_enterprise({"uscc": uscc, "name_zh": f"苏州测试精密机械{i}有限公司",
                            "district": "吴中区", "industry": "C3562"})
        ids.append(reg.add_product({"enterprise": uscc, "name_zh": f"数控机床{i}",
                                    "models": ["SZ-100"]}))
    return reg, ids


def issue(reg, product, body="CQC", issued="2022-03-01", expires="2025-02-28", **kw):
    return reg.issue(product=product, body=body, standards=[GENERAL, GROUP],
                     scope="数控机床的设计和制造", issued=issued, expires=expires,
                     evaluation=EVALUATION, **kw)
