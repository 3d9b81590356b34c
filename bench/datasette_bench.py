"""Benchmark Datasette on the public database, at rest and during a stream of publishes.

    .venv/bin/python bench/datasette_bench.py --out OUT --db REGISTRY --keys KEYS
        [--seconds 3] [--rounds 3] [--publishes 20] [--skip-restart] [--plugins-dir DIR]

``OUT`` is a ``publish.py build`` of ``REGISTRY`` (e.g. the 1k demo:
``szzz demo --certificates 1000``, then ``publish.py build``); the registry is
copied, never changed. In one run, each server a real ``datasette`` process
on 127.0.0.1 started as ``publish.py serve`` starts it
(:func:`publish.datasette_command`):

* **trivial**: a plain Datasette serving a 10-row table, the baseline
  (``/trivial/t.json``), so that figures of different runs and machines can be
  compared as ratios;
* **immutable, 1 process**: ``datasette serve -i`` on the build's
  ``data/registry.db``, what ``serve`` ran before issue 13 (``--plugins-dir``
  picks the plugin: another checkout's for a before/after comparison);
* **live, 1 process** and **live, N processes**: the live database
  (``registry.publish.livedb``: mutable, WAL, updated in place) served by
  ``datasette_server.py`` with one worker, and with one per core (what
  ``serve`` runs now).

Each is measured at concurrency 8 (8 keep-alive connections of one asyncio
client, stdlib only), in ``--rounds`` round-robin rounds of ``--seconds`` per
request and server (so that the shared machine's varying load falls on all
alike; the rounds are pooled): a certificate's row JSON
(random certificates), the certificates table JSON filtered by district
(random districts), full-text search JSON (random two-character terms of
product names), and the certificates table page (HTML). It prints requests/s,
p50 and p99 in ms, the server's CPU time per request (all its processes, from
``/proc``: what a request costs whatever else the machine is doing; a core
serves about 1000 / that many requests a second), mean response size and
failures.

Then the publish stream: a publisher process makes ``--publishes`` changes to
a copy of the registry (suspend or reinstate a certificate, one transaction
each, through ``registry.store.operations``) and publishes each one's public
database step (export, then :func:`registry.publish.livedb.publish`), while
the client sends the four requests in turn plus a consistency query (a
certificate's ``last_seq`` against its latest event, in one SQL query: they
agree in every state, so a mix would show). It counts failed requests and
inconsistent answers. Unless ``--skip-restart``, the same stream is run
against the old way (immutable file, Datasette restarted on each publish) to
show what it cost.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import publish
from registry.publish import livedb

PY = sys.executable
CONCURRENCY = 8
PASSPHRASE = "szzz-demo-only"
CONSISTENCY_SQL = ("select c.status, c.last_seq, (select max(seq) from events e where e.cert_no = c.cert_no) "
                   "as latest from certificates c where c.cert_no = :n")

PUBLISHER = r"""
import os, random, shutil, sys, time
sys.path.insert(0, {root!r})
from registry.publish import export, livedb
from registry.store import schema
from registry.store.operations import Registry
db_path, keys_dir, data_dir, live_dir, n = {db!r}, {keys!r}, {data!r}, {live!r}, {n}
rng = random.Random(13)
for i in range(n):
    reg = Registry.open(db_path, keys_dir, {pw!r}.encode())
    try:
        if i % 2 == 0:
            valid = [r[0] for r in reg.db.execute("select cert_no from certificates where status = 'valid'")]
            reg.suspend(rng.choice(valid), "基准测试 bench")
        else:
            held = [r[0] for r in reg.db.execute("select cert_no from certificates where status = 'suspended'")]
            reg.reinstate(rng.choice(held), "基准测试 bench")
    finally:
        reg.close()
    start = time.monotonic()
    fresh = os.path.join(data_dir, "registry.db")
    db = schema.connect(db_path, readonly=True)
    try:
        export.export_public_db(db, fresh)
    finally:
        db.conn.close()
    exported = time.monotonic()
    if live_dir:
        livedb.publish(data_dir, live_dir)
    print("published", i, round(exported - start, 3), round(time.monotonic() - exported, 3), flush=True)
    if not live_dir:
        sys.stdin.readline()  # the bench restarts Datasette on the new file, then says go
