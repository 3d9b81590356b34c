"""``szzz mark`` and ``szzz snapshot``: printable marks, and the public verification files.

The work is in :mod:`registry.marks` and :mod:`registry.publish`; library
errors become one-line messages (exit 1, :mod:`registry.cli.options`).
"""

from __future__ import annotations

import datetime

import click

from registry.cli.options import db_option, keys_option, passphrase
from registry.core import clock
from registry.core.exceptions import RegistryError
from registry.core.text import json_text
from registry.marks import render
from registry.publish import api, log, site
from registry.store import history, queries, schema, trust


@click.command("mark")
@click.argument("cert_no", required=False)
@db_option
@click.option("--site-url", help="verification site (default: the registry's site URL)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="output directory")
@click.option("--all", "all_certs", is_flag=True, help="every certificate of the registry")
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary")
def mark_command(cert_no, db_path, site_url, out_dir, all_certs, as_json):
    """Write the printable mark (SVG + 600 dpi PNG) of certificate CERT_NO and print its URL.

    打印认证标志（SVG 矢量 + 600 dpi PNG），并输出验证网址。No private key is needed:
    the signed payload is stored with the certificate.
    """
    if bool(cert_no) == bool(all_certs):
        raise click.UsageError("give a certificate number or --all")
    db = schema.connect(db_path)
    try:
        url = site.site_url_for(db, site_url)
        statuses = history.replayed_statuses(db)
        demo = schema.get_meta(db, "demo") is not None
        infos = [render.mark_info(no, programme, statuses.get(no, ("?",))[0], text, url, demo=demo)
                 for no, programme, text in queries.mark_rows(db, None if all_certs else [cert_no.strip().upper()])]
    finally:
        db.conn.close()
    results = render.write_marks(infos, out_dir)
    for r in results:
        if r["status"] != "valid":
            click.echo(f"Warning: certificate {r['cert_no']} is {r['status']}, not valid: "
                       f"its mark will verify as {r['status']} / 警告：证书状态为 {r['status']}", err=True)
    if as_json:
        click.echo(json_text(results if all_certs else results[0]))
    else:
        for r in results:
            click.echo(r["url"])


@click.command("snapshot")
@db_option
@keys_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="site or output directory; files go to OUT/api/")
@click.option("--as-of", help="status time stamp (ISO, e.g. 2025-06-10T08:00:00Z); default: "
              "SOURCE_DATE_EPOCH, else the end of today in Suzhou")
def snapshot_command(db_path, keys_dir, out_dir, as_of):
    """Write the public verification files (OUT/api/…), signed with the log key.

    写出公开验证文件：信任列表、每张证书的记录与状态、签名的状态快照。
    """
    db = schema.connect(db_path)
    try:
        if as_of is None:
            # The status is known as of today (not as of the last event): a
            # snapshot of a quiet registry must still be fresh for verifiers.
            as_of = clock.build_time(clock.today().isoformat())
        secret = passphrase()
        signer = api.load_log_signer(db, keys_dir, secret, as_of=as_of)
        summary = api.write_snapshot(db, out_dir, signer, as_of=as_of)
        written = _write_log(db, out_dir, signer, keys_dir, secret, as_of)
    finally:
        db.conn.close()
    click.echo(f"{summary['certificates']} certificates, as of {summary['as_of']}, "
               f"last seq {summary['last_seq']} -> {summary['api']}"
               + (f"; log size {written['size']} ({written['origin']})" if written else ""))


def _write_log(db, out_dir, log_signer, keys_dir, secret, as_of):
    """The transparency log beside the snapshot (OUT/log/, OUT/api/log.json) when the
    trust list endorses a timestamp key: verifiers then require the log
    (docs/verification.md: no silent skip), so a snapshot without it would
    verify as status_unknown."""
    try:
        trust.signing_key_id(db, "cosignature")
    except RegistryError:
        return None
    moment = datetime.datetime.fromisoformat(api.as_of_text(as_of).replace("Z", "+00:00"))
    return log.publish_log(db, out_dir, log_signer, log.load_timestamp_signer(db, keys_dir, secret),
                           previous_site=out_dir, state_file=log.state_file_for(out_dir), timestamp=moment)


COMMANDS = (mark_command, snapshot_command)
