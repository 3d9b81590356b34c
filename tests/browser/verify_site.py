"""Helpers for the verification-page tests: build a served site from the
conformance vectors (or from records made here with the real registry code)
and drive the page through its hash."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from registry import webverifier

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS_PATH = REPO_ROOT / "docs" / "vectors" / "mark-conformance.json"

#: The state the page root reaches once a verdict is shown.
DONE = "document.documentElement.dataset.state === 'done'"


def load_vectors() -> dict:
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def write_files(root: Path, files: dict) -> None:
    """Write ``{"api/...": text}`` under ``root`` exactly as given (bytes as UTF-8)."""
    for name, text in files.items():
        path = root / name
        assert path.resolve().is_relative_to(root.resolve()), name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")


def build_site(root: Path, files: dict, *, root_public_key: str, today: str, max_age_days: int = 7,
               **options) -> Path:
    write_files(root, files)
    webverifier.install_verifier(root / "v", root_public_key=root_public_key, today=today,
                                 max_age_days=max_age_days, **options)
    return root


def record_requests(page) -> list[str]:
    """Every URL the page requests, to check nothing leaves 127.0.0.1."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def foreign_requests(urls) -> list[str]:
    return [u for u in urls if urlsplit(u).scheme not in ("data", "blob")
            and urlsplit(u).hostname != "127.0.0.1"]


def verdict_of(page) -> dict:
    return page.evaluate("""() => {
        const box = document.getElementById('verdict');
        return {verdict: box.dataset.verdict, run: document.documentElement.dataset.run,
                text: box.innerText};
    }""")


def verify_via_hash(page, fragment: str, timeout_ms: int = 15000) -> dict:
    """Set ``location.hash`` on an open verification page and wait for the new verdict.

    The fragment must differ from the current one (an unchanged hash fires no
    ``hashchange``); callers verifying the same input twice reuse the result.
    """
    before = page.evaluate("() => Number(document.documentElement.dataset.run || 0)")
    page.evaluate("(h) => { location.hash = h; }", fragment)
    page.wait_for_function(
        f"(before) => Number(document.documentElement.dataset.run) > before && {DONE}",
        arg=before, timeout=timeout_ms)
    return verdict_of(page)


# --------------------------------------------------------------------------- #
# A small signed site made here with the real registry code (fixed seeds)
# --------------------------------------------------------------------------- #
#: Documented seeds of the keys of the pages' own fixture (test vectors only).
SEEDS = {
    "root": b"szzz browser-test root",
    "log": b"szzz browser-test log",
    "body": b"szzz browser-test CQC key",
}
TODAY = "2025-06-15"
AS_OF = "2025-06-14T15:59:59Z"


def build_signed_site(root: Path, *, cert_no: str, texts: dict, as_of: str = AS_OF,
                      today: str = TODAY, **install_options) -> dict:
    """Publish one certificate whose display fields are ``texts`` (e.g. hostile
    HTML) into ``root/api/`` with ``snapshot.write_files``, install the
    verifier at ``root/v/``; return ``{"payload": digits, "root_public_key": ...}``.

    Every text reaches the browser through a SIGNED record (certificate
    revision, trust-list entry), exactly as a malicious or careless
    certification body could publish it.
    """
    from registry import canonical, keys, payload, snapshot

    k = {name: keys.signer_from_seed(seed) for name, seed in SEEDS.items()}
    programme, _year, body, _serial = cert_no.split("-")

    def entry(name, role, body_code):
        return {"key_id": k[name].key_id, "public_key": k[name].public_b64, "role": role,
                "body": body_code, "body_name_zh": texts["body_zh"], "body_name_en": texts["body_en"],
                "valid_from": "2021-01-01", "valid_to": None, "status": "active",
                "status_date": "2021-01-01"}

    trust = canonical.make_envelope(canonical.TRUST_LIST, {
        "scheme": "苏州制造", "version": 1, "issued": "2021-01-01",
        "root_key_id": k["root"].key_id, "root_public_key": k["root"].public_b64,
        "keys": sorted([entry("log", "log", None), entry("body", "body", body)],
                       key=lambda e: e["key_id"]),
    }, k["root"])
    record = canonical.nfc({
        "cert_no": cert_no, "revision": 1, "previous": None, "programme": programme,
        "body": body, "key_id": k["body"].key_id,
        "enterprise": {"uscc": "91320500MA1XXXXX0X", "name_zh": texts["enterprise_zh"],
                       "name_en": texts["enterprise_en"], "district": texts["district"]},
        "product": {"id": 1, "name_zh": texts["product_zh"], "name_en": texts["product_en"],
                    "models": texts["models"], "gtin": None},
        "standards": texts["standards"], "scope": texts["scope"],
        "issued": "2025-01-02", "signed_on": "2025-01-02", "expires": "2028-01-01",
        "mark_authorised": True,
        "evaluation": {"innovation": 88, "quality": 91, "service": 85, "reputation": 90, "recognition": 86},
    })
    revision = canonical.make_envelope(canonical.CERTIFICATE, record, k["body"])
    event = canonical.make_envelope(canonical.EVENT, {
        "seq": 1, "type": "issued", "date": "2025-01-02", "actor": body, "cert_no": cert_no,
        "status": "valid", "revision": 1, "record_digest": canonical.envelope_digest(revision),
        "prev": None, "reason": texts["scope"], "notice": None, "subject": None, "details": {},
    }, k["body"])
    cert = snapshot.CertificateData(cert_no, "valid", "2025-01-02", body, programme,
                                    revisions=[revision], revision_reasons=["issued"],
                                    events=[event], summary=snapshot.summary_of(record))
    snapshot.write_files(root, trust, [cert], k["log"], as_of=as_of, last_seq=1)
    mark = payload.sign(k["body"], signed_on="2025-01-02", expires="2028-01-01",
                        record_digest=canonical.envelope_digest(revision), cert_no=cert_no)
    webverifier.install_verifier(root / "v", root_public_key=k["root"].public_b64, today=today,
                                 **install_options)
    return {"payload": mark.to_text(), "root_public_key": k["root"].public_b64}
