"""Two operators issuing at the same moment never share a number or lose an
event: two real processes issue 200 certificates each into one SQLite file."""

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from builders import EVALUATION, GENERAL

from registry.store import schema
from registry.store.integrity import verify_registry

WORKER = textwrap.dedent("""
    import sys, time
    from registry.store.operations import Registry
    db, keys, start, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    reg = Registry.open(db, keys, b"%s")
    reg.today_override = "2025-06-01"
    reg.body_signer("CQC", "2024-01-01")   # load the key before the race starts
    while not __import__("os").path.exists(go):
        time.sleep(0.005)
    for pid in range(start, start + count):
        reg.issue(product=pid, body="CQC", standards=["%s"], scope="并发测试",
                  issued="2024-01-01", expires="2026-12-31", evaluation=%r)
        time.sleep(0.003)  # an operator's pause: lets the other process take the lock
    reg.close()
""")


def test_two_processes_issue_400_distinct_certificates(make_registry, tmp_path):
    built = make_registry(products=1)
    with built.open() as reg:
        uscc = reg.db.execute("select uscc from enterprises").fetchone()[0]
        with reg.batch():
            ids = [reg.add_product({"enterprise": uscc, "name_zh": f"并发产品{i}"}) for i in range(400)]
        seq_before = reg.db.execute("select max(seq) from events").fetchone()[0]
    script = tmp_path / "worker.py"
    script.write_text(WORKER % (built.passphrase.decode(), GENERAL, EVALUATION), encoding="utf-8")
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs = [subprocess.Popen([sys.executable, str(script), str(built.db),
                               str(built.keys), str(start), "200", str(go)],
                              env=env, stderr=subprocess.PIPE, text=True)
             for start in (ids[0], ids[200])]
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err

    db = schema.connect(built.db)
    numbers = [r[0] for r in db.execute("select cert_no from certificates")]
    assert len(numbers) == len(set(numbers)) == 400
    assert sorted(numbers) == [f"SZZZ-2024-CQC-{n:05d}" for n in range(1, 401)]
    issued = db.execute("select count(*) from events where type = 'issued'").fetchone()[0]
    assert issued == 400
    seqs = [r[0] for r in db.execute("select seq from events order by seq")]
    assert seqs == list(range(1, seq_before + 401))
    # Both processes really interleaved (otherwise this test proves nothing):
    # the products of each worker are not all in one contiguous block of numbers.
    owners = [r[0] < ids[200] for r in db.execute(
        "select product from certificates order by cert_no")]
    switches = sum(1 for a, b in itertools.pairwise(owners) if a != b)
    assert switches >= 10, f"workers barely interleaved ({switches} switches)"
    assert verify_registry(db) == []
