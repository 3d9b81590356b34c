"""A registry writer for the concurrency tests: ``python registry_writer.py issue|revoke DB KEYS STOPFILE``.

Issues new certificates, or revokes valid ones, one transaction at a time,
through ``registry.operations`` (as ``szzz`` would), until STOPFILE exists;
prints how many operations it committed.
"""

import os
import random
import sys
import time

from registry.store.operations import Registry

mode, db, keys_dir, stop = sys.argv[1:5]
reg = Registry.open(db, keys_dir, os.environ["SZZZ_PASSPHRASE"].encode())
rng = random.Random(mode)
done = 0
try:
    enterprises = [r[0] for r in reg.db.execute("select uscc from enterprises order by uscc")]
    bodies = [r[0] for r in reg.db.execute("select code from bodies order by code")]
    standard = reg.db.execute("select code from standards order by code limit 1").fetchone()[0]
    while not os.path.exists(stop):
        if mode == "issue":
            # A new product each time: a product has at most one live certificate.
            product = reg.add_product({"enterprise": rng.choice(enterprises),
                                       "name_zh": f"并发测试产品{done}", "models": [f"CT-{done}"]})
            reg.issue(product=product, body=rng.choice(bodies), standards=[standard],
                      scope="并发测试", expires="2029-12-31",
                      evaluation={"innovation": 80, "quality": 80, "service": 80, "reputation": 80,
                                  "recognition": 80})
        else:
            valid = [r[0] for r in reg.db.execute("select cert_no from certificates where status = 'valid'")]
            if not valid:
                time.sleep(0.05)
                continue
            reg.revoke(rng.choice(valid), "并发测试撤销")
        done += 1
finally:
    reg.close()
print("committed", done)
