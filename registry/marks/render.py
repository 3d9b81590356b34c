"""The printable certification mark: SVG and 600 dpi PNG around the QR code.

A mark is made from the registry alone: the payload (with the issuing body's
signature) was made when the certificate revision was signed and is stored
with it, so printing marks never needs a private key. The QR code is
:mod:`registry.marks.qr`'s.

Printable mark: the programme's title (苏州制造, or 苏州丝绸 / 苏式红木家具 /
苏绣 from ``reference.PROGRAMMES``), the QR code, the certificate number and
"扫码验证 · <domain>" so a person can see where a genuine mark leads. A mark
of a demo registry (its ``meta.demo`` is set: ``MarkInfo.demo``) carries a
red band "演示数据 · DEMO DATA" under it, so a printed demo mark is never
taken for a real one (issue 14). The SVG
has its text converted to outlines with fontTools from Noto Sans CJK SC, so
print shops need no font and nothing in the file is executable; the PNG is
rendered at 600 dpi with Pillow and the same font.
"""

from __future__ import annotations

import functools
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from registry.core import fs, parallel, payload, reference
from registry.core.exceptions import ConfigError, NotFoundError
from registry.marks import png
from registry.marks.qr import QUIET_ZONE, make_qr

DPI = 600

FONT_PATHS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),  # index 2 = SC
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
)


@dataclass(frozen=True)
class MarkInfo:
    """What one mark shows: its certificate, programme and signed payload, and its URL."""

    cert_no: str
    programme: str
    status: str
    payload_text: str
    url: str
    demo: bool = False   # the registry is demo data: the mark says so


def mark_info(cert_no, programme, status, payload_text, site_url: str, *, demo: bool = False) -> MarkInfo:
    """The mark of a certificate's stored payload (NotFoundError when it has none;
    PayloadError when it does not parse: a mark is never printed from garbage).
    ``demo``: the registry's ``meta.demo`` is set (the one signal of demo data)."""
    if not payload_text:
        raise NotFoundError(f"certificate {cert_no}: has no signed mark payload")
    payload.parse_text(payload_text)
    return MarkInfo(cert_no, programme, status, payload_text, payload.mark_url(site_url, payload_text),
                    bool(demo))


# ------------------------------------------------------------------ fonts

@functools.lru_cache(maxsize=1)
def _font_file():
    for path, index in FONT_PATHS:
        if os.path.exists(path):
            return path, index
    raise ConfigError(
        "no CJK font: install fonts-noto-cjk (expected "
        + " or ".join(p for p, _ in FONT_PATHS) + ")"
    )


@functools.lru_cache(maxsize=1)
def _outline_font():
    from fontTools.ttLib import TTCollection, TTFont

    path, index = _font_file()
    font = TTCollection(path, lazy=True).fonts[index] if path.endswith(".ttc") else TTFont(path, lazy=True)
    return font, font.getGlyphSet(), font.getBestCmap(), font["head"].unitsPerEm, font["hmtx"]


@functools.lru_cache(maxsize=512)
def _glyph(char: str):
    """(SVG path in font units, y up; advance) for one character."""
    from fontTools.pens.svgPathPen import SVGPathPen

    _font, glyphs, cmap, _upm, hmtx = _outline_font()
    name = cmap.get(ord(char))
    if name is None:
        raise ConfigError(f"the CJK font has no glyph for {char!r}")
    pen = SVGPathPen(glyphs)
    glyphs[name].draw(pen)
    return pen.getCommands(), hmtx[name][0]


def _text_width(text: str, size: float) -> float:
    upm = _outline_font()[3]
    return sum(_glyph(c)[1] for c in text) * size / upm


