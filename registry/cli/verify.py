"""``szzz verify``: one mark (URL, payload or image), or a batch of listings.

Exit status: 0 only for ``valid`` (a batch: only when every row is
``valid``); 1 for any other verdict; 2 when it could not verify at all (a
usage error, a missing or unreadable ``--db``, no pinned root key, a batch
file that is not one, an output that cannot be written); a batch stopped by a
signal: 128 + its number, with no ``--out`` file left behind. What is printed
comes from signed records only, and text that came from published files or
listings is escaped before it reaches a terminal (:func:`printable`,
:func:`json_text`, ``core.text``).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from pathlib import Path

import click

from registry.cli.options import UsageFailure, first_line
from registry.core import clock, fs, rules
from registry.core.exceptions import PayloadError, RegistryError
from registry.core.text import json_text, printable
from registry.publish.dbsource import DbSource
from registry.verify import batch, image, listings, sources
from registry.verify.image import decode_image
from registry.verify.single import Verdict, verification_result

ROOT_KEY_ENV = "SZZZ_ROOT_KEY"
MAX_WORKERS = 256


def _fail(error):
    raise UsageFailure(first_line(error))


def _root_key(value, db_path):
    value = value or os.environ.get(ROOT_KEY_ENV) or None   # set but empty is unset
    if value is None:
        return None
    if value.endswith(".db") and Path(value).is_file():
        with contextlib.closing(DbSource(value)) as registry:
            return registry.root_public_key()
    return sources.pinned_root(value)


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
# INPUT, --site, --db and --root-key may name files: paths, whose names need not be UTF-8.
@click.argument("input_text", metavar="INPUT", required=False, type=click.Path())
@click.option("--site", type=click.Path(), metavar="DIR|URL", help="published site or snapshot: directory or "
              "http(s) URL")
@click.option("--db", "db_path", type=click.Path(), help="check against the registry database itself")
@click.option("--root-key", type=click.Path(), metavar="KEY|PATH",
              help="pinned scheme root key: base64url, root-key.json path or registry .db "
              f"(default ${ROOT_KEY_ENV}; with --db the registry's own root)")
@click.option("--json", "as_json", is_flag=True, help="print the verdict as JSON")
@click.option("--max-age-days", type=int, default=rules.DEFAULT_MAX_AGE_DAYS, show_default=True,
              help="oldest acceptable status statement")
@click.option("--batch", "batch_file", type=click.Path(dir_okay=False),
              help="CSV or JSONL of listings (id + url|payload|cert_no|image); needs --site")
@click.option("--out", "out_file", type=click.Path(dir_okay=False),
              help="batch output file, written whole or not at all (default: stdout, as it goes)")
@click.option("--format", "out_format", type=click.Choice(batch.OUTPUT_FORMATS), default=None,
              help="batch output: jsonl (default) or csv (the default for an --out file ending in .csv)")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=None,
              help="batch processes (default: every core)")
@click.option("--image-timeout", type=click.FloatRange(0, 3600, min_open=True), default=image.DEFAULT_TIMEOUT,
              show_default=True, help="seconds each image row of a batch may take")
@click.option("--no-progress", is_flag=True, help="no progress bar on stderr")
@click.option("--log-origin", envvar="SZZZ_LOG_ORIGIN", default=None,
              help="pinned transparency-log origin (e.g. szzz.example.cn/log; env SZZZ_LOG_ORIGIN): "
                   "the log must then be published and verify, else status_unknown")
def verify_command(input_text, site, db_path, root_key, as_json, max_age_days, batch_file, out_file,
                   out_format, workers, image_timeout, no_progress, log_origin):
    """Verify a mark: INPUT is a mark URL, a bare payload, or an image file of the mark.

    验证认证标志。Exit status 0 only for `valid` (with --batch: only when every
    row is `valid`), 1 for any other verdict, 2 when it could not verify.
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
        _batch(batch_file, site, pinned, out_file, out_format, workers, max_age_days, not no_progress, log_origin,
               image_timeout)
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
        with contextlib.closing(source) if isinstance(source, DbSource) else contextlib.nullcontext():
            result = verification_result(text, source, root_public_key=pinned,
                                         max_age=max_age_days, today=clock.today(), log_origin=log_origin)
    if as_json:
        click.echo(json_text(result.to_dict()))
    else:
        _show(result)
    sys.exit(0 if result.verdict == "valid" else 1)


class _Interrupted(BaseException):
    """SIGINT or SIGTERM during a batch. A BaseException, like KeyboardInterrupt,
    so that no ``except Exception`` of a row's verification takes it for that row's error."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, _frame):
    raise _Interrupted(signum)


@contextlib.contextmanager
def _signals_raise():
    """SIGINT and SIGTERM raise :class:`_Interrupted` meanwhile, so the ``with``
    blocks unwind: the pool's workers are stopped and the output file discarded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _stdout_utf8():
    """Standard output as UTF-8 text whatever the locale (the batch output is UTF-8)."""
    sys.stdout.flush()
    raw = getattr(sys.stdout, "buffer", None)
    if raw is None:
        yield sys.stdout
        return
    out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    try:
        yield out
    finally:
        out.detach()        # flushes


def _batch(batch_file, site, pinned, out_file, out_format, workers, max_age_days, progress, log_origin,
           image_timeout):
    output = out_format or ("csv" if out_file and Path(out_file).suffix.lower() == ".csv" else "jsonl")
    if out_file and not Path(out_file).parent.is_dir():
        _fail(f"--out {out_file}: observed no directory {Path(out_file).parent}, expected an existing directory")
    try:
        # A file that is not a batch at all is refused before anything is written.
        rows = listings.read_rows(batch_file)
    except RegistryError as e:
        _fail(e)
    try:
        with _signals_raise(), \
                (fs.atomic_file(out_file, encoding="utf-8") if out_file else _stdout_utf8()) as out:
            if output == "csv":
                out.write(batch.csv_header())
            counts = batch.verify_batch(rows, site, root_public_key=pinned, out=out, workers=workers,
                                        max_age=max_age_days, today=clock.today(), progress=progress,
                                        log_origin=log_origin, output=output, image_timeout=image_timeout)
    except _Interrupted as e:
        name = signal.Signals(e.signum).name
        left = "no output file was written" if out_file else "the output above is incomplete"
        click.echo(f"Error: interrupted by {name}; {left}", err=True)
        sys.exit(128 + e.signum)
    except BrokenPipeError:
        # The reader of standard output went away (`| head`): stop, quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)
    except RegistryError as e:
        _fail(e)
    except OSError as e:
        _fail(f"cannot write {out_file or 'standard output'}: {e.strerror or e}")
    total = sum(counts.values())
    click.echo(f"批量核验 batch: {total} 行 rows" + "".join(
        f"{', ' if i else ': '}{verdict}={n}" for i, (verdict, n) in enumerate(sorted(counts.items()))), err=True)
    sys.exit(0 if counts.get("valid", 0) == total else 1)


COMMANDS = (verify_command,)
