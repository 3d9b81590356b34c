"""Datasette metadata for the public database (``data/metadata.yml``).

Title, licence, source, a description of every table and column in Chinese
and English, the facets worth offering (suggested facets are switched off on
the public instance: they cost 70–100 ms a request, see
``../shared/reference/baseline-measurements.md``), full-text search tables,
and the canned queries journalists asked for. ``tests/portal`` checks that
every table and column of ``registry.publish.export``'s output is described here and
that every canned query returns rows on the demo registry.

This module builds a plain dict; it does not import Datasette.
"""

import yaml

from registry.core import canonical
from registry.publish import changefeed, export

TITLE = "苏州制造认证公开数据 / Made in Suzhou certification open data"
LICENSE = "CC BY 4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
SOURCE = ("苏州制造品牌认证注册库（依据苏府〔2020〕128号）/ "
          "the 苏州制造 certification registry (scheme: Suzhou municipal notice 苏府〔2020〕128号)")
# The scheme's goal (苏府〔2020〕128号, 三、工作目标): 100+ certified high-end products by 2023.
TARGET_PRODUCTS = 100
TARGET_YEAR = 2023

# The data dictionary says where the true values are: CSV for people is made
# safe to open (registry.core.spreadsheet, OWASP "CSV Injection"), JSON and
# SQLite are not changed (docs/publishing.md, "CSV for spreadsheets").
CSV_NOTE = (
    "CSV（downloads/*.csv 以及此处的 .csv、.csvbom）供电子表格打开：以 = + - @、制表符、回车、换行或 ' "
    "开头的文本单元格前加一个英文单引号 '（纯负数除外），以免被当作公式执行；去掉这一个单引号即为原值。"
    "JSON（api/ 与 .json）和 SQLite（registry.db）中是原值。\n"
    "CSV files (downloads/*.csv, and .csv and .csvbom here) are made for spreadsheets: a text cell that "
    "begins with = + - @, tab, CR, LF or ' gets one leading single quote ' (plain negative numbers "
    "excepted), so that no spreadsheet runs it as a formula; remove that one quote to get the true value. "
    "JSON (api/ and .json) and SQLite (registry.db) hold the true values."
)

DESCRIPTION = (
    "苏州制造品牌认证的公开注册数据：认证机构、证书、产品、企业、全部带签名的事件与证书修订、"
    "信任列表（仅公钥）和信息通报。每条事件和证书修订都带有 Ed25519 签名，可用 SQL 函数 "
    "szzz_verify_envelope() 在此核验。\n"
    "Public registry data of the 苏州制造 (Made in Suzhou) brand certification: certification bodies, "
    "certificates, products, enterprises, every signed event and certificate revision, the trust list "
    "(public keys only) and notices. Every event and revision carries an Ed25519 signature you can check "
    "here with the SQL function szzz_verify_envelope().\n"
    + CSV_NOTE
)

_STATUS = "状态：valid 有效 / suspended 暂停 / revoked 撤销 / withdrawn 注销 / expired 过期 — status"

