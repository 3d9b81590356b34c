"""docs/vectors/marks.json: reproducible, and every vector agrees with registry.payload."""

import json
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

from registry.core import canonical, keys, payload
from registry.core.exceptions import PayloadError
from registry.marks import qr

VECTORS = json.loads((REPO_ROOT / "docs/vectors/marks.json").read_text(encoding="utf-8"))


def test_vector_file_is_reproducible(tmp_path):
    out = tmp_path / "marks.json"
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts/make_mark_vectors.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == (REPO_ROOT / "docs/vectors/marks.json").read_bytes()


def test_seed_gives_documented_key():
    signer = keys.signer_from_seed(VECTORS["seed"].encode())
    assert (signer.public_b64, signer.key_id) == (VECTORS["public_key"], VECTORS["key_id"])


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["cert_no"])
def test_vector_parses_to_its_fields_and_verifies(vector):
    mark = payload.parse_text(vector["text"])
    assert mark.to_bytes().hex() == vector["bytes_hex"]
    assert (mark.cert_no, mark.signed_on, mark.expires, mark.key_id) == (
        vector["cert_no"], vector["signed_on"], vector["expires"], vector["key_id"])
    assert mark.record_digest == vector["record_digest"][:32]
    assert canonical.sha256_hex(vector["record_payload"].encode()) == vector["record_digest"]
    assert mark.signing_input.hex() == vector["signing_input_hex"]
    assert mark.signing_input.startswith(b"szzz/mark/v1\n")
    assert mark.verify_signature(canonical.unb64url(VECTORS["public_key"]))
    for site, url in vector["urls"].items():
        assert url == site + "/v/#" + vector["text"]
        assert payload.payload_text(url) == vector["text"]
        assert vector["qr_version_at_M"][site] <= qr.MAX_VERSION


@pytest.mark.parametrize("group", VECTORS["groups"], ids=lambda g: g["bytes_hex"])
def test_digit_groups(group):
    assert payload.bytes_to_digits(bytes.fromhex(group["bytes_hex"])) == group["digits"]
    assert payload.digits_to_bytes(group["digits"]).hex() == group["bytes_hex"]


@pytest.mark.parametrize("bad", VECTORS["invalid"], ids=lambda b: b["why"][:30])
def test_invalid_texts_are_refused(bad):
    with pytest.raises(PayloadError):
        payload.parse_text(bad["text"])


def test_site_url_budget():
    # The documented limit is what check_site_url enforces.
    limit = VECTORS["max_site_url_length"]
    assert limit == qr.max_site_url_length() >= len("https://szzz.example.cn")
    qr.check_site_url("https://" + "a" * (limit - 8))
    with pytest.raises(Exception, match="too long"):
        qr.check_site_url("https://" + "a" * (limit - 7))
    for bad in ("HTTPS://SZZZ.EXAMPLE.CN", "https://szzz.example.cn/?x=1", "ftp://szzz.example.cn",
                "https://szzz.example.cn/#", "javascript:alert(1)"):
        with pytest.raises(Exception, match="expected lowercase"):
            qr.check_site_url(bad)
