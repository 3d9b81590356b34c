"""The public database in Datasette: test client and a real ``datasette`` on 127.0.0.1.

One demo registry (30 certificates, one revoked, one suspended) and the XSS
registry are published once per module with ``publish.build``; Datasette
serves the resulting ``data/registry.db`` with ``data/metadata.yml`` and the
plugin in ``plugins/datasette``, exactly as ``publish.py serve`` runs it.
"""

import csv
import datetime
import io
import sqlite3

import httpx
import pytest
from builders import PORTAL_REGISTRY
from helpers import datasette_for, run_async, running_datasette
from xss_corpus import PASSPHRASE as XSS_PASSPHRASE
from xss_corpus import XSS_STRINGS, xss_registry

import publish
from registry.core import canonical
from registry.publish import export, opendata


@pytest.fixture(scope="module")
def published(make_registry):
    built = make_registry(**PORTAL_REGISTRY)
    out = built.base / "output"
    publish.build(built.db, out, keys_dir=built.keys, passphrase=built.passphrase,
                  site_url="http://127.0.0.1:8000")
    return out / "data"


def get_json(ds, path):
    async def go():
        response = await ds.client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        return response.json()
    return run_async(go())


def query_params(conn):
    """Parameters that make every canned query meaningful on the demo data."""
    uscc = conn.execute("select enterprise from certificates order by cert_no limit 1").fetchone()[0]
    soonest = conn.execute("select min(expires) from certificates where status = 'valid'").fetchone()[0]
    as_of = (datetime.date.fromisoformat(soonest) - datetime.timedelta(days=30)).isoformat()
    name = conn.execute("select product_name_zh from certificates order by cert_no limit 1").fetchone()[0]
    return {"uscc": uscc, "as_of": as_of, "q": name[:2]}


def test_every_canned_query_returns_rows(published):
    ds = datasette_for(published)
    conn = sqlite3.connect(published / "registry.db")
    params = query_params(conn)
    for name, query in opendata.QUERIES.items():
        names = [p for p in params if f":{p}" in query["sql"]]
        qs = "&".join(f"{p}={params[p]}" for p in names)
        rows = get_json(ds, f"/registry/{name}.json?_shape=array&{qs}")
        assert rows, name


def test_signature_check_in_sql(published):
    ds = datasette_for(published)
    rows = get_json(ds, "/registry/verify_signatures.json?_shape=array")
    assert rows and all(r["total"] == r["verified"] > 0 for r in rows)
    conn = sqlite3.connect(published / "registry.db")
    seq, payload = conn.execute("select seq, payload from events where type = 'revoked'").fetchone()
    tampered = payload.replace('"revoked"', '"valid"')
    assert tampered != payload
    sql = ("select szzz_verify_envelope(:domain, :payload, key_id, signature) as ok "
           "from events where seq = :seq")
    for text, expected in ((payload, 1), (tampered, 0)):
        result = get_json(ds, "/registry.json?_shape=array&" + httpx.QueryParams(
            {"sql": sql, "domain": canonical.EVENT, "payload": text, "seq": seq}).__str__())
        assert result == [{"ok": expected}]


def _expected(conn, table, key, term):
    """Ground truth: rows whose indexed text contains ``term`` (plain substring)."""
    cols = export.FTS_SOURCES[table][1]
    out = set()
    for row in conn.execute(f"select {key}, {', '.join(cols)} from {table}"):
        if any(term.lower() in str(v).lower() for v in row[1:] if v is not None):
            out.add(row[0])
    return out


@pytest.mark.parametrize("length", [2, 3, 4])
def test_chinese_search_finds_substrings(published, length):
    ds = datasette_for(published)
    conn = sqlite3.connect(published / "registry.db")
    names = [r[0] for r in conn.execute("select product_name_zh from certificates order by cert_no")]
    terms = sorted({n[i:i + length] for n in names[:6] for i in (0, len(n) - length)
                    if len(n) >= length and all(ord(c) > 127 for c in n[i:i + length])})
    assert terms
    for term in terms:
        rows = get_json(ds, f"/registry/certificates.json?_shape=array&_size=max&_search={term}")
        found = {r["cert_no"] for r in rows}
        expected = _expected(conn, "certificates", "cert_no", term)
        assert found == expected and expected, term
        # The same through the site-wide canned search.
        hits = get_json(ds, f"/registry/search.json?_shape=array&q={term}")
        assert expected <= {h["id"] for h in hits if h["kind"] == "certificate"}


def test_two_character_district_search(published):
    ds = datasette_for(published)
    conn = sqlite3.connect(published / "registry.db")
    expected = {r[0] for r in conn.execute(
        "select cert_no from certificates where district like '%吴中%'")}
    rows = get_json(ds, "/registry/certificates.json?_shape=array&_size=max&_search=吴中")
    assert {r["cert_no"] for r in rows} == expected


