"""``szzz audit``: a thin click command over :func:`registry.verify.audit.audit`.

Exit status: 0 when every check passed, 1 on any discrepancy (each named
with its file and entry), 2 for usage errors.
"""

import os
import sys

import click

from registry.core import rules
from registry.core.text import json_text
from registry.verify import audit as auditing

ROOT_KEY_ENV = "SZZZ_ROOT_KEY"


@click.command("audit")
@click.argument("site", metavar="SITE_DIR_OR_URL", type=click.Path())
@click.option("--root-key", type=click.Path(), metavar="KEY|PATH",
              help="pinned scheme root key (base64url or a root-key.json path); "
                   f"default ${ROOT_KEY_ENV}, else the site's own api/root-key.json (trusts the host)")
@click.option("--previous", type=click.Path(dir_okay=False, exists=True),
              help="a checkpoint saved earlier: the site's log must extend it (no rollback, no fork)")
@click.option("--origin", help="pinned log origin (e.g. szzz.example.cn/log); default: api/log.json")
@click.option("--max-age-days", type=click.IntRange(0, None), default=rules.DEFAULT_MAX_AGE_DAYS,
              show_default=True, help="maximum age of the checkpoint's timestamped cosignature")
@click.option("--now", type=int, help="Unix time to judge freshness at (default: now)")
@click.option("--save-checkpoint", type=click.Path(dir_okay=False),
              help="after a clean audit, save the site's checkpoint here (for the next --previous)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def audit_command(site, root_key, previous, origin, max_age_days, now, save_checkpoint, as_json):
    """Recompute everything SITE publishes from its files and the root key; exit 1 on any discrepancy.

    审计：仅凭公开文件与根公钥，重新核对信任列表、每个签名、默克尔树与检查点、
    与先前检查点的一致性，以及每张证书的状态、JSON 与网页是否与事件历史一致。
    """
    root_key = root_key or os.environ.get(ROOT_KEY_ENV) or None
    report = auditing.audit(site, root_key=root_key, previous=previous, origin=origin,
                            max_age_days=max_age_days, now=now)
    if as_json:
        click.echo(json_text(report.to_dict()))
    else:
        click.echo(report.text())
    if not report.ok:
        sys.exit(1)
    if save_checkpoint:
        try:
            # The very checkpoint that was audited (not a second fetch).
            with open(save_checkpoint, "w", encoding="utf-8", newline="\n") as f:
                f.write(report.checkpoint["text"])
        except OSError as e:
            raise click.ClickException(f"cannot save the checkpoint: {e}") from None


COMMANDS = (audit_command,)
