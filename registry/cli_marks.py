"""``szzz mark``, ``szzz snapshot`` and ``szzz verify``: thin click commands.

The work is in :mod:`registry.marks`, :mod:`registry.snapshot`,
:mod:`registry.verify` and :mod:`registry.batchverify`; library errors become
one-line messages. ``verify`` exits 0 only for ``valid`` (1 for any other
verdict, 2 for usage or configuration errors).
"""

import json
import os
import sys
from pathlib import Path

import click

from . import clock, keys, marks, rules, schema, snapshot, verify as verifier
from .exceptions import PayloadError, RegistryError

ROOT_KEY_ENV = "SZZZ_ROOT_KEY"


class CommandError(click.ClickException):
    exit_code = 2


def _fail(error):
    raise CommandError(str(error).splitlines()[0] if str(error) else type(error).__name__)


@click.command("mark")
@click.argument("cert_no", required=False)
@click.option("--db", "db_path", default="registry.db", show_default=True, help="registry database")
@click.option("--site-url", help="verification site (default: meta site_url, else https://szzz.example.cn)")
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
    try:
        db = schema.connect(db_path)
        results = marks.write_marks(db, out_dir, site_url=site_url,
                                    cert_nos=None if all_certs else [cert_no])
    except RegistryError as e:
        _fail(e)
    for r in results:
        if r["status"] != "valid":
            click.echo(f"Warning: certificate {r['cert_no']} is {r['status']}, not valid: "
                       f"its mark will verify as {r['status']} / 警告：证书状态为 {r['status']}", err=True)
    if as_json:
        click.echo(json.dumps(results if all_certs else results[0], ensure_ascii=False, indent=1))
    else:
        for r in results:
            click.echo(r["url"])


@click.command("snapshot")
@click.option("--db", "db_path", default="registry.db", show_default=True, help="registry database")
@click.option("--keys", "keys_dir", default="keys", show_default=True, help="key directory (log key)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="site or output directory; files go to OUT/api/")
@click.option("--as-of", help="status time stamp (ISO, e.g. 2025-06-10T08:00:00Z); default: "
              "SOURCE_DATE_EPOCH, else the end of today in Suzhou")
def snapshot_command(db_path, keys_dir, out_dir, as_of):
    """Write the public verification files (OUT/api/…), signed with the log key.

    写出公开验证文件：信任列表、每张证书的记录与状态、签名的状态快照。
    """
    try:
        db = schema.connect(db_path)
        if as_of is None:
            # The status is known as of today (not as of the last event): a
            # snapshot of a quiet registry must still be fresh for verifiers.
            as_of = clock.build_time(clock.today().isoformat())
        signer = snapshot.load_log_signer(db, keys_dir, keys.passphrase_from_env(
            lambda: click.prompt("Key passphrase", hide_input=True)), as_of=as_of)
        summary = snapshot.write_snapshot(db, out_dir, signer, as_of=as_of)
        log = _write_log(db, out_dir, signer, keys_dir, as_of)
    except RegistryError as e:
        _fail(e)
    click.echo(f"{summary['certificates']} certificates, as of {summary['as_of']}, "
               f"last seq {summary['last_seq']} -> {summary['api']}"
               + (f"; log size {log['size']} ({log['origin']})" if log else ""))


def _write_log(db, out_dir, log_signer, keys_dir, as_of):
    """The transparency log beside the snapshot (OUT/log/, OUT/api/log.json) when the
    trust list endorses a timestamp key: verifiers then require the log
    (docs/verification.md: no silent skip), so a snapshot without it would
    verify as status_unknown."""
    from . import tlog

    from . import trust

    try:
        trust.signing_key_id(db, "cosignature")
    except RegistryError:
        return None
    passphrase = keys.passphrase_from_env(lambda: click.prompt("Key passphrase", hide_input=True))
    return tlog.publish_log(db, out_dir, log_signer, tlog.load_timestamp_signer(db, keys_dir, passphrase),
                            previous_site=out_dir, state_file=tlog.state_file_for(out_dir),
                            timestamp=_as_datetime(as_of))


def _as_datetime(as_of):
    import datetime

    return datetime.datetime.fromisoformat(snapshot.as_of_text(as_of).replace("Z", "+00:00"))


def _root_key(value, db_path):
    value = value or os.environ.get(ROOT_KEY_ENV)
    if value is None:
        return None
    if value.endswith(".db") and Path(value).is_file():
        return verifier.DbSource(value).root_public_key()
    return verifier.pinned_root(value)


# What a terminal must never receive raw from published data: C0 and C1
# controls (escape sequences can clear the screen or rewrite what was
# printed), DEL, and the bidirectional and invisible formatting characters
# that can reorder or hide text.
_UNSAFE = {c: f"\\u{c:04x}" for c in [*range(0x20), *range(0x7F, 0xA0), 0x200B, 0x200C, 0x200D, 0x200E,
                                     0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF]}


def printable(value) -> str:
    """``value`` as text safe for a terminal: unsafe characters as ``\\uXXXX``."""
    return ("-" if value is None else str(value)).translate(_UNSAFE)


# In JSON text C0 controls are escaped already (and its line breaks are its own).
_UNSAFE_IN_JSON = {c: e for c, e in _UNSAFE.items() if c >= 0x20}


def json_text(value) -> str:
    """``value`` as JSON for a terminal or a pipe: still valid JSON (RFC 8259),
    with the characters :func:`printable` escapes written as ``\\uXXXX``."""
    return json.dumps(value, ensure_ascii=False, indent=1).translate(_UNSAFE_IN_JSON)


def _show(result):
    """The verdict for people; every shown field is from signed records
    (``details["summary"]``: the verified current revision), printed safely."""
    p = printable
    meaning_zh, meaning_en = rules.MEANING[result.verdict]
    click.echo(result.verdict)
    click.echo(f"{meaning_zh} / {meaning_en}")
    if result.cert_no:
        click.echo(f"证书 certificate: {p(result.cert_no)}   机构 body: {p(result.body)}   "
                   f"密钥 key: {p(result.key_id)}")
    click.echo(f"原因: {p(result.reason_zh)}")
    click.echo(f"reason: {p(result.reason)}")
    summary = result.details.get("summary") or {}
    if summary.get("product_name_zh"):
        click.echo(f"产品 product: {p(summary.get('product_name_zh'))} / {p(summary.get('product_name_en'))}")
        if summary.get("models"):
            click.echo(f"型号 models: {p('、'.join(summary['models']))}")
        click.echo(f"企业 enterprise: {p(summary.get('enterprise_name_zh'))} ({p(summary.get('uscc'))})   "
                   f"有效期至 expires: {p(result.details.get('expires'))}")
    if result.status_as_of:
        click.echo(f"状态截至 status as of: {p(result.status_as_of)}")
    checks = "  ".join(f"{k}={'ok' if v else ('FAIL' if v is False else '-')}" for k, v in result.checks.items())
    click.echo(f"checks: {checks}")


@click.command("verify")
@click.argument("input_text", metavar="INPUT", required=False)
@click.option("--site", help="published site or snapshot: directory or http(s) URL")
@click.option("--db", "db_path", help="check against the registry database itself")
@click.option("--root-key", help="pinned scheme root key: base64url, root-key.json path or registry .db "
              f"(default ${ROOT_KEY_ENV}; with --db the registry's own root)")
@click.option("--json", "as_json", is_flag=True, help="print the verdict as JSON")
@click.option("--max-age-days", type=int, default=rules.DEFAULT_MAX_AGE_DAYS, show_default=True,
              help="oldest acceptable status statement")
@click.option("--batch", "batch_file", type=click.Path(dir_okay=False),
              help="CSV or JSONL of listings (id + url|payload|cert_no|image); needs --site")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="batch output (JSONL; default stdout)")
