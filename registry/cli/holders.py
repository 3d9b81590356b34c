"""``szzz enterprise``, ``product``, ``notice``, ``application`` and ``import``:
who holds certificates, and what is said of them."""

from __future__ import annotations

import sys

import click

from registry.cli.options import ID, date_option, db_option, emit, json_option, keys_option, open_registry, table
from registry.core import reference
from registry.store import importer, queries


@click.group()
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
    with open_registry(db_path) as reg:
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
    with open_registry(db_path) as reg:
        rows = queries.list_enterprises(reg.db, district)
    emit(as_json, rows, lambda r: table(r, ["uscc", "name_zh", "district", "industry", "tier"]))



# ------------------------------------------------------------------ product
@click.group()
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
    with open_registry(db_path) as reg:
        pid = reg.add_product({"enterprise": uscc, "name_zh": name_zh, "name_en": name_en,
                               "models": list(models), "gtin": gtin, "category": category,
                               "description": description, "image": image})
    emit(as_json, {"id": pid}, lambda v: click.echo(f"product {pid} added"))


@product.command("list")
@db_option
@click.option("--enterprise", "uscc")
@json_option
def product_list(db_path, uscc, as_json):
    """List products."""
    with open_registry(db_path) as reg:
        rows = queries.list_products(reg.db, uscc)
    emit(as_json, rows, lambda r: table(r, ["id", "enterprise", "name_zh", "models", "gtin"]))



# ------------------------------------------------------------------- notice
@click.group()
def notice():
    """Public notices, including counterfeit-mark alerts. 信息通报"""


@notice.command("add")
@db_option
@keys_option
@click.option("--kind", type=click.Choice(reference.NOTICE_KINDS), default="notice",
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
    with open_registry(db_path, keys_dir) as reg:
        nid = reg.publish_notice(kind, title_zh, text_zh, title_en=title_en, text_en=text_en,
                                 cert_no=cert_no, date=date)
    emit(as_json, {"id": nid}, lambda v: click.echo(f"notice {nid} published"))


@notice.command("list")
@db_option
@json_option
def notice_list(db_path, as_json):
    """List notices."""
    with open_registry(db_path) as reg:
        rows = queries.list_notices(reg.db)
    emit(as_json, rows, lambda r: table(r, ["id", "date", "kind", "title_zh", "cert_no"]))



# -------------------------------------------------------------- application
@click.group()
def application():
    """Voluntary applications (operator-only). 企业申报"""


@application.command("add")
@db_option
@click.option("--uscc", required=True)
@click.option("--product-name", required=True)
@click.option("--programme", default=reference.DEFAULT_PROGRAMME, show_default=True)
@click.option("--body", "body_code")
@click.option("--received", metavar="YYYY-MM-DD")
@click.option("--note")
def application_add(db_path, uscc, product_name, programme, body_code, received, note):
    """Record an application (status: received)."""
    with open_registry(db_path) as reg:
        app = reg.add_application(uscc, product_name, programme=programme, body=body_code,
                                  received=received, note=note)
    click.echo(f"application {app} received")


@application.command("decide")
@click.argument("app_id", type=ID)
@click.option("--status", required=True,
              type=click.Choice(["under_evaluation", "approved", "rejected"]))
@db_option
@click.option("--note")
@date_option
def application_decide(app_id, status, db_path, note, date):
    """Move an application: received → under_evaluation → approved/rejected."""
    with open_registry(db_path) as reg:
        reg.decide_application(app_id, status, date=date, note=note)
    click.echo(f"application {app_id}: {status}")


@application.command("list")
@db_option
@click.option("--status", type=click.Choice(reference.APPLICATION_STATUSES))
@json_option
def application_list(db_path, status, as_json):
    """List applications."""
    with open_registry(db_path) as reg:
        rows = queries.list_applications(reg.db, status)
    emit(as_json, rows, lambda r: table(r, ["id", "uscc", "product_name", "programme",
                                               "status", "received", "decided"]))


@click.command("import")
@click.argument("kind", type=click.Choice(["enterprises", "products", "certificates"]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@db_option
@keys_option
@click.option("--progress/--no-progress", default=None,
              help="progress bar on stderr (default: when stderr is a terminal)")
@json_option
def import_command(kind, path, db_path, keys_dir, progress, as_json):
    """Import a CSV/XLSX file (UTF-8, UTF-8 with BOM or GBK); all or nothing."""
    if progress is None:
        progress = sys.stderr.isatty()
    with open_registry(db_path, keys_dir if kind == "certificates" else None) as reg:
        result = importer.import_file(reg, kind, path, progress=progress)
    value = {"kind": result.kind, "path": str(result.path), "encoding": result.encoding,
             "rows": result.rows, "keys": result.keys}
    emit(as_json, value, lambda v: click.echo(
        f"imported {v['rows']} {kind} from {path} ({v['encoding']})"))


COMMANDS = (enterprise, product, notice, application, import_command)
