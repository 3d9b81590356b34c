"""Statistics charts drawn at build time as standalone SVG files.

Readable without JavaScript and by screen readers: every chart has a
``<title>`` and ``<desc>``, labelled axes and value labels, and the stats
page prints the same numbers in a data table beneath each chart (rule:
charts never are the only carrier of a figure). Colours come with text
labels, never alone. Output is deterministic (fixed number formatting,
inputs sorted by the caller). All text is XML-escaped: names of districts,
bodies and industries end up here.

Each chart is drawn twice: ``wide`` (640 units across, for screens from
600 px) and ``narrow`` (360 units, for phones: the stats page picks one with
``<picture>``), so that on a 360 px phone no chart text is drawn smaller than
about 12 px (issue 14: at 640 units scaled to a phone it was about 6 px).
The narrow layout puts each bar's label on its own line above the bar and
the title's English on a second line.
"""

import datetime
from xml.sax.saxutils import escape, quoteattr

FONT = "Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif"
INK = "#1a1a1a"
GRID = "#c8c8c8"
BAR = "#1f5f99"
TARGET = "#b3261e"
SERIES = ("#1f5f99", "#b3261e", "#6b4e00")


def _n(x):
    """Fixed formatting of coordinates: reproducible bytes."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _text(x, y, text, *, size=13, anchor="start", fill=INK, weight=None):
    w = f' font-weight="{weight}"' if weight else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}"{w}>{escape(str(text))}</text>')


def _svg(width, height, title, desc, body, chart_id):
    return "\n".join([
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" font-family={quoteattr(FONT)}>'),
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        *body,
        "</svg>",
    ]) + "\n"


# Font sizes (SVG units) and widths of the two layouts.
WIDE = {"width": 640, "title": 15, "text": 13, "small": 11, "value": 12, "narrow": False}
NARROW = {"width": 360, "title": 16, "text": 14, "small": 13, "value": 14, "narrow": True}


def _split_title(title):
    """``"中文 English words"`` -> (``"中文"``, ``"English words"``)."""
    zh, _, en = title.partition(" ")
    return zh, en


def _title(title, x, layout):
    """The chart's title: one line (wide) or Chinese over English (narrow);
    returns (elements, height used)."""
    if not layout["narrow"]:
        return [_text(x, 22, title, size=layout["title"], weight="bold")], 30
    zh, en = _split_title(title)
    return [_text(8, 20, zh, size=layout["title"], weight="bold"),
            _text(8, 38, en, size=layout["small"])], 48


def size_of(svg_text):
    """(width, height) of a chart made here (its root element's attributes)."""
    head = svg_text.split(">", 1)[0]
    return tuple(int(head.split(f' {name}="', 1)[1].split('"', 1)[0]) for name in ("width", "height"))


def _nice_max(value):
    """Axis maximum: 1, 2, 2.5 or 5 × 10^k at or above ``value``."""
    if value <= 0:
        return 1
    k = 1
    while True:
        for m in (1, 2, 2.5, 5):
            if m * k >= value:
                return int(m * k) if m * k >= 1 else 1
        k *= 10


def bar_chart(items, *, title, desc, value_label, chart_id, layout=WIDE):
    """Horizontal bars: ``items`` is a list of (label, value)."""
    width = layout["width"]
    vmax = _nice_max(max((v for _, v in items), default=0))
    if layout["narrow"]:
        # Label on its own line, bar below it, across the whole width.
        left, right, row = 8, 48, 46
        head, top = _title(title, left, layout)
        top += 6
    else:
        left, right, row = 230, 60, 28
        head, top = _title(title, left, layout)
        top += 10
    height = top + row * max(len(items), 1) + 50
    plot_w = width - left - right
    body = list(head)
    for i in range(5):
        x = left + plot_w * i / 4
        body.append(f'<line x1="{_n(x)}" y1="{top - 6}" x2="{_n(x)}" '
                    f'y2="{top + row * len(items)}" stroke="{GRID}"/>')
        body.append(_text(x, top + row * len(items) + 18, _n(vmax * i / 4), size=layout["small"],
                          anchor="start" if layout["narrow"] and i == 0 else "middle"))
    for i, (name, value) in enumerate(items):
        y = top + row * i
        w = plot_w * value / vmax
        label = str(name)
        if layout["narrow"]:
            short = label if len(label) <= 24 else label[:23] + "…"
            body.append(_text(left, y + 17, short, size=layout["text"]))
            bar_y, bar_h, value_y = y + 23, 16, y + 37
        else:
            short = label if len(label) <= 16 else label[:15] + "…"
            body.append(_text(left - 8, y + 18, short, anchor="end", size=layout["text"]))
            bar_y, bar_h, value_y = y + 5, row - 10, y + 18
        body.append(f'<rect x="{left}" y="{bar_y}" width="{_n(w)}" height="{bar_h}" '
                    f'fill="{BAR}"><title>{escape(label)}: {value}</title></rect>')
        body.append(_text(left + w + 6, value_y, value, size=layout["value"]))
    body.append(_text(left + plot_w / 2, height - 8, value_label, size=layout["value"], anchor="middle"))
    return _svg(width, height, title, desc, body, chart_id)


def grouped_bars(categories, series, *, title, desc, value_label, chart_id, layout=WIDE):
    """Vertical grouped bars: ``series`` is a list of (name, [value per category])."""
    width = layout["width"]
    left, right = (40, 12) if layout["narrow"] else (56, 20)
    head, used = _title(title, left, layout)
    body = list(head)
    # Legend: side by side (wide) or one line each (narrow).
    for j, (name, _) in enumerate(series):
        x, y = (8, used + 4 + 20 * j) if layout["narrow"] else (left + j * 200, 34)
        body.append(f'<rect x="{x}" y="{y}" width="14" height="14" fill="{SERIES[j % 3]}"/>')
        body.append(_text(x + 20, y + 12, name, size=layout["value"]))
    top = (used + 20 * len(series) + 24) if layout["narrow"] else 64
    bottom = 56
    height = top + (240 if layout["narrow"] else 220) + bottom
    plot_w, plot_h = width - left - right, height - top - bottom
    vmax = _nice_max(max((v for _, vals in series for v in vals), default=0))
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" y1="{_n(y)}" x2="{width - right}" y2="{_n(y)}" '
                    f'stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, _n(vmax * i / 4), size=layout["small"], anchor="end"))
    n = max(len(categories), 1)
    group_w = plot_w / n
    bar_w = group_w * 0.8 / max(len(series), 1)
    for i, cat in enumerate(categories):
        gx = left + group_w * i + group_w * 0.1
        for j, (name, vals) in enumerate(series):
            v = vals[i]
            h = plot_h * v / vmax
            x = gx + bar_w * j
            body.append(f'<rect x="{_n(x)}" y="{_n(top + plot_h - h)}" width="{_n(bar_w)}" '
                        f'height="{_n(h)}" fill="{SERIES[j % 3]}"><title>{escape(str(cat))} '
                        f'{escape(name)}: {v}</title></rect>')
            body.append(_text(x + bar_w / 2, top + plot_h - h - 4, v, size=layout["small"],
                              anchor="middle"))
        body.append(_text(left + group_w * (i + 0.5), top + plot_h + 18, cat, size=layout["value"],
                          anchor="middle"))
    body.append(_text(left + plot_w / 2, height - 10, value_label, size=layout["value"], anchor="middle"))
    return _svg(width, height, title, desc, body, chart_id)


def _day(date_text):
    return datetime.date.fromisoformat(date_text).toordinal()


def progress_chart(points, *, target, target_date, title, desc, chart_id,
                   target_label, x_label, y_label, layout=WIDE):
    """Step line of a cumulative count over time, with the target line.

    ``points``: [(date, cumulative count)] ascending. The target is drawn as a
    dashed horizontal line at ``target`` with its label, and a vertical line
    at ``target_date`` (the end of the three-year plan).
    """
    width = layout["width"]
    height = 320 if layout["narrow"] else 360
    left, right, bottom = (48, 12, 52) if layout["narrow"] else (56, 24, 56)
    head, top = _title(title, left, layout)
    top += 10
    plot_w, plot_h = width - left - right, height - top - bottom
    # The x axis spans the plan (2021 .. target date) and all the data.
    start = min([_day("2021-01-01")] + ([_day(points[0][0])] if points else []))
    end = max([_day(target_date)] + ([_day(points[-1][0])] if points else [])) + 30
    vmax = _nice_max(max([target * 1.2] + [c for _, c in points]))

    def x(day):
        return left + plot_w * (day - start) / (end - start)

    def y(v):
        return top + plot_h - plot_h * v / vmax

    body = list(head)
    small = layout["small"]
    for i in range(5):
        v = vmax * i / 4
        body.append(f'<line x1="{left}" y1="{_n(y(v))}" x2="{width - right}" y2="{_n(y(v))}" '
                    f'stroke="{GRID}"/>')
        body.append(_text(left - 6, y(v) + 4, _n(v), size=small, anchor="end"))
    first_year = datetime.date.fromordinal(start).year
    last_year = datetime.date.fromordinal(end).year
    for year in range(first_year, last_year + 1):
        d = datetime.date(year, 1, 1).toordinal()
        if start <= d <= end:
            body.append(f'<line x1="{_n(x(d))}" y1="{top + plot_h}" x2="{_n(x(d))}" '
                        f'y2="{top + plot_h + 5}" stroke="{INK}"/>')
            body.append(_text(x(d), top + plot_h + 18, year, size=small, anchor="middle"))
    # Target: dashed line at the goal, vertical line at the plan's end.
    body.append(f'<line class="target" x1="{left}" y1="{_n(y(target))}" x2="{width - right}" '
                f'y2="{_n(y(target))}" stroke="{TARGET}" stroke-width="2" '
                f'stroke-dasharray="6 4" data-target="{target}"/>')
    body.append(f'<line x1="{_n(x(_day(target_date)))}" y1="{top}" '
                f'x2="{_n(x(_day(target_date)))}" y2="{top + plot_h}" stroke="{TARGET}" '
                f'stroke-dasharray="2 3"/>')
    body.append(_text(left + 6, y(target) - 6, target_label, size=layout["value"], fill=TARGET))
    if points:
        path = [f"M{_n(x(start))},{_n(y(0))}"]
        prev = 0
        for date, count in points:
            path.append(f"L{_n(x(_day(date)))},{_n(y(prev))}")
            path.append(f"L{_n(x(_day(date)))},{_n(y(count))}")
            prev = count
        path.append(f"L{_n(x(_day(points[-1][0])))},{_n(y(prev))}")
        body.append(f'<path d="{" ".join(path)}" fill="none" stroke="{BAR}" stroke-width="2.5"/>')
        last_date, last = points[-1]
        body.append(_text(x(_day(last_date)) - 4, y(last) - 6, last, size=layout["value"], fill=BAR,
                          anchor="end"))
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
                f'y2="{top + plot_h}" stroke="{INK}"/>')
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{INK}"/>')
    body.append(_text(left + plot_w / 2, height - 10, x_label, size=layout["value"], anchor="middle"))
    body.append(f'<text x="14" y="{_n(top + plot_h / 2)}" font-size="{layout["value"]}" fill="{INK}" '
                f'text-anchor="middle" transform="rotate(-90 14 {_n(top + plot_h / 2)})">'
                f'{escape(y_label)}</text>')
    return _svg(width, height, title, desc, body, chart_id)
