"""``publish.py`` follows ``szzz``'s error policy (docs/cli.md "Exit status"; issue 10):
one line ``Error: …`` on stderr and exit 1, or 2 for usage — from a real
``publish.py build`` process, since its stderr is what a script or ``publish.py
serve`` reads. Progress lines only on a terminal (or ``--progress``), so a
failed build's stderr is its one line.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import PASSPHRASE, damage, tamper

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def original(make_registry):
    return make_registry(certificates=2)


@pytest.fixture
def built(original, tmp_path):
    return original.copy_to(tmp_path / "registry")


def publish(*args, cwd=None):
    env = dict(os.environ, SZZZ_PASSPHRASE=PASSPHRASE.decode(), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "publish.py"), *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600, stdin=subprocess.DEVNULL, check=False)


def one_line_error(proc, status, *fragments):
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    return proc.stderr


def test_build_of_an_unreadable_or_damaged_registry_is_one_line(built, tmp_path):
    random_file = tmp_path / "random.db"
    random_file.write_bytes(os.urandom(64 * 1024))
    truncated = tmp_path / "truncated.db"
    data = built.db.read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(data)
    damage(damaged, at=0.5)
    for db, says in [(random_file, "file is not a database"),
                     (truncated, "malformed"),
                     (damaged, "the registry database is damaged")]:
        out = tmp_path / f"out-{db.stem}"
        proc = publish("build", "--db", db, "--keys", built.keys, "--out", out)
        one_line_error(proc, 1, str(db.name), says)
        assert not os.path.lexists(out)  # nothing published


def test_usage_errors_are_one_line_with_exit_2(built, tmp_path):
    one_line_error(publish("build", "--db", built.db, "--bogus"), 2,
                   "No such option '--bogus'", "(see publish.py build --help)")
    one_line_error(publish("build", "--out", tmp_path / "out"), 2, "--db is required")
    one_line_error(publish("serve", "--port", "0"), 2, "Invalid value for '--port'")


def test_out_under_a_file_is_one_line(built, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    one_line_error(publish("build", "--db", built.db, "--keys", built.keys, "--out", a_file / "out"), 1,
                   f"{a_file}: observed a file, expected the directory that holds out (--out)")


def test_a_registry_failing_validation_is_one_line_after_no_progress(built, tmp_path):
    # An event carrying another event's signature: only validation sees it.
    tamper(built.db, "update events set signature = (select signature from events where seq = 1) "
                     "where seq = (select max(seq) from events)")
    out = tmp_path / "out"
    proc = publish("build", "--db", built.db, "--keys", built.keys, "--out", out)
    one_line_error(proc, 1, "the registry failed validation: ", "nothing was published")
    assert not os.path.lexists(out)
    # On request (a terminal by default), each step is named first.
    proc = publish("build", "--db", built.db, "--keys", built.keys, "--out", out, "--progress")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == "  · snapshot" and lines[-1].startswith("Error: the registry failed validation")