TABLES = {
    "certificates": ("证书（当前修订）/ Certificates (current revision)", {
        "cert_no": "证书编号 <项目>-<年份>-<机构>-<序号> / certificate number <programme>-<year>-<body>-<serial>",
        "product": "产品编号（products.id）/ product id",
        "body": "认证机构代码 / certification body code",
        "programme": "认证项目代码 / programme code (SZZZ, SZSC, SSHM, SUXIU)",
        "scope": "认证范围 / scope of certification",
        "issued": "首次颁发日期 / first issue date",
        "expires": "有效期至 / expiry date",
        "status": _STATUS,
        "status_date": "状态变更日期 / date of the current status",
        "mark_authorised": "是否授权使用认证标志（1/0）/ mark use authorised (1/0)",
        "evaluation": ("五维评价得分（JSON：自主创新、品质高端、服务优质、信誉过硬、市场公认）"
                       "/ scores on the five dimensions (JSON)"),
        "revision": "当前修订号 / current revision number",
        "key_id": "签名密钥标识（keys.key_id）/ id of the signing key",
        "record": "已签名的证书记录（规范 JSON）/ signed certificate record (canonical JSON)",
        "signature": "认证机构的 Ed25519 签名（base64url）/ the body's Ed25519 signature (base64url)",
        "digest": "记录的 SHA-256 / SHA-256 of the record",
        "mark_payload": "标志二维码载荷（十进制数字）/ mark QR payload (decimal digits)",
        "last_seq": "最后一个事件序号 / sequence number of the latest event",
        "status_zh": "状态（中文）/ status in Chinese",
        "year_issued": "颁发年份 / year of issue",
        "product_name_zh": "产品名称 / product name (zh)",
        "product_name_en": "产品英文名称 / product name (en)",
        "enterprise": "企业统一社会信用代码 / enterprise USCC",
        "enterprise_name_zh": "企业名称 / enterprise name (zh)",
        "enterprise_name_en": "企业英文名称 / enterprise name (en)",
        "district": "所在区/市 / district",
        "industry": "国民经济行业代码（GB/T 4754-2017）/ industry code",
        "industry_division": "行业大类代码 / industry division (2 digits)",
        "industry_name_zh": "行业大类名称 / industry division name",
        "body_name_zh": "认证机构名称 / body name (zh)",
        "body_name_en": "认证机构英文名称 / body name (en)",
        "programme_name_zh": "认证项目名称 / programme name",
    }),
    "certificate_revisions": ("证书的全部签名修订 / Every signed revision of each certificate", {
        "cert_no": "证书编号 / certificate number",
        "revision": "修订号 / revision number",
        "reason": "修订原因（issued/renewed/scope_changed/rekeyed）/ why the revision was made",
        "date": "签署日期 / date signed",
        "key_id": "签名密钥标识 / signing key id",
        "record": "已签名的证书记录（规范 JSON）/ signed record (canonical JSON)",
        "signature": "Ed25519 签名 / signature (base64url)",
        "digest": "记录的 SHA-256 / SHA-256 of the record",
        "mark_payload": "该修订的标志载荷 / mark payload of this revision",
        "seq": "产生该修订的事件序号 / sequence number of the event that made it",
    }),
    "events": ("全部签名事件（只增不改）/ Every signed event (append-only)", {
        "seq": "全局序号，从 1 连续 / global sequence number, contiguous from 1",
        "type": "事件类型（见 event_types）/ event type (see event_types)",
        "cert_no": "证书编号（证书事件）/ certificate number (certificate events)",
        "subject": "密钥标识或通报编号（其他事件）/ key id or notice id (other events)",
        "date": "日期 / date",
        "actor": "执行者（机构代码或 root）/ actor (body code or root)",
        "reason": "原因 / reason",
        "notice": "相关通报 / related notice",
        "key_id": "签名密钥标识 / signing key id",
        "payload": "已签名的事件（规范 JSON）/ signed event (canonical JSON)",
        "signature": "Ed25519 签名 / signature (base64url)",
    }),
    "bodies": ("认证机构（联盟成员）/ Certification bodies (alliance members)", {
        "code": "机构代码 / body code", "name_zh": "名称 / name (zh)", "name_en": "英文名称 / name (en)",
        "approval_no": "认证机构批准号 / accreditation approval number", "website": "网站 / website",
        "joined": "加入日期 / date joined", "status": "状态 / status",
    }),
    "keys": ("公钥（不含任何私钥）/ Public keys (no private key material)", {
        "key_id": "密钥标识：SHA-256(公钥) 前 8 字节 / key id: first 8 bytes of SHA-256(public key)",
        "public_key": "Ed25519 公钥（base64url）/ Ed25519 public key (base64url)",
        "owner_type": "角色：root/body/log/timestamp / role",
        "owner": "所属机构代码 / owning body code",
        "valid_from": "生效日期 / valid from", "valid_to": "失效日期 / valid to",
        "status": "active/retired/compromised", "status_date": "状态日期 / status date",
        "endorsed_in": "首次列入的信任列表版本 / trust list version that first listed it",
    }),
    "trust_lists": ("根密钥签名的信任列表 / Root-signed trust lists", {
        "version": "版本 / version", "issued": "发布日期 / issued",
        "envelope": "签名信封（JSON）/ signed envelope (JSON)",
    }),
    "standards": ("标准 / Standards", {
        "code": "标准编号 / code", "title_zh": "名称 / title (zh)", "title_en": "英文名称 / title (en)",
        "kind": "类别 / kind", "issuer": "发布单位 / issuer", "published": "发布日期 / published",
        "effective": "实施日期 / effective", "status": "状态 / status",
    }),
    "certificate_standards": ("证书依据的标准 / Standards each certificate is based on", {
        "cert_no": "证书编号 / certificate number", "standard": "标准编号 / standard code",
    }),
    "enterprises": ("获证企业 / Certified enterprises", {
        "uscc": "统一社会信用代码 / unified social credit code", "name_zh": "名称 / name (zh)",
        "name_en": "英文名称 / name (en)", "district": "所在区/市 / district",
        "industry": "行业代码（GB/T 4754-2017）/ industry code", "tier": "企业梯队 / enterprise tier",
        "website": "网站 / website",
    }),
    "products": ("产品 / Products", {
        "id": "产品编号 / product id", "enterprise": "企业统一社会信用代码 / enterprise USCC",
        "name_zh": "名称 / name (zh)", "name_en": "英文名称 / name (en)",
        "models": "型号（JSON 数组）/ models (JSON array)", "gtin": "商品条码 / GTIN",
        "category": "类别 / category", "description": "描述 / description", "image": "图片 / image",
    }),
    "notices": ("信息通报与假冒标志警示 / Notices and counterfeit-mark alerts", {
        "id": "编号 / id", "date": "日期 / date", "kind": "类别：notice/counterfeit_alert/supervision",
        "title_zh": "标题 / title (zh)", "title_en": "英文标题 / title (en)",
        "text_zh": "正文 / text (zh)", "text_en": "英文正文 / text (en)",
        "cert_no": "相关证书 / related certificate", "body": "相关机构 / related body",
        "event_seq": "对应事件序号 / event sequence number",
    }),
    "meta": ("注册库元数据 / Registry metadata", {"key": "键 / key", "value": "值 / value"}),
    "districts": ("苏州市辖区/县级市 / Suzhou's districts", {
        "name_zh": "名称 / name (zh)", "name_en": "英文名称 / name (en)"}),
    "industry_divisions": ("制造业行业大类（GB/T 4754-2017 C 门类）/ Manufacturing divisions", {
        "code": "大类代码 / division code", "name_zh": "名称 / name (zh)", "name_en": "英文名称 / name (en)"}),
    "programmes": ("认证项目 / Certification programmes", {
        "code": "项目代码 / code", "name_zh": "名称 / name (zh)", "name_en": "英文名称 / name (en)"}),
    "statuses": ("证书状态 / Certificate statuses", {
        "status": "状态 / status", "name_zh": "中文 / zh", "name_en": "英文 / en"}),
    "event_types": ("事件类型 / Event types", {
        "type": "类型 / type", "name_zh": "中文 / zh", "name_en": "英文 / en"}),
}

