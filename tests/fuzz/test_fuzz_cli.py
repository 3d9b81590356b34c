"""Fuzz: every command of ``szzz`` and ``publish.py``, with any arguments, answers
as docs/cli.md "Exit status" says -- never a traceback, exit 0, 1 or 2, an
error as one line ``Error: …`` (an import's bad cells one per line after it),
and on a non-zero exit nothing written: the registry and every other file of
the working directory byte for byte as they were.

The commands are found by walking the click groups (``registry.cli.cli`` and
``publish.cli``), so a new command is fuzzed without a change here. Each
parameter gets values of its kind: for a path, the registry, its keys, its
published site, a missing path, a directory, a FIFO (fed by a writer, so a
reader gets bytes and then the end), a file of garbage, a path under a file,
a name that is not UTF-8, the empty string; for a number, huge, negative,
non-decimal and non-finite ones; for text, hostile.HOSTILE_TEXT (controls,
lone surrogates, nested JSON, impossible dates) and values that reach deep
into the command (the registry's certificate numbers, key ids, USCCs, codes).
Commands run in-process (click's CliRunner) in a directory holding a copy of
a real registry, so a command's defaults (``registry.db``, ``keys``) find it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import threading
from pathlib import Path

import builders
import click
import pytest
from builders import EVALUATION, GENERAL, TODAY, make_uscc
from click.testing import CliRunner
from hostile import NUMBERS, fuzz_settings, hostile_text
from hypothesis import event, given
from hypothesis import strategies as st

import publish
from registry.cli import cli

PROGRAMS = {"szzz": cli, "publish.py": publish.cli}
#: Commands not fuzzed, and why (the test below checks each still exists).
EXCLUDED = {"publish.py serve": "serves until stopped by a signal (tests/portal/test_serve.py runs it)"}
#: Parameters always given, from these values only: so that a valid call stays small.
BOUNDED = {"szzz demo": {"n": ("1", "2", "0", "-5", "1" * 30, "x")}}
#: Commands whose exit status 1 is a finding (a verdict, a failed check) printed on
#: standard output, not an error (docs/cli.md).
FINDINGS = {"szzz verify", "szzz check", "szzz audit"}
LOCATED = re.compile(r"[^\n:]+:\d+:[^\n:]*: [^\n]+")   # an import's bad cell (docs/import.md)


def leaves(command, path):
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from leaves(sub, [*path, name])
    else:
        yield " ".join(path), command


COMMANDS = dict(name_command for prog, group in PROGRAMS.items() for name_command in leaves(group, [prog]))


def test_every_command_is_fuzzed_or_excluded_for_a_reason():
    names = set(COMMANDS)
    assert set(EXCLUDED) <= names and set(BOUNDED) <= names and names >= FINDINGS
    assert len(names - set(EXCLUDED)) >= 40, sorted(names)


# ------------------------------------------------------------------- the working directory

class Fifo:
    """A FIFO with a writer: whoever opens it for reading gets a little text and then
    the end, as from a pipe whose writer finished (never a reader blocked forever)."""

    def __init__(self, path):
        self.path = path
        os.mkfifo(path)
        self.stopped = False
        self.thread = threading.Thread(target=self._feed, daemon=True, name="fifo-writer")
        self.thread.start()

    def _feed(self):
        while not self.stopped:
            try:
                fd = os.open(self.path, os.O_WRONLY)      # waits for a reader
            except FileNotFoundError:
                return
            try:
                os.write(fd, b"id,url\nfrom-a-fifo,123\n")
            except OSError:
                pass
            finally:
                os.close(fd)

    def stop(self):
        self.stopped = True
        with contextlib.suppress(OSError):
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))   # lets a waiting open return
        self.thread.join(5)


def fill(directory, world):
    """The working directory's files: ``registry.db`` (a copy of the world's),
    ``keys/``, ``site/``, and the files the path values name."""
    builders.copy_registry(world["db"], directory / "registry.db")
    shutil.copytree(world["keys"], directory / "keys")
    shutil.copytree(world["site"], directory / "site")
    (directory / "a-dir").mkdir()
    (directory / "garbage.bin").write_bytes(bytes(range(256)) * 4)
    (directory / "a-file").write_text("not a directory", encoding="utf-8")
    (directory / "enterprises.csv").write_text(
        f"uscc,name_zh,district,industry\n{make_uscc(77)},苏州模糊命令有限公司,吴中区,C3421\n", encoding="utf-8")
    (directory / "bad.csv").write_bytes("uscc,name_zh\n甲,乙\n".encode("gbk") + b'"never closed')


def refill(directory, world):
    """The working directory as :func:`fill` made it, after a command changed it
    (each example starts from the same files, so a failure replays)."""
    for path in directory.iterdir():
        if path.name == "fifo.csv":
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    fill(directory, world)


@pytest.fixture
def sandbox(world, tmp_path):
    fill(tmp_path, world)
    fifo = Fifo(tmp_path / "fifo.csv")
    try:
        yield tmp_path
    finally:
        fifo.stop()


def registry_values(db):
    conn = sqlite3.connect(db)
    try:
        def column(sql):
            return tuple(str(r[0]) for r in conn.execute(sql))

        return (column("select cert_no from certificates") + column("select key_id from keys")
                + column("select uscc from enterprises") + column("select id from products")
                + column("select code from bodies") + column("select code from standards"))
    finally:
        conn.close()


PATHS = ("registry.db", "keys", "site", "site/api/root-key.json", "missing", "missing/dir/x.db", "new.db",
         "a-dir/../dot-dot.db",
         "a-dir", "a-dir/new", "fifo.csv", "garbage.bin", "a-file/under", "enterprises.csv", "bad.csv",
         "/dev/null", "", ".", "-", "\udcff.db", "site/api", "a-dir/out.csv")
PLAUSIBLE = ("CQC", "TUVSUD", "SZZZ", "吴中区", "C3421", "local", "2024-03-01", "2027-02-28", "数控机床",
             json.dumps(EVALUATION), GENERAL, make_uscc(78), "http://127.0.0.1:9/", "https://szzz.example.cn",
             "szzz.example.cn/log", "site", "registry.db")


#: The sandbox's own file for a parameter of this name, drawn more often than others
#: so that most runs get past opening the registry.
OWN = {"db_path": "registry.db", "keys_dir": "keys", "site": "site", "previous": "site/log/checkpoint"}


def values_for(param, world, extra):
    """A strategy for one value of ``param``, by its click type."""
    kind = param.type
    if param.name in OWN:
        return st.one_of(st.just(OWN[param.name]), st.just(OWN[param.name]), st.sampled_from(PATHS),
                         hostile_text())
    if isinstance(kind, click.Path):
        return st.one_of(st.sampled_from(PATHS), hostile_text())
    if isinstance(kind, click.Choice):
        return st.one_of(st.sampled_from(tuple(kind.choices)), hostile_text())
    if isinstance(kind, click.types._NumberParamTypeBase):  # noqa: SLF001 - click's base of INT, FLOAT and ranges
        return st.one_of(st.sampled_from(NUMBERS), st.integers(-3, 3).map(str), hostile_text())
    return hostile_text((*extra, world["root"], *world["urls"].values(), *world["marks"].values()))


@st.composite
def arguments(draw, name, command, world, extra):
    """Arguments for ``command``: its parameters in or out, each with a value of its kind."""
    bounded = BOUNDED.get(name, {})
    args, options = [], []
    for param in command.params:
        if param.name in bounded:
            options += [param.opts[0], draw(st.sampled_from(bounded[param.name]))]
            continue
        wanted = 0.95 if param.required else 0.5
        if draw(st.floats(0, 1)) > wanted:
            continue
        if isinstance(param, click.Argument):
            args.append(draw(values_for(param, world, extra)))
        elif getattr(param, "is_flag", False):
            options.append(draw(st.sampled_from(param.opts + param.secondary_opts)))
        else:
            for _ in range(draw(st.integers(1, 3)) if param.multiple else 1):
                options += [draw(st.sampled_from(param.opts)), draw(values_for(param, world, extra))]
    tail = draw(st.sampled_from(([],) * 12 + (["--bogus"], ["extra-argument"], ["--"], ["--help"])))
    return [argv(a) for a in args + options + tail]


def argv(value):
    """``value`` as a command line can carry it: what Python makes of its bytes
    (UTF-8, a lone surrogate as the bytes that spell it), each byte that is not
    UTF-8 a surrogate escape (U+DC80..U+DCFF), as ``sys.argv`` has it."""
    return os.fsdecode(value.encode("utf-8", "surrogatepass"))


# ------------------------------------------------------------------- what must hold

LOCK = re.compile(r"\..+\.lock", re.DOTALL)
"""``publish.py``'s lock beside an output (``.OUT.lock``, publish/output.py): an
empty file that stays, by design, so that the next build can flock it."""


def transient(path, mode):
    """An empty file that is no data: an output's lock, or the shared-memory index
    and empty write-ahead log that a read-only SQLite connection leaves beside a
    WAL database (``szzz verify --db``), which the next writer removes."""
    if not stat.S_ISREG(mode):
        return False
    name = path.name
    return (LOCK.fullmatch(name) is not None and path.stat().st_size == 0) or name.endswith("-shm") or (
        name.endswith("-wal") and path.stat().st_size == 0)


def tree(root):
    """Every entry under ``root`` but the transient ones: its type and, for a
    regular file, its SHA-256."""
    found = {}
    for path in sorted(Path(root).rglob("*")):
        mode = path.lstat().st_mode
        if transient(path, mode):
            continue
        found[str(path.relative_to(root))] = (
            hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(mode) else stat.S_IFMT(mode))
    return found


class Hung(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds):
    def alarm(signum, frame):
        raise Hung(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_answer(name, args, result):
    """The error policy of docs/cli.md for one run; returns what happened."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.exit_code
    lines = result.stderr.splitlines()
    if result.exit_code == 2:
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    elif result.exit_code == 1 and lines:
        if name == "publish.py build" and "--progress" in args:
            lines = [x for x in lines if not x.startswith("  · ")]    # its steps, asked for (docs/cli.md)
        assert lines[0].startswith(("Error: ", "批量核验 batch: ")), result.stderr
        # An import lists every bad cell, one per line, after its first line.
        assert len(lines) == 1 or (name == "szzz import" and all(LOCATED.fullmatch(x) for x in lines[1:])), \
            result.stderr
    elif result.exit_code == 1:
        assert name in FINDINGS and result.stdout, (result.stdout, result.stderr)
    return "exit 0" if result.exit_code == 0 else ascii(lines[0][:70]) if lines else "finding"


