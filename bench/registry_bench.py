#!/usr/bin/env python3
"""Registry benchmark: printed figures, not timed tests.

* demo build time and peak memory (max RSS of a fresh subprocess; with
  ``--tracemalloc`` also the Python heap peak) for 10k and 100k certificates;
* issue rate (certificates/s, each = 3 Ed25519 signatures + validation +
  ~8 SQL writes) one transaction per certificate and in one batch, against
  the raw Ed25519 signing rate of ``cryptography`` measured in the same run.

    python bench/registry_bench.py                 # 10k and 100k demo, 2,000 issues
    python bench/registry_bench.py --sizes 1000,10000 --issues 500
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time, tracemalloc
sys.path.insert(0, sys.argv[4])
from registry.store import demo
if sys.argv[5] == "1":
    tracemalloc.start()  # slows Python ~2x: only on request
t = time.perf_counter()
summary = demo.build(sys.argv[1], sys.argv[2], certificates=int(sys.argv[3]), seed=1,
                     today="2025-06-01", passphrase=b"bench-only")
elapsed = time.perf_counter() - t
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"seconds": elapsed, "events": summary["events"],
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "tracemalloc_peak": peak}))
"""


def demo_build(n, workdir, trace=False):
    db, keys_dir = Path(workdir) / f"demo{n}.db", Path(workdir) / f"keys{n}"
    out = subprocess.run([sys.executable, "-c", CHILD, str(db), str(keys_dir), str(n), str(ROOT),
                          "1" if trace else "0"],
                         check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["db_bytes"] = sum(p.stat().st_size for p in Path(workdir).glob(f"demo{n}.db*"))
    return result


def raw_sign_rate(seconds=1.0):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    message = b"szzz/certificate/v1\n" + b"x" * 600  # about a certificate record's size
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        for _ in range(200):
            key.sign(message)
        n += 200
    return n / (time.perf_counter() - t)


def issue_rate(count, workdir, batch):
    from stdnum.cn import uscc as stdnum_uscc

    from registry.store.operations import Registry

    tag = "batch" if batch else "single"
    reg = Registry.init(Path(workdir) / f"issue-{tag}.db", Path(workdir) / f"keys-{tag}",
                        b"bench-only", date="2021-01-01")
    reg.today_override = "2025-06-01"
    reg.add_body({"code": "CQC", "name_zh": "中国质量认证中心", "name_en": "CQC",
                  "approval_no": "DEMO-1", "joined": "2021-01-01"})
    reg.endorse_key(reg.generate_key("body", body="CQC"), date="2021-01-01")
    reg.add_standard({"code": "DB3205/T 1001-2021", "title_zh": "通用要求", "kind": "general"})
    head = "91320506MA1BENCH0"
    uscc = head + stdnum_uscc.calc_check_digit(head)
    reg.add_enterprise({"uscc": uscc, "name_zh": "苏州基准测试有限公司", "district": "吴中区",
                        "industry": "C3421"})
    with reg.batch():
        products = [reg.add_product({"enterprise": uscc, "name_zh": f"产品{i}"})
                    for i in range(count)]
    evaluation = {"innovation": 88, "quality": 91, "service": 85, "reputation": 90,
                  "recognition": 86}

    def one(pid):
        reg.issue(product=pid, body="CQC", standards=["DB3205/T 1001-2021"],
                  scope="数控机床的设计、开发和生产", issued="2024-03-01", expires="2027-02-28",
                  evaluation=evaluation)

    t = time.perf_counter()
    if batch:
        with reg.batch():
            for pid in products:
                one(pid)
    else:
        for pid in products:
            one(pid)
    rate = count / (time.perf_counter() - t)
    reg.close()
    return rate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="demo sizes (certificates), comma-separated")
    parser.add_argument("--issues", type=int, default=2000, help="certificates for the issue rate")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also measure the Python heap peak (slows the demo build)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="szzz-bench-") as workdir:
        print(f"registry bench (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
        sign = raw_sign_rate()
        print(f"raw Ed25519 signing (cryptography): {sign:,.0f} signatures/s "
              f"= {sign / 3:,.0f} certificates/s if signing were all (3 signatures each)")
        for batch in (False, True):
            rate = issue_rate(args.issues, workdir, batch)
            label = "one batch (Registry.batch)" if batch else "one transaction each"
            print(f"issue, {label}: {rate:,.0f} certificates/s; ratio to raw signing "
                  f"{rate / sign:.3f} (ideal with 3 signatures: {1 / 3:.3f})")
        for n in sizes:
            r = demo_build(n, workdir, args.tracemalloc)
            print(f"demo {n:>9,} certificates: {r['seconds']:8.1f} s "
                  f"({n / r['seconds']:,.0f} certificates/s, {r['events']:,} events), "
                  f"peak RSS {r['maxrss_kib'] / 1024:,.0f} MiB, "
                  + (f"Python heap peak {r['tracemalloc_peak'] / 2**20:,.0f} MiB, "
                     if args.tracemalloc else "")
                  + f"database {r['db_bytes'] / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