def _svg_text(text: str, cx: float, baseline: float, size: float, fill: str) -> str:
    """Text as outlines, centred on ``cx`` (one <path> per glyph, no <text>)."""
    upm = _outline_font()[3]
    scale = size / upm
    x = cx - _text_width(text, size) / 2
    parts = []
    for char in text:
        d, advance = _glyph(char)
        if d:
            parts.append(
                f'<path transform="translate({x:.2f} {baseline:.2f}) scale({scale:.5f} -{scale:.5f})" d="{d}"/>'
            )
        x += advance * scale
    return f'<g fill="{fill}">' + "".join(parts) + "</g>"


@functools.lru_cache(maxsize=16)
def _pil_font(size: int):
    from PIL import ImageFont

    path, index = _font_file()
    return ImageFont.truetype(path, size, index=index)


# ----------------------------------------------------------------- layout
# Units: pixels at 600 dpi (so 1 unit = 25.4/600 mm); the SVG uses the same
# coordinates in its viewBox and states its physical size in millimetres.

RED = "#c8102e"
QR_BOX = 684          # quiet zone included; 12 px modules at version 8
PAD = 36
WIDTH = QR_BOX + 2 * PAD
TITLE_H = 190
TOP = TITLE_H + 18
NUMBER_SIZE = 46
DOMAIN_SIZE = 36
HEIGHT = TOP + QR_BOX + 150
DEMO_BAND = 104       # the demo band below the mark's body
DEMO_TEXT = "演示数据 · DEMO DATA"
DEMO_SIZE = 50


def height_of(demo: bool) -> int:
    return HEIGHT + DEMO_BAND if demo else HEIGHT


def layout(qr):
    n = len(qr.matrix) + 2 * QUIET_ZONE
    module = QR_BOX // n
    side = module * n
    x0 = PAD + (QR_BOX - side) // 2
    y0 = TOP + (QR_BOX - side) // 2
    return module, side, x0, y0


TEXT_WIDTH = WIDTH - 2 * PAD  # no text may run into the frame


def _fit(text: str, size: float) -> float:
    """``size``, shrunk so that ``text`` fits within :data:`TEXT_WIDTH`."""
    width = _text_width(text, size)
    return size if width <= TEXT_WIDTH else size * TEXT_WIDTH / width


def _texts(info: MarkInfo):
    """(text, baseline, size, colour) of every line, each fitted to the frame."""
    zh, en = reference.PROGRAMMES.get(info.programme, reference.PROGRAMMES[reference.DEFAULT_PROGRAMME])
    domain = urlsplit(info.url).netloc
    lines = [
        (zh, TITLE_H * 0.58, 104, "#ffffff"),
        (en.upper() + " · CERTIFIED", TITLE_H * 0.86, 30, "#ffffff"),
        (info.cert_no, TOP + QR_BOX + 62, NUMBER_SIZE, "#111111"),
        ("扫码验证 · " + domain, TOP + QR_BOX + 118, DOMAIN_SIZE, "#111111"),
    ]
    return [(text, baseline, _fit(text, size), fill) for text, baseline, size, fill in lines]


_DARK_RUN = re.compile(rb"\x01+")


