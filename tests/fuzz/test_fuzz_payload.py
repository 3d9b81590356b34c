"""Fuzz: the mark payload parser (registry/core/payload.py, docs/mark-payload.md)
refuses bad input with PayloadError only, round-trips good input, and agrees
with the browser's port (site/verify/payload.js) on every input -- one truth.

The browser side is run by Node on the page's own module and the constants
the build generates for it (``webverifier.constants_module``), a batch of
inputs per Node process. The conformance vectors (docs/vectors/) cover the
whole verification in the browser; this covers the parser on inputs no
vector holds: mutations of genuine marks (``hostile.mutated_marks``),
structured payloads at every field, arbitrary text and bytes.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess

from helpers import REPO_ROOT
from hostile import fuzz_settings, hostile_text, mutated_marks
from hypothesis import example, given
from hypothesis import strategies as st

from registry.core import payload
from registry.core.exceptions import PayloadError
from registry.publish import webverifier

VECTORS = json.loads((REPO_ROOT / "docs/vectors/mark-conformance.json").read_text(encoding="utf-8"))
GENUINE = tuple(sorted({v["input"] for v in VECTORS["vectors"] if v["input"].isdigit()
                        and v["expected_verdict"] == "valid"}))
CERT_NO_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"


@st.composite
def layouts(draw, *, valid=True):
    """The binary form of a payload, field by field (docs/mark-payload.md): valid,
    or with any one field outside the layout (version, length byte, length,
    cert_no characters)."""
    n = draw(st.integers(1, payload.MAX_CERT_NO))
    cert_no = draw(st.text(CERT_NO_CHARS, min_size=n, max_size=n)).encode("ascii")
    fields = {"version": bytes([payload.VERSION]), "key_id": draw(st.binary(min_size=8, max_size=8)),
              "signed_on": draw(st.binary(min_size=2, max_size=2)), "expires": draw(st.binary(min_size=2, max_size=2)),
              "digest": draw(st.binary(min_size=16, max_size=16)), "n": bytes([n]), "cert_no": cert_no,
              "signature": draw(st.binary(min_size=64, max_size=64))}
    if not valid:
        field = draw(st.sampled_from([*sorted(fields), "cert_no character"]))
        if field == "cert_no character":
            # One character of the number changed, its length kept: a byte a
            # pattern's ``$`` or a decoder might let through (LF, CR, NUL, ...).
            i = draw(st.one_of(st.just(n - 1), st.integers(0, n - 1)))
            byte = draw(st.one_of(st.sampled_from(b"\n\r\x00 az_\x7f\x80\xff"), st.integers(0, 255)))
            fields["cert_no"] = cert_no[:i] + bytes([byte]) + cert_no[i + 1:]
        else:
            fields[field] = draw(st.binary(max_size=70).filter(lambda b, f=fields[field]: b != f))
    return b"".join(fields.values())


# Found by this harness (fixed in registry/core/payload.py): a certificate number
# ending in LF passed Python's ``$`` but not the browser's; an input of 2,100
# emoji before the payload was 2,390 characters to Python and 4,490 to the browser.
LF_CERT_NO = (bytes([1]) + bytes(28) + bytes([20]) + b"SZZZ-2024-CQC-00012\n" + bytes(64))
ASTRAL_PREFIX = "\U0001F600" * 2100 + "#" + GENUINE[0]

ANY_BYTES = st.one_of(layouts(), layouts(valid=False), st.binary(max_size=130),
                      st.sampled_from(GENUINE).map(payload.digits_to_bytes))


# ------------------------------------------------------------------- Python alone

def attempt(function, value):
    """``(result, None)``, or ``(None, error)`` for a PayloadError with a one-line
    message; any other exception propagates and fails the property."""
    try:
        result, error = function(value), None
    except PayloadError as e:
        result, error = None, e
    assert error is None or (str(error) and "\n" not in str(error)), repr(str(error))
    return result, error


@fuzz_settings(300)
@given(st.one_of(hostile_text(GENUINE), mutated_marks(GENUINE), st.binary(max_size=40), st.integers(),
                 st.none(), st.floats(), st.lists(st.text(max_size=3), max_size=2)))
def test_payload_text_gives_digits_or_payload_error(scanned):
    digits, error = attempt(payload.payload_text, scanned)
    if error is None:
        assert isinstance(digits, str) and digits.isascii() and digits.isdigit()
        assert 1 <= len(digits) <= payload.MAX_TEXT


@fuzz_settings(300)
@given(st.one_of(st.text("0123456789", max_size=420), st.sampled_from(GENUINE), mutated_marks(GENUINE),
                 hostile_text()))
def test_digits_decode_to_bytes_whose_digits_they_are(text):
    """digits_to_bytes accepts only canonical text: one text per byte string,
    so no two different marks read as the same payload."""
    data, error = attempt(payload.digits_to_bytes, text)
    if error is None:
        assert payload.bytes_to_digits(data) == text


@fuzz_settings(300)
@given(ANY_BYTES)
@example(LF_CERT_NO)
def test_bytes_parse_or_refuse_and_round_trip(data):
    mark, error = attempt(payload.parse_bytes, data)
    from_text, text_error = attempt(payload.parse_text, payload.bytes_to_digits(data))
    assert from_text == mark and (error is None) == (text_error is None)
    if error is None:
        assert mark.to_bytes() == data
        assert payload.parse_text(mark.to_text()) == mark
        assert payload.digits_to_bytes(mark.to_text()) == data
        assert mark.signed_bytes == data[:payload.HEADER_BYTES + data[payload.AT_LENGTH]]
        assert payload.CERT_NO_RE.fullmatch(mark.cert_no) and len(mark.cert_no) == data[payload.AT_LENGTH]


@fuzz_settings(200)
@given(layouts())
def test_every_valid_layout_parses_to_its_fields(data):
    mark = payload.parse_bytes(data)
    n = data[payload.AT_LENGTH]
    assert (mark.version, bytes.fromhex(mark.key_id), bytes.fromhex(mark.record_digest)) == (
        1, data[1:9], data[13:29])
    assert mark.cert_no.encode("ascii") == data[30:30 + n] and mark.signature == data[30 + n:]
    assert payload.parse_text(payload.bytes_to_digits(data)) == mark


# ------------------------------------------------------------------- Python = browser

NODE_DRIVER = r"""
import { readFileSync } from "node:fs";
import { payloadText, parseText, PayloadError } from "./payload.js";

