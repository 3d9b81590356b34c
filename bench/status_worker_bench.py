"""The status worker of an incremental build at registry sizes no demo registry reaches here.

    .venv/bin/python bench/status_worker_bench.py [--sizes 100000,1000000] [--runs 3] [--work DIR]

An incremental build signs and writes the 4,096 status buckets and splices
``api/status.json`` in a worker process (``api.write_status_files``,
docs/publishing.md step 5): at 100k it was the build's slowest part before
it moved there, and it grows with the registry. A 1M demo registry and its
site do not fit on this VM's disk (a 100k build is 11 GB), so this bench
makes the worker's inputs synthetically — every certificate's status and
snapshot entry in the shapes of ``api.snapshot_entry``, one revision each —
writes a previous build's status files whole (not timed), then times, per
run, what the worker does after one revocation: the buckets rewritten into
the spare's files, the previous snapshot read and its signature checked,
the new one spliced, signed and written. For each size it prints the
seconds (wall and CPU) of each part and the ratio to the smallest size of
the same run. Figures, never assertions.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from registry.core import canonical, keys
from registry.publish import api

AS_OF = "2026-11-29T15:59:59Z"
BODIES = ("CQC", "BV", "TUVSUD", "SZQI", "CQM", "JSQS")


def synthetic(n: int, rng: random.Random) -> tuple[dict, dict]:
    """(snapshot entries, statuses) of ``n`` valid certificates."""
    entries, statuses = {}, {}
    for i in range(n):
        no = f"SSHM-{2021 + i % 5}-{BODIES[i % 6]}-{i:07d}"
        entries[no] = {"body": BODIES[i % 6], "cert_no": no, "expires": "2028-05-31", "status": "valid",
                       "status_date": None,
                       "revisions": [{"digest": f"{rng.getrandbits(128):032x}", "expires": "2028-05-31",
                                      "key_id": "k" * 16, "reason": None, "revision": 1,
                                      "signed_on": "2024-05-31"}]}
        statuses[no] = ("valid", None, i + 1)
    return entries, statuses


def measure(n: int, runs: int, work: Path) -> list[dict]:
    rng = random.Random(n)
    signer = keys.signer_from_seed(b"status worker bench: log key")
    tl = {"version": 1, "keys": [{"key_id": signer.key_id, "public_key": canonical.b64url(signer.public_raw)}]}
    entries, statuses = synthetic(n, rng)
    size = n
    previous = work / "previous" / "api"
    api.write_status_buckets(previous, statuses, signer, AS_OF, size)
    snapshot = api.signed_snapshot(api.snapshot_head(AS_OF, size, tl), entries, None, statuses, signer)
    (previous / "status.json").write_text(api.dumps(snapshot), encoding="utf-8")
    print(f"{n:,} certificates: status.json {os.path.getsize(previous / 'status.json') / 1e6:.0f} MB", flush=True)
    spare = work / "spare"
    shutil.copytree(previous / "status", spare)
    figures = []
    for run in range(runs):
        revoked = list(entries)[rng.randrange(n)]
        size += 1
        statuses[revoked] = ("revoked", "2026-11-29", size)
        changed = {revoked: {**entries[revoked], "status": "revoked", "status_date": "2026-11-29"}}
        out = work / f"build{run}" / "api"
        out.mkdir(parents=True)
        wall, cpu = time.perf_counter(), time.process_time()
        api.write_status_buckets(out, statuses, signer, AS_OF, size, spare=spare)
        buckets = time.perf_counter() - wall
        read = time.perf_counter()
        previous_snapshot = api.read_previous_snapshot(previous / "status.json", tl)
        read = time.perf_counter() - read
        splice = time.perf_counter()
        signed = api.signed_snapshot(api.snapshot_head(AS_OF, size, tl), changed, previous_snapshot, statuses, signer)
        (out / "status.json").write_text(api.dumps(signed), encoding="utf-8")
        splice = time.perf_counter() - splice
        figures.append({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                        "buckets": buckets, "read": read, "splice": splice})
        print(f"  run {run}: {figures[-1]['wall']:.2f} s wall, {figures[-1]['cpu']:.2f} s CPU — buckets "
              f"{buckets:.2f}, previous snapshot read and checked {read:.2f}, spliced, signed, written "
              f"{splice:.2f}", flush=True)
        os.rename(out / "status", spare)  # the next run's spare
        previous = out
    return figures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="registry sizes, comma-separated")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, help="work directory (emptied per size; default: a temporary one)")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    base = None
    for n in sizes:
        work = (args.work or Path(tempfile.mkdtemp(prefix="status-worker-"))) / str(n)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            figures = measure(n, args.runs, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        best = min(figures, key=lambda f: f["wall"])
        base = base or best
        print(f"  best: {best['wall']:.2f} s wall ({best['wall'] / base['wall']:.1f}× the {sizes[0]:,} figure "
              f"for {n / sizes[0]:.0f}× the certificates)", flush=True)


if __name__ == "__main__":
    main()