"""


# ------------------------------------------------------------------ client

async def _request(reader, writer, path):
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: identity\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:  # chunked
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(parts)
    return status, body, headers.get("connection", "").lower() == "close"


async def load(port, kinds, *, seconds=None, until=None, check=None):
    """Send requests of ``kinds`` ({kind: [paths]}, in turn) on CONCURRENCY connections.

    Stops after ``seconds`` or when ``until()`` is true. Returns {kind: stats}."""
    stats = {k: {"lat": [], "bytes": 0, "failed": 0, "inconsistent": 0} for k in kinds}
    order = list(kinds)
    counter = [0]
    start = time.monotonic()

    def done():
        return (time.monotonic() - start >= seconds) if seconds is not None else until()

    async def worker():
        conn = None
        while not done():
            kind = order[counter[0] % len(order)]
            paths = kinds[kind]
            path = paths[(counter[0] // len(order)) % len(paths)]
            counter[0] += 1
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                status, body, close = await _request(*conn, path)
                if close:
                    conn[1].close()
                    conn = None
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                stats[kind]["failed"] += 1
                if conn is not None:
                    conn[1].close()
                conn = None
                await asyncio.sleep(0.01)
                continue
            elapsed = time.perf_counter() - t0
            if status != 200:
                stats[kind]["failed"] += 1
                continue
            stats[kind]["lat"].append(elapsed)
            stats[kind]["bytes"] += len(body)
            if check is not None and kind in check and not check[kind](body):
                stats[kind]["inconsistent"] += 1
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    wall = time.monotonic() - start
    return {kind: dict(s, wall=wall) for kind, s in stats.items()}


def summary(*raws):
    """Requests/s, p50, p99 (ms), mean KB, failures of one or more :func:`load` results of one kind
    (rounds pooled: their requests over their time, their latencies together)."""
    lat = sorted(x for r in raws for x in r["lat"])
    wall = sum(r["wall"] for r in raws)
    n = len(lat)
    return {
        "n": n, "rate": n / wall if wall else 0.0,
        "p50": 1000 * lat[n // 2] if n else None,
        "p99": 1000 * lat[min(n - 1, int(n * 0.99))] if n else None,
        "kb": sum(r["bytes"] for r in raws) / n / 1024 if n else None,
        "failed": sum(r["failed"] for r in raws), "inconsistent": sum(r["inconsistent"] for r in raws),
        "cpu_ms": 1000 * sum(r["cpu"] for r in raws) / n if n and all("cpu" in r for r in raws) else None,
    }


# ----------------------------------------------------------------- servers

class Server:
    def __init__(self, command, name):
        self.command, self.name = command, name
        self.port = int(command[command.index("--port") + 1])
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/versions.json", timeout=2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid) -> float:
    """User + system CPU time of process ``pid`` and its children (uvicorn's workers), so far."""
    total = 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for p in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trivial_db(path):
    conn = sqlite3.connect(path)
    conn.execute("create table t (id integer primary key, name text)")
    conn.executemany("insert into t values (?, ?)", [(i, f"row {i}") for i in range(10)])
    conn.commit()
    conn.close()


def q(path, **params):
    return path + ("?" + urllib.parse.urlencode(params) if params else "")


def request_paths(db_path, rng):
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    certs = [r[0] for r in conn.execute("select cert_no from certificates")]
    districts = [r[0] for r in conn.execute("select distinct district from certificates where district is not null")]
    names = [r[0] for r in conn.execute("select product_name_zh from certificates limit 2000")]
    conn.close()
    terms = sorted({n[i:i + 2] for n in names for i in range(0, max(1, len(n) - 1), 3)
                    if len(n) >= 2 and all(ord(c) > 127 for c in n[i:i + 2])})
    rng.shuffle(certs)
    rng.shuffle(terms)
    rows = [urllib.parse.quote(f"/registry/certificates/{c}.json") for c in certs[:500]]
    return {
        "row JSON": rows,
        "table JSON": [q("/registry/certificates.json", district=d) for d in districts],
        "search JSON": [q("/registry/certificates.json", _search=t) for t in terms[:200]],
        "table HTML": ["/registry/certificates"],
    }, certs


def consistency_paths(certs):
    return [q("/registry.json", sql=CONSISTENCY_SQL, n=c, _shape="array") for c in certs[:200]]


def consistent(body):
    rows = json.loads(body)
    return len(rows) == 1 and rows[0]["last_seq"] == rows[0]["latest"]


def show(title, results):
    print(f"\n{title}\n")
    print("| server | request | req/s | p50 ms | p99 ms | server CPU ms/req | KB | failed | inconsistent |")
    print("|---|---|---|---|---|---|---|---|---|")
    for server, kinds in results.items():
        for kind, s in kinds.items():
            p50 = f"{s['p50']:.1f}" if s["p50"] is not None else "—"
            p99 = f"{s['p99']:.1f}" if s["p99"] is not None else "—"
            kb = f"{s['kb']:.1f}" if s["kb"] is not None else "—"
            cpu = f"{s['cpu_ms']:.1f}" if s.get("cpu_ms") is not None else "—"
            print(f"| {server} | {kind} | {s['rate']:.0f} | {p50} | {p99} | {cpu} | {kb} | {s['failed']} | "
                  f"{s['inconsistent']} |")
    sys.stdout.flush()


def today_command(data_dir, port, plugins_dir):
    """``publish.py serve``'s Datasette before issue 13: ``datasette serve -i``, one process."""
    return [PY, "-m", "datasette", "serve", "-i", str(data_dir / "registry.db"),
            "--metadata", str(data_dir / "metadata.yml"), "--plugins-dir", str(plugins_dir),
            "--setting", "sql_time_limit_ms", "1000", "--setting", "suggest_facets", "off",
            "--cors", "--host", "127.0.0.1", "--port", str(port)]


def publish_stream(server, work, args, data_dir, live_dir, kinds, check, restart):
    """Run the publisher while loading ``server``; returns (stats, publish timings)."""
    db = work / "stream.db"
    shutil.copy(args.db, db)
    script = PUBLISHER.format(root=str(ROOT), db=str(db), keys=str(args.keys), data=str(data_dir),
                              live=str(live_dir) if live_dir else "", n=args.publishes, pw=PASSPHRASE)
    proc = subprocess.Popen([PY, "-c", script], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    timings, finished = [], threading.Event()
    plugins_dir = args.plugins_dir

    def follow():
        for line in proc.stdout:
            _, i, export_s, live_s = line.split()
            timings.append((float(export_s), float(live_s)))
            if restart:
                # The old way: a new immutable file, Datasette restarted on it.
                server.stop()
                target = work / f"immutable-{i}"
                target.mkdir()
                shutil.copy(data_dir / "registry.db", target / "registry.db")
                shutil.copy(data_dir / "metadata.yml", target / "metadata.yml")
                server.command = today_command(target, server.port, plugins_dir)
                server.start()
                proc.stdin.write("go\n")
                proc.stdin.flush()
        finished.set()

    threading.Thread(target=follow, daemon=True).start()
    stats = asyncio.run(load(server.port, kinds, until=finished.is_set, check=check))
    proc.wait()
    return {kind: summary(raw) for kind, raw in stats.items()}, timings


def publish_streams(args, work, data, live_dir, live, today, kinds, certs):
    """The publish stream against the live server, then (unless --skip-restart) the old way."""
    stream_kinds = {**kinds, "consistency": consistency_paths(certs)}
    check = {"consistency": consistent}
    stream = {}
    (work / "stream-data").mkdir()
    shutil.copy(data / "metadata.yml", work / "stream-data" / "metadata.yml")
    stats, timings = publish_stream(live, work, args, work / "stream-data", live_dir,
                                    stream_kinds, check, restart=False)
    stream[f"{live.name} (in place)"] = stats
    live.stop()
    lines = []
    if timings:
        lines.append(f"live: {len(timings)} publishes, export median "
                     f"{statistics.median(t[0] for t in timings):.2f} s, live update median "
                     f"{statistics.median(t[1] for t in timings):.3f} s, max {max(t[1] for t in timings):.3f} s")
    if not args.skip_restart:
        stream_data = work / "stream-data-restart"
        stream_data.mkdir()
        shutil.copy(data / "metadata.yml", stream_data / "metadata.yml")
        today.command = today_command(data, today.port, args.plugins_dir)
        today.start()
        stats, timings = publish_stream(today, work, args, stream_data, None,
                                        stream_kinds, check, restart=True)
        stream[f"{today.name} (restarted)"] = stats
        today.stop()
        lines.append(f"{today.name}: {len(timings)} publishes, each followed by a restart")
    show(f"during {args.publishes} publishes", stream)
    print()
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a publish.py build of --db")
    parser.add_argument("--db", type=Path, required=True, help="the registry (copied, not changed)")
    parser.add_argument("--keys", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=3.0, help="per request, server and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--publishes", type=int, default=20, help="0: at rest only")
    parser.add_argument("--skip-restart", action="store_true")
    parser.add_argument("--plugins-dir", type=Path, default=ROOT / "plugins" / "datasette",
                        help="the plugin of the `immutable, 1 process` server (another checkout's for a "
                             "before/after comparison)")
    args = parser.parse_args()
    rng = random.Random(5)
    work = Path(tempfile.mkdtemp(prefix="datasette-bench-"))
    servers = []
    try:
        data = args.out / "data"
        trivial = work / "trivial"
        trivial.mkdir()
        trivial_db(trivial / "trivial.db")
        live_dir = work / "live"
        livedb.publish(data, live_dir)
        kinds, certs = request_paths(data / "registry.db", rng)
        base = {"trivial table JSON": ["/trivial/t.json"]}
        trivial_server = Server([PY, "-m", "datasette", "serve", "-i", str(trivial / "trivial.db"),
                                 "--host", "127.0.0.1", "--port", str(free_port())], "trivial")
        # Before issue 13: `datasette serve -i` on the build's file, one process.
        today = Server(today_command(data, free_port(), args.plugins_dir), "immutable, 1 process")
        live_one = Server(publish.datasette_command(live_dir, free_port(), workers=1), "live, 1 process")
        live = Server(publish.datasette_command(live_dir, free_port()), f"live, {os.cpu_count()} processes")
        servers = [trivial_server, today, live_one, live]
        for server in servers:
            server.start()
            warm = base if server is trivial_server else kinds
            asyncio.run(load(server.port, warm, seconds=2))
        # Round robin, so that the machine's load (shared, it varies by the
        # minute) falls on every server alike; each round gives every
        # (server, request) pair --seconds.
        raw = {server.name: {} for server in servers}
        for _round in range(args.rounds):
            for kind in [*base, *kinds]:
                for server in servers:
                    if (kind in base) != (server is trivial_server):
                        continue
                    paths = base[kind] if kind in base else kinds[kind]
                    cpu = cpu_seconds(server.proc.pid)
                    result = asyncio.run(load(server.port, {kind: paths}, seconds=args.seconds))[kind]
                    result["cpu"] = cpu_seconds(server.proc.pid) - cpu
                    raw[server.name].setdefault(kind, []).append(result)
        results = {name: {kind: summary(*rounds) for kind, rounds in kinds_raw.items()}
                   for name, kinds_raw in raw.items()}
        for server in servers:
            if server is not live:
                server.stop()
        print(f"# Datasette at rest, concurrency {CONCURRENCY}, {args.rounds} rounds of {args.seconds:g} s "
              "a request and server, "
              f"{len(certs)} certificates, {os.cpu_count()} cores")
        show("at rest", results)

        if args.publishes:
            publish_streams(args, work, data, live_dir, live, today, kinds, certs)

    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