const inputs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = inputs.map((input) => {
  let digits;
  try {
    digits = payloadText(input);
  } catch (e) {
    if (!(e instanceof PayloadError)) throw e;
    return { refused: "input" };
  }
  try {
    const m = parseText(digits);
    return { digits, fields: [m.version, m.keyId, m.signedOn, m.expires, m.recordDigest, m.certNo,
      Buffer.from(m.signature).toString("hex"), Buffer.from(m.signedBytes).toString("hex")] };
  } catch (e) {
    if (!(e instanceof PayloadError)) throw e;
    return { digits, refused: "payload" };
  }
});
console.log(JSON.stringify(out));
"""


def python_reads(scanned):
    """What the Python parser makes of ``scanned``, in the driver's terms."""
    try:
        digits = payload.payload_text(scanned)
    except PayloadError:
        return {"refused": "input"}
    try:
        m = payload.parse_text(digits)
    except PayloadError:
        return {"digits": digits, "refused": "payload"}
    fields = dataclasses.astuple(m)
    return {"digits": digits, "fields": [*fields[:6], m.signature.hex(), m.signed_bytes.hex()]}


@st.composite
def scanned_inputs(draw):
    """What a camera or a paste box could hand either verifier."""
    text = draw(st.one_of(mutated_marks(GENUINE), st.sampled_from(GENUINE).map(lambda t: f"#{t}"),
                          st.builds(payload.bytes_to_digits, ANY_BYTES), hostile_text(GENUINE)))
    if draw(st.integers(0, 9)) == 0:
        # Prefixes that count differently in UTF-16 (the browser) and code points (Python).
        prefix = draw(st.sampled_from(("𝟘", "😀", "中", "a")))
        text = prefix * draw(st.integers(1, 2100)) + "#" + text.split("#")[-1]
    return text


@fuzz_settings(5)
@given(st.lists(scanned_inputs(), min_size=40, max_size=80))
@example([ASTRAL_PREFIX, payload.bytes_to_digits(LF_CERT_NO), GENUINE[0]])
def test_the_browser_reads_every_input_as_python_does(tmp_path_factory, inputs):
    """Same digits, same fields, or refused by both: a mark Python refuses is
    refused in the browser too, and the other way round."""
    work = tmp_path_factory.mktemp("payload-js")
    (work / "payload.js").write_text((REPO_ROOT / "site/verify/payload.js").read_text(encoding="utf-8"),
                                     encoding="utf-8")
    (work / webverifier.GENERATED).write_text(webverifier.constants_module(), encoding="utf-8")
    (work / "driver.mjs").write_text(NODE_DRIVER, encoding="utf-8")
    (work / "package.json").write_text('{"type": "module"}', encoding="utf-8")
    # ensure_ascii: a lone surrogate travels as \udXXX and reaches the browser's string as one.
    (work / "inputs.json").write_text(json.dumps(inputs), encoding="ascii")
    done = subprocess.run(["node", "driver.mjs", "inputs.json"], cwd=work, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    browser = json.loads(done.stdout)
    for scanned, js in zip(inputs, browser, strict=True):
        assert js == python_reads(scanned), f"{len(scanned)} characters: {ascii(scanned)[:200]}…"
