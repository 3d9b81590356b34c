"""Read functions over a registry database: what ``szzz … show|list`` print.

All functions take an open ``sqlite_utils.Database`` (``Registry.db``) and
return plain dicts and lists, ready for ``json.dumps``; none of them writes.
The shape of :func:`certificate` is a stable interface (``szzz cert show
--json``): at least ``cert_no``, ``status``, ``key_id``, ``signature`` and
``history`` (events oldest first, each with ``type``, ``date``,
``signature``).
"""

import json

from registry.core import canonical, lifecycle, reference
from registry.core.exceptions import NotFoundError, ValidationError
from registry.store import trust


def event_dict(row) -> dict:
    """An ``events`` row as published: its fields, and the envelope verbatim."""
    record = json.loads(row["payload"])
    return {
        "seq": row["seq"], "type": row["type"], "type_zh": lifecycle.EVENT_NAMES.get(
            row["type"], (row["type"],))[0],
        "date": row["date"], "actor": row["actor"], "cert_no": row["cert_no"],
        "subject": row["subject"], "status": record.get("status"),
        "revision": record.get("revision"), "reason": row["reason"], "notice": row["notice"],
        "key_id": row["key_id"], "signature": row["signature"],
        "envelope": canonical.envelope(canonical.EVENT, row["payload"], row["key_id"], row["signature"]),
    }


def history(db, cert_no) -> list:
    """The signed events of one certificate, oldest first."""
    return [event_dict(r) for r in list(db.query("select * from events where cert_no = ? order by seq", [cert_no]))]


def revisions(db, cert_no) -> list:
    """Every signed revision of one certificate, oldest first."""
    out = []
    for r in list(db.query("select * from certificate_revisions where cert_no = ? "
                       "order by revision", [cert_no])):
        out.append({
            "revision": r["revision"], "reason": r["reason"], "date": r["date"],
            "key_id": r["key_id"], "digest": r["digest"], "mark_payload": r["mark_payload"],
            "signature": r["signature"],
            "envelope": canonical.envelope(canonical.CERTIFICATE, r["record"], r["key_id"], r["signature"]),
        })
    return out


def certificate(db, cert_no) -> dict:
    """One certificate: cached status, current signed record, history, revisions."""
    rows = list(db.query("select * from certificates where cert_no = ?", [cert_no]))
    if not rows:
        raise NotFoundError(f"certificate {cert_no} is not in the registry")
    c = rows[0]
    record = json.loads(c["record"])
    return {
        "cert_no": c["cert_no"], "status": c["status"],
        "status_zh": lifecycle.STATUS_NAMES[c["status"]][0], "status_date": c["status_date"],
        "programme": c["programme"], "programme_zh": reference.PROGRAMMES[c["programme"]][0],
        "body": c["body"], "product": record["product"], "enterprise": record["enterprise"],
        "standards": record["standards"], "scope": c["scope"], "issued": c["issued"],
        "expires": c["expires"], "mark_authorised": bool(c["mark_authorised"]),
        "evaluation": json.loads(c["evaluation"]), "revision": c["revision"],
        "key_id": c["key_id"], "signature": c["signature"], "digest": c["digest"],
        "mark_payload": c["mark_payload"], "last_seq": c["last_seq"],
        "envelope": canonical.envelope(canonical.CERTIFICATE, c["record"], c["key_id"], c["signature"]),
        "history": history(db, cert_no),
        "revisions": revisions(db, cert_no),
    }


def list_certificates(db, status=None, body=None, programme=None, limit=None) -> list:
    """Certificates (newest number last), optionally filtered."""
    if status is not None and status not in lifecycle.STATUSES:
        raise ValidationError(f"status {status!r} is unknown, expected one of "
                              + ", ".join(lifecycle.STATUSES), field="status")
    where, params = [], []
    for column, value in (("c.status", status), ("c.body", body), ("c.programme", programme)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = (
        "select c.cert_no, c.status, c.status_date, c.programme, c.body, c.product, "
        "p.name_zh as product_name_zh, p.name_en as product_name_en, "
        "e.uscc as enterprise, e.name_zh as enterprise_name_zh, e.district, "
        "c.issued, c.expires, c.revision, c.key_id "
        "from certificates c join products p on p.id = c.product "
        "join enterprises e on e.uscc = p.enterprise"
        + (" where " + " and ".join(where) if where else "") + " order by c.cert_no"
    )
    if limit is not None:
        sql += " limit ?"
        params.append(int(limit))
    return list(db.query(sql, params))


def mark_rows(db, cert_nos=None) -> list:
    """``(cert_no, programme, mark payload)`` of the certificates with a signed mark
    payload, by number: every one, or those of ``cert_nos`` (NotFoundError for a
    number that is not in the registry)."""
    if cert_nos is None:
        return db.execute("select cert_no, programme, mark_payload from certificates "
                          "where mark_payload is not null order by cert_no").fetchall()
    out = []
    for cert_no in cert_nos:
        row = db.execute("select cert_no, programme, mark_payload from certificates where cert_no = ?",
                         [cert_no]).fetchone()
        if row is None:
            raise NotFoundError(f"certificate {cert_no}: not in the registry")
        out.append(row)
    return out


def list_bodies(db) -> list:
    return list(db.query("select * from bodies order by code"))


def list_keys(db) -> list:
    """Public key records (never private material: the table has none)."""
    return list(db.query("select key_id, owner_type as role, owner as body, public_key, valid_from, "
                     "valid_to, status, status_date, endorsed_in from keys "
                     "order by owner_type, owner, valid_from, key_id"))


def list_standards(db) -> list:
    return list(db.query("select * from standards order by code"))


def list_enterprises(db, district=None) -> list:
    if district:
        return list(db.query("select * from enterprises where district = ? order by uscc", [district]))
    return list(db.query("select * from enterprises order by uscc"))


def list_products(db, enterprise=None) -> list:
    sql = "select * from products" + (" where enterprise = ?" if enterprise else "") + " order by id"
    rows = list(db.query(sql, [enterprise] if enterprise else []))
    for r in rows:
        r["models"] = json.loads(r["models"] or "[]")
    return rows


def list_notices(db) -> list:
    return list(db.query("select * from notices order by id"))


def list_applications(db, status=None) -> list:
    if status:
        return list(db.query("select * from applications where status = ? order by id", [status]))
    return list(db.query("select * from applications order by id"))


def trust_list(db, version=None) -> dict:
    """The stored trust-list envelope (latest by default)."""
    return trust.envelope(db, version)


def counts(db) -> dict:
    """Row counts and certificates by status: a summary for humans and the demo."""
    out = {t: db.execute(f"select count(*) from {t}").fetchone()[0] for t in (
        "bodies", "keys", "standards", "enterprises", "products", "certificates", "events",
        "notices", "applications")}
    out["by_status"] = dict(db.execute(
        "select status, count(*) from certificates group by status order by status").fetchall())
    return out
