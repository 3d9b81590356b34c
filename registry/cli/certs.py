"""``szzz cert``, ``expire-due``, ``check`` and ``demo``: certificates and their life cycle."""

from __future__ import annotations

import json
import os
import sys

import click

from registry.cli.options import ID, date_option, db_option, emit, json_option, keys_option, open_registry, table
from registry.core import keys, lifecycle, reference
from registry.store import demo as demo_module
from registry.store import queries, schema
from registry.store.integrity import verify_registry


@click.group()
def cert():
    """Certificates and their lifecycle. 证书"""


def _scores(text):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise click.BadParameter("expected a JSON object, e.g. "
                                 '\'{"innovation":88,"quality":91,"service":85,'
                                 '"reputation":90,"recognition":86}\'', param_hint="'--evaluation'") from None


@cert.command("issue")
@db_option
@keys_option
@click.option("--product", type=ID, required=True, help="product id")
@click.option("--body", "body_code", required=True, help="issuing body code")
@click.option("--standard", "standards", multiple=True, required=True,
              help="standard code (repeat for several)")
@click.option("--scope", required=True, help="scope of certification 认证范围")
@click.option("--issued", metavar="YYYY-MM-DD", help="issue date (default today)")
@click.option("--expires", required=True, metavar="YYYY-MM-DD")
@click.option("--evaluation", required=True,
              help="five-dimension scores as JSON: innovation, quality, service, reputation, "
                   "recognition (0–100)")
@click.option("--programme", default=reference.DEFAULT_PROGRAMME, show_default=True,
              help="SZZZ, SZSC, SSHM or SUXIU")
@click.option("--no-mark", is_flag=True, help="the mark is not authorised")
@json_option
def cert_issue(db_path, keys_dir, product, body_code, standards, scope, issued, expires,
               evaluation, programme, no_mark, as_json):
    """Issue a certificate, signed by the body's key; prints its number."""
    with open_registry(db_path, keys_dir) as reg:
        no = reg.issue(product=product, body=body_code, standards=list(standards), scope=scope,
                       issued=issued, expires=expires, evaluation=_scores(evaluation),
                       programme=programme, mark_authorised=not no_mark)
        value = queries.certificate(reg.db, no) if as_json else no
    emit(as_json, value, click.echo)


def _show_human(c):
    zh = lifecycle.STATUS_NAMES[c["status"]][0]
    click.echo(f"{c['cert_no']}  {zh} {c['status']} (since {c['status_date']})")
    click.echo(f"  programme 项目: {c['programme_zh']} ({c['programme']})   body 机构: {c['body']}")
    click.echo(f"  enterprise 企业: {c['enterprise']['name_zh']} ({c['enterprise']['uscc']}, "
               f"{c['enterprise']['district']})")
    click.echo(f"  product 产品: {c['product']['name_zh']}  models: "
               f"{', '.join(c['product']['models'])}")
    click.echo(f"  standards 标准: {'; '.join(c['standards'])}")
    click.echo(f"  scope 范围: {c['scope']}")
    click.echo(f"  issued {c['issued']}  expires {c['expires']}  revision {c['revision']}")
    click.echo(f"  signed by key {c['key_id']}  signature {c['signature']}")
    click.echo("  history 历史:")
    _history_human(c["history"], indent="    ")


def _history_human(events, indent=""):
    for e in events:
        reason = f"  — {e['reason']}" if e.get("reason") else ""
        click.echo(f"{indent}{e['seq']:>7}  {e['date']}  {e['type_zh']} {e['type']}{reason}")


@cert.command("show")
@click.argument("cert_no")
@db_option
@json_option
def cert_show(cert_no, db_path, as_json):
    """Show a certificate with its signature and signed history."""
    with open_registry(db_path) as reg:
        c = queries.certificate(reg.db, cert_no.strip().upper())
    emit(as_json, c, _show_human)


