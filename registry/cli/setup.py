"""``szzz init``, ``body``, ``key`` and ``standard``: the registry, its bodies, keys and standards."""

from __future__ import annotations

import click

from registry.cli.options import (
    UsageFailure,
    date_option,
    db_option,
    emit,
    json_option,
    keys_option,
    open_registry,
    passphrase,
    table,
)
from registry.core import reference
from registry.core.exceptions import ConfigError
from registry.publish import site
from registry.store import queries
from registry.store.operations import Registry


@click.command()
@db_option
@keys_option
@click.option("--site-url", metavar="URL",
              help="the registry's public site, e.g. https://szzz.suzhou.gov.cn (required; "
                   "printed into every QR mark and names the log) 网站地址")
@date_option
def init(db_path, keys_dir, site_url, date):
    """Create a registry: root, log and timestamp keys and trust list v1. 新建登记库"""
    if not site_url:
        raise UsageFailure("szzz init needs --site-url URL (需要网站地址): "
                           + site.site_url_help()
                           + "; for invented data use `szzz demo`")
    try:
        url = site.registry_site_url(site_url)
    except ConfigError as e:
        raise UsageFailure(f"--site-url: {e}") from None
    with Registry.init(db_path, keys_dir, passphrase(new_key=True), date=date, site_url=url) as reg:
        root = queries.list_keys(reg.db)
        origin = site.log_names_for(reg.db).origin
    click.echo(f"created {db_path} for {url}/ (log {origin}); "
               f"keys in {keys_dir}/ (private, never commit them)")
    for k in root:
        click.echo(f"  {k['role']:<9} key {k['key_id']}")



# --------------------------------------------------------------------- body
@click.group()
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
    with open_registry(db_path) as reg:
        code = reg.add_body({"code": code, "name_zh": name_zh, "name_en": name_en,
                             "approval_no": approval_no, "website": website, "joined": joined})
    click.echo(f"body {code} added; next: szzz key generate --body {code}, then szzz key endorse")


@body.command("list")
@db_option
@json_option
def body_list(db_path, as_json):
    """List certification bodies."""
    with open_registry(db_path) as reg:
        rows = queries.list_bodies(reg.db)
    emit(as_json, rows, lambda r: table(r, ["code", "name_zh", "name_en", "approval_no",
                                               "joined", "status"]))



# ---------------------------------------------------------------------- key
@click.group()
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
    """Generate a key pair (encrypted file in --keys); it signs nothing until endorsed.

    The passphrase must open the registry's keys already in --keys (asked twice on a terminal)."""
    with open_registry(db_path, keys_dir, new_key=True) as reg:
        key_id = reg.generate_key(role, body=body_code, valid_from=valid_from, valid_to=valid_to)
    emit(as_json, {"key_id": key_id, "role": role, "body": body_code},
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
    with open_registry(db_path, keys_dir) as reg:
        version = reg.endorse_key(key_id, valid_from, valid_to, date=date)
    emit(as_json, {"key_id": key_id, "trust_list_version": version},
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
        with open_registry(db_path, keys_dir) as reg:
            result = getattr(reg, method)(key_id, date=date, reason=reason)
        value = {"key_id": key_id, "status": name + "d" if name.endswith("e") else name}
        if method == "compromise_key":
            value["rekey"] = result

        def human(v):
            click.echo(f"key {key_id}: {v['status']}")
            for no in v.get("rekey", []):
                click.echo(f"  re-sign: szzz cert rekey {no}")
        emit(as_json, value, human)
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
    with open_registry(db_path) as reg:
        rows = queries.list_keys(reg.db)
    emit(as_json, rows, lambda r: table(r, ["key_id", "role", "body", "valid_from", "valid_to",
                                               "status", "status_date", "endorsed_in"]))



# ----------------------------------------------------------------- standard
@click.group()
def standard():
    """Standards: the general requirement and technical standards. 标准"""


@standard.command("add")
@db_option
@click.option("--code", required=True, help="e.g. 'T/SZS 001-2021'")
@click.option("--title-zh", required=True)
@click.option("--title-en")
@click.option("--kind", required=True, type=click.Choice(reference.STANDARD_KINDS))
@click.option("--issuer")
@click.option("--published", metavar="YYYY-MM-DD")
@click.option("--effective", metavar="YYYY-MM-DD")
def standard_add(db_path, code, title_zh, title_en, kind, issuer, published, effective):
    """Register a standard."""
    with open_registry(db_path) as reg:
        code = reg.add_standard({"code": code, "title_zh": title_zh, "title_en": title_en,
                                 "kind": kind, "issuer": issuer, "published": published,
                                 "effective": effective})
    click.echo(f"standard {code} added")


@standard.command("list")
@db_option
@json_option
def standard_list(db_path, as_json):
    """List standards."""
    with open_registry(db_path) as reg:
        rows = queries.list_standards(reg.db)
    emit(as_json, rows, lambda r: table(r, ["code", "kind", "title_zh", "status"]))


COMMANDS = (init, body, key, standard)