def run(sandbox, prog, args, passphrase=None):
    """``prog args`` in ``sandbox``, as an operator's shell would run it (in-process)."""
    env = {"SZZZ_TODAY": TODAY, "SZZZ_ROOT_KEY": "", "SZZZ_LOG_ORIGIN": None,
           "SZZZ_PASSPHRASE": builders.PASSPHRASE.decode() if passphrase is None else passphrase}
    with contextlib.chdir(sandbox), time_limit(120):
        return CliRunner(env=env).invoke(PROGRAMS[prog], args, prog_name=prog)


@pytest.mark.parametrize("name", [name for name in COMMANDS if name not in EXCLUDED])
@fuzz_settings(6)
@given(data=st.data())
def test_any_arguments_get_the_documented_answer(world, sandbox, name, data):
    extra = (*PLAUSIBLE, *registry_values(sandbox / "registry.db"))
    args = data.draw(arguments(name, COMMANDS[name], world, extra), label="arguments")
    passphrase = data.draw(st.sampled_from((builders.PASSPHRASE.decode(),) * 4 + ("wrong", "")), label="passphrase")
    prog, *path = name.split()
    before = tree(sandbox)
    result = run(sandbox, prog, [*path, *args], passphrase)
    event(f"{name}: {check_answer(name, args, result)}")
    after = tree(sandbox)
    if result.exit_code != 0:
        assert after == before, "a failed command wrote"
    elif after != before:
        refill(sandbox, world)


