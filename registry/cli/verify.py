"""``szzz verify``: one mark (URL, payload or image), or a batch of listings.

Exit status: 0 only for ``valid``; 1 for any other verdict; 2 when it could
not verify at all (a usage error, a missing or unreadable ``--db``, no pinned
root key). What is printed comes from signed records only, and text that
came from published files is escaped before it reaches a terminal
(:func:`printable`, :func:`json_text`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from registry.cli.options import UsageFailure, first_line
from registry.core import clock, rules
from registry.core.exceptions import PayloadError, RegistryError
from registry.publish.dbsource import DbSource
from registry.verify import batch, sources
from registry.verify.image import decode_image
from registry.verify.single import Verdict, verification_result

ROOT_KEY_ENV = "SZZZ_ROOT_KEY"


def _fail(error):
    raise UsageFailure(first_line(error))


def _root_key(value, db_path):
    value = value or os.environ.get(ROOT_KEY_ENV) or None   # set but empty is unset
    if value is None:
        return None
    if value.endswith(".db") and Path(value).is_file():
        return DbSource(value).root_public_key()
    return sources.pinned_root(value)


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
            text = decode_image(input_text)
        except PayloadError as e:
            text = None
            result = Verdict("malformed", reason=str(e), reason_zh="图片中没有可识别的二维码")
            result.checks["payload"] = False
    if text is not None:
        try:
            # --db names a registry: a missing or unreadable one is a
            # configuration error (exit 2), never a verdict about the mark.
            source = DbSource(db_path) if db_path else sources.open_source(site)
        except RegistryError as e:
            _fail(e)
        result = verification_result(text, source, root_public_key=pinned,
                                              max_age=max_age_days, today=clock.today(),
                                              log_origin=log_origin)
    if as_json:
        click.echo(json_text(result.to_dict()))
    else:
        _show(result)
    sys.exit(0 if result.verdict == "valid" else 1)


def _batch(batch_file, site, pinned, out_file, workers, max_age_days, progress, log_origin):
    try:
        rows = batch.read_rows(batch_file)
        if out_file:
            tmp = Path(out_file).with_name(f".{Path(out_file).name}.{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8", newline="\n") as out:
                counts = batch.verify_batch(rows, site, root_public_key=pinned, out=out,
                                                  workers=workers, max_age=max_age_days,
                                                  today=clock.today(), progress=progress,
                                                  log_origin=log_origin)
            os.replace(tmp, out_file)
        else:
            counts = batch.verify_batch(rows, site, root_public_key=pinned, out=sys.stdout,
                                              workers=workers, max_age=max_age_days,
                                              today=clock.today(), progress=progress,
                                              log_origin=log_origin)
    except RegistryError as e:
        _fail(e)
    click.echo("verdicts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())), err=True)


COMMANDS = (verify_command,)
