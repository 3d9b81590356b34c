"""Figures for the statistics page (``stats/``), computed from :class:`SiteData`.

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

from collections import Counter

from registry.core import industries, lifecycle, reference

TARGET = 100
TARGET_DATE = "2023-12-31"


def progress(data):
    first = {}
    for c in data.certificates:
        pid = c["product"]
        if pid not in first or c["issued"] < first[pid]:
            first[pid] = c["issued"]
    points, total = [], 0
    for date, n in sorted(Counter(first.values()).items()):
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


def compute(data):
    valid = [c for c in data.certificates if c["status"] == lifecycle.VALID]
    by_district = Counter(c["enterprise_row"]["district"] for c in valid)
    by_industry = Counter(c["enterprise_row"]["division"] for c in valid)
    by_body = Counter(c["body"] for c in valid)
    by_programme = Counter(c["programme"] for c in valid)
    by_status = Counter(c["status"] for c in data.certificates)

    def industry_name(div):
        names = industries.MANUFACTURING_DIVISIONS.get((div or "")[1:], None)
        return f"{div} {names[0]}" if names else str(div)

    years = Counter()
    for ev in data.events:
        year = ev["date"][:4]
        if ev["type"] in ("suspended", "surveillance_failed") and _suspends(ev):
            years[(year, "suspended")] += 1
        elif ev["type"] == "revoked":
            years[(year, "revoked")] += 1
    year_list = sorted({y for y, _ in years})
    points = progress(data)
    products_valid = len({c["product"] for c in valid})
    return {
        "progress": points,
        "progress_quarters": by_quarter(points),
        "products_certified": points[-1][1] if points else 0,
        "products_valid": products_valid,
        "certificates_valid": len(valid),
        "certificates_total": len(data.certificates),
        "target": TARGET,
        "target_date": TARGET_DATE,
        "by_district": _sorted_counts(by_district, lambda k: k),
        "by_industry": _sorted_counts(by_industry, industry_name),
        "by_body": _sorted_counts(by_body, lambda k: k),
        "by_programme": _sorted_counts(
            by_programme, lambda k: reference.PROGRAMMES.get(k, (k,))[0]),
        "by_status": [(f"{lifecycle.STATUS_NAMES[s][0]} {s}", by_status.get(s, 0), s)
                      for s in lifecycle.STATUSES],
        "years": year_list,
        "suspensions": [years.get((y, "suspended"), 0) for y in year_list],
        "revocations": [years.get((y, "revoked"), 0) for y in year_list],
    }


def _suspends(ev):
    # A failed surveillance on an already suspended certificate is not a new
    # suspension; the event history tells us the status before it.
    history = ev["cert"]["history"]
    i = next(k for k, e in enumerate(history) if e is ev)
    status = None
    for prior in history[:i]:
        status = lifecycle.TRANSITIONS[prior["type"]].get(status, status)
    return status == lifecycle.VALID