@cert.command("list")
@db_option
@click.option("--status", type=click.Choice(lifecycle.STATUSES))
@click.option("--body", "body_code")
@click.option("--programme")
@click.option("--limit", type=ID)
@json_option
def cert_list(db_path, status, body_code, programme, limit, as_json):
    """List certificates (optionally by status, body, programme)."""
    with open_registry(db_path) as reg:
        rows = queries.list_certificates(reg.db, status=status, body=body_code,
                                         programme=programme, limit=limit)
    emit(as_json, rows, lambda r: table(r, ["cert_no", "status", "status_date",
                                               "enterprise_name_zh", "product_name_zh",
                                               "expires"]))


@cert.command("history")
@click.argument("cert_no")
@db_option
@json_option
def cert_history(cert_no, db_path, as_json):
    """The signed events of a certificate, oldest first."""
    with open_registry(db_path) as reg:
        cert_no = cert_no.strip().upper()
        queries.certificate(reg.db, cert_no)  # NotFoundError for an unknown number
        events = queries.history(reg.db, cert_no)
    emit(as_json, events, _history_human)


def _event_result(reg, cert_no, seq):
    c = queries.certificate(reg.db, cert_no)
    return {"cert_no": cert_no, "status": c["status"], "seq": seq,
            "event": next(e for e in c["history"] if e["seq"] == seq)}


def _lifecycle_command(name, method, help_text):
    @cert.command(name, help=help_text)
    @click.argument("cert_no")
    @db_option
    @keys_option
    @click.option("--reason", required=True, help="why (public, in the signed event)")
    @click.option("--notice", help="public notice text 公告")
    @date_option
    @json_option
    def command(cert_no, db_path, keys_dir, reason, notice, date, as_json):
        cert_no = cert_no.strip().upper()
        with open_registry(db_path, keys_dir) as reg:
            seq = getattr(reg, method)(cert_no, reason, date=date, notice=notice)
            value = _event_result(reg, cert_no, seq)
        emit(as_json, value, lambda v: click.echo(
            f"{cert_no}: {v['event']['type']} (event {seq}); status now {v['status']}"))
    return command


_lifecycle_command("suspend", "suspend", "Suspend a certificate. 暂停")
_lifecycle_command("reinstate", "reinstate", "Reinstate a suspended certificate. 恢复")
_lifecycle_command("revoke", "revoke", "Revoke a certificate (final). 撤销")
_lifecycle_command("withdraw", "withdraw", "Withdraw a certificate at the holder's request "
                                           "(final). 注销")


@cert.command("renew")
@click.argument("cert_no")
@db_option
@keys_option
@click.option("--expires", required=True, metavar="YYYY-MM-DD", help="new expiry date")
@click.option("--reason")
@click.option("--evaluation", help="new five-dimension scores as JSON")
@date_option
@json_option
def cert_renew(cert_no, db_path, keys_dir, expires, reason, evaluation, date, as_json):
    """Renew (re-certify): a new signed revision and mark payload."""
    cert_no = cert_no.strip().upper()
    with open_registry(db_path, keys_dir) as reg:
        seq = reg.renew(cert_no, expires, date=date, reason=reason,
                        evaluation=_scores(evaluation) if evaluation else None)
        value = _event_result(reg, cert_no, seq)
    emit(as_json, value, lambda v: click.echo(f"{cert_no}: renewed until {expires}"))


@cert.command("scope")
@click.argument("cert_no")
@db_option
@keys_option
@click.option("--scope", required=True, help="the new scope text")
@click.option("--reason", required=True)
@date_option
@json_option
def cert_scope(cert_no, db_path, keys_dir, scope, reason, date, as_json):
    """Change the scope: a new signed revision and mark payload."""
    cert_no = cert_no.strip().upper()
    with open_registry(db_path, keys_dir) as reg:
        seq = reg.change_scope(cert_no, scope, reason, date=date)
        value = _event_result(reg, cert_no, seq)
    emit(as_json, value, lambda v: click.echo(f"{cert_no}: scope changed (event {seq})"))


