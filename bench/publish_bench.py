"""Benchmark publish.py build against plain Pelican, in the same run.

    .venv/bin/python bench/publish_bench.py [--sizes 1000,10000] [--huge] [--work DIR]
    .venv/bin/python bench/publish_bench.py --sizes 10000 --pelican-steps ../main [--rounds 5]

For each size N it makes a demo registry of N certificates (``registry.store.demo``,
not timed), then measures, each in a fresh subprocess:

* cold build: a new output and an empty mark cache (every mark rendered);
* warm build: the same registry again, ``full=True`` (marks from the
  content-addressed cache, every page rendered);
* revocation → rebuilt output: ``Registry.revoke`` of one certificate plus a
  full build (``full=True``: what an operator waited for before incremental
  builds), then another revocation plus an incremental build in a new process;
* revocation → visible with ``publish.py watch`` running: the time from the
  revocation's commit until ``api/status.json`` and the certificate's page in
  ``OUT`` say revoked (median of ``--watch-runs``, default 5);
* plain Pelican rendering N trivial Markdown pages (``DISPLAY_PAGES_ON_MENU``
  off, no feeds), the baseline the acceptance criterion compares with.

It prints wall time, CPU time and the peak RSS of the largest process (build
children included), the time of each build step, and the ratios against
Pelican. ``--pelican-steps BASELINE`` measures only the steps that reuse an
earlier build's files (Pelican, api, marks), of this
checkout and of another one (before/after a change), in turns on copies of
one registry: a warm full build, then ``--rounds`` revocations each followed
by an incremental build (the first one links the current build's files, the
next ones take the spare's). ``--huge`` adds 100,000 certificates (long: the demo registry alone
takes minutes). Absolute figures vary with the machine and its load; compare
the ratios of one run.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
PASSPHRASE = "szzz-demo-only"
TODAY = "2025-06-30"

DRIVER = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import publish
steps, last = [], [time.monotonic(), None]
def progress(step):
    now = time.monotonic()
    if last[1] is not None:
        steps.append([last[1], round(now - last[0], 2)])
    last[:] = [now, step]
summary = publish.build({db!r}, {out!r}, keys_dir={keys!r}, passphrase=b"{pw}",
                        site_url="http://127.0.0.1:8000", progress=progress, full={full!r})
progress(None)
print(json.dumps({{"steps": steps, "rendered": summary["rendered"],
                  "incremental": summary["incremental"]}}))
"""


