"""The mark's QR code, encoded by python-qrcode (see ``docs/mark-payload.md``).

* content: ``<site>/v/#<digits>`` in two segments: the lowercase site prefix
  plus ``/v/#`` in byte mode (phone cameras open lowercase http(s) URLs as
  they are), the payload digits in numeric mode (3.33 bits a digit); one
  byte-mode segment for the whole URL would need version 13;
* error correction level M, fixed (not boosted), at the smallest version
  that holds the content, so "version <= 8 at M" is exactly what is printed;
  a site URL so long that any certificate's code would exceed version 8 is
  refused (:func:`check_site_url`);
* the mask is python-qrcode's own choice (its ISO/IEC 18004 §7.8.3 penalty
  score, lowest first), computed here on the whole symbol as integers: the
  package scores the 8 masks one module at a time in pure Python (about
  10 ms a symbol, 80 % of it choosing the mask); :func:`make_qr` gives the
  same symbol, bit for bit, in about 0.7 ms (``tests/marks/test_qr.py``
  compares them). Segments, bit buffer, GF(256) tables, generator
  polynomials, block layout, function patterns, format and version
  information are qrcode's (``util``, ``base``, ``LUT``,
  ``QRCode.makeImpl``); only the Reed–Solomon division runs on precomputed
  rows (:func:`_codewords`). Pinned to qrcode 8.2, whose internals this reads;
* decoding (``szzz verify`` of an image) is zxing-cpp's, a reader this code
  did not write.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from operator import itemgetter

from qrcode import LUT, base, util
from qrcode.constants import ERROR_CORRECT_M
from qrcode.main import QRCode as Encoder
from qrcode.main import precomputed_qr_blanks

from registry.core import payload
from registry.core.exceptions import ConfigError, PayloadError

ERROR_LEVEL = "M"
MAX_VERSION = 8
QUIET_ZONE = 4           # modules, always (ISO/IEC 18004 §7.3.8)
# The longest real certificate number: SUXIU-YYYY-<8-char body>-NNNNN.
LONGEST_CERT_NO = "SUXIU-2099-ABCDEFGH-99999"
SITE_URL_RE = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._~/-]*)?$")

# Bits of a segment's data for n characters, by mode (ISO/IEC 18004 §7.4).
_DATA_BITS = {util.MODE_NUMBER: lambda n: 10 * (n // 3) + (0, 4, 7)[n % 3],
              util.MODE_8BIT_BYTE: lambda n: 8 * n}
_MODULE_OF = bytes.maketrans(b"01", b"\x00\x01")


@dataclass(frozen=True, eq=False)
class QRCode:
    """A QR symbol: ``matrix`` rows (bytes, 1 = dark; no quiet zone), version, level."""

    matrix: tuple
    version: int
    error: str


def qr_content(site_url: str, payload_text: str) -> str:
    """The QR content: ``<site>/v/#<digits>`` (the same text as ``payload.mark_url``)."""
    return site_url.rstrip("/") + "/v/#" + payload_text


def _segments(site_url: str, payload_text: str) -> list:
    return [util.QRData(site_url.rstrip("/") + "/v/#", mode=util.MODE_8BIT_BYTE),
            util.QRData(payload_text, mode=util.MODE_NUMBER)]


def fit_version(site_url: str, payload_text: str) -> int:
    """The smallest version holding the two segments at level M (what qrcode's
    ``best_fit`` gives), computed from its tables without encoding anything."""
    segs = _segments(site_url, payload_text)
    for version in range(1, 41):
        bits = sum(4 + util.length_in_bits(s.mode, version) + _DATA_BITS[s.mode](len(s)) for s in segs)
        if bits <= util.BIT_LIMIT_TABLE[ERROR_CORRECT_M][version]:
            return version
    raise ConfigError(f"QR content for {site_url!r} does not fit version 40")


@functools.lru_cache(maxsize=1)
def worst_payload_text() -> str:
    """A payload of the longest certificate number: the most digits a mark can
    hold (every such payload has the same digit count, and in numeric mode the
    digits' values do not change the QR size)."""
    cert = LONGEST_CERT_NO.encode("ascii")
    body = bytes([payload.VERSION]) + bytes(28) + bytes([len(cert)]) + cert + bytes(64)
    return payload.bytes_to_digits(body)


