"""The mark's QR code: python-qrcode's symbol, within the V8-M budget, read back by zxing-cpp.

docs/mark-payload.md: the mark's URL is a lowercase byte-mode prefix
``<site>/v/#`` followed by the payload digits in numeric mode, at level M and
the smallest version that holds it; the size budget (version 8 at level M,
``max_site_url_length``) is derived from that encoding. These tests compute
the bit length of the two-segment encoding from ISO/IEC 18004, check that
``registry.marks.qr`` gives exactly python-qrcode's own symbol (the package's
``make``, mask choice included) much faster, and read every symbol back with
zxing-cpp, a decoder this project did not write.
"""

import random

import pytest
import qrcode
import zxingcpp
from PIL import Image
from qrcode import util

from registry.core import payload
from registry.core.exceptions import ConfigError
from registry.marks import qr

# ISO/IEC 18004 table 9: data codewords at level M, versions 1..9.
DATA_CODEWORDS_M = {1: 16, 2: 28, 3: 44, 4: 64, 5: 86, 6: 108, 7: 124, 8: 154, 9: 182}
SITES = ("https://szzz.example.cn", "http://127.0.0.1:8000", "https://a-b.example.site")


def two_segment_bits(prefix: str, digits: int) -> int:
    """Bits of byte-mode ``prefix`` + numeric ``digits`` (count fields of versions 1..9)."""
    byte = 4 + 8 + 8 * len(prefix.encode("ascii"))
    numeric = 4 + 10 + 10 * (digits // 3) + {0: 0, 1: 4, 2: 7}[digits % 3]
    return byte + numeric


def expected_version(prefix: str, digits: int) -> int:
    bits = two_segment_bits(prefix, digits)
    return next(v for v, cw in DATA_CODEWORDS_M.items() if bits <= 8 * cw)


def realistic_payload(rng, cert_no_length=19):
    cert = ("SZZZ-2025-" + "C" * (cert_no_length - 16) + "-00001").encode("ascii")
    body = bytes([payload.VERSION]) + rng.randbytes(28) + bytes([len(cert)]) + cert + rng.randbytes(64)
    return payload.bytes_to_digits(body)


def qrcode_own_symbol(site, text):
    """What python-qrcode itself makes of the two segments (its ``make``, its mask choice)."""
    encoder = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    encoder.add_data(util.QRData(site + "/v/#", mode=util.MODE_8BIT_BYTE))
    encoder.add_data(util.QRData(text, mode=util.MODE_NUMBER))
    encoder.make(fit=True)
    return tuple(bytes(1 if m else 0 for m in row) for row in encoder.get_matrix()), encoder.version


def decode(symbol, scale=4):
    n, quiet = len(symbol.matrix), qr.QUIET_ZONE
    image = Image.new("L", ((n + 2 * quiet) * scale,) * 2, 255)
    dark = Image.new("L", (scale, scale), 0)
    for r, row in enumerate(symbol.matrix):
        for c, module in enumerate(row):
            if module:
                image.paste(dark, ((c + quiet) * scale, (r + quiet) * scale))
    return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)


def test_worst_payload_is_the_longest_certificate_number():
    text = qr.worst_payload_text()
    assert payload.parse_text(text).cert_no == qr.LONGEST_CERT_NO
    assert len(text) == 289


@pytest.mark.parametrize("length", range(18, 34))
def test_version_is_the_two_segment_version(length):
    site = "https://" + "a" * (length - 8)
    text = qr.worst_payload_text()
    assert qr.fit_version(site, text) == expected_version(site + "/v/#", len(text))


def test_budget_is_the_two_segment_limit():
    limit = qr.max_site_url_length()
    digits = len(qr.worst_payload_text())
    assert expected_version("https://" + "a" * (limit - 8) + "/v/#", digits) == 8
    assert expected_version("https://" + "a" * (limit - 7) + "/v/#", digits) == 9
    assert qr.check_site_url("https://" + "a" * (limit - 8)) == "https://" + "a" * (limit - 8)
    with pytest.raises(ConfigError, match="too long"):
        qr.check_site_url("https://" + "a" * (limit - 7))


@pytest.mark.parametrize("bad", ["ftp://szzz.example.cn", "https://SZZZ.example.cn", "https://x.cn/?q=1",
                                 "https://x.cn/#frag", "", "https://x.cn/a b"])
def test_site_url_must_be_a_plain_lowercase_http_url(bad):
    with pytest.raises(ConfigError):
        qr.check_site_url(bad)


def test_symbol_is_python_qrcodes_own_bit_for_bit():
    rng = random.Random(20251128)
    for i in range(120):
        site = SITES[i % len(SITES)]
        text = realistic_payload(rng, 16 + i % 10)
        symbol = qr.make_qr(site, text)
        own, version = qrcode_own_symbol(site, text)
        assert (symbol.matrix, symbol.version) == (own, version), (site, text)
        assert symbol.error == "M" and len(symbol.matrix) == 17 + 4 * symbol.version


def test_every_version_and_block_layout_is_python_qrcodes_own():
    # Error correction is computed here, not by qrcode's Polynomial: every block
    # layout of versions 3..13 at level M (one to eight blocks, one or two
    # block lengths) must still give qrcode's own symbol.
    versions = {}
    for digits in range(1, 700, 3):
        text = "".join(str((7 * i + digits) % 10) for i in range(digits))
        symbol = qr.make_qr_unchecked("https://szzz.example.cn", text)
        assert (symbol.matrix, symbol.version) == qrcode_own_symbol("https://szzz.example.cn", text), digits
        versions[symbol.version] = digits
    assert set(versions) == set(range(3, 14))


@pytest.mark.parametrize("site", SITES)
def test_every_realistic_mark_fits_v8_m_and_reads_back(site):
    rng = random.Random(site)
    for length in (16, 19, 22, 25):
        text = realistic_payload(rng, length)
        symbol = qr.make_qr(site, text)
        assert symbol.version <= qr.MAX_VERSION
        codes = decode(symbol)
        assert [c.text for c in codes] == [site + "/v/#" + text]
        assert codes[0].extra["Version"] == str(symbol.version) and codes[0].ec_level == "M"


def test_payload_text_must_be_digits():
    from registry.core.exceptions import PayloadError

    with pytest.raises(PayloadError):
        qr.make_qr("https://szzz.example.cn", "12a4")
