#!/usr/bin/env python3
"""Generate docs/vectors/site-search.json: site-search test vectors (docs/site-search.md).

The documents are fixed; the expected terms, shards and query results are
computed by ``registry.publish.sitesearch`` (the reference implementation) and then
checked twice: in Python by tests/publish/test_sitesearch.py (which also
regenerates this file and compares), and in Chromium against
``site/theme/static/js/sitesearch.js`` by tests/site/test_site_search.py,
both reading an index built from ``documents`` with ``shards`` shards.

Usage: python scripts/make_search_vectors.py [--out docs/vectors/site-search.json]
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.publish import sitesearch

SHARDS = 8
KEY_SHARDS = 4
LABELS = {
    "kind": {"certificate": ["证书", "Certificate"], "enterprise": ["企业", "Enterprise"],
             "notice": ["通报", "Notice"]},
    "status": {"valid": ["有效", "valid"], "revoked": ["撤销", "revoked"]},
    "district": {"吴中区": ["吴中区", "Wuzhong District"], "吴江区": ["吴江区", "Wujiang District"]},
    "body": {"TUVSUD": ["南德认证检测", "TÜV SÜD"], "BV": ["必维认证", "Bureau Veritas"]},
    "programme": {"SZZZ": ["苏州制造", "Made in Suzhou"], "SSHM": ["苏式红木家具", "Suzhou-style Rosewood Furniture"]},
}
DOCUMENTS = [
    {"url": "certificates/SSHM-2021-BV-00001/", "title": "红木圈椅（QY-1100系列）",
     "sub": "SSHM-2021-BV-00001 · 苏州同创红木家具有限公司 · 吴江区",
     "text": "SSHM-2021-BV-00001 · Rosewood horseshoe armchair · QY-1100 · 苏州同创红木家具有限公司 · "
             "91320509MAWA0H9P1Y · 吴江区 · 监督抽查不合格",
     "facets": {"kind": "certificate", "status": "revoked", "district": "吴江区", "body": "BV",
                "programme": "SSHM"},
     "keys": ["cert:sshm-2021-bv-00001"], "related": ["uscc:91320509mawa0h9p1y"]},
    {"url": "certificates/SZZZ-2024-TUVSUD-00001/", "title": "高精度数控机床",
     "sub": "SZZZ-2024-TUVSUD-00001 · 苏州精工机械有限公司 · 吴中区",
     "text": "SZZZ-2024-TUVSUD-00001 · High-precision CNC machine tool · 6901234567892 · "
             "苏州精工机械有限公司 · 91320506MA1XY20001 · 吴中区 · 南德认证检测 TÜV SÜD",
     "facets": {"kind": "certificate", "status": "valid", "district": "吴中区", "body": "TUVSUD",
                "programme": "SZZZ"},
     "keys": ["cert:szzz-2024-tuvsud-00001", "gtin:06901234567892"],
     "related": ["uscc:91320506ma1xy20001"]},
    {"url": "certificates/SZZZ-2024-TUVSUD-00002/", "title": "丝绸围巾 <script>alert(1)</script>",
     "sub": "SZZZ-2024-TUVSUD-00002 · 苏州丝路织造有限公司 · 吴江区",
     "text": "SZZZ-2024-TUVSUD-00002 · Silk scarf · 苏州丝路织造有限公司 · 吴江区 · café naïve",
     "facets": {"kind": "certificate", "status": "valid", "district": "吴江区", "body": "TUVSUD",
                "programme": "SZZZ"},
     "keys": ["cert:szzz-2024-tuvsud-00002"]},
    {"url": "enterprises/91320509MAWA0H9P1Y/", "title": "苏州同创红木家具有限公司",
     "sub": "91320509MAWA0H9P1Y · 吴江区",
     "text": "Suzhou Tongchuang Rosewood Furniture Co., Ltd. · 91320509MAWA0H9P1Y · 红木圈椅",
     "facets": {"kind": "enterprise", "district": "吴江区"},
     "keys": ["uscc:91320509mawa0h9p1y"]},
    {"url": "notices/#notice-1", "title": "证书 SSHM-2021-BV-00001 撤销",
     "sub": "2025-05-20", "text": "监督抽查不合格 · SSHM-2021-BV-00001",
     "facets": {"kind": "notice"}, "related": ["cert:sshm-2021-bv-00001"]},
]
TEXTS = [
    "红木椅",
    "ＳＺＺＺ-２０２４ Ｔüv",
    "SZZZ-2024-TUVSUD-00001 高精度数控机床",
    "ﬁne café naïve Ⅻ ①",
    "a_b c—d 苏州 工业园区",
    "𠀀𠀁 İΣß ²½⑩ e\u0301 ｶﾞ",
]
QUERIES = [
    "红木", "木圈", "红", "红木圈椅", "苏州", "吴江区 有效", "SZZZ-2024-TUVSUD-00001",
    "ＳＺＺＺ－２０２４", "tuv", "tu", "t", "tuvsud ", "tuv\t", "tuv\u3000", "szzz 2024", "2024 szzz", "café",
    "cafe", "<script>", "script", "不存在的词", "", "   ", "!!!", "圈 椅", "00001",
    "constructor", "constructor.", "__proto__", "\U00020000",
]
# Exact lookups (docs/site-search.md): identifiers in the forms people type
# them, look-alikes that are not identifiers, and numbers of no record.
FINDS = [
    "SSHM-2021-BV-00001", "sshm-2021-bv-00001", "  SSHM－2021－BV－00001  ", "SSHM 2021 BV 00001",
    "SSHM\u20132021\u2013BV\u201300001", "SSHM-2022-BV-00001", "SZZZ-2024-TUVSUD-00001",
    "ＳＺＺＺ－２０２４－ＴＵＶＳＵＤ－００００２", "SZZZ-2024-TUVSUD-0000", "SZZZ-2024-TUVSUD-000011",
    "SZZZ-2024", "SZZZ-2024-TUVSUD-00001 高精度", "91320509MAWA0H9P1Y", "91320509mawa0h9p1y",
    "91320509MAWA0H9P1Z", "91320506MA1XY20001", "6901234567892", "06901234567892",
    "6901234567893", "12345678", "1234567", "00001", "红木", "tuv",
]
SHARD_TERMS = ["红", "红木", "木圈", "szzz", "sz", "s", "2024", "tuvsud", "91320509mawa0h9p1y", "é"]


def _documents():
    return [sitesearch.Document(d["url"], d["title"], d["sub"], d["text"], d["facets"],
                                tuple(d.get("keys", ())), tuple(d.get("related", ())))
            for d in DOCUMENTS]


def generate(index_dir) -> str:
    """The vectors file's text; writes the index it was computed from into ``index_dir``."""
    labels = {name: {k: tuple(v) for k, v in values.items()} for name, values in LABELS.items()}
    sitesearch.write_index(index_dir, _documents(), labels, shards=SHARDS, key_shards=KEY_SHARDS)
    queries = []
    for q in QUERIES:
        found, prefix = sitesearch.query_terms(q)
        queries.append({"query": q, "terms": found, "prefix": prefix,
                        "urls": [d[0] for d in sitesearch.documents(index_dir, sitesearch.search(index_dir, q))]})
    finds = []
    for q in FINDS:
        found = sitesearch.find(index_dir, q)
        ident = sitesearch.identifier(q)
        finds.append({"query": q, "exact": found["exact"], "key": ident[1] if ident else None,
                      "urls": [d[0] for d in sitesearch.documents(index_dir, found["ids"])]})
    vectors = {
        "comment": "docs/site-search.md; regenerate with scripts/make_search_vectors.py",
        "format": sitesearch.FORMAT,
        "shards": SHARDS,
        "key_shards": KEY_SHARDS,
        "labels": LABELS,
        "documents": DOCUMENTS,
        "normalize": [{"text": t, "normalized": sitesearch.normalize(t)} for t in TEXTS],
        "terms": [{"text": t, "terms": sorted(sitesearch.terms(t))} for t in TEXTS],
        "shard_of": [{"term": t, "shards": s, "shard": sitesearch.shard_of(t, s)}
                     for t in SHARD_TERMS for s in (1, 8, 1024)],
        "queries": queries,
        "finds": finds,
        "key_shard_of": [{"key": k, "shards": n, "shard": sitesearch.key_shard_of(k, n)}
                         for k in ("cert:sshm-2021-bv-00001", "uscc:91320509mawa0h9p1y",
                                   "gtin:06901234567892", "红木") for n in (1, 8, 1024)],
    }
    return json.dumps(vectors, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main():
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "vectors" / "site-search.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = generate(tmp)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
