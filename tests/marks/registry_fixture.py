"""A small real registry for the marks tests, made through ``registry.operations``.

Keys are generated at run time (random, passphrase-protected files in a temp
directory); dates are pinned so the registry's content is predictable.
"""


from stdnum.cn import uscc as stdnum_uscc

from registry.store.operations import Registry

PASSPHRASE = b"marks-test-passphrase"
INIT_DATE = "2024-01-02"


def make_uscc(seed):
    body = f"91320505MA{seed:07d}"[:17]
    return body + stdnum_uscc.calc_check_digit(body)


def build(db_path, keys_dir, *, certificates=4, programmes=("SZZZ", "SZSC", "SSHM", "SUXIU")):
    """Registry with bodies CQC and TUVSUD, ``certificates`` certificates; returns cert numbers."""
    reg = Registry.init(db_path, keys_dir, PASSPHRASE, date=INIT_DATE)
    for code, zh, en in (("CQC", "中国质量认证中心", "China Quality Certification Centre"),
                         ("TUVSUD", "南德认证检测（中国）有限公司", "TUV SUD China")):
        reg.add_body({"code": code, "name_zh": zh, "name_en": en, "approval_no": f"CNCA-R-2002-{code}",
                      "website": None, "joined": "2024-01-02", "status": "active"})
        key_id = reg.generate_key("body", body=code, valid_from="2024-01-02")
        reg.endorse_key(key_id, date="2024-01-02")
    reg.add_standard({"code": "DB3205/T 1001-2021", "title_zh": "“苏州制造”品牌认证通用要求",
                      "title_en": "General requirements", "kind": "local", "issuer": "苏州市市场监督管理局",
                      "published": "2021-01-01", "effective": "2021-02-01", "status": "current"})
    cert_nos = []
    for i in range(certificates):
        uscc = make_uscc(i + 1)
        reg.add_enterprise({"uscc": uscc, "name_zh": f"苏州测试精密机械{i}有限公司",
                            "name_en": f"Suzhou Test Machinery {i} Co., Ltd.", "district": "吴中区",
                            "industry": "C3562", "tier": None, "website": None})
        product = reg.add_product({"enterprise": uscc, "name_zh": f"数控机床{i}", "name_en": f"CNC machine {i}",
                                   "models": ["SZ-100"], "gtin": None, "category": None,
                                   "description": None, "image": None})
        cert_nos.append(reg.issue(
            product=product, body="CQC" if i % 2 == 0 else "TUVSUD",
            standards=["DB3205/T 1001-2021"], scope="数控机床的设计和制造",
            issued="2024-03-01", expires="2027-02-28", programme=programmes[i % len(programmes)],
            evaluation={"innovation": 88, "quality": 91, "service": 85, "reputation": 90, "recognition": 86}))
    return reg, cert_nos