FACETS = {
    "certificates": ["status_zh", "district", "industry_name_zh", "body_name_zh",
                     "programme_name_zh", "year_issued"],
    "events": ["type", "actor"],
    "enterprises": ["district", "tier"],
    "notices": ["kind"],
    "keys": ["owner_type", "status"],
}

# Rows per page (Datasette's table metadata "size"; default 100) of the wide
# tables. The HTML page's time is rendering, cell by cell: 100 rows of the
# 32-column certificates table were 548 KB and ~75 ms of CPU, so at most 14
# pages/s (issue 13). 20 rows is a screenful; ?_size=max (or next pages, or
# site/downloads/) for more.
PAGE_SIZES = {"certificates": 20, "certificate_revisions": 20, "events": 20}

_CERT_COUNTS = ("count(*) as certificates, sum(status = 'valid') as valid, "
                "sum(status = 'suspended') as suspended, sum(status = 'revoked') as revoked, "
                "sum(status = 'withdrawn') as withdrawn, sum(status = 'expired') as expired")

_SEARCH_PART = (
    "select '{kind}' as kind, t.{key} as id, {title} as title, {subtitle} as detail "
    "from {table} t where t.rowid in (select rowid from {table}_fts "
    "where {table}_fts match szzz_fts_query(:q))")