def check_site_url(site_url: str) -> str:
    """Return the normalised site URL (no trailing slash) or raise ConfigError.

    Rules: http or https, lowercase host/path from ``[a-z0-9.-_~/]`` (the
    prefix is a byte-mode segment; lowercase so cameras open it unchanged), no
    query or fragment (the fragment is the payload), and short enough that the
    longest possible certificate number still fits version 8 at level M.
    """
    url = (site_url or "").strip().rstrip("/")
    if not SITE_URL_RE.match(url):
        raise ConfigError(
            f"site URL {site_url!r}: expected lowercase http(s)://host[:port][/path] "
            "with no query or fragment")
    version = fit_version(url, worst_payload_text())
    if version > MAX_VERSION:
        raise ConfigError(
            f"site URL {url!r} ({len(url)} chars) is too long: a mark would need QR version {version} "
            f"at level {ERROR_LEVEL}, expected <= {MAX_VERSION} (at most {max_site_url_length()} characters)")
    return url


@functools.lru_cache(maxsize=1)
def max_site_url_length() -> int:
    """Longest ``https://`` site URL that keeps the worst certificate at V8-M."""
    n = 9
    while fit_version("https://" + "a" * (n + 1 - 8), worst_payload_text()) <= MAX_VERSION:
        n += 1
    return n


# ------------------------------------------------------------ the symbol

def _as_int(modules) -> int:
    """A module matrix as one integer: module (r, c) of an n×n symbol is bit n·n−1−(r·n+c)."""
    return int("".join("1" if m else "0" for row in modules for m in row), 2)


def _transposed(x: int, n: int) -> int:
    bits = format(x, f"0{n * n}b")
    return int("".join(bits[c::n] for c in range(n)), 2)


@functools.cache
def _tables(version: int):
    """Per version, from qrcode itself: where each data bit goes (``QRCode.map_data``'s
    order), and per mask the function patterns and masked data of an empty
    symbol, both as qrcode scores a mask (format information blank) and as it
    draws the chosen one."""
    n = 17 + 4 * version
    encoder = Encoder(version=version, error_correction=ERROR_CORRECT_M)
    encoder.data_cache = []           # no data: the data region shows the mask pattern alone
    encoder.makeImpl(True, 0)         # fills precomputed_qr_blanks[version]
    free = encoder.modules = [row[:] for row in precomputed_qr_blanks[version]]
    encoder.setup_type_info(True, 0)
    if version >= 7:
        encoder.setup_type_number(True)
    order, row, step = [], n - 1, -1  # the zigzag of ISO/IEC 18004 §7.7.3, as map_data walks it
    for right in range(n - 1, 0, -2):
        col = right - 1 if right <= 6 else right  # the vertical timing pattern's column is skipped
        while 0 <= row < n:
            order += [row * n + c for c in (col, col - 1) if free[row][c] is None]
            row += step
        row, step = row - step, -step
    position, end = {k: i for i, k in enumerate(order)}, len(order)
    by_row = itemgetter(*[position.get(k, end) for k in range(n * n)])
    by_column = itemgetter(*[position.get(c * n + r, end) for r in range(n) for c in range(n)])
    data = _as_int([[m is None for m in row] for row in free])
    masks = []
    for mask in range(8):
        encoder.makeImpl(True, mask)  # as best_mask_pattern scores it
        scored = _as_int(encoder.modules)
        encoder.makeImpl(False, mask)  # as the symbol is drawn
        fixed, flips = scored & ~data, scored & data
        masks.append((fixed, flips, _transposed(fixed, n), _transposed(flips, n),
                      _as_int(encoder.modules) & ~data))

    def from_column(c0):  # every module of a column >= c0
        return int(("0" * c0 + "1" * (n - c0)) * n, 2)

    return n, end, by_row, by_column, masks, (
        (1 << n * n) - 1, from_column(1), from_column(10), from_column(1) & ((1 << n * n - n) - 1))


def _penalty(a: int, a_t: int, n: int, rows) -> int:
    """``qrcode.util.lost_point`` of a symbol given as :func:`_as_int` (``a``) and
    its transpose (``a_t``): the four penalty rules of ISO/IEC 18004 §7.8.3.1,
    as qrcode counts them, on all modules at once (``x >> j`` moves each module
    j places along its row)."""
    full, col1, col10, col1_row1 = rows
    points = 0
    for x in (a, a_t):               # rows, then columns
        light = x ^ full
        same = ~(x ^ (x >> 1)) & col1                       # module == its left neighbour
        run5 = same & (same >> 1) & (same >> 2) & (same >> 3)
        points += run5.bit_count() + 2 * (run5 & ~(same >> 4)).bit_count()   # N1: a run of L >= 5 scores L - 2
        light4 = light & (light >> 1) & (light >> 2) & (light >> 3)
        finder1 = ((x >> 10) & (light >> 9) & (x >> 8) & (x >> 7) & (x >> 6) & (light >> 5) & (x >> 4)
                   & light4)                                # N3: 1011101 then 0000
        finder2 = ((light4 >> 7) & (x >> 6) & (light >> 5) & (x >> 4) & (x >> 3) & (x >> 2)
                   & (light >> 1) & x)                      # N3: 0000 then 1011101
        points += 40 * ((finder1 | finder2) & col10).bit_count()
    same = ~(a ^ (a >> 1)) & col1
    points += 3 * (same & (same >> n) & ~(a ^ (a >> n)) & col1_row1).bit_count()  # N2: 2x2 of one colour
    return points + int(abs(a.bit_count() / (n * n) * 100 - 50) / 5) * 10        # N4: dark proportion


