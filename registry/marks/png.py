"""A palette PNG written from independently compressed runs of rows.

Why: a mark is 756 × 1042 pixels and zlib compresses ~400 MB/s here
whatever the pixels are, so Pillow's encoder spends ~2.5 ms a mark feeding
800 KB through zlib, 10,000 marks a build. Most of those bytes are the same
in every mark (the frame and title above the QR code) or repeat the row
above (each QR module is ``module`` pixel rows tall). So the IDAT stream
(RFC 1950 zlib around RFC 1951 deflate) is assembled from segments:

* each segment is deflate data ending in a *full flush*, so it is
  byte-aligned, not final, and refers to nothing before it (RFC 1951 §3.2.3;
  zlib's ``Z_FULL_FLUSH`` resets the compressor's history), which makes any
  concatenation of segments one valid deflate stream;
* a segment that is the same for every mark (the template's top rows, or
  ``k`` rows of PNG filter type 2 "Up" with all-zero differences — a row equal
  to the one above, PNG spec §9.2) is compressed once and reused;
* the stream ends with an empty final block and the Adler-32 of all the
  filtered bytes (RFC 1950 §2.2), combined from each segment's own.

The pixels are exactly what Pillow would write; ``tests/marks`` decodes both
and compares them.
"""

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# An empty final block with fixed Huffman codes (BFINAL=1, BTYPE=01, EOB).
FINAL_EMPTY_BLOCK = b"\x03\x00"
ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window, no dictionary, "fastest"
FILTER_NONE, FILTER_UP = 0, 2


ADLER_MOD = 65521  # RFC 1950 §8.2


@dataclass(frozen=True)
class Segment:
    """Filtered scanlines (``raw``), their deflate data ending in a full flush,
    and the Adler-32 of ``raw`` alone (so a reused segment is summed once)."""

    raw: bytes
    deflated: bytes
    adler: int

    @classmethod
    def of(cls, raw: bytes, deflated: bytes) -> "Segment":
        return cls(raw, deflated, zlib.adler32(raw))


def adler32_combine(adler1: int, adler2: int, length2: int) -> int:
    """Adler-32 of A + B from those of A and B (zlib's adler32_combine).

    Summing B from A's state instead of from 1 adds A's sum minus 1 to each
    of B's ``length2`` running sums (RFC 1950 §8.2).
    """
    a1, b1 = adler1 & 0xFFFF, adler1 >> 16
    a2, b2 = adler2 & 0xFFFF, adler2 >> 16
    a = (a1 + a2 - 1) % ADLER_MOD
    b = (b1 + b2 + length2 * (a1 - 1)) % ADLER_MOD
    return (b << 16) | a


class Compressor:
    """Makes segments with one zlib compressor (its buffers allocated once).

    Each segment ends in ``Z_FULL_FLUSH``, after which the compressor's
    history is empty: the next segment refers to nothing before it.
    """

    def __init__(self, level: int = 1):
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, -15)

    def raw(self, raw: bytes) -> Segment:
        """A segment of already-filtered scanlines."""
        return Segment.of(raw, self._zlib.compress(raw) + self._zlib.flush(zlib.Z_FULL_FLUSH))

    def rows(self, rows) -> Segment:
        """A segment of whole rows of pixels, each written with filter type 0 (None)."""
        return self.raw(b"".join(_NONE + row for row in rows))


_NONE = bytes([FILTER_NONE])


def repeat_previous_row(width: int, count: int) -> Segment:
    """``count`` rows equal to the row above: filter Up, all differences zero."""
    return Compressor(9).raw((bytes([FILTER_UP]) + bytes(width)) * count)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_palette_png(width: int, height: int, palette: bytes, dpi: int, segments) -> bytes:
    """An 8-bit palette PNG whose image data is ``segments`` in order.

    The segments must hold exactly ``height`` scanlines of ``width`` + 1
    bytes (checked: a miscount would make a PNG every viewer rejects).
    """
    adler, size, parts = 1, 0, [ZLIB_HEADER]
    for segment in segments:
        adler = adler32_combine(adler, segment.adler, len(segment.raw))
        size += len(segment.raw)
        parts.append(segment.deflated)
    if size != height * (width + 1):
        raise ValueError(f"PNG image data: observed {size} bytes, expected "
                         f"{height} rows × {width + 1} = {height * (width + 1)}")
    parts += [FINAL_EMPTY_BLOCK, struct.pack(">I", adler)]
    ppm = int(dpi / 0.0254 + 0.5)  # pixels per metre, rounded as Pillow does
    return b"".join([
        SIGNATURE,
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)),
        _chunk(b"PLTE", palette),
        _chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)),
        _chunk(b"IDAT", b"".join(parts)),
        _chunk(b"IEND", b""),
    ])
