"""What every ``szzz`` command shares: options, the passphrase, output, and one error policy.

Exit status, for every command (``docs/cli.md``): 0 success; 1 an error —
bad input, a registry that refuses the act, a failed check — reported as one
line ``Error: …`` on stderr (an import lists every bad cell, one per line);
2 a usage or configuration error (click's usage errors, and
:class:`UsageFailure`). ``szzz verify`` adds its own meaning: 0 ``valid``,
1 any other verdict, 2 could not verify at all. Never a traceback.
"""

from __future__ import annotations

import json
import sqlite3
import sys

import click

from registry.core import keys
from registry.core.exceptions import RegistryError, ValidationErrors
from registry.store.operations import Registry

DB_HELP = "registry database 登记库文件"
KEYS_HELP = "directory of encrypted private key files 私钥目录"


class UsageFailure(click.ClickException):
    """A usage or configuration error: exit status 2, one line."""

    exit_code = 2


class RegistryGroup(click.Group):
    """A click group that turns library errors into one-line messages (exit 1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ValidationErrors as e:
            # An import reports every bad cell, one per line (file:row:column: message).
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)
        except RegistryError as e:
            click.echo(f"Error: {first_line(e)}", err=True)
            sys.exit(1)
        except sqlite3.Error as e:
            click.echo(f"Error: database: {e}", err=True)
            sys.exit(1)


def first_line(error) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


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


def passphrase(*, new_key=False) -> bytes:
    """``SZZZ_PASSPHRASE``, else a prompt — only on a terminal: a script
    without the variable gets a clear error instead of a hung prompt.

    ``new_key``: the passphrase will lock a new key file, so the prompt asks
    twice (click's ``confirmation_prompt``): a typo would make a key that no
    later command can open, and a body whose key cannot be opened cannot
    revoke (issue 10). The library checks it as well, against the registry's
    existing keys (:meth:`Registry.generate_key`)."""
    def prompt():
        return click.prompt("Key passphrase 私钥口令", hide_input=True, err=True,
                            confirmation_prompt="Repeat the passphrase 再次输入私钥口令" if new_key else False)

    return keys.passphrase_from_env(prompt if sys.stdin.isatty() else None)


def open_registry(db_path, keys_dir=None, *, new_key=False) -> Registry:
    """Open for writing with keys (passphrase asked now, not mid-transaction)."""
    if keys_dir is None:
        return Registry.open(db_path)
    return Registry.open(db_path, keys_dir, passphrase(new_key=new_key))


def emit(as_json, value, human):
    if as_json:
        click.echo(json.dumps(value, ensure_ascii=False, indent=1))
    else:
        human(value)


def table(rows, columns):
    """Tab-separated rows with a header (pastes into a spreadsheet)."""
    click.echo("\t".join(columns))
    for r in rows:
        click.echo("\t".join("" if r.get(c) is None else str(r.get(c)) for c in columns))
