"""The canonical-encoding test vectors in docs/ are what the code produces,
byte for byte, and the script that made them reproduces the committed file."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from registry.core import canonical, keys
from registry.core.exceptions import CanonicalEncodingError, SignatureError

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "docs" / "vectors" / "canonical.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))


def test_keys_are_sha256_of_documented_seeds():
    for info in DATA["keys"].values():
        signer = keys.signer_from_seed(info["seed"].encode("ascii"))
        assert signer.key_id == info["key_id"]
        assert signer.public_b64 == info["public_key"]


@pytest.mark.parametrize("case", DATA["encoding"], ids=lambda c: c["name"])
def test_encoding_vectors(case):
    assert canonical.encode(case["value"]) == case["canonical"].encode("utf-8")
    assert canonical.decode(case["canonical"].encode("utf-8")) == case["value"]


@pytest.mark.parametrize("case", DATA["refused_values"], ids=lambda c: c["name"])
def test_refused_values(case):
    with pytest.raises(CanonicalEncodingError) as e:
        canonical.encode(json.loads(case["json"]))
    assert str(e.value) == case["error"]


@pytest.mark.parametrize("case", DATA["not_canonical_bytes"], ids=lambda c: c["name"])
def test_not_canonical_bytes_are_rejected(case):
    with pytest.raises(CanonicalEncodingError):
        canonical.decode(case["bytes"].encode("utf-8"))


@pytest.mark.parametrize("case", DATA["signed"], ids=lambda c: c["name"])
def test_signed_vectors_byte_for_byte(case):
    role = "root" if case["domain"] == canonical.TRUST_LIST else "body"
    signer = keys.signer_from_seed(DATA["keys"][role]["seed"].encode("ascii"))
    payload = canonical.encode(case["record"])
    assert payload.hex() == case["canonical_hex"]
    assert payload.decode("utf-8") == case["canonical"]
    assert canonical.signing_input(case["domain"], payload).hex() == case["signing_input_hex"]
    assert canonical.sha256_hex(payload) == case["digest"]
    assert canonical.make_envelope(case["domain"], case["record"], signer) == case["envelope"]
    public = canonical.unb64url(DATA["keys"][role]["public_key"])
    assert keys.verify_envelope(case["envelope"], case["domain"], public) == case["record"]


def test_tampered_vector_does_not_verify():
    t = DATA["tampered"]
    assert "数空" in t["envelope"]["payload"]
    with pytest.raises(SignatureError, match="does not verify"):
        keys.verify_envelope(t["envelope"], t["domain"], canonical.unb64url(t["public_key"]))


def test_make_vectors_reproduces_committed_file(tmp_path):
    out = tmp_path / "canonical.json"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_vectors.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == VECTORS.read_bytes()
