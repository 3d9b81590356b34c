"""core.fs: a file is replaced whole or not at all, and no temporary file
outlives its writer -- for a streamed file (atomic_file) not even a SIGKILL."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from registry.core import fs

ROOT = Path(__file__).resolve().parents[2]


def test_atomic_file_replaces_the_target_in_one_step(tmp_path):
    target = tmp_path / "verdicts.jsonl"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    old_umask = os.umask(0o077)
    try:
        with fs.atomic_file(target, encoding="utf-8") as f:
            f.write("新\r\n")
            assert target.read_text() == "old\n"         # readers see the old file meanwhile
            assert os.listdir(tmp_path) == ["verdicts.jsonl"]
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == "新\r\n".encode()      # no newline translation
    assert target.stat().st_mode & 0o777 == 0o644
    with fs.atomic_file(tmp_path / "new.bin", mode=0o600) as f:
        f.write(b"\x00\xff")
    assert (tmp_path / "new.bin").read_bytes() == b"\x00\xff"
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ["new.bin", "verdicts.jsonl"]


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt, SystemExit])
def test_atomic_file_leaves_nothing_on_any_exception(tmp_path, error):
    target = tmp_path / "verdicts.jsonl"
    target.write_text("old\n")

    def write_half():
        with fs.atomic_file(target, encoding="utf-8") as f:
            f.write("half of it")
            raise error

    with pytest.raises(error):
        write_half()
    assert os.listdir(tmp_path) == ["verdicts.jsonl"] and target.read_text() == "old\n"
    with pytest.raises(FileNotFoundError), fs.atomic_file(tmp_path / "missing" / "x.jsonl"):
        pass


def test_atomic_file_leaves_nothing_when_killed(tmp_path):
    """SIGKILL runs no cleanup: the file being written has no name until it is
    complete (O_TMPFILE), so nothing is left (issue 10: each failed run left a
    `.NAME.PID.tmp`). A filesystem that cannot link such a file would fail here."""
    target = tmp_path / "verdicts.jsonl"
    target.write_text("old\n")
    script = ("import sys, time\nfrom registry.core import fs\n"
              "with fs.atomic_file(sys.argv[1]) as f:\n"
              "    f.write(b'x' * 100000); f.flush(); print('writing', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert proc.stdout.readline() == b"writing\n"
        assert os.listdir(tmp_path) == ["verdicts.jsonl"]   # nothing to see while it is written
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
    assert os.listdir(tmp_path) == ["verdicts.jsonl"] and target.read_text() == "old\n"


def test_write_atomic_leaves_no_temporary_file_on_error(tmp_path):
    target = tmp_path / "a" / "file.json"
    fs.write_atomic(target, "one")
    with pytest.raises(TypeError):
        fs.write_atomic(target, 12)          # type: ignore[arg-type]
    assert os.listdir(target.parent) == ["file.json"] and target.read_text() == "one"


@pytest.mark.parametrize("source_dir", ["same filesystem", "/dev/shm"])
def test_copy_file_copies_every_byte_and_never_overwrites(tmp_path, source_dir):
    """A kernel copy on one filesystem; from tmpfs to the test's directory the
    kernel refuses copy_file_range on most kernels (EXDEV) and the bytes go
    through user space: the same bytes either way, a new file (0644) only."""
    base = tmp_path if source_dir == "same filesystem" else Path(source_dir)
    source = base / f"source-{os.getpid()}.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    source.write_bytes(data)
    try:
        target = fs.copy_file(source, tmp_path / "copy.bin")
        assert target.read_bytes() == data and (target.stat().st_mode & 0o777) == 0o644
        assert not os.path.samefile(source, target)
        with pytest.raises(FileExistsError):
            fs.copy_file(source, target)
        assert target.read_bytes() == data
    finally:
        source.unlink()


def test_rewrite_keeps_a_private_file_and_never_writes_through_another_name(tmp_path):
    """fs.rewrite reuses the inode of a file only this tree names; a hard link
    shared with another tree, or a symbolic link, keeps its old bytes and
    the name gets a new file."""
    own, shared, served, elsewhere = (tmp_path / n for n in ("own", "shared", "served", "elsewhere"))
    own.write_text("old and longer than the new text")
    served.write_text("served")
    os.link(served, shared)
    elsewhere.write_text("not ours")
    (tmp_path / "symlink").symlink_to(elsewhere)
    inode = own.stat().st_ino

    fs.rewrite(own, "new")
    fs.rewrite(shared, b"rewritten")
    fs.rewrite(tmp_path / "symlink", "rewritten")
    fs.rewrite(tmp_path / "missing", "created")

    assert (own.read_text(), own.stat().st_ino) == ("new", inode)
    assert served.read_text() == "served" and shared.read_text() == "rewritten"
    assert served.stat().st_ino != shared.stat().st_ino
    assert elsewhere.read_text() == "not ours"
    assert not (tmp_path / "symlink").is_symlink() and (tmp_path / "symlink").read_text() == "rewritten"
    assert (tmp_path / "missing").read_text() == "created"
