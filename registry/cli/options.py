"""What every ``szzz`` command shares: options, the passphrase, output, and one error policy.

Exit status, for every command of ``szzz`` and ``publish.py`` alike
(``docs/cli.md``): 0 success; 1 an error — bad input, a registry that
refuses the act, a damaged registry, a file that cannot be read or written,
a failed check — reported as one line ``Error: …`` on stderr (an import
lists every bad cell, one per line); 2 a usage or configuration error
(click's usage errors, one line too, and :class:`UsageFailure`). ``szzz
verify`` adds its own meaning: 0 ``valid``, 1 any other verdict, 2 could not
verify at all (``--batch``: 0 only when every row is valid); 128+n when
stopped by signal n. Never a traceback. The policy is :class:`RegistryGroup`'s,
the class of both command groups.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys

import click

from registry.core import keys
from registry.core.exceptions import RegistryError, ValidationErrors
from registry.core.text import json_text
from registry.store import validation
from registry.store.operations import Registry

DB_HELP = "registry database 登记库文件"
#: A record id (product, application) or a count: SQLite stores signed 64-bit
#: integers, so a larger number is a usage error here, not an OverflowError deep
#: in a query.
ID = click.IntRange(1, validation.MAX_INTEGER)
KEYS_HELP = "directory of encrypted private key files 私钥目录"


class UsageFailure(click.ClickException):
    """A usage or configuration error: exit status 2, one line."""

    exit_code = 2


class Utf8Text(click.types.StringParamType):
    """Text typed on the command line, which must be Unicode text.

    A byte that is not UTF-8 (a GBK terminal, a script in another encoding)
    reaches Python as a lone surrogate (``surrogateescape``), which SQLite,
    JSON and every file we write refuse: it is a bad value of the parameter
    (exit 2, one line naming it), not a UnicodeEncodeError deep in a query
    (issue 10; tests/fuzz/test_fuzz_cli.py). Paths (``click.Path``) are not
    this type: a file name need not be UTF-8.
    """

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        for i, c in enumerate(value):
            if "\ud800" <= c <= "\udfff":
                what = (f"byte 0x{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff"
                        else f"lone surrogate U+{ord(c):04X}")
                self.fail(f"observed {what} at character {i + 1}, expected UTF-8 text", param, ctx)
        return value


UTF8_TEXT = Utf8Text()


def _text_parameters_are_utf8(command: click.Command) -> None:
    """Give every text parameter (click's default type) of ``command``, and of its
    subcommands, the type :data:`UTF8_TEXT`."""
    for param in command.params:
        if param.type is click.STRING:
            param.type = UTF8_TEXT
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _text_parameters_are_utf8(sub)


class RegistryGroup(click.Group):
    """A click group whose every error is one line ``Error: …`` on stderr.

    Library errors, SQLite errors and files that cannot be read or written
    exit 1; click's usage errors (an unknown option, a bad value, a missing
    argument), raised while parsing the group's own arguments or a
    subcommand's, exit 2 as one line naming the command's ``--help`` instead
    of click's three (usage, hint, error). Every text parameter of a command
    added to the group is :class:`Utf8Text`.
    """

    def add_command(self, cmd, name=None):
        _text_parameters_are_utf8(cmd)
        super().add_command(cmd, name)

    def main(self, *args, **kwargs):
        # A file name that is not UTF-8 reaches Python as lone surrogates
        # (surrogateescape); printed, it must not stop the command with a
        # UnicodeEncodeError (issue 10: never a traceback). Standard output
        # writes it back as the bytes it was, as ls does and as Python itself
        # does in the C locale but not in en_US.UTF-8 or zh_CN.UTF-8; JSON
        # output has no lone surrogate to write (:func:`emit`, core.text).
        reconfigure = getattr(sys.stdout, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
        return super().main(*args, **kwargs)

    def make_context(self, info_name, args, parent=None, **extra):
        with one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        try:
            with one_line_usage_errors():
                return super().invoke(ctx)
        except ValidationErrors as e:
            # An import reports every bad cell, one per line (file:row:column: message).
            fail(str(e))
        except RegistryError as e:
            fail(first_line(e))
        except sqlite3.Error as e:
            fail(f"database: {first_line(e)}")
        except OSError as e:
            # A path given on the command line that cannot be read or written
            # (--out under a file, --keys that is a file, a full disk, ...).
            fail(os_error(e))


@contextlib.contextmanager
def one_line_usage_errors():
    """Re-raise click's usage errors as one-line :class:`UsageFailure` (exit 2).

    ``NoArgsIsHelpError`` (a group run without a command) keeps showing the help."""
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise
    except click.UsageError as e:
        where = f" (see {e.ctx.command_path} --help)" if e.ctx is not None else ""
        raise UsageFailure(first_line(e.format_message()).rstrip(".") + where) from None


def fail(message: str):
    """``Error: message`` on stderr, exit status 1."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def first_line(error) -> str:
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__


def os_error(e: OSError) -> str:
    """``path: reason`` of a failed file operation (``[Errno 20] …`` is for programmers)."""
    names = [str(n) for n in (e.filename, e.filename2) if n is not None]
    reason = e.strerror or first_line(e)
    return f"{' -> '.join(names)}: {reason}" if names else reason


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
    """``value`` as JSON (strict, safe for a terminal: ``core.text.json_text``), or ``human(value)``."""
    if as_json:
        click.echo(json_text(value))
    else:
        human(value)


def table(rows, columns):
    """Tab-separated rows with a header (pastes into a spreadsheet)."""
    click.echo("\t".join(columns))
    for r in rows:
        click.echo("\t".join("" if r.get(c) is None else str(r.get(c)) for c in columns))
