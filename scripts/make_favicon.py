#!/usr/bin/env python3
"""Generate the site's icon: content/extra/favicon.svg and favicon.ico.

One drawing, two encodings: the mark's red (registry/marks/render.py RED) as a
rounded square with a white tick, as SVG (what ``<link rel="icon">`` names)
and as a 16/32/48-pixel ICO (what browsers ask for at ``/favicon.ico`` when a
page names no icon). Both are committed; Pelican copies them to the site root
(pelicanconf.py EXTRA_PATH_METADATA). Run again only to change the icon.

Usage: python scripts/make_favicon.py
"""

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw

from registry.marks.render import RED

SIZE = 64
RADIUS = 12
# The tick, as a polyline in a 64-unit square.
TICK = [(16, 33), (28, 45), (49, 21)]
STROKE = 9


def svg() -> str:
    points = " ".join(f"{x},{y}" for x, y in TICK)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}">'
            f'<rect width="{SIZE}" height="{SIZE}" rx="{RADIUS}" fill="{RED}"/>'
            f'<polyline points="{points}" fill="none" stroke="#ffffff" stroke-width="{STROKE}" '
            'stroke-linecap="round" stroke-linejoin="round"/></svg>\n')


def ico() -> bytes:
    scale = 4  # draw large, then downsample: smooth edges at every size
    big = Image.new("RGBA", (SIZE * scale, SIZE * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    draw.rounded_rectangle((0, 0, SIZE * scale - 1, SIZE * scale - 1), radius=RADIUS * scale, fill=RED)
    draw.line([(x * scale, y * scale) for x, y in TICK], fill="#ffffff", width=STROKE * scale, joint="curve")
    for x, y in (TICK[0], TICK[-1]):
        r = STROKE * scale / 2
        draw.ellipse((x * scale - r, y * scale - r, x * scale + r, y * scale + r), fill="#ffffff")
    buf = io.BytesIO()
    big.resize((48, 48), Image.Resampling.LANCZOS).save(buf, "ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    return buf.getvalue()


def main():
    out = ROOT / "content" / "extra"
    out.mkdir(parents=True, exist_ok=True)
    (out / "favicon.svg").write_text(svg(), encoding="utf-8")
    (out / "favicon.ico").write_bytes(ico())
    print(f"wrote {out / 'favicon.svg'} and {out / 'favicon.ico'}")


if __name__ == "__main__":
    main()