class _Strings(dict):
    """``table[n]`` = ``make(n)``, computed on first use."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, n):
        value = self[n] = self.make(n)
        return value


def render_svg(info: MarkInfo, qr) -> str:
    """The mark as a standalone SVG (vector; text as outlines; no script)."""
    module, side, x0, y0 = layout(qr)
    # One rectangle per horizontal run of dark modules. After "z" the pen is
    # back at the run's start, so the next run of the row is a relative move;
    # the few distinct widths and gaps are formatted once per symbol.
    rect = _Strings(lambda n: f"h{n * module}v{module}h-{n * module}z")
    move = _Strings(lambda n: f"m{n * module} 0")
    runs = []
    left = x0 + QUIET_ZONE * module
    for r, row in enumerate(qr.matrix):
        previous = None
        for run in _DARK_RUN.finditer(row):
            start = run.start()
            if previous is None:
                runs.append(f"M{left + start * module} {y0 + (r + QUIET_ZONE) * module}")
            else:
                runs.append(move[start - previous])
            runs.append(rect[run.end() - start])
            previous = start
    height = height_of(info.demo)
    mm_w = WIDTH * 25.4 / DPI
    mm_h = height * 25.4 / DPI
    title = escape(f"{info.cert_no} {info.url}" + (f" ({DEMO_TEXT})" if info.demo else ""))
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{mm_w:.2f}mm" height="{mm_h:.2f}mm" '
        f'viewBox="0 0 {WIDTH} {height}" role="img">'),
        f"<title>{title}</title>",
        (f'<rect x="4" y="4" width="{WIDTH - 8}" height="{height - 8}" rx="28" fill="#ffffff" '
         f'stroke="{RED}" stroke-width="8"/>'),
        f'<path d="M4 32a28 28 0 0 1 28-28h{WIDTH - 64}a28 28 0 0 1 28 28v{TITLE_H - 28}h-{WIDTH - 8}z" fill="{RED}"/>',
        f'<rect x="{x0}" y="{y0}" width="{side}" height="{side}" fill="#ffffff"/>',
        f'<path fill="#000000" d="{"".join(runs)}"/>',
    ]
    title, subtitle, domain_line = _svg_fixed_lines(info.programme, urlsplit(info.url).netloc)
    text, baseline, size, fill = _texts(info)[2]
    out += [title, subtitle, _svg_text(text, WIDTH / 2, baseline, size, fill), domain_line]
    if info.demo:
        out.append(_svg_demo_band())
    out.append("</svg>\n")
    return "".join(out)


@functools.lru_cache(maxsize=1)
def _svg_demo_band() -> str:
    """The red band with "演示数据 · DEMO DATA" below a demo mark's body."""
    bottom = HEIGHT + DEMO_BAND - 4
    band = (f'<path d="M4 {HEIGHT}h{WIDTH - 8}v{DEMO_BAND - 32}a28 28 0 0 1-28 28h-{WIDTH - 64}'
            f'a28 28 0 0 1-28-28z" fill="{RED}"/>')
    return band + _svg_text(DEMO_TEXT, WIDTH / 2, bottom - 30, _fit(DEMO_TEXT, DEMO_SIZE), "#ffffff")


@functools.lru_cache(maxsize=16)
def _svg_fixed_lines(programme: str, domain: str):
    """The title, subtitle and domain lines (outlines) of a programme's SVG marks."""
    info = MarkInfo("", programme, "", "", f"http://{domain}/")
    return tuple(_svg_text(text, WIDTH / 2, baseline, size, fill)
                 for i, (text, baseline, size, fill) in enumerate(_texts(info)) if i != 2)


# The PNG is a palette image: an "L" image of palette indexes, drawn with
# Pillow's ordinary (antialiased) text and shapes, then reinterpreted as "P"
# with this fixed palette. Indexes 0..127 are a ramp black → white (the body:
# QR, number, domain); 128..255 a ramp red → white (the title band). Text
# antialiasing blends an index with its background's index, which stays on the
# right ramp because each text sits on one ramp's end (white body, red band).
# A palette PNG encodes ~6× faster than RGB with the same pixels.
_RAMP = 127


def _ramp(rgb):
    return [round(c + (255 - c) * i / _RAMP) for i in range(_RAMP + 1) for c in rgb]


_PALETTE = _ramp((0, 0, 0)) + _ramp(tuple(int(RED[k:k + 2], 16) for k in (1, 3, 5)))
_BLACK, _WHITE, _RED, _RED_WHITE = 0, _RAMP, _RAMP + 1, 2 * _RAMP + 1
# A QR image byte (0 = dark, 255 = light) → the body ramp's black or white.


def _index_of(colour: str) -> int:
    """Palette index of a text colour: white on the band, a grey on the body."""
    if colour.lower() == "#ffffff":
        return _RED_WHITE
    return round(int(colour[1:3], 16) * _RAMP / 255)


