"""``szzz``: the operators' command line, a thin layer over the library.

Every command takes ``--db PATH`` (default ``registry.db``); commands that
sign take ``--keys DIR`` (default ``keys``) and read the key passphrase from
``SZZZ_PASSPHRASE``, else prompt for it. ``--json`` prints machine-readable
output (stable shapes: see ``docs/cli.md``). Any library error
(:class:`~registry.exceptions.RegistryError`) becomes ``Error: …`` on stderr
and exit status 1 — never a traceback; an import lists every bad cell.

Other modules add their commands with ``cli.add_command(...)`` (see the end
of this file); ``main()`` runs the group (console script ``szzz`` and
``python -m registry``).
"""

import json
import os
import sqlite3
import sys

import click

from . import demo as demo_module
from . import keys, lifecycle, queries, schema
from .exceptions import RegistryError, ValidationErrors
from .operations import Registry, verify_registry

DB_HELP = "registry database 登记库文件"
KEYS_HELP = "directory of encrypted private key files 私钥目录"


class RegistryGroup(click.Group):
    """A click group that turns library errors into one-line messages."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ValidationErrors as e:
            # An import reports every bad cell, one per line (file:row:column: message).
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)
        except RegistryError as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            click.echo(f"Error: {first}", err=True)
            sys.exit(1)
        except sqlite3.Error as e:
            click.echo(f"Error: database: {e}", err=True)
            sys.exit(1)


def db_option(f):
    return click.option("--db", "db_path", default="registry.db", show_default=True,
                        type=click.Path(dir_okay=False), help=DB_HELP)(f)


def keys_option(f):
    return click.option("--keys", "keys_dir", default="keys", show_default=True,
                        type=click.Path(file_okay=False), help=KEYS_HELP)(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="machine-readable JSON output")(f)


def date_option(f):
    return click.option("--date", default=None, metavar="YYYY-MM-DD",
                        help="date of the act (default: today in Suzhou)")(f)


def _passphrase():
    """``SZZZ_PASSPHRASE``, else a prompt — only on a terminal: a script
    without the variable gets a clear error instead of a hung prompt."""
    prompt = None
    if sys.stdin.isatty():
        prompt = lambda: click.prompt("Key passphrase 私钥口令", hide_input=True, err=True)  # noqa: E731
    return keys.passphrase_from_env(prompt)


def _open(db_path, keys_dir=None):
    """Open for writing with keys (passphrase asked now, not mid-transaction)."""
    if keys_dir is None:
        return Registry.open(db_path)
    return Registry.open(db_path, keys_dir, _passphrase())


def _emit(as_json, value, human):
    if as_json:
        click.echo(json.dumps(value, ensure_ascii=False, indent=1))
    else:
        human(value)


def _table(rows, columns):
    """Tab-separated rows with a header (pastes into a spreadsheet)."""
    click.echo("\t".join(columns))
    for r in rows:
        click.echo("\t".join("" if r.get(c) is None else str(r.get(c)) for c in columns))


@click.group(cls=RegistryGroup)
@click.version_option(package_name="szzz-registry", message="szzz %(version)s")
def cli():
    """szzz — “苏州制造”认证登记库命令行 / the Made in Suzhou certification registry."""


# --------------------------------------------------------------------- init
@cli.command()
@db_option
@keys_option
@date_option
def init(db_path, keys_dir, date):
    """Create a registry: root, log and timestamp keys and trust list v1. 新建登记库"""
    with Registry.init(db_path, keys_dir, _passphrase(), date=date) as reg:
        root = queries.list_keys(reg.db)
    click.echo(f"created {db_path}; keys in {keys_dir}/ (private, never commit them)")
    for k in root:
        click.echo(f"  {k['role']:<9} key {k['key_id']}")


# --------------------------------------------------------------------- body
@cli.group()
def body():
    """Certification bodies (alliance members). 认证机构"""


@body.command("add")
@db_option
@click.option("--code", required=True, help="2–8 capitals/digits, e.g. CQC")
@click.option("--name-zh", required=True)
@click.option("--name-en", required=True)
@click.option("--approval-no", required=True, help="accreditation/approval number 批准号")
@click.option("--website")
@click.option("--joined", required=True, metavar="YYYY-MM-DD", help="date joined the alliance")
def body_add(db_path, code, name_zh, name_en, approval_no, website, joined):
    """Register a certification body."""
    with _open(db_path) as reg:
        code = reg.add_body({"code": code, "name_zh": name_zh, "name_en": name_en,
                             "approval_no": approval_no, "website": website, "joined": joined})
    click.echo(f"body {code} added; next: szzz key generate --body {code}, then szzz key endorse")


@body.command("list")
@db_option
@json_option
def body_list(db_path, as_json):
    """List certification bodies."""
    with _open(db_path) as reg:
        rows = queries.list_bodies(reg.db)
    _emit(as_json, rows, lambda r: _table(r, ["code", "name_zh", "name_en", "approval_no",
                                               "joined", "status"]))


# ---------------------------------------------------------------------- key
@cli.group()
def key():
    """Signing keys and the trust list. 签名密钥与信任列表"""


@key.command("generate")
@db_option
@keys_option
@click.option("--role", type=click.Choice(["body", "log", "timestamp"]), default="body",
              show_default=True)
@click.option("--body", "body_code", help="body code (for a body key)")
@click.option("--valid-from", metavar="YYYY-MM-DD")
@click.option("--valid-to", metavar="YYYY-MM-DD")
@json_option
def key_generate(db_path, keys_dir, role, body_code, valid_from, valid_to, as_json):
    """Generate a key pair (encrypted file in --keys); it signs nothing until endorsed."""
    with _open(db_path, keys_dir) as reg:
        key_id = reg.generate_key(role, body=body_code, valid_from=valid_from, valid_to=valid_to)
    _emit(as_json, {"key_id": key_id, "role": role, "body": body_code},
          lambda v: click.echo(f"key {key_id} generated; endorse it: szzz key endorse {key_id}"))


@key.command("endorse")
@click.argument("key_id")
@db_option
@keys_option
@click.option("--valid-from", metavar="YYYY-MM-DD")
@click.option("--valid-to", metavar="YYYY-MM-DD")
@date_option
@json_option
def key_endorse(key_id, db_path, keys_dir, valid_from, valid_to, date, as_json):
    """The root key lists KEY_ID in a new, signed trust list."""
    with _open(db_path, keys_dir) as reg:
        version = reg.endorse_key(key_id, valid_from, valid_to, date=date)
    _emit(as_json, {"key_id": key_id, "trust_list_version": version},
          lambda v: click.echo(f"key {key_id} endorsed in trust list version {version}"))


def _end_key_command(name, method, help_text):
    @key.command(name, help=help_text)
    @click.argument("key_id")
    @db_option
    @keys_option
    @click.option("--reason", required=True, help="why (recorded in the signed event)")
    @date_option
    @json_option
    def command(key_id, db_path, keys_dir, reason, date, as_json):
        with _open(db_path, keys_dir) as reg:
            result = getattr(reg, method)(key_id, date=date, reason=reason)
        value = {"key_id": key_id, "status": name + "d" if name.endswith("e") else name}
        if method == "compromise_key":
            value["rekey"] = result

        def human(v):
            click.echo(f"key {key_id}: {v['status']}")
            for no in v.get("rekey", []):
                click.echo(f"  re-sign: szzz cert rekey {no}")
        _emit(as_json, value, human)
    return command


_end_key_command("retire", "retire_key",
                 "Retire KEY_ID (its signatures up to --date stay valid). 停用密钥")
_end_key_command("compromise", "compromise_key",
                 "Mark KEY_ID compromised and list certificates to re-sign. 密钥泄露")


@key.command("list")
@db_option
@json_option
def key_list(db_path, as_json):
    """List public keys and their trust-list standing (never private material)."""
    with _open(db_path) as reg:
        rows = queries.list_keys(reg.db)
    _emit(as_json, rows, lambda r: _table(r, ["key_id", "role", "body", "valid_from", "valid_to",
                                               "status", "status_date", "endorsed_in"]))


# ----------------------------------------------------------------- standard
@cli.group()
def standard():
    """Standards: the general requirement and technical standards. 标准"""


@standard.command("add")
@db_option
@click.option("--code", required=True, help="e.g. 'T/SZS 001-2021'")
@click.option("--title-zh", required=True)
@click.option("--title-en")
@click.option("--kind", required=True, type=click.Choice(schema.STANDARD_KINDS))
@click.option("--issuer")
@click.option("--published", metavar="YYYY-MM-DD")
@click.option("--effective", metavar="YYYY-MM-DD")
def standard_add(db_path, code, title_zh, title_en, kind, issuer, published, effective):
    """Register a standard."""
    with _open(db_path) as reg:
        code = reg.add_standard({"code": code, "title_zh": title_zh, "title_en": title_en,
                                 "kind": kind, "issuer": issuer, "published": published,
                                 "effective": effective})
    click.echo(f"standard {code} added")


@standard.command("list")
@db_option
@json_option
def standard_list(db_path, as_json):
    """List standards."""
    with _open(db_path) as reg:
        rows = queries.list_standards(reg.db)
    _emit(as_json, rows, lambda r: _table(r, ["code", "kind", "title_zh", "status"]))


# --------------------------------------------------------------- enterprise
@cli.group()
def enterprise():
    """Enterprises (certificate holders). 企业"""


@enterprise.command("add")
@db_option
@click.option("--uscc", required=True, help="统一社会信用代码 (18 characters)")
@click.option("--name-zh", required=True)
@click.option("--name-en")
@click.option("--district", required=True, help="one of Suzhou's ten areas, e.g. 吴中区")
@click.option("--industry", required=True, help="GB/T 4754-2017 manufacturing code, e.g. C3562")
@click.option("--tier", help="培育层级, e.g. 专精特新小巨人")
@click.option("--website")
@click.option("--contact-name", help="operator-only")
@click.option("--phone", help="operator-only")
@click.option("--email", help="operator-only")
@click.option("--address", help="operator-only")
def enterprise_add(db_path, uscc, name_zh, name_en, district, industry, tier, website,
                   contact_name, phone, email, address):
    """Register an enterprise (contact details stay operator-only)."""
    contact = {"contact_name": contact_name, "phone": phone, "email": email, "address": address}
    with _open(db_path) as reg:
        uscc = reg.add_enterprise(
            {"uscc": uscc, "name_zh": name_zh, "name_en": name_en, "district": district,
             "industry": industry, "tier": tier, "website": website},
            contact=contact if any(contact.values()) else None)
    click.echo(f"enterprise {uscc} added")


@enterprise.command("list")
@db_option
@click.option("--district")
@json_option
def enterprise_list(db_path, district, as_json):
    """List enterprises."""
    with _open(db_path) as reg:
        rows = queries.list_enterprises(reg.db, district)
    _emit(as_json, rows, lambda r: _table(r, ["uscc", "name_zh", "district", "industry", "tier"]))


# ------------------------------------------------------------------ product
@cli.group()
def product():
    """Products. 产品"""


@product.command("add")
@db_option
@click.option("--enterprise", "uscc", required=True, help="the maker's USCC")
@click.option("--name-zh", required=True)
@click.option("--name-en")
@click.option("--model", "models", multiple=True, help="model (repeat for several)")
@click.option("--gtin")
@click.option("--category")
@click.option("--description")
@click.option("--image", help="relative path of a product image")
@json_option
def product_add(db_path, uscc, name_zh, name_en, models, gtin, category, description, image,
                as_json):
    """Register a product; prints its id."""
    with _open(db_path) as reg:
        pid = reg.add_product({"enterprise": uscc, "name_zh": name_zh, "name_en": name_en,
                               "models": list(models), "gtin": gtin, "category": category,
                               "description": description, "image": image})
    _emit(as_json, {"id": pid}, lambda v: click.echo(f"product {pid} added"))


@product.command("list")
@db_option
@click.option("--enterprise", "uscc")
@json_option
def product_list(db_path, uscc, as_json):
    """List products."""
    with _open(db_path) as reg:
        rows = queries.list_products(reg.db, uscc)
    _emit(as_json, rows, lambda r: _table(r, ["id", "enterprise", "name_zh", "models", "gtin"]))


# --------------------------------------------------------------------- cert
@cli.group()
def cert():
    """Certificates and their lifecycle. 证书"""


def _scores(text):
    try:
        return json.loads(text)
    except ValueError:
        raise click.BadParameter("expected a JSON object, e.g. "
                                 '\'{"innovation":88,"quality":91,"service":85,'
                                 '"reputation":90,"recognition":86}\'') from None


@cert.command("issue")
@db_option
@keys_option
@click.option("--product", type=int, required=True, help="product id")
@click.option("--body", "body_code", required=True, help="issuing body code")
@click.option("--standard", "standards", multiple=True, required=True,
              help="standard code (repeat for several)")
@click.option("--scope", required=True, help="scope of certification 认证范围")
@click.option("--issued", metavar="YYYY-MM-DD", help="issue date (default today)")
@click.option("--expires", required=True, metavar="YYYY-MM-DD")
@click.option("--evaluation", required=True,
              help="five-dimension scores as JSON: innovation, quality, service, reputation, "
                   "recognition (0–100)")
@click.option("--programme", default=schema.DEFAULT_PROGRAMME, show_default=True,
              help="SZZZ, SZSC, SSHM or SUXIU")
@click.option("--no-mark", is_flag=True, help="the mark is not authorised")
@json_option
def cert_issue(db_path, keys_dir, product, body_code, standards, scope, issued, expires,
               evaluation, programme, no_mark, as_json):
    """Issue a certificate, signed by the body's key; prints its number."""
    with _open(db_path, keys_dir) as reg:
        no = reg.issue(product=product, body=body_code, standards=list(standards), scope=scope,
                       issued=issued, expires=expires, evaluation=_scores(evaluation),
                       programme=programme, mark_authorised=not no_mark)
        value = queries.certificate(reg.db, no) if as_json else no
    _emit(as_json, value, lambda v: click.echo(v))


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
    with _open(db_path) as reg:
        c = queries.certificate(reg.db, cert_no.strip().upper())
    _emit(as_json, c, _show_human)


