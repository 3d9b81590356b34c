"""The QR writer (zxing-cpp) is as compact as the deliberate two-segment encoding.

docs/mark-payload.md: the mark's URL is a lowercase byte-mode prefix
``<site>/v/#`` followed by the payload digits in numeric mode; the size
budget (version 8 at level M, ``max_site_url_length``) is derived from that
encoding. zxing-cpp chooses segments itself, so these tests compute the bit
length of the two-segment encoding from ISO/IEC 18004 and check the writer
reaches exactly that version around the budget's edge for an all-letter host
(the worst case: nothing in it fits a denser mode). For other hosts the
writer may do better (``http://127.0.0.1:8000`` has digits: a 231-digit
payload fits V7 where the two-segment encoding needs V8), never worse.
"""

import pytest
import zxingcpp
from PIL import Image

from registry import marks, payload

# ISO/IEC 18004 table 9: data codewords at level M, versions 1..9.
DATA_CODEWORDS_M = {1: 16, 2: 28, 3: 44, 4: 64, 5: 86, 6: 108, 7: 124, 8: 154, 9: 182}


def two_segment_bits(prefix: str, digits: int) -> int:
    """Bits of byte-mode ``prefix`` + numeric ``digits`` (count fields of versions 1..9)."""
    byte = 4 + 8 + 8 * len(prefix.encode("ascii"))
    numeric = 4 + 10 + 10 * (digits // 3) + {0: 0, 1: 4, 2: 7}[digits % 3]
    return byte + numeric


def expected_version(prefix: str, digits: int) -> int:
    bits = two_segment_bits(prefix, digits)
    return next(v for v, cw in DATA_CODEWORDS_M.items() if bits <= 8 * cw)


def test_worst_payload_is_the_longest_certificate_number():
    text = marks._worst_payload_text()
    assert payload.parse_text(text).cert_no == marks.LONGEST_CERT_NO
    assert len(text) == 289


@pytest.mark.parametrize("length", range(18, 34))
def test_writer_reaches_the_two_segment_version(length):
    site = "https://" + "a" * (length - 8)
    text = marks._worst_payload_text()
    qr = marks.make_qr_unchecked(site, text)
    assert qr.version == expected_version(site + "/v/#", len(text))
    assert len(qr.matrix) == 17 + 4 * qr.version and qr.error == "M"


def test_budget_is_the_two_segment_limit():
    limit = marks.max_site_url_length()
    digits = len(marks._worst_payload_text())
    assert expected_version("https://" + "a" * (limit - 8) + "/v/#", digits) == 8
    assert expected_version("https://" + "a" * (limit - 7) + "/v/#", digits) == 9
    assert marks.make_qr_unchecked("https://" + "a" * (limit - 7), marks._worst_payload_text()).version == 9


def test_matrix_round_trips_through_a_reader():
    # The module matrix itself (as the SVG draws it) decodes to the URL.
    site = "https://szzz.example.cn"
    text = marks._worst_payload_text()
    qr = marks.make_qr(site, text)
    n, scale, quiet = len(qr.matrix), 6, 4
    image = Image.new("L", ((n + 2 * quiet) * scale,) * 2, 255)
    dark = Image.new("L", (scale, scale), 0)
    for r, row in enumerate(qr.matrix):
        for c, module in enumerate(row):
            if module:
                image.paste(dark, ((c + quiet) * scale, (r + quiet) * scale))
    codes = zxingcpp.read_barcodes(image)
    assert [c.text for c in codes] == [site + "/v/#" + text]
    assert codes[0].extra["Version"] == str(qr.version) and codes[0].ec_level == "M"


@pytest.mark.parametrize("site", ["http://127.0.0.1:8000", "https://szzz.example.cn",
                                  "https://a-b.example-site.cn"])
@pytest.mark.parametrize("cert_no", ["A", "SZZZ-2024-CQC-00012", marks.LONGEST_CERT_NO])
def test_writer_is_never_worse_than_two_segments(site, cert_no):
    cert = cert_no.encode("ascii")
    text = payload.bytes_to_digits(bytes([payload.VERSION]) + bytes(28) + bytes([len(cert)])
                                   + cert + bytes(64))
    assert marks.make_qr_unchecked(site, text).version <= expected_version(site + "/v/#", len(text))