def test_csv_with_bom_for_excel(published):
    ds = datasette_for(published)

    async def go():
        return await ds.client.get("/registry/certificates.csvbom?_size=max")
    response = run_async(go())
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    conn = sqlite3.connect(published / "registry.db")
    expected = dict(conn.execute("select cert_no, enterprise_name_zh from certificates"))
    assert {r["cert_no"]: r["enterprise_name_zh"] for r in rows} == expected


def test_facets_offered_and_suggestions_off(published):
    ds = datasette_for(published)
    data = get_json(ds, "/registry/certificates.json?_extra=facet_results,suggested_facets")
    assert set(data["facet_results"]) == set(opendata.FACETS["certificates"])
    assert not data.get("suggested_facets")


def test_facets_on_the_page_and_on_request_in_json(published):
    """The HTML page shows the metadata's facets; .json computes them only when asked
    (?_facet= or ?_extra=, as in Datasette 1.0); the HTML page shows 20 rows."""
    ds = datasette_for(published)

    async def go(path):
        response = await ds.client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        return response
    plain = run_async(go("/registry/certificates.json")).json()
    assert not plain["facet_results"] and len(plain["rows"]) == opendata.PAGE_SIZES["certificates"]
    assert plain["next"] and plain["filtered_table_rows_count"] == 30
    asked = run_async(go("/registry/certificates.json?_facet=body")).json()
    assert set(asked["facet_results"]) == {"body", *opendata.FACETS["certificates"]}
    assert asked["rows"] == plain["rows"]
    html = run_async(go("/registry/certificates")).text
    for column in opendata.FACETS["certificates"]:
        assert f'data-column="{column}"' in html, column
    conn = sqlite3.connect(published / "registry.db")
    newest = [r[0] for r in conn.execute("select cert_no from certificates order by issued desc, cert_no desc "
                                         "limit ?", [opendata.PAGE_SIZES["certificates"]])]
    assert all(f'href="/registry/certificates/{no}"' in html for no in newest)
    oldest = conn.execute("select cert_no from certificates order by issued, cert_no limit 1").fetchone()[0]
    assert f'href="/registry/certificates/{oldest}"' not in html


# -------------------------------------------------------- real datasette


@pytest.fixture(scope="module")
def datasette_http(published):
    with running_datasette(published) as base:
        yield base


def test_http_cors_search_and_limits(datasette_http):
    r = httpx.get(f"{datasette_http}/registry/certificates.json?_search=苏州&_shape=array",
                  headers={"Origin": "https://platform.example"})
    assert r.status_code == 200 and r.json()
    assert r.headers["access-control-allow-origin"] == "*"
    settings = httpx.get(f"{datasette_http}/-/settings.json").json()
    assert settings["sql_time_limit_ms"] == 1000 and settings["suggest_facets"] is False
    r = httpx.get(f"{datasette_http}/registry/search.json?q=苏州&_shape=array")
    assert r.status_code == 200 and r.json()


# ----------------------------------------------------------------- XSS


@pytest.fixture(scope="module")
def xss_datasette(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xss")
    db, keys_dir = xss_registry(tmp)
    publish.build(db, tmp / "output", keys_dir=keys_dir, passphrase=XSS_PASSPHRASE,
                  site_url="http://127.0.0.1:8000")
    data = tmp / "output" / "data"
    with running_datasette(data) as base:
        yield base, data


def test_xss_corpus_renders_as_text_in_datasette(xss_datasette, page):
    base, data = xss_datasette
    conn = sqlite3.connect(data / "registry.db")
    cert_no = conn.execute("select cert_no from certificates order by cert_no").fetchone()[0]
    paths = ["/registry/certificates", "/registry/products", "/registry/enterprises",
             "/registry/notices", "/registry/events", "/registry/bodies", "/registry/standards",
             f"/registry/certificates/{cert_no}", "/registry/search?q=script",
             "/registry/certificates?_search=script", "/registry/recently_suspended_or_revoked"]
    for path in paths:
        page.goto(base + path)
        assert page.evaluate("() => window.__xss") is None, path
        assert page.evaluate("() => document.querySelectorAll('svg[onload], img[onerror]').length") == 0, path
        html = httpx.get(base + path).text
        assert "<script>window.__xss=1</script>" not in html, path
    # The strings are there, as text.
    page.goto(base + "/registry/notices")
    text = page.inner_text("body")
    assert sum(1 for s in XSS_STRINGS if s.strip() and s.strip()[:20] in text) >= 3