@cert.command("list")
@db_option
@click.option("--status", type=click.Choice(lifecycle.STATUSES))
@click.option("--body", "body_code")
@click.option("--programme")
@click.option("--limit", type=click.IntRange(min=1))
@json_option
def cert_list(db_path, status, body_code, programme, limit, as_json):
    """List certificates (optionally by status, body, programme)."""
    with _open(db_path) as reg:
        rows = queries.list_certificates(reg.db, status=status, body=body_code,
                                         programme=programme, limit=limit)
    _emit(as_json, rows, lambda r: _table(r, ["cert_no", "status", "status_date",
                                               "enterprise_name_zh", "product_name_zh",
                                               "expires"]))


@cert.command("history")
@click.argument("cert_no")
@db_option
@json_option
def cert_history(cert_no, db_path, as_json):
    """The signed events of a certificate, oldest first."""
    with _open(db_path) as reg:
        cert_no = cert_no.strip().upper()
        queries.certificate(reg.db, cert_no)  # NotFoundError for an unknown number
        events = queries.history(reg.db, cert_no)
    _emit(as_json, events, _history_human)


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
        with _open(db_path, keys_dir) as reg:
            seq = getattr(reg, method)(cert_no, reason, date=date, notice=notice)
            value = _event_result(reg, cert_no, seq)
        _emit(as_json, value, lambda v: click.echo(
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
    with _open(db_path, keys_dir) as reg:
        seq = reg.renew(cert_no, expires, date=date, reason=reason,
                        evaluation=_scores(evaluation) if evaluation else None)
        value = _event_result(reg, cert_no, seq)
    _emit(as_json, value, lambda v: click.echo(f"{cert_no}: renewed until {expires}"))


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
    with _open(db_path, keys_dir) as reg:
        seq = reg.change_scope(cert_no, scope, reason, date=date)
        value = _event_result(reg, cert_no, seq)
    _emit(as_json, value, lambda v: click.echo(f"{cert_no}: scope changed (event {seq})"))


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
    with _open(db_path, keys_dir) as reg:
        seq = reg.record_surveillance(cert_no, passed, date=date, reason=reason, notice=notice)
        value = _event_result(reg, cert_no, seq)
    _emit(as_json, value, lambda v: click.echo(
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
    with _open(db_path, keys_dir) as reg:
        seq = reg.rekey(cert_no, date=date, reason=reason)
        value = _event_result(reg, cert_no, seq)
    _emit(as_json, value, lambda v: click.echo(f"{cert_no}: re-signed (event {seq})"))


# ------------------------------------------------------------------- notice
@cli.group()
def notice():
    """Public notices, including counterfeit-mark alerts. 信息通报"""


@notice.command("add")
@db_option
@keys_option
@click.option("--kind", type=click.Choice(schema.NOTICE_KINDS), default="notice",
              show_default=True)
@click.option("--title-zh", required=True)
@click.option("--text-zh", required=True)
@click.option("--title-en")
@click.option("--text-en")
@click.option("--cert", "cert_no", help="certificate the notice is about")
@date_option
@json_option
def notice_add(db_path, keys_dir, kind, title_zh, text_zh, title_en, text_en, cert_no, date,
               as_json):
    """Publish a notice, signed by the root key."""
    with _open(db_path, keys_dir) as reg:
        nid = reg.publish_notice(kind, title_zh, text_zh, title_en=title_en, text_en=text_en,
                                 cert_no=cert_no, date=date)
    _emit(as_json, {"id": nid}, lambda v: click.echo(f"notice {nid} published"))


@notice.command("list")
@db_option
@json_option
def notice_list(db_path, as_json):
    """List notices."""
    with _open(db_path) as reg:
        rows = queries.list_notices(reg.db)
    _emit(as_json, rows, lambda r: _table(r, ["id", "date", "kind", "title_zh", "cert_no"]))


# -------------------------------------------------------------- application
@cli.group()
def application():
    """Voluntary applications (operator-only). 企业申报"""


@application.command("add")
@db_option
@click.option("--uscc", required=True)
@click.option("--product-name", required=True)
@click.option("--programme", default=schema.DEFAULT_PROGRAMME, show_default=True)
@click.option("--body", "body_code")
@click.option("--received", metavar="YYYY-MM-DD")
@click.option("--note")
def application_add(db_path, uscc, product_name, programme, body_code, received, note):
    """Record an application (status: received)."""
    with _open(db_path) as reg:
        app = reg.add_application(uscc, product_name, programme=programme, body=body_code,
                                  received=received, note=note)
    click.echo(f"application {app} received")


@application.command("decide")
@click.argument("app_id", type=int)
@click.option("--status", required=True,
              type=click.Choice(["under_evaluation", "approved", "rejected"]))
@db_option
@click.option("--note")
@date_option
def application_decide(app_id, status, db_path, note, date):
    """Move an application: received → under_evaluation → approved/rejected."""
    with _open(db_path) as reg:
        reg.decide_application(app_id, status, date=date, note=note)
    click.echo(f"application {app_id}: {status}")


@application.command("list")
@db_option
@click.option("--status", type=click.Choice(schema.APPLICATION_STATUSES))
@json_option
def application_list(db_path, status, as_json):
    """List applications."""
    with _open(db_path) as reg:
        rows = queries.list_applications(reg.db, status)
    _emit(as_json, rows, lambda r: _table(r, ["id", "uscc", "product_name", "programme",
                                               "status", "received", "decided"]))


# ------------------------------------------------------- import, expiry, demo
@cli.command("import")
@click.argument("kind", type=click.Choice(["enterprises", "products", "certificates"]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@db_option
@keys_option
@click.option("--progress/--no-progress", default=None,
              help="progress bar on stderr (default: when stderr is a terminal)")
@json_option
def import_command(kind, path, db_path, keys_dir, progress, as_json):
    """Import a CSV/XLSX file (UTF-8, UTF-8 with BOM or GBK); all or nothing."""
    from . import importer

    if progress is None:
        progress = sys.stderr.isatty()
    with _open(db_path, keys_dir if kind == "certificates" else None) as reg:
        result = importer.import_file(reg, kind, path, progress=progress)
    value = {"kind": result.kind, "path": str(result.path), "encoding": result.encoding,
             "rows": result.rows, "keys": result.keys}
    _emit(as_json, value, lambda v: click.echo(
        f"imported {v['rows']} {kind} from {path} ({v['encoding']})"))


@cli.command("expire-due")
@db_option
@keys_option
@click.option("--today", metavar="YYYY-MM-DD", help="as of this date (default today)")
@json_option
def expire_due(db_path, keys_dir, today, as_json):
    """Expire every certificate past its expiry date (signed events)."""
    with _open(db_path, keys_dir) as reg:
        done = reg.expire_due(today)
    _emit(as_json, done, lambda v: click.echo(f"{len(v)} certificate(s) expired"
                                               + "".join(f"\n  {n}" for n in v)))


@cli.command("check")
@db_option
@json_option
def check(db_path, as_json):
    """Re-verify every signature, the event chain and cached statuses. 完整性检查"""
    with _open(db_path) as reg, schema.read_transaction(reg.db):
        # One committed state, whatever operators commit meanwhile: a write in
        # progress is never reported as corruption.
        problems = verify_registry(reg.db)
    _emit(as_json, problems, lambda v: click.echo(
        "\n".join(v) if v else "registry is sound: every signature and status checks out"))
    if problems:
        sys.exit(1)


@cli.command()
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
    _emit(as_json, summary, human)


# ------------------------------------------- commands from other modules
def _register_other_commands():
    from . import cli_audit, cli_marks
    cli_marks.register(cli)
    cli_audit.register(cli)


_register_other_commands()


def main():
    cli(prog_name="szzz")