@click.option("--workers", type=int, default=None, help="batch processes (default: every core)")
@click.option("--no-progress", is_flag=True, help="no progress bar on stderr")
@click.option("--log-origin", envvar="SZZZ_LOG_ORIGIN", default=None,
              help="pinned transparency-log origin (e.g. szzz.example.cn/log; env SZZZ_LOG_ORIGIN): "
                   "the log must then be published and verify, else status_unknown")
def verify_command(input_text, site, db_path, root_key, as_json, max_age_days, batch_file, out_file,
                   workers, no_progress, log_origin):
    """Verify a mark: INPUT is a mark URL, a bare payload, or an image file of the mark.

    验证认证标志。Exit status 0 only for `valid`.
    """
    if bool(site) == bool(db_path):
        raise click.UsageError("give exactly one of --site or --db")
    try:
        pinned = _root_key(root_key, db_path)
    except (RegistryError, OSError, ValueError, KeyError) as e:
        _fail(f"cannot read the root key: {e}")
    if batch_file:
        if not site:
            raise click.UsageError("--batch needs --site (the published snapshot)")
        if pinned is None:
            _fail(f"no pinned root key: pass --root-key or set {ROOT_KEY_ENV}")
        _batch(batch_file, site, pinned, out_file, workers, max_age_days, not no_progress, log_origin)
        return
    if not input_text:
        raise click.UsageError("give INPUT (a mark URL, payload or image) or --batch FILE")
    if site and pinned is None:
        _fail(f"no pinned root key: pass --root-key or set {ROOT_KEY_ENV} "
              "(the scheme's root key, obtained out of band)")
    text = input_text
    if os.path.isfile(input_text):
        try:
            text = verifier.decode_image(input_text)
        except PayloadError as e:
            text = None
            result = verifier.Verdict("malformed", reason=str(e), reason_zh="图片中没有可识别的二维码")
            result.checks["payload"] = False
    if text is not None:
        try:
            # --db names a registry: a missing or unreadable one is a
            # configuration error (exit 2), never a verdict about the mark.
            source = verifier.DbSource(db_path) if db_path else verifier.open_source(site)
        except RegistryError as e:
            _fail(e)
        result = verifier.verification_result(text, source, root_public_key=pinned,
                                              max_age=max_age_days, today=clock.today(),
                                              log_origin=log_origin)
    if as_json:
        click.echo(json_text(result.to_dict()))
    else:
        _show(result)
    sys.exit(0 if result.verdict == "valid" else 1)


def _batch(batch_file, site, pinned, out_file, workers, max_age_days, progress, log_origin):
    from . import batchverify

    try:
        rows = batchverify.read_rows(batch_file)
        if out_file:
            tmp = Path(out_file).with_name(f".{Path(out_file).name}.{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8", newline="\n") as out:
                counts = batchverify.verify_batch(rows, site, root_public_key=pinned, out=out,
                                                  workers=workers, max_age=max_age_days,
                                                  today=clock.today(), progress=progress,
                                                  log_origin=log_origin)
            os.replace(tmp, out_file)
        else:
            counts = batchverify.verify_batch(rows, site, root_public_key=pinned, out=sys.stdout,
                                              workers=workers, max_age=max_age_days,
                                              today=clock.today(), progress=progress,
                                              log_origin=log_origin)
    except RegistryError as e:
        _fail(e)
    click.echo("verdicts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())), err=True)


COMMANDS = (mark_command, snapshot_command, verify_command)


def register(group):
    """Add ``mark``, ``snapshot`` and ``verify`` to the ``szzz`` click group."""
    for command in COMMANDS:
        group.add_command(command)
