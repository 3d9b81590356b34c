"""The freshness rule and the log requirement in real Chromium (docs/verification.md §6).

The vector log site (docs/vectors/mark-conformance.json ``log_site``): its
trust list has a timestamp key, so the page must find and check the log even
without a pinned origin; a stale statement is current only with a fresh
checkpoint of the statement's ``log_size``. Same verdicts as Python.
"""

from __future__ import annotations

import base64
import shutil

import pytest
from helpers import VERIFIER_ASSETS
from verify_site import build_site, load_vectors, verify_via_hash

from registry import verify
from registry.publish import webverifier

pytestmark = pytest.mark.browser

VECTORS = load_vectors()
LOG_SITE = VECTORS["log_site"]


def make_site(root):
    build_site(root, LOG_SITE["files"], root_public_key=VECTORS["root_public_key"],
               today=VECTORS["today"], max_age_days=VECTORS["max_age_days"])
    for name, b64 in LOG_SITE["binary_files"].items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(base64.b64decode(b64))
    # A second page with the origin pinned (as publish.py installs it).
    webverifier.install_verifier(root / "v-pinned", assets=VERIFIER_ASSETS, root_public_key=VECTORS["root_public_key"],
                                 today=VECTORS["today"], max_age_days=VECTORS["max_age_days"],
                                 log_origin=LOG_SITE["origin"])
    return root


@pytest.fixture(scope="module")
def log_vector_site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("log-vector-site"))


def open_idle(page, url):
    page.goto(url)
    page.wait_for_function("() => document.documentElement.dataset.state === 'idle'")


def python_verdict(vector, files_root):
    return verify.verification_result(vector["input"], files_root, root_public_key=VECTORS["root_public_key"],
                                      today=VECTORS["today"], max_age=VECTORS["max_age_days"]).verdict


@pytest.mark.parametrize("path", ["/v/", "/v-pinned/"])
def test_log_site_vectors_in_the_browser(page, serve_dir, log_vector_site, path):
    base = serve_dir(log_vector_site)
    open_idle(page, base + path)
    wrong = []
    for vector in LOG_SITE["vectors"]:
        got = verify_via_hash(page, vector["input"])
        py = python_verdict(vector, log_vector_site)
        if not (got["verdict"] == py == vector["expected_verdict"]):
            wrong.append((vector["name"], got["verdict"], py, vector["expected_verdict"], got["text"][-300:]))
    assert not wrong
    assert not page.page_errors


def test_quiet_registry_verdict_says_current_and_larger_checkpoint_says_stale(page, serve_dir, log_vector_site):
    base = serve_dir(log_vector_site)
    open_idle(page, base + "/v/")
    quiet, larger = LOG_SITE["vectors"][1], LOG_SITE["vectors"][2]
    got = verify_via_hash(page, quiet["input"])
    assert got["verdict"] == "valid" and "证书有效" in got["text"]
    got = verify_via_hash(page, larger["input"])
    assert got["verdict"] == "status_unknown"
    assert f"size {LOG_SITE['log_size']}" in got["text"] and "stale" in got["text"]


def test_deleting_the_log_gives_status_unknown(page, serve_dir, log_vector_site, tmp_path):
    """A hostile host deletes api/log.json (unpinned page) or log/ (pinned page)."""
    site = tmp_path / "site"
    shutil.copytree(log_vector_site, site)
    (site / "api" / "log.json").unlink()
    base = serve_dir(site)
    good = LOG_SITE["vectors"][0]
    open_idle(page, base + "/v/")
    got = verify_via_hash(page, good["input"])
    assert got["verdict"] == "status_unknown" and "transparency log" in got["text"]
    # The pinned page does not need api/log.json, but needs log/.
    open_idle(page, base + "/v-pinned/")
    assert verify_via_hash(page, good["input"])["verdict"] == "valid"
    shutil.rmtree(site / "log")
    open_idle(page, base + "/v-pinned/?again")
    assert verify_via_hash(page, good["input"])["verdict"] == "status_unknown"
