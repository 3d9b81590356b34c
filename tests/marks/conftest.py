"""Fixtures of the marks tests: one small real registry per module, conformance vectors."""

import json
from pathlib import Path

import pytest
import registry_fixture

from registry.publish import api

REPO = Path(__file__).resolve().parents[2]
TODAY = "2025-06-01"


@pytest.fixture(scope="session")
def conformance():
    return json.loads((REPO / "docs/vectors/mark-conformance.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def small_registry(tmp_path_factory):
    """(db_path, keys_dir, cert_nos, site_dir, root_key_b64): 4 certificates, one per
    programme, with a fresh snapshot in site_dir."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SZZZ_TODAY", TODAY)
    mp.setenv("SZZZ_PASSPHRASE", registry_fixture.PASSPHRASE.decode())
    tmp = tmp_path_factory.mktemp("marks-registry")
    reg, cert_nos = registry_fixture.build(tmp / "registry.db", tmp / "keys")
    signer = api.load_log_signer(reg.db, tmp / "keys", registry_fixture.PASSPHRASE)
    api.write_snapshot(reg.db, tmp / "site", signer, as_of=TODAY + "T08:00:00Z")
    root = json.loads((tmp / "site/api/root-key.json").read_text())["public_key"]
    reg.close()
    yield tmp / "registry.db", tmp / "keys", cert_nos, tmp / "site", root
    mp.undo()
