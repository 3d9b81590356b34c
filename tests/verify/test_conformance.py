"""Every conformance vector through the Python verifier (the browser runs the same file)."""

import json
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

from registry import verify
from registry.core import rules
from registry.core.exceptions import VerificationError
from registry.verify import batch, sources

VECTORS = json.loads((REPO_ROOT / "docs/vectors/mark-conformance.json").read_text(encoding="utf-8"))
# Vectors decided by a certificate file's own content (rule 5/6), which batch
# mode does not read: it trusts the signed status snapshot instead.
# What only the per-certificate files and status statements carry (batch
# verification reads the status snapshot instead).
FILE_ONLY = {"stale-status", "future-status", "unreadable-certificate-file", "tampered-event",
             "event-signed-by-another-body", "status-statement-rolled-back",
             "status-statement-without-certificate"}


def run(vector, source):
    return verify.verification_result(
        vector["input"], source, root_public_key=VECTORS["root_public_key"],
        max_age=VECTORS["max_age_days"], today=VECTORS["today"])


def test_vector_file_is_reproducible(tmp_path):
    out = tmp_path / "c.json"
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts/make_conformance_vectors.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == (REPO_ROOT / "docs/vectors/mark-conformance.json").read_bytes()


def test_every_verdict_is_covered():
    assert {v["expected_verdict"] for v in VECTORS["vectors"]} == set(rules.VERDICTS)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_vector(vector, tmp_path):
    result = run(vector, sources.FilesSource(VECTORS["files"]))
    assert result.verdict == vector["expected_verdict"], result.reason
    assert result.reason and result.reason_zh
    failed = [k for k, v in result.checks.items() if v is False]
    if vector["expected_verdict"] == "valid":
        assert all(result.checks.values()) and not failed
    else:
        assert len(failed) <= 1
    with pytest.raises(VerificationError) if vector["expected_verdict"] != "valid" else _nothing():
        verify.verify(vector["input"], sources.FilesSource(VECTORS["files"]),
                      root_public_key=VECTORS["root_public_key"], today=VECTORS["today"])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("conformance-site")
    for name, text in VECTORS["files"].items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_same_verdicts_from_a_directory_and_over_http(site_dir, serve_dir):
    base = serve_dir(site_dir)
    for vector in VECTORS["vectors"]:
        assert run(vector, site_dir).verdict == vector["expected_verdict"], vector["name"]
    # Over HTTP (httpx against a real loopback server): a representative subset.
    for name in ("valid-retired-key-before-retirement", "revoked", "missing-certificate",
                 "superseded-by-rekey", "stale-status", "corrupt-signature"):
        vector = next(v for v in VECTORS["vectors"] if v["name"] == name)
        assert run(vector, base).verdict == vector["expected_verdict"], name


def test_unreachable_site_gives_status_unknown_or_unknown_issuer():
    vector = VECTORS["vectors"][0]
    # Port 9 on loopback: connection refused -> no trust list -> issuer can't be judged.
    result = run(vector, "http://127.0.0.1:9")
    assert result.verdict == "unknown_issuer" and result.checks["trust_list"] is False


def test_wrong_pinned_root_is_unknown_issuer():
    vector = VECTORS["vectors"][0]
    other = VECTORS["files"]["api/trust-list.json"]
    env = json.loads(other)
    some_body_key = json.loads(env["payload"])["keys"][0]["public_key"]
    result = verify.verification_result(vector["input"], sources.FilesSource(VECTORS["files"]),
                                        root_public_key=some_body_key, today=VECTORS["today"])
    assert result.verdict == "unknown_issuer"
    assert "not signed by the scheme root" in result.reason


def test_batch_agrees_with_single_verification(site_dir, tmp_path):
    rows = [(i, {"id": v["name"], "payload": v["input"]}) for i, v in enumerate(VECTORS["vectors"], 1)
            if v["name"] not in FILE_ONLY and v["input"]]
    out = tmp_path / "out.jsonl"
    with open(out, "w") as f:
        batch.verify_batch(rows, site_dir, root_public_key=VECTORS["root_public_key"], out=f,
                                 workers=2, today=VECTORS["today"], max_age=VECTORS["max_age_days"])
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in results] == [r[0] for r in rows]
    expected = {v["name"]: v["expected_verdict"] for v in VECTORS["vectors"]}
    for r in results:
        assert r["verdict"] == expected[r["id"]], (r["id"], r["reason"])


@pytest.mark.parametrize("damage", ["signature", "payload", "stale", "missing"])
def test_batch_never_says_valid_with_a_bad_snapshot(site_dir, tmp_path, damage):
    import shutil

    site = tmp_path / "site"
    shutil.copytree(site_dir, site)
    status = site / "api/status.json"
    env = json.loads(status.read_text())
    today = VECTORS["today"]
    if damage == "signature":
        env["signature"] = ("A" if env["signature"][0] != "A" else "B") + env["signature"][1:]
    elif damage == "payload":
        env["payload"] = env["payload"].replace('"revoked"', '"valid"')
    elif damage == "stale":
        today = "2025-07-01"
    if damage == "missing":
        status.unlink()
    else:
        status.write_text(json.dumps(env))
    good = next(v for v in VECTORS["vectors"] if v["name"] == "valid-retired-key-before-retirement")
    revoked = next(v for v in VECTORS["vectors"] if v["name"] == "revoked")
    rows = [(1, {"id": "g", "payload": good["input"]}), (2, {"id": "r", "payload": revoked["input"]}),
            (3, {"id": "c", "cert_no": "SZZZ-2024-CQC-00001"})]
    out = tmp_path / "out.jsonl"
    with open(out, "w") as f:
        batch.verify_batch(rows, site, root_public_key=VECTORS["root_public_key"], out=f,
                                 workers=1, today=today)
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["verdict"] for r in results] == ["status_unknown"] * 3
    assert results[0]["checks"]["signature"] is True      # genuine mark, status unusable
