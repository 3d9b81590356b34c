"""Figures for the statistics page (``stats/``), from the registry's :mod:`szzz_registry.figures`.

Definitions (also printed on the page, docs/site.md):

* *certified products over time*: distinct products that have held a
  certificate, counted from the first ``issued`` date of any of their
  certificates — the measure of the plan's goal of "100 个以上 … 认证高端产品"
  by 2023 (苏府〔2020〕128号, 三、工作目标);
* breakdowns by district, industry, body and programme count certificates
  that are *valid now*; the status breakdown counts all certificates;
* suspensions (``suspended`` and ``surveillance_failed`` events) and
  revocations per calendar year of the event date.
"""

from registry.core import industries, lifecycle, reference

TARGET = 100
TARGET_DATE = "2023-12-31"


def progress(figures):
    """(date, products certified by then) at each date a product got its first certificate."""
    points, total = [], 0
    for date, n in sorted(figures.first_issues.items()):
        if n:
            total += n
            points.append((date, total))
    return points


def by_quarter(points):
    """Cumulative count at the end of each quarter that had issues (for the table)."""
    out = {}
    for date, total in points:
        quarter = f"{date[:4]} Q{(int(date[5:7]) - 1) // 3 + 1}"
        out[quarter] = total
    return list(out.items())


def _sorted_counts(counter, names):
    return [(names(k), n, k) for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def compute(figures):
    """The figures of the statistics and home pages (``figures``: the registry's
    :class:`szzz_registry.figures.Figures`)."""
    valid = lifecycle.VALID
    by_status = figures.by("status")

    def industry_name(div):
        names = industries.MANUFACTURING_DIVISIONS.get((div or "")[1:], None)
        return f"{div} {names[0]}" if names else str(div)

    year_list = sorted({y for (y, _), n in figures.years.items() if n})
    points = progress(figures)
    return {
        "progress": points,
        "progress_quarters": by_quarter(points),
        "products_certified": points[-1][1] if points else 0,
        "products_valid": figures.products_valid,
        "certificates_valid": by_status.get(valid, 0),
        "certificates_total": sum(by_status.values()),
        "target": TARGET,
        "target_date": TARGET_DATE,
        "by_district": _sorted_counts(figures.by("district", status=valid), lambda k: k),
        "by_industry": _sorted_counts(figures.by("industry", status=valid), industry_name),
        "by_body": _sorted_counts(figures.by("body", status=valid), lambda k: k),
        "by_programme": _sorted_counts(
            figures.by("programme", status=valid), lambda k: reference.PROGRAMMES.get(k, (k,))[0]),
        "by_status": [(f"{lifecycle.STATUS_NAMES[s][0]} {s}", by_status.get(s, 0), s)
                      for s in lifecycle.STATUSES],
        "years": year_list,
        "suspensions": [figures.years.get((y, "suspended"), 0) for y in year_list],
        "revocations": [figures.years.get((y, "revoked"), 0) for y in year_list],
    }
