"""Printable marks of a real registry: QR budget, zxing round trip, SVG/PNG content."""

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import zxingcpp
from builders import MARKS_REGISTRY
from PIL import Image

from registry.core import payload, reference, rules
from registry.core.exceptions import ConfigError, NotFoundError
from registry.marks import qr, render
from registry.publish import api, site
from registry.store import queries, schema

SVG_NS = "{http://www.w3.org/2000/svg}"
AS_OF = "2025-06-01T08:00:00Z"


@pytest.fixture(scope="module")
def small_registry(make_registry):
    """Four certificates, one per programme, with a fresh snapshot in ``base/site``."""
    built = make_registry(**MARKS_REGISTRY)
    db = schema.connect(built.db)
    try:
        api.write_snapshot(db, built.base / "site", api.load_log_signer(db, built.keys, built.passphrase),
                           as_of=AS_OF)
    finally:
        db.conn.close()
    return built


@pytest.fixture(scope="module")
def written(small_registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("marks")
    db = schema.connect(small_registry.db)
    results = render.write_marks(infos(db), out, workers=2)
    return db, list(small_registry.cert_nos), results


def infos(db, cert_nos=None, url="https://szzz.example.cn"):
    return [render.mark_info(no, programme, "valid", text, url)
            for no, programme, text in queries.mark_rows(db, cert_nos)]


def test_every_certificate_gets_a_v8_m_qr_that_decodes_to_its_url(written):
    db, cert_nos, results = written
    assert [r["cert_no"] for r in results] == sorted(cert_nos)
    for r in results:
        stored = db.execute("select mark_payload from certificates where cert_no = ?",
                            [r["cert_no"]]).fetchone()[0]
        assert r["url"] == "https://szzz.example.cn/v/#" + stored
        assert r["version"] <= 8 and r["error"] == "M"
        with Image.open(r["png"]) as image:
            assert image.info["dpi"] == pytest.approx((600, 600), abs=0.01)
            # QR codes only, as registry.verify.decode_image reads a mark: the
            # printed number and frame can look like a short 1D code to zxing
            # when every format is tried (seen once in 1,000 demo marks).
            codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        assert [c.text for c in codes] == [r["url"]]
        assert codes[0].format == zxingcpp.BarcodeFormat.QRCode


def test_quiet_zone_is_white(written):
    _db, _nos, results = written
    r = results[0]
    symbol = qr.make_qr("https://szzz.example.cn", payload.payload_text(r["url"]))
    module, side, x0, y0 = render.layout(symbol)
    with Image.open(r["png"]) as image:
        band = image.convert("L").crop((x0, y0, x0 + side, y0 + 4 * module))
        assert band.getextrema() == (255, 255)   # 4 white modules above the symbol
        band = image.convert("L").crop((x0, y0, x0 + 4 * module, y0 + side))
        assert band.getextrema() == (255, 255)


def test_svg_is_well_formed_vector_without_script_or_fonts(written):
    _db, _nos, results = written
    for r in results:
        text = Path(r["svg"]).read_text(encoding="utf-8")
        root = ET.fromstring(text.encode())
        tags = {el.tag.replace(SVG_NS, "") for el in root.iter()}
        assert tags <= {"svg", "title", "rect", "path", "g"}, tags     # no script, text, image, use
        assert not any(a.lower().startswith("on") for el in root.iter() for a in el.attrib)
        assert "href" not in text and "<text" not in text
        title = root.find(SVG_NS + "title").text
        assert r["cert_no"] in title and "szzz.example.cn" in title
        assert root.attrib["width"].endswith("mm")
        # The text is drawn: one outline path per visible character.
        domain = "扫码验证 · szzz.example.cn"
        glyphs = sum(1 for el in root.iter(SVG_NS + "path") if "transform" in el.attrib)
        assert glyphs >= len(r["cert_no"]) + len(domain.replace(" ", "")) + 2


def sample_mark(programme, cert_no=None):
    """(MarkInfo, QR symbol) of a made-up mark of ``programme`` (payload ``000``)."""
    info = render.MarkInfo(cert_no or f"{programme}-2024-CQC-00001", programme, "valid", "000",
                           "https://szzz.example.cn/v/#000")
    return info, qr.make_qr("https://szzz.example.cn", "000")


def svg_lines(svg: str) -> list[list[str]]:
    """The SVG's lines of text (title first), each as its glyphs' <path> elements:
    text is drawn as outlines, one <g> per line and one path per visible character."""
    root = ET.fromstring(svg.encode())
    return [list(g.iter(SVG_NS + "path")) for g in root.iter(SVG_NS + "g")]


def test_each_programme_has_its_own_title(written):
    _db, cert_nos, _results = written
    programmes = {no.split("-")[0] for no in cert_nos}
    assert programmes == set(reference.PROGRAMMES)
    outline_of = {}
    for code, (zh, _en) in reference.PROGRAMMES.items():
        title = svg_lines(render.render_svg(*sample_mark(code)))[0]
        # One outline per character of the programme's Chinese name: every
        # character has a real glyph in the CJK font (no tofu) ...
        assert len(title) == len(zh) and all(path.attrib["d"] for path in title), code
        # ... and the same character is the same outline in every title (苏, 州).
        for char, path in zip(zh, title, strict=True):
            assert outline_of.setdefault(char, path.attrib["d"]) == path.attrib["d"], (code, char)
    assert len(set(outline_of.values())) == len(outline_of)   # distinct characters, distinct outlines


@pytest.mark.parametrize("programme", sorted(reference.PROGRAMMES))
def test_every_line_of_text_stays_inside_the_frame(programme):
    # A print shop gets exactly what we draw: a subtitle running past the
    # frame is cut off on paper. Checked on the raster, independently of the
    # outline widths the layout uses: between the frame and the padding, every
    # pixel row of the PNG is one colour (the title band's red or white), so no
    # text reaches into the margins; and on the outlines: every line of the
    # SVG (centred) starts at the padding or further in.
    info, symbol = sample_mark(programme, f"{programme}-2024-TUVSUD-00001")
    with Image.open(io.BytesIO(render.render_png(info, symbol))) as image:
        grey = image.convert("L")
    top, bottom = 40, render.HEIGHT - 40   # clear of the frame's rounded corners
    for left in (12, render.WIDTH - render.PAD):
        margin = grey.crop((left, top, left + render.PAD - 12, bottom))
        rows = [margin.crop((0, y, margin.width, y + 1)).getextrema() for y in range(margin.height)]
        assert [y + top for y, (lo, hi) in enumerate(rows) if lo != hi] == [], (programme, left)
    for line in svg_lines(render.render_svg(info, symbol)):
        starts = [float(re.match(r"translate\(([-\d.]+) ", path.attrib["transform"])[1]) for path in line]
        assert min(starts) >= render.PAD - 0.01, (programme, min(starts))


def test_png_has_ink_where_the_number_and_domain_are(written):
    _db, _nos, results = written
    with Image.open(results[0]["png"]) as image:
        grey = image.convert("L")
        below = grey.crop((0, render.TOP + render.QR_BOX + 10, render.WIDTH, render.HEIGHT - 20))
        dark = sum(below.histogram()[:100])
        assert dark > 2000       # two lines of text rendered, not blank
        title = image.crop((40, 20, render.WIDTH - 40, render.TITLE_H - 10)).convert("RGB")
        colours = {c: n for n, c in title.getcolors(1 << 16)}
        assert colours.get((255, 255, 255), 0) > 1000   # white title text on red


def test_mark_of_unknown_certificate_is_a_clear_error(written):
    db, _nos, _results = written
    with pytest.raises(NotFoundError, match="SZZZ-2024-CQC-09999"):
        infos(db, ["SZZZ-2024-CQC-09999"])


def test_site_url_from_meta_and_refusal(written):
    db, _nos, _results = written
    assert site.site_url_for(db) == site.DEFAULT_SITE_URL
    assert site.site_url_for(db, "http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    with pytest.raises(ConfigError, match="too long"):
        site.site_url_for(db, "https://verify.szzz-brand-certification.example.gov.cn")


def test_snapshot_is_byte_reproducible(small_registry, tmp_path):
    site = small_registry.base / "site"
    db = schema.connect(small_registry.db)
    signer = api.load_log_signer(db, small_registry.keys, small_registry.passphrase)
    api.write_snapshot(db, tmp_path / "a", signer, as_of=AS_OF)
    api.write_snapshot(db, tmp_path / "b", signer, as_of=AS_OF)
    api.write_snapshot(db, tmp_path / "b", signer, as_of=AS_OF)  # rewrite in place
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    buckets = {rules.status_bucket(no) for no in small_registry.cert_nos}
    assert files_a == files_b and len(files_a) == 3 + len(small_registry.cert_nos) + len(buckets)
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
        assert (tmp_path / "a" / rel).read_bytes() == (site / rel).read_bytes()


def test_snapshot_refuses_a_non_log_key(small_registry, tmp_path):
    from registry.core import keys

    db = schema.connect(small_registry.db)
    with pytest.raises(ConfigError, match="not in trust list"):
        api.write_snapshot(db, tmp_path, keys.signer_from_seed(b"not the log key"), as_of=AS_OF)
    assert not (tmp_path / "api" / "status.json").exists()


@pytest.mark.parametrize("programme", sorted(reference.PROGRAMMES))
def test_segment_encoded_png_has_pillows_pixels_and_a_checked_zlib_stream(written, programme):
    # render_png assembles its image data from reused compressed segments
    # (registry/png.py); a wrong row count, a segment referring back across a
    # flush or a bad Adler-32 would show here, not only in some strict viewer.
    import io
    import struct
    import zlib

    db, cert_nos, _results = written
    for no in cert_nos[:3]:
        info, = infos(db, [no])
        info = render.MarkInfo(info.cert_no, programme, info.status, info.payload_text, info.url)
        symbol = qr.make_qr("https://szzz.example.cn", info.payload_text)
        data = render.render_png(info, symbol)
        with Image.open(io.BytesIO(data)) as ours, \
                Image.open(io.BytesIO(render.render_png_pillow(info, symbol))) as pillows:
            assert (ours.mode, ours.size, ours.info["dpi"]) == (pillows.mode, pillows.size, pillows.info["dpi"])
            assert ours.getpalette() == pillows.getpalette()
            assert ours.tobytes() == pillows.tobytes()
        pos, idat = 8, b""
        while pos < len(data):
            length, kind = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 4:pos + 8 + length]
            assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(body)
            idat += body[4:] if kind == b"IDAT" else b""
            pos += 12 + length
        inflater = zlib.decompressobj()
        raw = inflater.decompress(idat)
        assert inflater.eof and not inflater.unused_data   # eof: Adler-32 checked
        assert len(raw) == render.HEIGHT * (render.WIDTH + 1)


def test_a_demo_registrys_mark_says_demo_data_and_still_scans(written):
    """Issue 14: a mark of a demo registry (``MarkInfo.demo``, from the registry's
    ``meta.demo``) carries a red band "演示数据 · DEMO DATA" below its body, in
    the SVG (outlines, and its title) and the PNG (red band with white text, the
    same pixels as Pillow's whole drawing); the QR code still reads as the same
    URL; a real registry's mark has no band."""
    db, cert_nos, _results = written
    info, = infos(db, [cert_nos[0]])
    demo = render.MarkInfo(info.cert_no, info.programme, info.status, info.payload_text, info.url, demo=True)
    symbol = qr.make_qr("https://szzz.example.cn", info.payload_text)
    real_svg, demo_svg = render.render_svg(info, symbol), render.render_svg(demo, symbol)
    assert "DEMO DATA" not in real_svg and "演示数据" not in real_svg
    root = ET.fromstring(demo_svg.encode())
    assert root.find(SVG_NS + "title").text.endswith("(演示数据 · DEMO DATA)")
    assert root.attrib["viewBox"] == f"0 0 {render.WIDTH} {render.HEIGHT + render.DEMO_BAND}"
    band_glyphs = svg_lines(demo_svg)[-1]      # the last line drawn: the band's text
    assert len(band_glyphs) == len(render.DEMO_TEXT.replace(" ", ""))
    for mark in (info, demo):
        data = render.render_png(mark, symbol)
        with Image.open(io.BytesIO(data)) as ours, \
                Image.open(io.BytesIO(render.render_png_pillow(mark, symbol))) as pillows:
            assert ours.tobytes() == pillows.tobytes()
            rgb = ours.convert("RGB")
            found = zxingcpp.read_barcodes(rgb.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
            assert [r.text for r in found] == [info.url]
        if mark is info:
            assert rgb.size == (render.WIDTH, render.HEIGHT)
            continue
        assert rgb.size == (render.WIDTH, render.HEIGHT + render.DEMO_BAND)
        band = rgb.crop((40, render.HEIGHT + 8, render.WIDTH - 40, rgb.height - 12))
        colours = {c: n for n, c in band.getcolors(1 << 16)}
        red = tuple(int(render.RED[k:k + 2], 16) for k in (1, 3, 5))
        assert colours.get(red, 0) > band.width * band.height / 2      # a red band
        assert colours.get((255, 255, 255), 0) > 1500                   # with white text on it
    assert render.mark_info(info.cert_no, info.programme, "valid", info.payload_text,
                            "https://szzz.example.cn", demo=True).demo is True
