"""The site-search index (docs/site-search.md): vectors, refusals, a real registry."""

import json
import random
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

from registry.core.exceptions import BuildError
from registry.publish import export, sitesearch
from registry.store import schema
from szzz_registry import data as site_data
from szzz_registry import search as site_search
from szzz_registry.figures import Figures

VECTORS = REPO_ROOT / "docs" / "vectors" / "site-search.json"


@pytest.fixture(scope="module")
def vectors():
    return json.loads(VECTORS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def vector_index(vectors, tmp_path_factory):
    """The index the vectors were computed from: their documents and labels, written again."""
    index = tmp_path_factory.mktemp("search-vectors")
    labels = {name: {k: tuple(v) for k, v in values.items()} for name, values in vectors["labels"].items()}
    docs = [sitesearch.Document(d["url"], d["title"], d["sub"], d["text"], d["facets"],
                                tuple(d.get("keys", ())), tuple(d.get("related", ())))
            for d in vectors["documents"]]
    sitesearch.write_index(index, docs, labels, shards=vectors["shards"], key_shards=vectors["key_shards"])
    return index


def test_vectors_file_is_what_the_script_generates(tmp_path):
    out = tmp_path / "site-search.json"
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "make_search_vectors.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_text(encoding="utf-8") == VECTORS.read_text(encoding="utf-8")


def test_every_vector_holds(vectors, vector_index):
    index = vector_index
    for v in vectors["normalize"]:
        assert sitesearch.normalize(v["text"]) == v["normalized"], v
    for v in vectors["terms"]:
        assert sorted(sitesearch.terms(v["text"])) == v["terms"], v
    for v in vectors["shard_of"]:
        assert sitesearch.shard_of(v["term"], v["shards"]) == v["shard"], v
    for v in vectors["key_shard_of"]:
        assert sitesearch.key_shard_of(v["key"], v["shards"]) == v["shard"], v
    meta = json.loads((index / "meta.json").read_text(encoding="utf-8"))
    assert (meta["format"], meta["shards"], meta["keys"], meta["docs"]) == (
        "szzz-search/v2", vectors["shards"], vectors["key_shards"], len(vectors["documents"]))
    for v in vectors["queries"]:
        assert list(sitesearch.query_terms(v["query"])) == [v["terms"], v["prefix"]], v
        found = sitesearch.documents(index, sitesearch.search(index, v["query"]))
        assert [d[0] for d in found] == v["urls"], v
    for v in vectors["finds"]:
        ident = sitesearch.identifier(v["query"])
        assert (ident[1] if ident else None) == v["key"], v
        found = sitesearch.find(index, v["query"])
        assert found["exact"] == v["exact"], v
        assert [d[0] for d in sitesearch.documents(index, found["ids"])] == v["urls"], v


def test_the_vectors_cover_what_users_type(vectors):
    """Two-character Chinese inside a word, full-width input, prefixes, no terms."""
    by_query = {v["query"]: v for v in vectors["queries"]}
    assert by_query["木圈"]["urls"] and by_query["ＳＺＺＺ－２０２４"]["urls"]
    assert by_query["tuv"]["prefix"] == "tuv" and by_query["tuv"]["urls"]
    assert by_query["不存在的词"]["urls"] == [] and by_query[""]["terms"] == []
    assert by_query["SZZZ-2024-TUVSUD-00001"]["urls"] == ["certificates/SZZZ-2024-TUVSUD-00001/"]


def test_an_identifier_finds_its_record_first_or_nothing(vectors):
    """Issue 14: a certificate number, USCC or GTIN is an exact lookup. A number
    of no certificate finds nothing (never SSHM-2021-BV-00001, which shares
    three of its four parts); the record comes first, documents about it after;
    case, full-width forms, dashes and GTIN-13/14 forms name the same record;
    an incomplete number is still a search (results while typing)."""
    finds = {v["query"]: v for v in vectors["finds"]}
    assert finds["SSHM-2022-BV-00001"] == {"query": "SSHM-2022-BV-00001", "exact": "cert",
                                           "key": "cert:sshm-2022-bv-00001", "urls": []}
    record = ["certificates/SSHM-2021-BV-00001/", "notices/#notice-1"]
    for typed in ("SSHM-2021-BV-00001", "sshm-2021-bv-00001", "  SSHM－2021－BV－00001  ",
                  "SSHM 2021 BV 00001", "SSHM\u20132021\u2013BV\u201300001"):
        assert finds[typed]["urls"] == record, typed
    assert finds["91320509MAWA0H9P1Y"]["urls"] == ["enterprises/91320509MAWA0H9P1Y/",
                                                   "certificates/SSHM-2021-BV-00001/"]
    assert finds["6901234567892"]["urls"] == finds["06901234567892"]["urls"] == [
        "certificates/SZZZ-2024-TUVSUD-00001/"]
    assert finds["6901234567893"]["exact"] == "gtin" and finds["6901234567893"]["urls"] == []
    for typing in ("SZZZ-2024-TUVSUD-0000", "SZZZ-2024", "00001", "红木"):
        assert finds[typing]["exact"] is None and finds[typing]["urls"], typing


def test_every_identifier_of_a_real_registry_is_an_exact_lookup(demo_index):
    """Every certificate number, USCC and GTIN of a demo registry finds its own
    record first, and a number of the same shape that is not registered finds
    nothing, though a free-text search for it finds certificates."""
    index, data = demo_index
    for c in data.certificates:
        found = sitesearch.find(index, c["cert_no"])
        urls = [d[0] for d in sitesearch.documents(index, found["ids"])]
        assert found["exact"] == "cert" and urls[0] == f"certificates/{c['cert_no']}/", c["cert_no"]
        assert not [u for u in urls if u.startswith("certificates/") and u != urls[0]], urls
    for uscc, e in data.enterprises.items():
        urls = [d[0] for d in sitesearch.documents(index, sitesearch.find(index, uscc.lower())["ids"])]
        assert urls[0] == f"enterprises/{uscc}/"
        assert sorted(urls[1:]) == sorted(f"certificates/{c['cert_no']}/" for p in e["products"]
                                          for c in p["certificates"])
    with_gtin = [p for p in data.products.values() if p.get("gtin") and p["certificates"]]
    assert with_gtin, "the demo registry has no product with a GTIN: nothing checked"
    for p in with_gtin:
        urls = [d[0] for d in sitesearch.documents(index, sitesearch.find(index, p["gtin"])["ids"])]
        assert urls == [f"certificates/{c['cert_no']}/" for c in p["certificates"]], p["gtin"]
    # A number of no certificate that shares words with registered ones (issue 14's
    # SSHM-2022-BV-00001): a free-text search "finds" those, the lookup nothing.
    taken = {c["cert_no"] for c in data.certificates}
    look_alikes = (f"{prog}-{year}-{body}-{serial}" for prog, _, body, serial in
                   (c["cert_no"].split("-") for c in data.certificates) for year in range(2020, 2026))
    missing = next(n for n in look_alikes if n not in taken and sitesearch.search(index, n))
    assert sitesearch.find(index, missing) == {"exact": "cert", "ids": []}


def test_every_term_is_in_the_shard_its_first_two_characters_name(vector_index):
    index = vector_index
    shards = json.loads((index / "meta.json").read_text(encoding="utf-8"))["shards"]
    seen = set()
    for k in range(shards):
        for term in json.loads((index / f"terms-{k}.json").read_text(encoding="utf-8")):
            assert sitesearch.shard_of(term, shards) == k and term not in seen
            seen.add(term)
    assert len({sitesearch.shard_of(t, shards) for t in seen}) > 1   # really sharded


def _doc(**facets):
    return sitesearch.Document("certificates/X/", "红木", "", "", {"kind": "certificate", **facets})


LABELS = {"kind": {"certificate": ("证书", "Certificate")}, "status": {"valid": ("有效", "valid")},
          "district": {}, "body": {}, "programme": {}}


@pytest.mark.parametrize(("doc", "message"), [
    (_doc(status="sleeping"), "status 'sleeping' is not one of the labelled values"),
    (sitesearch.Document("certificates/X/", "t", "", "", {}), "has no kind"),
    (sitesearch.Document("/certificates/X/", "t", "", "", {"kind": "certificate"}),
     "expected a site-relative URL"),
])
def test_documents_the_page_could_not_show_stop_the_build(doc, message, tmp_path):
    with pytest.raises(BuildError, match=message):
        sitesearch.write_index(tmp_path, [doc], LABELS)
    assert list(tmp_path.iterdir()) == []


def test_rewriting_an_index_removes_the_files_of_the_earlier_one(tmp_path):
    docs = [_doc(status="valid")] * 3
    sitesearch.write_index(tmp_path, docs, LABELS, shards=8)
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    sitesearch.write_index(tmp_path, docs, LABELS, shards=2)
    assert sorted(p.name for p in tmp_path.glob("terms-*.json")) == ["terms-0.json", "terms-1.json"]
    sitesearch.write_index(tmp_path, docs, LABELS, shards=8)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first   # byte-identical
    with pytest.raises(BuildError, match="power of two"):
        sitesearch.write_index(tmp_path, docs, LABELS, shards=3)


@pytest.fixture(scope="module")
def demo_index(make_registry):
    built = make_registry(demo=60)
    tmp = built.base
    db = schema.connect(built.db)
    export.export_public_db(db, tmp / "public.db")
    db.conn.close()
    data = site_data.load(tmp / "public.db")
    conn = site_data.open_readonly(tmp / "public.db")
    try:
        index = Figures.compute(conn, 0).list_index(data.bodies)
    finally:
        conn.close()
    labels = site_search.labels(index, data.bodies)
    site_search.write(tmp / "index", data, labels)
    return tmp / "index", data


def test_every_certificate_is_found_by_its_number_and_a_piece_of_its_name(demo_index):
    index, data = demo_index
    rng = random.Random(4)
    for c in rng.sample(data.certificates, 20):
        url = f"certificates/{c['cert_no']}/"
        found = [d[0] for d in sitesearch.documents(index, sitesearch.search(index, c["cert_no"]))]
        assert url in found, c["cert_no"]
        han = [ch for ch in c["product_row"]["name_zh"] if "\u4e00" <= ch <= "\u9fff"]
        name = c["product_row"]["name_zh"]
        start = next(i for i in range(len(name) - 1) if name[i] in han and name[i + 1] in han)
        piece = name[start:start + 2]           # two characters from inside the name
        found = [d[0] for d in sitesearch.documents(index, sitesearch.search(index, piece))]
        assert url in found, (piece, c["cert_no"])


def test_facets_hold_each_documents_values(demo_index):
    index, data = demo_index
    meta = json.loads((index / "meta.json").read_text(encoding="utf-8"))
    facets = json.loads((index / "facets.json").read_text(encoding="utf-8"))
    names = ["kind", "status", "district", "body", "programme"]
    # The certificates' documents come first; enterprises, bodies ... follow.
    for c, row in zip(data.certificates, facets, strict=False):
        values = {n: (meta["facets"][n][i][0] if i >= 0 else None) for n, i in zip(names, row, strict=True)}
        assert values == {"kind": "certificate", "status": c["status"],
                          "district": c["enterprise_row"]["district"], "body": c["body"],
                          "programme": c["programme"]}
    assert len(facets) == meta["docs"] > len(data.certificates)   # enterprises, bodies ... too