@cert.command("surveil")
@click.argument("cert_no")
@db_option
@keys_option
@click.option("--passed/--failed", required=True, help="outcome of the surveillance audit")
@click.option("--reason")
@click.option("--notice")
@date_option
@json_option
def cert_surveil(cert_no, db_path, keys_dir, passed, reason, notice, date, as_json):
    """Record a surveillance audit (a failed one suspends). 监督审核"""
    cert_no = cert_no.strip().upper()
    with open_registry(db_path, keys_dir) as reg:
        seq = reg.record_surveillance(cert_no, passed, date=date, reason=reason, notice=notice)
        value = _event_result(reg, cert_no, seq)
    emit(as_json, value, lambda v: click.echo(
        f"{cert_no}: {v['event']['type']}; status now {v['status']}"))


@cert.command("rekey")
@click.argument("cert_no")
@db_option
@keys_option
@click.option("--reason", default="re-signed with the body's current key", show_default=True)
@date_option
@json_option
def cert_rekey(cert_no, db_path, keys_dir, reason, date, as_json):
    """Re-sign with the body's current key (after a key compromise)."""
    cert_no = cert_no.strip().upper()
    with open_registry(db_path, keys_dir) as reg:
        seq = reg.rekey(cert_no, date=date, reason=reason)
        value = _event_result(reg, cert_no, seq)
    emit(as_json, value, lambda v: click.echo(f"{cert_no}: re-signed (event {seq})"))


@click.command("expire-due")
@db_option
@keys_option
@click.option("--today", metavar="YYYY-MM-DD", help="as of this date (default today)")
@json_option
def expire_due(db_path, keys_dir, today, as_json):
    """Expire every certificate past its expiry date (signed events)."""
    with open_registry(db_path, keys_dir) as reg:
        done = reg.expire_due(today)
    emit(as_json, done, lambda v: click.echo(f"{len(v)} certificate(s) expired"
                                               + "".join(f"\n  {n}" for n in v)))


@click.command("check")
@db_option
@json_option
def check(db_path, as_json):
    """Re-verify every signature, the event chain and cached statuses. 完整性检查"""
    with open_registry(db_path) as reg, schema.read_transaction(reg.db):
        # One committed state, whatever operators commit meanwhile: a write in
        # progress is never reported as corruption.
        problems = verify_registry(reg.db)
    emit(as_json, problems, lambda v: click.echo(
        "\n".join(v) if v else "registry is sound: every signature and status checks out"))
    if problems:
        sys.exit(1)


@click.command()
@db_option
@keys_option
@click.option("--certificates", "n", type=click.IntRange(1, 1_000_000), default=1000,
              show_default=True)
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--today", metavar="YYYY-MM-DD", help="the demo's 'today' (default today)")
@json_option
def demo(db_path, keys_dir, n, seed, today, as_json):
    """Build the demo registry (DEMO DATA, invented; deterministic per seed and today)."""
    env = keys.passphrase_from_env() if os.environ.get(keys.PASSPHRASE_ENV) else None
    summary = demo_module.build(db_path, keys_dir, certificates=n, seed=seed, today=today,
                                passphrase=env, progress=sys.stderr.isatty() or n >= 10000)
    passphrase_note = ("key passphrase: from SZZZ_PASSPHRASE" if env else
                       f"key passphrase: {demo_module.DEMO_PASSPHRASE}  (demo keys only — "
                       "never use it for real keys)")
    summary["passphrase"] = "SZZZ_PASSPHRASE" if env else demo_module.DEMO_PASSPHRASE
    summary["demo"] = True

    def human(s):
        click.echo(f"DEMO DATA 演示数据 — invented bodies, enterprises and certificates: {db_path}")
        click.echo(f"  {s['bodies']} bodies, {s['standards']} standards, {s['enterprises']} "
                   f"enterprises, {s['products']} products, {s['certificates']} certificates, "
                   f"{s['events']} signed events, {s['notices']} notices")
        click.echo("  by status: " + ", ".join(f"{k} {v}" for k, v in s["by_status"].items()))
        click.echo(f"  keys in {keys_dir}/; {passphrase_note}")
        click.echo(f"  try: szzz cert show {s['sample'][0]} --db {db_path}")
    emit(as_json, summary, human)


COMMANDS = (cert, expire_due, check, demo)