@functools.lru_cache(maxsize=16)
def _png_template(programme: str, domain: str, demo: bool = False):
    """Frame, title band, title and domain line (and a demo mark's demo band)
    of a programme's PNG (indexes)."""
    from PIL import Image, ImageDraw

    height = height_of(demo)
    image = Image.new("L", (WIDTH, height), _WHITE)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 4, WIDTH - 5, height - 5), radius=28, outline=_RED, width=8)
    if demo:
        draw.rounded_rectangle((4, HEIGHT, WIDTH - 5, height - 5), radius=28, fill=_RED)
        draw.rectangle((4, HEIGHT, WIDTH - 5, HEIGHT + 28), fill=_RED)
        draw.text((WIDTH / 2, height - 4 - 30), DEMO_TEXT, font=_pil_font(int(_fit(DEMO_TEXT, DEMO_SIZE))),
                  fill=_RED_WHITE, anchor="ms")
    draw.rounded_rectangle((4, 4, WIDTH - 5, TITLE_H + 28), radius=28, fill=_RED)
    draw.rectangle((4, TITLE_H, WIDTH - 5, TITLE_H + 28), fill=_WHITE)
    draw.rectangle((4, TITLE_H, 11, TITLE_H + 28), fill=_RED)
    draw.rectangle((WIDTH - 12, TITLE_H, WIDTH - 5, TITLE_H + 28), fill=_RED)
    info = MarkInfo("", programme, "", "", f"http://{domain}/")
    for i, (text, baseline, size, fill) in enumerate(_texts(info)):
        if i != 2:  # line 2, the certificate number, is drawn per mark
            draw.text((WIDTH / 2, baseline), text, font=_pil_font(int(size)),
                      fill=_index_of(fill), anchor="ms")
    return image


@functools.lru_cache(maxsize=16)
def _png_rows(programme: str, domain: str, demo: bool, module: int, qr_top: int, qr_bottom: int,
              band: tuple):
    """What every mark of one template and geometry shares (``registry/marks/png.py``
    segments): the rows above the symbol, the "repeat the row above" run that
    makes each module ``module`` pixels tall, the rows between the symbol and
    the certificate number's ``band`` (top, bottom) and those below it; and
    the template's rows (bytes)."""
    raw = _png_template(programme, domain, demo).tobytes()
    rows = [raw[y * WIDTH:(y + 1) * WIDTH] for y in range(height_of(demo))]
    compressor = png.Compressor(9)
    return (compressor.rows(rows[:qr_top]), png.repeat_previous_row(WIDTH, module - 1),
            compressor.rows(rows[qr_bottom:band[0]]), compressor.rows(rows[band[1]:]), rows)


_QR_INDEX = bytes([_WHITE, _BLACK] + [0] * 254)  # matrix byte (1 = dark) → palette index
_PALETTE_BYTES = bytes(_PALETTE)


def render_png(info: MarkInfo, qr) -> bytes:
    """The mark as a PNG at 600 dpi (dpi metadata set; 4-module quiet zone).

    The pixels are those of :func:`render_png_pillow`; the encoding reuses
    what marks share (``registry/marks/png.py``): only one pixel row per QR module
    row and the band of rows holding the certificate number are compressed
    per mark.
    """
    from PIL import Image, ImageDraw

    module, _side, x0, y0 = layout(qr)
    n = len(qr.matrix)
    left, top = x0 + QUIET_ZONE * module, y0 + QUIET_ZONE * module
    bottom, width = top + n * module, n * module
    text, baseline, size, fill = _texts(info)[2]
    font = _pil_font(int(size))
    ascent, descent = font.getmetrics()
    # The font's ascent and descent bound every glyph it draws (2 px spare).
    band = (max(bottom, int(baseline) - ascent - 2), min(HEIGHT, int(baseline) + descent + 2))
    head, repeat, above, below, rows = _png_rows(
        info.programme, urlsplit(info.url).netloc, info.demo, module, top, bottom, band)
    # The symbol stretched sideways only: one pixel row per module row.
    symbol = Image.frombytes("L", (n, n), b"".join(qr.matrix).translate(_QR_INDEX))
    stretched = symbol.resize((width, n), Image.Resampling.NEAREST).tobytes()
    compressor = png.Compressor(1)
    segments = [head]
    for r in range(n):
        row = rows[top + r * module]
        segments.append(compressor.rows([row[:left] + stretched[r * width:(r + 1) * width]
                                         + row[left + width:]]))
        segments.append(repeat)
    segments.append(above)
    # The certificate number, drawn into the template's rows of its band.
    strip = Image.frombytes("L", (WIDTH, band[1] - band[0]), b"".join(rows[band[0]:band[1]]))
    ImageDraw.Draw(strip).text((WIDTH / 2, baseline - band[0]), text, font=font,
                               fill=_index_of(fill), anchor="ms")
    raw = strip.tobytes()
    segments.append(compressor.rows(raw[y * WIDTH:(y + 1) * WIDTH] for y in range(band[1] - band[0])))
    segments.append(below)
    return png.write_palette_png(WIDTH, height_of(info.demo), _PALETTE_BYTES, DPI, segments)


