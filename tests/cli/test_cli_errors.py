"""Hostile input to ``szzz`` gets one line ``Error: …`` and exit status 1, or 2 for
usage (docs/cli.md "Exit status"; issue 10): never a traceback, never click's
three-line usage message, nothing written.

Each case is one that gave a traceback, three lines or a silent write before:
real registries (tests/builders.py), real damaged files, a real terminal
(a pty) for the passphrase prompt.
"""

import hashlib
import json
import os
import pty
import re
import select
import sys
from pathlib import Path

import pytest
from builders import EVALUATION, GENERAL, TODAY, damage, make_uscc
from click.testing import CliRunner

from registry.cli import cli
from registry.core import keys

ROOT = Path(__file__).resolve().parents[2]
NESTED = "[" * 50_000 + "]" * 50_000
HUGE = "1" * 30


@pytest.fixture
def built(make_registry):
    """Two valid certificates and a third product without one (CQC and TUVSUD, both keys endorsed)."""
    return make_registry(certificates=2, products=3)


def szzz(*args, passphrase=None, built=None):
    env = {"SZZZ_TODAY": TODAY, "SZZZ_PASSPHRASE": passphrase or (built.passphrase.decode() if built else "x"),
           "SZZZ_ROOT_KEY": ""}
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], prog_name="szzz")


def one_line_error(result, status, pattern=None):
    """``result`` failed with ``status`` and exactly one line ``Error: …`` on stderr; its message."""
    assert result.exit_code == status, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    message = result.stderr[len("Error: "):-1]
    if pattern:
        assert re.fullmatch(pattern, message), message
    return message


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------ usage

def test_usage_errors_are_one_line_with_exit_2(built):
    for args, pattern in [
        (("cert", "list", "--bogus"), r"No such option '--bogus'.* \(see szzz cert list --help\)"),
        (("cert", "--bogus"), r"No such option '--bogus' \(see szzz cert --help\)"),
        (("nosuch",), r"No such command 'nosuch' \(see szzz --help\)"),
        (("cert", "revoke", "SZZZ-2022-CQC-00001"), r"Missing option '--reason' \(see szzz cert revoke --help\)"),
        (("cert", "list", "--status", "lost"), r"Invalid value for '--status'.* \(see szzz cert list --help\)"),
    ]:
        one_line_error(szzz(*args, "--db", built.db, built=built), 2, pattern)
    # A group run without a command still shows its help (click's NoArgsIsHelpError).
    result = szzz("cert")
    assert result.exit_code == 2 and "Usage: szzz cert" in result.output


# ------------------------------------------------------------ bad values

def test_evaluation_nested_50000_deep_is_a_bad_value(built):
    result = szzz("cert", "issue", "--db", built.db, "--keys", built.keys, "--product", built.products[2],
                  "--body", "CQC", "--standard", GENERAL, "--scope", "数控机床", "--expires", "2027-02-28",
                  "--evaluation", NESTED, built=built)
    one_line_error(result, 2, r"Invalid value for '--evaluation': expected a JSON object.*")


@pytest.mark.parametrize("args", [
    ("cert", "issue", "--keys", "KEYS", "--product", HUGE, "--body", "CQC", "--standard", GENERAL,
     "--scope", "数控机床", "--expires", "2027-02-28", "--evaluation", json.dumps(EVALUATION)),
    ("cert", "list", "--limit", HUGE),
    ("application", "decide", HUGE, "--status", "approved"),
])
def test_a_30_digit_id_is_a_bad_value(built, args):
    args = [str(built.keys) if a == "KEYS" else a for a in args]
    before = digest(built.db)
    one_line_error(szzz(*args, "--db", built.db, built=built), 2,
                   rf"Invalid value for .*{HUGE} is not in the range 1<=x<=9223372036854775807 .*")
    assert digest(built.db) == before


