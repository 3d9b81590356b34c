"""Property: no single-byte or single-character change of a valid payload verifies as valid."""

import json

from helpers import REPO_ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import verify
from registry.core import payload
from registry.verify import sources

VECTORS = json.loads((REPO_ROOT / "docs/vectors/mark-conformance.json").read_text(encoding="utf-8"))
SOURCE = sources.FilesSource(VECTORS["files"])
# Bare payloads: a change to a mark URL's host or to white space the input rule
# strips (payload.payload_text) rightly leaves it valid.
VALID = [v["input"] for v in VECTORS["vectors"] if v["expected_verdict"] == "valid" and v["input"].isdigit()]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def verdict(text):
    return verify.verification_result(text, SOURCE, root_public_key=VECTORS["root_public_key"],
                                      max_age=VECTORS["max_age_days"], today=VECTORS["today"]).verdict


def test_the_originals_are_valid():
    assert all(verdict(text) == "valid" for text in VALID)


@SETTINGS
@given(st.sampled_from(VALID), st.data())
def test_changing_one_byte_never_yields_valid(text, data):
    raw = bytearray(payload.digits_to_bytes(text))
    i = data.draw(st.integers(0, len(raw) - 1), label="byte")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[i]), label="value")
    raw[i] = new
    assert verdict(payload.bytes_to_digits(bytes(raw))) != "valid"


@SETTINGS
@given(st.sampled_from(VALID), st.data())
def test_changing_one_character_never_yields_valid(text, data):
    i = data.draw(st.integers(0, len(text) - 1), label="position")
    char = data.draw(st.characters(codec="utf-8").filter(lambda c: c != text[i]), label="char")
    assert verdict(text[:i] + char + text[i + 1:]) != "valid"


@SETTINGS
@given(st.text(max_size=500))
def test_arbitrary_text_never_crashes_nor_verifies(text):
    assert verdict(text) in ("malformed", "unknown_issuer", "key_not_valid", "bad_signature")
