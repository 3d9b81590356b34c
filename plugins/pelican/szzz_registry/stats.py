"""Figures for the statistics page (``stats/``), computed in SQL over the whole registry.

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


def progress(conn):
    """(date, products certified by then) at each date a product got its first certificate."""
    points, total = [], 0
    for date, n in conn.execute(
            "select first_issued, count(*) from (select min(issued) as first_issued from certificates "
            "group by product) group by 1 order by 1"):
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


def compute(conn, counts):
    """The figures of the statistics and home pages from registry ``conn``
    (``counts``: its :class:`szzz_registry.queries.Counts`)."""
    valid = lifecycle.VALID
    by_status = counts.by("status")

    def industry_name(div):
        names = industries.MANUFACTURING_DIVISIONS.get((div or "")[1:], None)
        return f"{div} {names[0]}" if names else str(div)

    years = _suspensions_and_revocations(conn)
    year_list = sorted({y for y, _ in years})
    points = progress(conn)
    products_valid = conn.execute("select count(distinct product) from certificates where status = ?",
                                  (valid,)).fetchone()[0]
    return {
        "progress": points,
        "progress_quarters": by_quarter(points),
        "products_certified": points[-1][1] if points else 0,
        "products_valid": products_valid,
        "certificates_valid": by_status.get(valid, 0),
        "certificates_total": sum(by_status.values()),
        "target": TARGET,
        "target_date": TARGET_DATE,
        "by_district": _sorted_counts(counts.by("district", status=valid), lambda k: k),
        "by_industry": _sorted_counts(counts.by("industry", status=valid), industry_name),
        "by_body": _sorted_counts(counts.by("body", status=valid), lambda k: k),
        "by_programme": _sorted_counts(
            counts.by("programme", status=valid), lambda k: reference.PROGRAMMES.get(k, (k,))[0]),
        "by_status": [(f"{lifecycle.STATUS_NAMES[s][0]} {s}", by_status.get(s, 0), s)
                      for s in lifecycle.STATUSES],
        "years": year_list,
        "suspensions": [years.get((y, "suspended"), 0) for y in year_list],
        "revocations": [years.get((y, "revoked"), 0) for y in year_list],
    }


# A suspension is an event that takes a valid certificate to suspended:
# ``suspended`` always does (lifecycle.TRANSITIONS allows it from valid only);
# ``surveillance_failed`` does only when the certificate was valid (on a
# suspended one it changes nothing), which the certificate's earlier events tell.
SUSPENDING = tuple(t for t, moves in lifecycle.TRANSITIONS.items()
                   if moves.get(lifecycle.VALID) == lifecycle.SUSPENDED)
_ALWAYS = tuple(t for t in SUSPENDING if set(lifecycle.TRANSITIONS[t]) == {lifecycle.VALID})


def _suspensions_and_revocations(conn) -> Counter:
    """(year, "suspended" | "revoked") -> events, by the event's date."""
    years = Counter()
    always = ",".join("?" * len(_ALWAYS))
    for year, kind, n in conn.execute(
            "select substr(date, 1, 4), type, count(*) from events "
            f"where type = 'revoked' or type in ({always}) group by 1, 2", _ALWAYS):
        years[(year, "revoked" if kind == "revoked" else "suspended")] += n
    replayed = tuple(t for t in SUSPENDING if t not in _ALWAYS)
    marks = ",".join("?" * len(replayed))
    status, current = None, None
    for cert_no, kind, date in conn.execute(
            "select cert_no, type, date from events where cert_no in (select cert_no from events "
            f"where type in ({marks})) order by cert_no, seq", replayed):
        if cert_no != current:
            status, current = None, cert_no
        if kind in replayed and status == lifecycle.VALID:
            years[(date[:4], "suspended")] += 1
        status = lifecycle.TRANSITIONS[kind].get(status, status)
    return years