@pytest.mark.parametrize(("args", "pattern"), [
    (("body", "add", "--code", "FUT", "--name-zh", "未来认证", "--name-en", "Future", "--approval-no",
      "CNCA-R-2099-001", "--joined", "2099-01-01"),
     (r"body FUT, field joined: joined date is in the future: observed 2099-01-01, expected on or before "
      rf"today \({TODAY}, Suzhou time\)")),
    (("application", "add", "--uscc", make_uscc(1), "--product-name", "数控车床", "--received", "2099-01-01"),
     (r"application, field received: received date is in the future: observed 2099-01-01, expected on "
      rf"or before today \({TODAY}, Suzhou time\)")),
    (("expire-due", "--keys", "KEYS", "--today", "2099-01-01"),
     (r"expire-due, field today: the day to expire as of is in the future: observed 2099-01-01, expected "
      rf"on or before today \({TODAY}, Suzhou time\)")),
])
def test_dates_that_cannot_be_in_the_future_are_refused(built, args, pattern):
    args = [str(built.keys) if a == "KEYS" else a for a in args]
    before = digest(built.db)
    one_line_error(szzz(*args, "--db", built.db, built=built), 1, pattern)
    assert digest(built.db) == before


# ------------------------------------------------------- paths that fail

def test_paths_that_cannot_be_read_or_written(built, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    valid = built.valid[0]
    cases = [
        (("snapshot", "--db", built.db, "--keys", a_file / "keys", "--out", tmp_path / "s"),
         (rf"{re.escape(str(a_file))}/keys/[0-9a-f]{{16}}\.pem: cannot read the key file of key "
          r"[0-9a-f]{16} \(Not a directory\)")),
        (("snapshot", "--db", built.db, "--keys", built.keys, "--out", a_file / "site"),
         rf"{re.escape(str(a_file))}/site/api: Not a directory"),
        (("mark", valid, "--db", built.db, "--out", a_file / "marks"),
         rf"{re.escape(str(a_file))}/marks: Not a directory"),
        (("key", "generate", "--db", built.db, "--keys", a_file / "keys", "--body", "CQC"),
         rf"{re.escape(str(a_file))}/keys: cannot hold key files there \(Not a directory\)"),
        (("init", "--db", a_file / "r.db", "--keys", tmp_path / "new-keys", "--site-url", "https://example.org"),
         rf"{re.escape(str(a_file))}/r.db: cannot open a database there \(unable to open database file\)"),
    ]
    before = digest(built.db)
    for args, pattern in cases:
        one_line_error(szzz(*args, built=built), 1, pattern)
    assert digest(built.db) == before


# ------------------------------------------------------ damaged registry

def test_writes_refuse_a_damaged_registry_and_check_names_it(built, tmp_path):
    damage(built.db, at=0.5)
    before = digest(built.db)
    enterprises = tmp_path / "enterprises.csv"
    enterprises.write_text(f"uscc,name_zh,district,industry\n{make_uscc(77)},苏州损坏测试有限公司,吴中区,C3421\n",
                           encoding="utf-8")
    damaged = (rf"{re.escape(str(built.db))}: the registry database is damaged \(SQLite quick_check: "
               r"observed '.+', expected 'ok'\); nothing was written: restore it from a backup")
    for args in [
        ("cert", "revoke", built.valid[0], "--keys", built.keys, "--reason", "监督抽查不合格"),
        ("cert", "issue", "--keys", built.keys, "--product", built.products[2], "--body", "CQC",
         "--standard", GENERAL, "--scope", "数控机床", "--expires", "2027-02-28",
         "--evaluation", json.dumps(EVALUATION)),
        ("import", "enterprises", enterprises),
        ("enterprise", "add", "--uscc", make_uscc(78), "--name-zh", "苏州另一有限公司", "--district", "吴中区",
         "--industry", "C3421"),
    ]:
        one_line_error(szzz(*args, "--db", built.db, built=built), 1, damaged)
    assert digest(built.db) == before
    result = szzz("check", "--db", built.db)
    assert result.exit_code == 1 and "the registry database is damaged" in result.stdout


# ------------------------------------------------------------------ keys

def test_a_mistyped_passphrase_cannot_make_a_key_that_blocks_revocations(built, tmp_path):
    """Issue 10: ``SZZZ_PASSPHRASE=typo szzz key generate`` succeeded, ``key endorse`` with the
    real passphrase too, and from then on every revocation by the body failed."""
    listed = szzz("key", "list", "--db", built.db, "--json").stdout
    result = szzz("key", "generate", "--db", built.db, "--keys", built.keys, "--body", "CQC", passphrase="typo")
    one_line_error(result, 1, r"wrong key passphrase\? It opens none of the registry's \d+ key file\(s\) in .*"
                              r"no key was generated")
    assert szzz("key", "list", "--db", built.db, "--json").stdout == listed

    # A key made elsewhere (a directory with none of the registry's keys: nothing to
    # check it against) with the typo, then brought to the registry's key directory:
    # endorsing it with the real passphrase is refused.
    made = szzz("key", "generate", "--db", built.db, "--keys", tmp_path / "elsewhere", "--body", "CQC",
                "--json", passphrase="typo")
    assert made.exit_code == 0, made.output
    key_id = json.loads(made.stdout)["key_id"]
    (built.keys / f"{key_id}.pem").write_bytes((tmp_path / "elsewhere" / f"{key_id}.pem").read_bytes())
    result = szzz("key", "endorse", key_id, "--db", built.db, "--keys", built.keys, built=built)
    one_line_error(result, 1, rf"key {key_id} cannot be endorsed: .*{key_id}\.pem: cannot decrypt key "
                              rf"{key_id} \(wrong passphrase\?\); .*")
    # Not locked out: the body still revokes with its endorsed key.
    revoked = szzz("cert", "revoke", built.valid[0], "--db", built.db, "--keys", built.keys,
                   "--reason", "监督抽查不合格", built=built)
    assert revoked.exit_code == 0, revoked.output


def on_a_terminal(args, answers, timeout=60):
    """Run ``python -m registry ARGS`` on a new pseudo-terminal, answering each prompt
    (a line ending in ": ") with the next of ``answers``; (exit status, what it wrote)."""
    env = {k: v for k, v in os.environ.items() if k != keys.PASSPHRASE_ENV}
    env.update(PYTHONPATH=str(ROOT), SZZZ_TODAY=TODAY)
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.execve(sys.executable, [sys.executable, "-m", "registry", *map(str, args)], env)
    seen, pending = b"", list(answers)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise AssertionError(f"no output for {timeout} s; so far: {seen.decode(errors='replace')}")
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child is gone
                break
            if not chunk:
                break
            seen += chunk
            if pending and seen.rstrip(b" ").endswith(b":") and seen.endswith(b": "):
                os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace"), pending


def test_a_new_key_passphrase_is_asked_twice_on_a_terminal(built, tmp_path):
    own = tmp_path / "body-keys"  # none of the registry's keys here: only the second entry can catch a typo
    status, seen, unused = on_a_terminal(
        ["key", "generate", "--db", built.db, "--keys", own, "--body", "CQC", "--json"],
        ["first", "frist", "chosen", "chosen"])
    assert status == 0, seen
    assert unused == []
    assert seen.count("Repeat the passphrase") == 2 and "do not match" in seen
    key_id = re.search(r'"key_id": "([0-9a-f]{16})"', seen).group(1)
    assert keys.load(own, key_id, b"chosen").key_id == key_id


def test_init_asks_twice_on_a_terminal(tmp_path):
    status, seen, unused = on_a_terminal(
        ["init", "--db", tmp_path / "r.db", "--keys", tmp_path / "keys", "--site-url", "https://example.org",
         "--date", "2024-01-01"],
        ["root-pass", "root-pass"])
    assert status == 0, seen
    assert unused == [] and seen.count("Repeat the passphrase") == 1
    root = re.search(r"root\s+key ([0-9a-f]{16})", seen).group(1)
    assert keys.load(tmp_path / "keys", root, b"root-pass").key_id == root