QUERIES = {
    "certificates_by_district": {
        "title": "按区/市统计证书 / Certificates by district",
        "sql": f"select district, {_CERT_COUNTS} from certificates group by district "
               "order by certificates desc, district",
    },
    "certificates_by_industry": {
        "title": "按行业统计证书 / Certificates by industry division",
        "sql": f"select industry_division, industry_name_zh, {_CERT_COUNTS} from certificates "
               "group by industry_division order by certificates desc, industry_division",
    },
    "certificates_by_body": {
        "title": "按认证机构统计证书 / Certificates by certification body",
        "sql": f"select body, body_name_zh, {_CERT_COUNTS} from certificates group by body "
               "order by certificates desc, body",
    },
    "certificates_by_year": {
        "title": "按颁发年份统计证书 / Certificates by year of issue",
        "sql": f"select year_issued, {_CERT_COUNTS} from certificates group by year_issued order by year_issued",
    },
    "recently_suspended_or_revoked": {
        "title": "最近暂停或撤销的证书 / Recently suspended or revoked certificates",
        "sql": "select e.date, e.type, t.name_zh as type_zh, e.cert_no, c.product_name_zh, "
               "c.enterprise_name_zh, c.body_name_zh, e.reason, e.seq from events e "
               "join event_types t on t.type = e.type left join certificates c on c.cert_no = e.cert_no "
               "where e.type in ('suspended', 'surveillance_failed', 'revoked') "
               "order by e.date desc, e.seq desc limit 200",
    },
    "expiring_soon": {
        "title": "90 天内到期的有效证书 / Valid certificates expiring in the next 90 days",
        "description": "as_of 留空为今天（YYYY-MM-DD）/ leave as_of empty for today",
        "sql": "select cert_no, expires, product_name_zh, enterprise_name_zh, body_name_zh, district "
               "from certificates where status = 'valid' "
               "and expires >= coalesce(nullif(:as_of, ''), date('now')) "
               "and expires <= date(coalesce(nullif(:as_of, ''), date('now')), '+90 days') "
               "order by expires, cert_no",
    },
    "enterprise_history": {
        "title": "企业的全部证书历史 / One enterprise's full certificate history",
        "description": "参数 uscc：统一社会信用代码 / parameter uscc: the enterprise's USCC",
        "sql": "select e.seq, e.date, e.cert_no, e.type, t.name_zh as type_zh, e.actor, e.reason, "
               "c.product_name_zh, c.status_zh as current_status from events e "
               "join certificates c on c.cert_no = e.cert_no "
               "join event_types t on t.type = e.type "
               "where c.enterprise = :uscc order by e.seq",
    },
    "scheme_targets": {
        "title": (f"对照{TARGET_YEAR}年目标（100 个以上认证高端产品）"
                  f"/ Against the scheme's target (100+ certified products by {TARGET_YEAR})"),
        "sql": "select count(distinct product) as certified_products, "
               f"(select count(distinct product) from certificates where issued <= '{TARGET_YEAR}-12-31') "
               f"as certified_products_by_end_{TARGET_YEAR}, "
               "count(distinct case when status = 'valid' then product end) as products_valid_now, "
               f"{TARGET_PRODUCTS} as target_products, "
               f"round(100.0 * count(distinct product) / {TARGET_PRODUCTS}, 1) as percent_of_target "
               "from certificates",
    },
    "search": {
        "title": "全文检索（两个字即可）/ Full-text search (two characters are enough)",
        "description": "参数 q：任意中文或英文词，至少一个字 / parameter q: any Chinese or English text",
        "sql": " union all ".join([
            _SEARCH_PART.format(kind="certificate", key="cert_no", table="certificates",
                                title="t.product_name_zh", subtitle="t.enterprise_name_zh || ' · ' || t.status_zh"),
            _SEARCH_PART.format(kind="enterprise", key="uscc", table="enterprises",
                                title="t.name_zh", subtitle="t.district"),
            _SEARCH_PART.format(kind="product", key="id", table="products",
                                title="t.name_zh", subtitle="t.enterprise"),
            _SEARCH_PART.format(kind="notice", key="id", table="notices",
                                title="t.title_zh", subtitle="t.date"),
        ]) + " limit 500",
    },
    "verify_signatures": {
        "title": "在 SQL 中核验全部签名 / Re-verify every signature in SQL",
        "sql": f"select 'events' as records, count(*) as total, "
               f"sum(szzz_verify_envelope('{canonical.EVENT}', payload, key_id, signature)) as verified "
               "from events union all "
               f"select 'certificate_revisions', count(*), "
               f"sum(szzz_verify_envelope('{canonical.CERTIFICATE}', record, key_id, signature)) "
               "from certificate_revisions union all "
               "select 'trust_lists', count(*), sum(szzz_verify_envelope_json(envelope)) from trust_lists",
    },
}


def metadata(*, site_url=None) -> dict:
    """The Datasette metadata dict for the public database ``registry``."""
    tables: dict[str, dict[str, object]] = {}
    for name, (description, columns) in TABLES.items():
        entry: dict[str, object] = {"description": description, "columns": dict(columns)}
        if name in FACETS:
            entry["facets"] = list(FACETS[name])
        if name in export.FTS_SOURCES:
            entry["fts_table"] = f"{name}_fts"
            entry["fts_pk"] = "rowid"
        tables[name] = entry
    for name, size in PAGE_SIZES.items():
        tables[name]["size"] = size
    tables["certificates"]["sort_desc"] = "issued"
    tables["certificates"]["label_column"] = "product_name_zh"
    tables["events"]["sort_desc"] = "seq"
    meta = {
        "title": TITLE,
        "description": DESCRIPTION,
        "license": LICENSE, "license_url": LICENSE_URL,
        "source": SOURCE,
        "about": "变更订阅 / change feed: api/events/ (page size "
                 f"{changefeed.PAGE_SIZE})",
        "databases": {"registry": {
            "description": DESCRIPTION,
            "tables": tables,
            "queries": {k: dict(v) for k, v in QUERIES.items()},
        }},
    }
    if site_url:
        meta["source_url"] = site_url.rstrip("/") + "/"
        meta["about_url"] = site_url.rstrip("/") + "/open-data/"
    return meta


def metadata_yaml(**kwargs) -> str:
    """:func:`metadata` as YAML (UTF-8 text, keys sorted, stable bytes)."""
    return yaml.safe_dump(metadata(**kwargs), allow_unicode=True, sort_keys=True, width=100)