def run_measured(cmd, **kwargs):
    """Run ``cmd``; return (wall s, cpu s, peak RSS MB of the largest process, stdout)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    out, err = proc.communicate()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{err[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, usage, out


class Meter:
    """CPU and peak RSS of each measured subprocess (RUSAGE_CHILDREN deltas)."""

    def __init__(self):
        self.before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def run(self, cmd, **kwargs):
        wall, usage, out = run_measured(cmd, **kwargs)
        cpu = (usage.ru_utime + usage.ru_stime) - (self.before.ru_utime + self.before.ru_stime)
        self.before = usage
        # ru_maxrss of RUSAGE_CHILDREN is the largest descendant so far (KB).
        return {"wall": wall, "cpu": cpu, "peak_mb": usage.ru_maxrss / 1024, "out": out}


def make_registry(work: Path, n: int):
    db, keys = work / f"reg-{n}" / "registry.db", work / f"reg-{n}" / "keys"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        from registry.store import demo
        demo.build(db, keys, certificates=n, today=TODAY, passphrase=PASSPHRASE.encode())
        print(f"  demo registry of {n} certificates made in {time.monotonic() - t:.1f} s (not timed)")
    return db, keys


def build(meter, db, keys, out, *, full=True, root=ROOT):
    """One build in a new process, by the checkout at ``root`` (default this one)."""
    code = DRIVER.format(root=str(root), db=str(db), out=str(out), keys=str(keys), pw=PASSPHRASE,
                         full=full)
    result = meter.run([PY, "-c", code], cwd=root)
    result.update(json.loads(result.pop("out").strip().splitlines()[-1]))
    return result


def plain_pelican(meter, work: Path, n: int, run_id: str):
    site = work / f"pelican-{n}-{run_id}"
    pages = site / "content" / "pages"
    pages.mkdir(parents=True)
    for i in range(n):
        (pages / f"p{i}.md").write_text(
            f"Title: 证书 {i}\nSlug: p{i}\n\n苏州制造认证证书第 {i} 号的页面。\n", encoding="utf-8")
    conf = site / "conf.py"
    conf.write_text(
        "PATH = 'content'\nPAGE_PATHS = ['pages']\nARTICLE_PATHS = []\nDISPLAY_PAGES_ON_MENU = False\n"
        "FEED_ALL_ATOM = None\nCATEGORY_FEED_ATOM = None\nTRANSLATION_FEED_ATOM = None\n"
        "AUTHOR_FEED_ATOM = None\nAUTHOR_FEED_RSS = None\nDELETE_OUTPUT_DIRECTORY = False\n"
        "TIMEZONE = 'UTC'\nSITEURL = ''\nRELATIVE_URLS = True\n", encoding="utf-8")
    return meter.run([PY, "-m", "pelican", "content", "-o", "output", "-s", "conf.py", "-q"], cwd=site)


def revoke_one(db, keys, *, with_cert_no=False, today=TODAY):
    """Revoke the first valid certificate, dated ``today``; the seconds it took (and its number)."""
    from registry.store.operations import Registry

    reg = Registry.open(db, keys, PASSPHRASE.encode())
    try:
        reg.today_override = today
        cert_no = reg.db.execute("select cert_no from certificates where status = 'valid' "
                                 "order by cert_no limit 1").fetchone()[0]
        t = time.monotonic()
        reg.revoke(cert_no, "benchmark revocation", date=today)
        took = time.monotonic() - t
    finally:
        reg.close()
    return (took, cert_no) if with_cert_no else took


def revoked_in(out: Path, cert_no: str) -> bool:
    """Whether OUT's api/status.json and the certificate's page both say revoked."""
    site = out / "site"
    try:
        status = json.loads(json.loads((site / "api" / "status.json").read_text())["payload"])
        page = (site / "certificates" / cert_no / "index.html").read_text(encoding="utf-8")
    except (OSError, ValueError):
        return False
    entry = next((c for c in status["certificates"] if c["cert_no"] == cert_no), None)
    return entry is not None and entry["status"] == "revoked" and "不得使用认证标志" in page


def watch_latency(db, keys, out, runs):
    """Seconds from each revocation's commit to OUT showing it, ``publish.py watch`` running."""
    env = dict(os.environ, SZZZ_PASSPHRASE=PASSPHRASE, SZZZ_TODAY=TODAY)
    log = out.parent / "watch.log"
    with open(log, "w") as log_file:
        proc = subprocess.Popen([PY, str(ROOT / "publish.py"), "watch", "--db", str(db), "--out", str(out),
                                 "--keys", str(keys), "--site-url", "http://127.0.0.1:8000"],
                                stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        while "built " not in log.read_text():
            if proc.poll() is not None:
                raise SystemExit("publish.py watch failed:\n" + log.read_text()[-3000:])
            time.sleep(0.05)
        seen = []
        for _ in range(runs):
            builds = log.read_text().count("built ")
            _took, cert_no = revoke_one(db, keys, with_cert_no=True)
            committed = time.monotonic()
            while not revoked_in(out, cert_no):
                time.sleep(0.01)
            seen.append(time.monotonic() - committed)
            while log.read_text().count("built ") <= builds:  # its build reported: quiet again
                time.sleep(0.05)
        return seen, [line for line in log.read_text().splitlines() if line.startswith("built ")]
    finally:
        proc.terminate()
        proc.wait()


STEPS_MEASURED = ("pelican", "api", "marks")


def pelican_steps(meter, work: Path, n: int, baseline: Path, rounds: int, run_id: str):
    """The Pelican, api and marks steps of builds by this checkout and by ``baseline`` (another
    checkout, e.g. ../main), each on its own copy of the same registry, taking
    turns so that the machine's load falls on both alike: a warm full build,
    then ``rounds`` revocations each followed by an incremental build."""
    db, keys = make_registry(work, n)
    sides = {}
    for name, root in (("before", baseline), ("after", ROOT)):
        copy = work / f"steps-{name}-{run_id}"
        copy.mkdir()
        shutil.copyfile(db, copy / "registry.db")
        shutil.copytree(keys, copy / "keys")
        sides[name] = {"root": root, "db": copy / "registry.db", "keys": copy / "keys",
                       "out": copy / "out" / "output", "full": None, "incremental": []}
    for name, side in sides.items():
        side["out"].parent.mkdir()
        r = build(meter, side["db"], side["keys"], side["out"], full=True, root=side["root"])
        side["full"] = dict(r["steps"])["pelican"]
        print(f"  {name:6} warm full build: Pelican {side['full']:.2f} s of {r['wall']:.1f} s", flush=True)
    for i in range(rounds):
        for name, side in sides.items():
            revoke_one(side["db"], side["keys"])
            r = build(meter, side["db"], side["keys"], side["out"], full=False, root=side["root"])
            assert r["incremental"], f"{name}: the build after one revocation was not incremental"
            steps = dict(r["steps"])
            side["incremental"].append(steps["pelican"])
            for step in STEPS_MEASURED:
                side.setdefault(step, []).append(steps[step])
            print(f"  {name:6} revocation {i + 1}: "
                  + ", ".join(f"{step} {steps[step]:.2f} s" for step in STEPS_MEASURED)
                  + f" of {r['wall']:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    for name, side in sides.items():
        print(f"  {name:6} Pelican step: full {side['full']:.2f} s, revocation → incremental median "
              f"{statistics.median(side['incremental']):.2f} s ({', '.join(f'{t:.2f}' for t in side['incremental'])})")
        for step in STEPS_MEASURED[1:]:
            print(f"  {name:6} {step} step, revocation → incremental: "
                  f"{', '.join(f'{t:.2f}' for t in side[step])} s (the first without a spare)")


def fmt(r):
    return f"{r['wall']:7.1f} s wall {r['cpu']:7.1f} s cpu {r['peak_mb']:6.0f} MB peak"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--huge", action="store_true", help="add 100,000 certificates")
    ap.add_argument("--work", help="work directory (kept; registries are reused)")
    ap.add_argument("--watch-runs", type=int, default=5,
                    help="revocations measured with publish.py watch (0: none)")
    ap.add_argument("--pelican-steps", metavar="BASELINE",
                    help="only compare the Pelican step with the checkout BASELINE (e.g. ../main): "
                         "a warm full build and --rounds revocation → incremental builds each")
    ap.add_argument("--rounds", type=int, default=5, help="revocations with --pelican-steps")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([100_000] if args.huge else [])
    work = Path(args.work or tempfile.mkdtemp(prefix="publish-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"publish bench: cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} work={work}")
    # Outputs of earlier runs are set aside now and deleted after the
    # measurements: on ext4 without a journal (this VM), creating files soon
    # after deleting ~100k others is several times slower (the inode
    # allocator skips recently deleted inodes: ext4 recently_deleted()), and
    # that cost would come from the bench's own cleanup, not from either of
    # the builds compared. Every run writes into new directories.
    run_id = time.strftime("%Y%m%d-%H%M%S")
    trash = work / f".trash-{run_id}"
    for old in sorted(work.glob("out-*")) + sorted(work.glob("pelican-*")) + sorted(work.glob("steps-*")):
        trash.mkdir(exist_ok=True)
        os.rename(old, trash / old.name)
    meter = Meter()
    if args.pelican_steps:
        for n in sizes:
            print(f"\n== {n} certificates: Pelican step, before = {args.pelican_steps}, after = {ROOT}")
            pelican_steps(meter, work, n, Path(args.pelican_steps).resolve(), args.rounds, run_id)
        shutil.rmtree(trash, ignore_errors=True)
        return
    for n in sizes:
        print(f"\n== {n} certificates")
        db, keys = make_registry(work, n)
        out = work / f"out-{n}-{run_id}" / "output"
        out.parent.mkdir(parents=True)
        pelican = plain_pelican(meter, work, n, run_id)
        print(f"  plain Pelican, {n} trivial pages:   {fmt(pelican)}")
        cold = build(meter, db, keys, out)
        print(f"  cold build (all marks rendered):   {fmt(cold)}  marks rendered {cold['rendered']}")
        print("     steps: " + ", ".join(f"{s} {t:.1f}s" for s, t in cold["steps"]))
        warm = build(meter, db, keys, out)
        print(f"  warm build (marks cached):         {fmt(warm)}  marks rendered {warm['rendered']}")
        print("     steps: " + ", ".join(f"{s} {t:.1f}s" for s, t in warm["steps"]))
        revoke_s = revoke_one(db, keys)
        after = build(meter, db, keys, out)
        print(f"  revocation → full build:           {revoke_s + after['wall']:7.1f} s "
              f"(revoke {revoke_s:.2f} s + build {after['wall']:.1f} s, marks rendered {after['rendered']})")
        revoke_s = revoke_one(db, keys)
        inc = build(meter, db, keys, out, full=False)
        assert inc["incremental"], "the build after one revocation was not incremental"
        print(f"  revocation → incremental build:    {revoke_s + inc['wall']:7.1f} s "
              f"(revoke {revoke_s:.2f} s + build {inc['wall']:.1f} s in a new process) {fmt(inc)}")
        print("     steps: " + ", ".join(f"{s} {t:.1f}s" for s, t in inc["steps"]))
        if args.watch_runs:
            seen, lines = watch_latency(db, keys, out, args.watch_runs)
            print(f"  revocation → visible, watch:       median {statistics.median(seen):.2f} s "
                  f"(runs: {', '.join(f'{s:.2f}' for s in seen)})")
            print("     " + lines[-1])
        print(f"  ratio cold build / plain Pelican:  {cold['wall'] / pelican['wall']:6.2f}× wall, "
              f"{cold['cpu'] / pelican['cpu']:6.2f}× cpu")
        print(f"  ratio warm build / plain Pelican:  {warm['wall'] / pelican['wall']:6.2f}× wall, "
              f"{warm['cpu'] / pelican['cpu']:6.2f}× cpu   (acceptance: ≤ 3× at 10k)")
    shutil.rmtree(trash, ignore_errors=True)


if __name__ == "__main__":
    main()