@functools.cache
def _generator_rows(ec_count: int) -> tuple:
    """Row ``f``: qrcode's generator polynomial for ``ec_count`` codewords
    (``LUT.rsPoly_LUT``, leading 1 dropped) multiplied by ``f`` in qrcode's
    GF(256) (``base.EXP_TABLE``/``LOG_TABLE``)."""
    generator = LUT.rsPoly_LUT[ec_count][1:]
    exp, log = base.EXP_TABLE, base.LOG_TABLE
    return tuple(tuple(exp[(log[f] + log[g]) % 255] if f and g else 0 for g in generator)
                 for f in range(256))


def _codewords(version: int, segments: list) -> list:
    """``util.create_data`` of qrcode: the segments, terminator, byte alignment
    and pad codewords in qrcode's ``BitBuffer``, then each block's error
    correction and the interleaving. The Reed–Solomon division runs on
    precomputed rows instead of qrcode's ``Polynomial`` objects (three
    quarters of its time a symbol); the tables and generator polynomials are
    qrcode's, and ``tests/marks/test_qr.py`` compares whole symbols with
    qrcode's own ``make``."""
    buffer = util.BitBuffer()
    for segment in segments:
        buffer.put(segment.mode, 4)
        buffer.put(len(segment), util.length_in_bits(segment.mode, version))
        segment.write(buffer)
    blocks = base.rs_blocks(version, ERROR_CORRECT_M)
    bit_limit = sum(block.data_count * 8 for block in blocks)
    buffer.put(0, min(bit_limit - len(buffer), 4))     # terminator (ISO/IEC 18004 §7.4.9)
    buffer.put(0, -len(buffer) % 8)                    # to a codeword boundary
    for i in range((bit_limit - len(buffer)) // 8):     # pad codewords (§7.4.10)
        buffer.put(util.PAD0 if i % 2 == 0 else util.PAD1, 8)
    data_blocks, ec_blocks, offset = [], [], 0
    for block in blocks:
        data = buffer.buffer[offset:offset + block.data_count]
        offset += block.data_count
        rows = _generator_rows(block.total_count - block.data_count)
        remainder = [0] * (block.total_count - block.data_count)
        for codeword in data:
            factor = codeword ^ remainder[0]
            remainder = [r ^ m for r, m in zip([*remainder[1:], 0], rows[factor], strict=True)]
        data_blocks.append(data)
        ec_blocks.append(remainder)
    return [b[i] for part in (data_blocks, ec_blocks) for i in range(max(map(len, part)))
            for b in part if i < len(b)]


def make_qr_unchecked(site_url: str, payload_text: str) -> QRCode:
    """The symbol at level M and its smallest version, whatever the version."""
    version = fit_version(site_url, payload_text)
    n, end, by_row, by_column, masks, rows = _tables(version)
    codewords = _codewords(version, _segments(site_url, payload_text))
    bits = format(int.from_bytes(bytes(codewords), "big"), f"0{8 * len(codewords)}b").ljust(end + 1, "0")
    data, data_t = int("".join(by_row(bits)), 2), int("".join(by_column(bits)), 2)
    scores = [_penalty(fixed | (data ^ flips), fixed_t | (data_t ^ flips_t), n, rows)
              for fixed, flips, fixed_t, flips_t, _drawn in masks]
    mask = scores.index(min(scores))  # the first lowest, as qrcode's best_mask_pattern
    flat = format(masks[mask][4] | (data ^ masks[mask][1]), f"0{n * n}b").encode("ascii").translate(_MODULE_OF)
    return QRCode(tuple(flat[i:i + n] for i in range(0, n * n, n)), version, ERROR_LEVEL)


def make_qr(site_url: str, payload_text: str) -> QRCode:
    """The mark's QR code; raises when it would exceed version 8 at M."""
    if not payload_text.isascii() or not payload_text.isdigit():
        raise PayloadError("mark payload text must be decimal digits")
    qr = make_qr_unchecked(site_url, payload_text)
    if qr.version > MAX_VERSION:
        raise ConfigError(f"QR for {site_url!r} needs version {qr.version} at {ERROR_LEVEL}, "
                          f"expected <= {MAX_VERSION}")
    return qr