def render_png_pillow(info: MarkInfo, qr) -> bytes:
    """The same pixels drawn whole and encoded by Pillow (the reference the tests
    compare :func:`render_png` with)."""
    from PIL import Image, ImageDraw

    module, _side, x0, y0 = layout(qr)
    image = _png_template(info.programme, urlsplit(info.url).netloc, info.demo).copy()
    n = len(qr.matrix)
    # Light modules are white already (the template's body): paste the symbol.
    symbol = Image.frombytes("L", (n, n), b"".join(qr.matrix).translate(_QR_INDEX))
    image.paste(symbol.resize((n * module, n * module), Image.Resampling.NEAREST),
                (x0 + QUIET_ZONE * module, y0 + QUIET_ZONE * module))
    text, baseline, size, fill = _texts(info)[2]
    ImageDraw.Draw(image).text((WIDTH / 2, baseline), text, font=_pil_font(int(size)),
                               fill=_index_of(fill), anchor="ms")
    image.putpalette(_PALETTE)  # "L" indexes become a "P" image, pixels untouched
    buf = io.BytesIO()
    image.save(buf, "PNG", dpi=(DPI, DPI), compress_level=6)
    return buf.getvalue()


# --------------------------------------------------------------- writing

def write_mark(info: MarkInfo, out_dir, *, formats=("svg", "png")) -> dict:
    """Write ``<cert_no>.svg`` / ``.png`` into ``out_dir``; return
    ``{"cert_no", "url", "version", "error", "status", "svg", "png"}`` (paths as str)."""
    out_dir = Path(out_dir)
    qr = make_qr(info.url.split("/v/#", 1)[0], info.payload_text)
    result = {"cert_no": info.cert_no, "url": info.url, "version": qr.version,
              "error": qr.error, "status": info.status}
    if "svg" in formats:
        result["svg"] = str(fs.write_atomic(out_dir / f"{info.cert_no}.svg", render_svg(info, qr)))
    if "png" in formats:
        result["png"] = str(fs.write_atomic(out_dir / f"{info.cert_no}.png", render_png(info, qr)))
    return result


def write_mark_job(job) -> dict:
    """:func:`write_mark` of ``(info, out_dir, formats)``: one task of a pool."""
    info, out_dir, formats = job
    return write_mark(info, out_dir, formats=formats)


def write_marks(infos, out_dir, *, formats=("svg", "png"), workers=None) -> list:
    """Write the marks of ``infos`` on every core; results in their order.

    Rendering is CPU-bound, so the work is spread over a process pool.
    """
    jobs = [(info, str(out_dir), tuple(formats)) for info in infos]
    workers = workers or parallel.cpu_count()
    if workers == 1 or len(jobs) < 8:
        return [write_mark_job(job) for job in jobs]
    with parallel.pool(workers) as pool:
        return pool.map(write_mark_job, jobs, chunksize=max(1, len(jobs) // (workers * 8)))