# What this harness found (each gave a traceback or left files behind), kept as cases.
FOUND = [
    # Text that is not UTF-8 (a GBK terminal) reached SQLite: UnicodeEncodeError.
    pytest.param(["cert", "list", "--body", "\udcff"], 2,
                 (r"Invalid value for '--body': observed byte 0xFF at character 1, expected UTF-8 text "
                  r"\(see szzz cert list --help\)"), id="cert list --body <0xFF>"),
    pytest.param(["cert", "show", "SZZZ-\udcc3"], 2, r"Invalid value for 'CERT_NO': observed byte 0xC3 at .*",
                 id="cert show <not UTF-8>"),
    pytest.param(["key", "retire", "\udced\udcb3\udcbf", "--reason", "x"], 2, r"Invalid value for 'KEY_ID': .*",
                 id="key retire <not UTF-8>"),
    # A site path that is not UTF-8, printed in --json on a UTF-8 locale's strict stdout.
    pytest.param(["audit", "\udcff", "--json"], 1, None, id="audit <0xFF> --json"),
    # A registry or demo that failed to be made left its database and keys.
    pytest.param(["init", "--db", "new.db", "--keys", "new-keys", "--site-url", "https://example.org",
                  "--date", "2024-02-30"], 1,
                 r"init, field date: date 2024-02-30 does not exist in the calendar", id="init --date 2024-02-30"),
    pytest.param(["demo", "--db", "new.db", "--keys", "new-keys", "--certificates", "1", "--today", "garbage"], 1,
                 r"demo, field today: date 'garbage' is not in the form YYYY-MM-DD", id="demo --today garbage"),
    # ... and the first fix of that removed an existing registry that demo refused to overwrite.
    pytest.param(["demo", "--db", "registry.db", "--certificates", "1"], 1,
                 r"registry.db: already exists; refusing to overwrite a registry", id="demo --db <existing>"),
]


@pytest.mark.parametrize(("args", "status", "message"), FOUND)
def test_what_the_fuzzer_found(world, sandbox, args, status, message):
    before = tree(sandbox)
    result = run(sandbox, "szzz", args)
    check_answer("szzz " + args[0], args, result)
    assert result.exit_code == status, result.output
    if message:
        assert re.fullmatch("Error: " + message, result.stderr.rstrip("\n")), result.stderr
    assert tree(sandbox) == before
